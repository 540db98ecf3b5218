"""Random training batches as PI0 inputs, built on the fly from uint8 frames."""

from __future__ import annotations

import numpy as np
import torch

from dyq_vla_ros.policy.processor_pi0 import Pi0Processor
from dyq_vla_ros.training.data import Dataset
from dyq_vla_ros.training.errors import DatasetError


def pixels_from_uint8(images: np.ndarray, processor: Pi0Processor) -> torch.Tensor:
    """Normalised [B, 3, S, S] pixels from uint8 [B, S, S, 3] frames already at the model's size."""
    img = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).to(torch.float32) / 255.0
    return (img - processor._img_mean) / processor._img_std


class Frames:
    """One source of training frames: uint8 images, model-ready states and token ids, normalised label chunks."""

    def __init__(self, data: Dataset, chunks: np.ndarray, processor: Pi0Processor, aux: np.ndarray | None) -> None:
        ids = {ep: processor.token_ids(text) for ep, text in data.instructions.items()}
        if processor.wrist and data.wrist is None:
            raise DatasetError("this model takes wrist images; generate data with `dyq-vla gen-data --wrist-camera`")
        self.images = data.image
        self.wrist = data.wrist if processor.wrist else None
        self.input_ids = torch.stack([ids[int(e)][0] for e in data.episode])
        self.attention = torch.stack([ids[int(e)][1] for e in data.episode])
        self.state = torch.stack([processor.state_tensor(s) for s in data.state])
        self.actions = processor.normalize_actions(chunks)
        self.aux = aux

    def __len__(self) -> int:
        return len(self.images)


class Batches:
    """Random training batches as PI0 inputs, built from uint8 frames on the fly (a share from start frames)."""

    def __init__(
        self,
        sources: list[Frames],
        shares: list[float],
        processor: Pi0Processor,
        seed: int,
        shift_px: int = 0,
    ) -> None:
        self.sources = sources
        self.shares = np.asarray(shares, float) / np.sum(shares)
        self.processor = processor
        self.rng = np.random.default_rng(seed)
        self.shift_px = shift_px

    def sample(self, size: int) -> tuple[dict, torch.Tensor, np.ndarray | None]:
        """(model inputs, normalised label chunks, auxiliary targets or None) of `size` random frames."""
        counts = self.rng.multinomial(size, self.shares)
        picks = [(src, self.rng.integers(0, len(src), n)) for src, n in zip(self.sources, counts, strict=True) if n]
        views = [pixels_from_uint8(np.concatenate([src.images[i] for src, i in picks]), self.processor)]
        if self.processor.wrist:
            views.append(pixels_from_uint8(np.concatenate([src.wrist[i] for src, i in picks]), self.processor))
        if self.shift_px:  # replicated edges: shifting normalised pixels equals normalising shifted ones
            views = [random_shift(v, self.shift_px, self.rng) for v in views]
        inputs = {
            "pixel_values": torch.stack(views, 1),
            "pixel_attention_mask": torch.ones(size, len(views), dtype=torch.bool),
            "input_ids": torch.cat([src.input_ids[i] for src, i in picks]),
            "attention_mask": torch.cat([src.attention[i] for src, i in picks]),
            "state": torch.cat([src.state[i] for src, i in picks]),
        }
        actions = torch.cat([src.actions[i] for src, i in picks])
        aux = None if picks[0][0].aux is None else np.concatenate([src.aux[i] for src, i in picks])
        return inputs, actions, aux


def random_shift(images: torch.Tensor, pad: int, rng: np.random.Generator) -> torch.Tensor:
    """Each [C, H, W] image shifted by up to pad pixels each way, edges replicated (DrQ-style augmentation)."""
    padded = torch.nn.functional.pad(images, (pad, pad, pad, pad), mode="replicate")
    h, w = images.shape[-2:]
    offsets = rng.integers(0, 2 * pad + 1, (images.shape[0], 2))
    return torch.stack([padded[i, :, y : y + h, x : x + w] for i, (y, x) in enumerate(offsets)])
