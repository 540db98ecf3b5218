"""Camera frames to model pixels, as each checkpoint family prepares them (resize, normalise, pad)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import torch

from dyq_vla_ros.policy.errors import ObservationError


class Resize(str, enum.Enum):
    """How a frame becomes the model's square input."""

    STRETCH = "stretch"
    """Resized to size x size, aspect ratio not kept (bilinear, antialiased): the project's own checkpoints."""
    PAD_BOTTOM_RIGHT = "pad_bottom_right"
    """Aspect kept (bicubic, antialiased), normalised, padded bottom/right with 0: transformers' PI0ImageProcessor."""
    PAD_CENTER = "pad_center"
    """Aspect kept (bilinear, no antialias), padded centred with black before scaling to [-1, 1]: LeRobot's pi0."""


@dataclass(frozen=True)
class ImageSpec:
    """The model's image input: side length, resize rule and per-channel normalisation."""

    size: int
    resize: Resize = Resize.STRETCH
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"image size must be positive, got {self.size}")


def resize_square(image: torch.Tensor, size: int) -> torch.Tensor:
    """A [C, H, W] float image resized to size x size (bilinear, antialiased); unchanged when it already is."""
    if image.shape[1:] == (size, size):
        return image
    return torch.nn.functional.interpolate(
        image[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )[0]


def _fit(h: int, w: int, size: int, *, lerobot: bool) -> tuple[int, int]:
    if lerobot:  # resize_with_pad: ratio = max(w, h) / size, sides truncated
        ratio = max(w / size, h / size)
        return max(1, int(h / ratio)), max(1, int(w / ratio))
    scale = min(size / h, size / w)  # get_image_size_for_max_height_width
    return max(1, int(h * scale)), max(1, int(w * scale))


def image_tensor(image: np.ndarray, spec: ImageSpec) -> torch.Tensor:
    """[3, S, S] float pixels of an H x W x 3 uint8 RGB frame."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] < 1 or img.shape[1] < 1:
        raise ObservationError(f"image must be H x W x 3, got shape {img.shape}")
    t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).to(torch.float32) / 255.0
    mean = torch.tensor(spec.mean, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(spec.std, dtype=torch.float32).view(3, 1, 1)
    size = spec.size
    if spec.resize is Resize.STRETCH:
        return (resize_square(t, size) - mean) / std
    h, w = t.shape[1:]
    lerobot = spec.resize is Resize.PAD_CENTER
    rh, rw = _fit(h, w, size, lerobot=lerobot)
    if (rh, rw) != (h, w):
        mode = "bilinear" if lerobot else "bicubic"
        t = torch.nn.functional.interpolate(
            t[None], size=(rh, rw), mode=mode, antialias=not lerobot, align_corners=False
        )[0]
    t = t.clamp(0.0, 1.0)
    if lerobot:
        top, left = (size - rh) // 2, (size - rw) // 2
        padded = torch.zeros(3, size, size)
        padded[:, top : top + rh, left : left + rw] = t
        return (padded - mean) / std
    out = torch.zeros(3, size, size)
    out[:, :rh, :rw] = (t - mean) / std
    return out
