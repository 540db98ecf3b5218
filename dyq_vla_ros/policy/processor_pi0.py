"""PI0 pre/post-processing: image resize and normalise, tokenisation, state/action (de)normalisation."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

from dyq_vla_ros.policy.action_space import (
    DELTA,
    TARGET_SPACES,
    TOOL_OFFSET,
    check_action_space,
    offsets_to_targets,
    targets_to_deltas,
)
from dyq_vla_ros.policy.errors import CheckpointError, ObservationError
from dyq_vla_ros.policy.state_features import JOINTS, JOINTS_AND_TOOL, check_kind, feature_dim, state_features

PROCESSOR_FILE = "dyq_processor.json"
TOKENIZER_FILE = "tokenizer.json"
SPECIAL_TOKENS = ("<pad>", "<unk>", "<bos>")
SCENE_CAMERA = "scene"
WRIST_CAMERA = "wrist"
CAMERA_SETS = ([SCENE_CAMERA], [SCENE_CAMERA, WRIST_CAMERA])
"""Camera lists a checkpoint may take, in the order their images enter the model."""


def build_word_tokenizer(words: Sequence[str]) -> Tokenizer:
    """A lower-casing word-level tokenizer over SPECIAL_TOKENS + words (ids in that order)."""
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for word in words:
        vocab.setdefault(word.lower(), len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return tok


def resize_square(image: torch.Tensor, size: int) -> torch.Tensor:
    """A [C, H, W] float image resized to size x size (bilinear, antialiased); unchanged when it already is."""
    if image.shape[1:] == (size, size):
        return image
    return torch.nn.functional.interpolate(
        image[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )[0]


@dataclass
class ProcessorConfig:
    """Normalisation statistics and sizes stored beside a checkpoint as dyq_processor.json."""

    state_dim: int
    action_dim: int
    state_mean: list[float]
    state_std: list[float]
    action_mean: list[float]
    action_std: list[float]
    max_text_tokens: int = 16
    image_mean: list[float] = field(default_factory=lambda: [0.5, 0.5, 0.5])
    image_std: list[float] = field(default_factory=lambda: [0.5, 0.5, 0.5])
    joint_names: list[str] = field(default_factory=list)
    state_features: str = JOINTS
    """What the model's state holds, derived from the joint positions (one of state_features.STATE_FEATURES)."""
    action_space: str = DELTA
    """What the model's actions are: contract deltas, or tool targets converted to deltas (policy.action_space)."""
    max_translation: float = 0.02
    """With tool targets: the most the tool moves per step (m, norm)."""
    max_rotation: float = 0.1
    """With tool targets: the most the tool turns per step and axis (rad)."""
    cameras: list[str] = field(default_factory=lambda: [SCENE_CAMERA])
    """The images the model takes, in order: the scene camera, and the wrist camera if trained with one."""
    offset_scale: float = 0.0
    """With tool offsets: the compander's scale in metres (policy.action_space.compand); 0 keeps them linear."""

    def __post_init__(self) -> None:
        check_action_space(self.action_space)
        if not self.offset_scale >= 0:
            raise CheckpointError(f"{PROCESSOR_FILE}: offset_scale must be >= 0, got {self.offset_scale}")
        if list(self.cameras) not in CAMERA_SETS:
            raise CheckpointError(f"{PROCESSOR_FILE}: cameras must be one of {CAMERA_SETS}, got {self.cameras}")
        if self.action_space in TARGET_SPACES:
            check_kind(JOINTS_AND_TOOL, self.state_dim)  # the conversion needs the built-in arm's joints
            if self.action_dim != 7 or self.max_translation <= 0 or self.max_rotation <= 0:
                raise CheckpointError(
                    f"{PROCESSOR_FILE}: tool targets need action_dim 7 and positive step limits, got "
                    f"{self.action_dim}, {self.max_translation}, {self.max_rotation}"
                )
        for name, dim in (("state", self.model_state_dim), ("action", self.action_dim)):
            for stat in ("mean", "std"):
                values = getattr(self, f"{name}_{stat}")
                if len(values) != dim:
                    raise CheckpointError(f"{PROCESSOR_FILE}: {name}_{stat} has {len(values)} values, expected {dim}")
            if any(s <= 0 for s in getattr(self, f"{name}_std")):
                raise CheckpointError(f"{PROCESSOR_FILE}: {name}_std must be positive")
        if self.max_text_tokens < 1:
            raise CheckpointError(f"{PROCESSOR_FILE}: max_text_tokens must be >= 1")

    @property
    def model_state_dim(self) -> int:
        """Length of the state vector the model sees (state_dim joints, plus the tool pose if configured)."""
        return feature_dim(self.state_features, self.state_dim)

    @classmethod
    def identity(cls, state_dim: int, action_dim: int, **kwargs: object) -> ProcessorConfig:
        """Zero-mean unit-std statistics (for untrained models)."""
        n = feature_dim(str(kwargs.get("state_features", JOINTS)), state_dim)
        return cls(
            state_dim=state_dim,
            action_dim=action_dim,
            state_mean=[0.0] * n,
            state_std=[1.0] * n,
            action_mean=[0.0] * action_dim,
            action_std=[1.0] * action_dim,
            **kwargs,  # type: ignore[arg-type]
        )

    def save(self, directory: Path) -> None:
        """Write dyq_processor.json into directory."""
        (Path(directory) / PROCESSOR_FILE).write_text(json.dumps({"version": 1, **asdict(self)}, indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path) -> ProcessorConfig:
        """Read dyq_processor.json from directory."""
        path = Path(directory) / PROCESSOR_FILE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise CheckpointError(f"checkpoint is missing {PROCESSOR_FILE} ({path})") from None
        except (OSError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"cannot read {path}: {exc}") from exc
        data.pop("version", None)
        try:
            return cls(**data)
        except TypeError as exc:
            raise CheckpointError(f"{path}: bad fields: {exc}") from exc


class Pi0Processor:
    """Turns observations into PI0 model inputs and normalised action chunks into robot actions."""

    def __init__(
        self,
        config: ProcessorConfig,
        tokenizer: Tokenizer,
        *,
        image_size: int,
        image_tokens: int,
        image_token_id: int,
        max_state_dim: int,
        max_action_dim: int,
        vocab_size: int,
    ) -> None:
        if config.model_state_dim > max_state_dim or config.action_dim > max_action_dim:
            raise CheckpointError(
                f"processor dims (state {config.model_state_dim}, action {config.action_dim}) exceed the model's "
                f"max_state_dim {max_state_dim} / max_action_dim {max_action_dim}"
            )
        if tokenizer.get_vocab_size() > image_token_id:
            raise CheckpointError(
                f"tokenizer has {tokenizer.get_vocab_size()} tokens, overlapping image token id {image_token_id}"
            )
        self.config = config
        self.tokenizer = tokenizer
        self.image_size = image_size
        self.image_tokens = image_tokens
        self.image_token_id = image_token_id
        self.max_state_dim = max_state_dim
        self.max_action_dim = max_action_dim
        self.vocab_size = vocab_size
        self._pad_id = tokenizer.token_to_id("<pad>")
        self._bos_id = tokenizer.token_to_id("<bos>")
        self._img_mean = torch.tensor(config.image_mean, dtype=torch.float32).view(3, 1, 1)
        self._img_std = torch.tensor(config.image_std, dtype=torch.float32).view(3, 1, 1)
        self._state_mean = np.asarray(config.state_mean, np.float32)
        self._state_std = np.asarray(config.state_std, np.float32)
        self._action_mean = np.asarray(config.action_mean, np.float32)
        self._action_std = np.asarray(config.action_std, np.float32)

    @classmethod
    def for_model(cls, config: ProcessorConfig, tokenizer: Tokenizer, model_config: object) -> Pi0Processor:
        """The processor matching a transformers PI0Config (image size and tokens, padding dims, vocabulary)."""
        vlm = model_config.vlm_config
        vision = vlm.vision_config
        return cls(
            config,
            tokenizer,
            image_size=vision.image_size,
            image_tokens=(vision.image_size // vision.patch_size) ** 2,
            image_token_id=vlm.image_token_id,
            max_state_dim=model_config.max_state_dim,
            max_action_dim=model_config.max_action_dim,
            vocab_size=vlm.text_config.vocab_size,
        )

    def image_tensor(self, image: np.ndarray) -> torch.Tensor:
        """[3, S, S] float tensor from an H x W x 3 uint8 RGB image (resized, normalised)."""
        img = np.asarray(image)
        if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] < 1 or img.shape[1] < 1:
            raise ObservationError(f"image must be H x W x 3, got shape {img.shape}")
        t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).to(torch.float32) / 255.0
        return (resize_square(t, self.image_size) - self._img_mean) / self._img_std

    def token_ids(self, instruction: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(input_ids, attention_mask) of image tokens + <bos> + instruction, right-padded."""
        words = self.tokenizer.encode(instruction).ids[: self.config.max_text_tokens]
        text = [self._bos_id, *words]
        pad = self.config.max_text_tokens + 1 - len(text)
        image_tokens = self.image_tokens * len(self.config.cameras)
        ids = [self.image_token_id] * image_tokens + text + [self._pad_id] * pad
        mask = [1] * (image_tokens + len(text)) + [0] * pad
        return torch.tensor(ids, dtype=torch.long), torch.tensor(mask, dtype=torch.long)

    def state_tensor(self, state: np.ndarray) -> torch.Tensor:
        """Normalised, zero-padded [max_state_dim] state."""
        s = np.asarray(state, dtype=np.float32).reshape(-1)
        if s.shape[0] != self.config.state_dim:
            raise ObservationError(f"state has {s.shape[0]} values, the checkpoint expects {self.config.state_dim}")
        if not np.all(np.isfinite(s)):
            raise ObservationError("state contains NaN or Inf")
        s = (state_features(self.config.state_features, s) - self._state_mean) / self._state_std
        out = torch.zeros(self.max_state_dim, dtype=torch.float32)
        out[: s.shape[0]] = torch.from_numpy(s)
        return out

    def normalize_actions(self, actions: np.ndarray) -> torch.Tensor:
        """Normalised, zero-padded [..., max_action_dim] actions (training labels)."""
        a = (np.asarray(actions, np.float32) - self._action_mean) / self._action_std
        out = torch.zeros(*a.shape[:-1], self.max_action_dim, dtype=torch.float32)
        out[..., : a.shape[-1]] = torch.from_numpy(a)
        return out

    @property
    def wrist(self) -> bool:
        """Whether the model also takes a wrist-camera image."""
        return WRIST_CAMERA in self.config.cameras

    def batch(
        self,
        images: Sequence[np.ndarray],
        states: Sequence[np.ndarray],
        instructions: Sequence[str],
        wrist_images: Sequence[np.ndarray | None] | None = None,
    ) -> dict:
        """Model inputs for a batch of observations (wrist images required when the checkpoint takes them)."""
        views = [[self.image_tensor(im)] for im in images]
        if self.wrist:
            if wrist_images is None or any(w is None for w in wrist_images):
                raise ObservationError("this checkpoint needs a wrist-camera image with every observation")
            for view, wrist in zip(views, wrist_images, strict=True):
                view.append(self.image_tensor(wrist))
        pixels = torch.stack([torch.stack(view) for view in views])
        ids, masks = zip(*(self.token_ids(text) for text in instructions), strict=True)
        return {
            "pixel_values": pixels,
            "pixel_attention_mask": torch.ones(len(images), pixels.shape[1], dtype=torch.bool),
            "input_ids": torch.stack(ids),
            "attention_mask": torch.stack(masks),
            "state": torch.stack([self.state_tensor(s) for s in states]),
        }

    def unnormalize_actions(self, chunk: torch.Tensor) -> np.ndarray:
        """The model's normalised, padded output in its own units ([chunk, action_dim] deltas or tool targets)."""
        a = chunk.detach().to(torch.float32).cpu().numpy()[..., : self.config.action_dim]
        return a * self._action_std + self._action_mean

    def robot_actions(self, chunk: torch.Tensor, state: np.ndarray) -> np.ndarray:
        """Contract [chunk, action_dim] actions from the model's output for an observation's joint positions."""
        actions = self.unnormalize_actions(chunk)
        if self.config.action_space == DELTA:
            return actions
        return targets_to_deltas(
            self.tool_targets(actions, state),
            state,
            max_translation=self.config.max_translation,
            max_rotation=self.config.max_rotation,
        )

    def tool_targets(self, actions: np.ndarray, state: np.ndarray) -> np.ndarray:
        """Absolute tool targets of a target-space chunk in model units (offsets are taken from the state's tool)."""
        if self.config.action_space == TOOL_OFFSET:
            return offsets_to_targets(actions, state, self.config.offset_scale)
        return actions
