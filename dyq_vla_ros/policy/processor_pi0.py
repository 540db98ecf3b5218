"""PI0 pre/post-processing: named camera frames, tokenisation, state/action normalisation and padding.

One processor serves every checkpoint family; what differs between them (image resize and padding,
prompt layout, normalisation statistics and modes, what the actions mean) is described by a
`ProcessorSpec` that the checkpoint's format loader builds (policy/format_*.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from tokenizers import Tokenizer

from dyq_vla_ros.policy.action_space import (
    ACTION_SPACES,
    DELTA,
    JOINT_POSITION,
    TARGET_SPACES,
    TOOL_OFFSET,
    offsets_to_targets,
    targets_to_deltas,
)
from dyq_vla_ros.policy.errors import CheckpointError, ObservationError
from dyq_vla_ros.policy.images import ImageSpec, image_tensor, resize_square
from dyq_vla_ros.policy.normalization import Normalizer, NormMode
from dyq_vla_ros.policy.state_features import JOINTS, check_kind, feature_dim, state_features
from dyq_vla_ros.types import SCENE_CAMERA, WRIST_CAMERA, Observation

__all__ = ["SCENE_CAMERA", "WRIST_CAMERA", "Pi0Processor", "ProcessorSpec", "TextSpec", "resize_square"]


@dataclass(frozen=True)
class TextSpec:
    """How an instruction becomes text tokens after the image tokens: <bos> + tokens, maybe padded."""

    bos_id: int
    pad_id: int
    length: int | None = None
    """Text tokens including <bos>, truncated and right-padded to this length; None: as long as it is."""
    suffix: str = ""
    """Appended to the instruction before tokenising (PI0's prompts end in a newline)."""
    pad_total: int | None = None
    """Right-pad the whole sequence, image tokens included, to this length, never truncating (PI0Processor's 48)."""


@dataclass(frozen=True)
class ProcessorSpec:
    """Everything the processor needs to know about a checkpoint's inputs and outputs."""

    cameras: tuple[str, ...]
    """The checkpoint's camera names, in the order their images enter the model."""
    image: ImageSpec
    image_tokens: int
    """Tokens per camera image."""
    image_token_id: int
    text: TextSpec
    state_dim: int
    """Joint positions the state is made from."""
    state_norm: Normalizer
    action_dim: int
    action_norm: Normalizer
    max_state_dim: int
    max_action_dim: int
    state_features: str = JOINTS
    action_space: str = DELTA
    joint_names: tuple[str, ...] = ()
    """The state's joints in order ([] = the first state_dim of each JointState message)."""
    max_translation: float = 0.02
    max_rotation: float = 0.1
    offset_scale: float = 0.0
    source: str = ""
    """Which file the spec came from, for error messages."""
    extra: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = self.source or "checkpoint"
        if not self.cameras or len(set(self.cameras)) != len(self.cameras):
            raise CheckpointError(f"{where}: cameras must be distinct names, at least one, got {list(self.cameras)}")
        check_semantics(
            self.state_features, self.state_dim, self.action_space, self.action_dim,
            self.max_translation, self.max_rotation, where=where,
        )  # fmt: skip
        for name, norm, dim in (
            ("state", self.state_norm, self.model_state_dim),
            ("action", self.action_norm, self.action_dim),
        ):
            if norm.dim is not None and norm.dim != dim:
                raise CheckpointError(f"{where}: {name} statistics have {norm.dim} values, expected {dim}")
        if self.model_state_dim > self.max_state_dim or self.action_dim > self.max_action_dim:
            raise CheckpointError(
                f"{where}: state {self.model_state_dim} / action {self.action_dim} values exceed the model's "
                f"max_state_dim {self.max_state_dim} / max_action_dim {self.max_action_dim}"
            )
        if self.joint_names and len(self.joint_names) != self.state_dim:
            raise CheckpointError(f"{where}: {len(self.joint_names)} joint names for a state of {self.state_dim}")

    @property
    def model_state_dim(self) -> int:
        """Length of the state vector the model sees (features of the joints)."""
        return feature_dim(self.state_features, self.state_dim)


def check_semantics(
    state_features: str,
    state_dim: int,
    action_space: str,
    action_dim: int,
    max_translation: float,
    max_rotation: float,
    *,
    where: str,
) -> None:
    """Raise CheckpointError for a state or action meaning these dims cannot have."""
    if action_space not in ACTION_SPACES:
        raise CheckpointError(f"{where}: action_space must be one of {ACTION_SPACES}, got {action_space!r}")
    check_kind(state_features, state_dim)
    if action_space in TARGET_SPACES:
        check_kind("joints+tool", state_dim)  # the conversion needs the built-in arm's joints
        if action_dim != 7 or max_translation <= 0 or max_rotation <= 0:
            raise CheckpointError(
                f"{where}: tool targets need action_dim 7 and positive step limits, got "
                f"{action_dim}, {max_translation}, {max_rotation}"
            )


class Pi0Processor:
    """Turns observations into PI0 model inputs and the model's normalised chunks into robot actions."""

    def __init__(self, spec: ProcessorSpec, tokenizer: Tokenizer) -> None:
        shared = tokenizer.id_to_token(spec.image_token_id)
        if shared is not None and shared != "<image>":
            raise CheckpointError(f"the tokenizer's token {shared!r} has the image token id {spec.image_token_id}")
        self.spec = spec
        self.config = spec
        self.tokenizer = tokenizer
        self.image_size = spec.image.size
        self.image_tokens = spec.image_tokens
        self.image_token_id = spec.image_token_id
        self.max_state_dim = spec.max_state_dim
        self.max_action_dim = spec.max_action_dim
        self._img_mean = torch.tensor(spec.image.mean, dtype=torch.float32).view(3, 1, 1)
        self._img_std = torch.tensor(spec.image.std, dtype=torch.float32).view(3, 1, 1)

    @property
    def cameras(self) -> tuple[str, ...]:
        """The checkpoint's camera names, in model order."""
        return self.spec.cameras

    @property
    def wrist(self) -> bool:
        """Whether the model takes the built-in wrist camera's image."""
        return WRIST_CAMERA in self.spec.cameras

    @property
    def action_scale(self) -> np.ndarray:
        """One normalised action unit per dimension, in robot units (std, or half the range)."""
        norm = self.spec.action_norm
        if norm.mode is NormMode.IDENTITY:
            return np.ones(self.spec.action_dim, np.float32)
        if norm.mode is NormMode.MEAN_STD:
            return norm.second
        return (norm.second - norm.first) / 2.0

    def image_tensor(self, image: np.ndarray) -> torch.Tensor:
        """[3, S, S] float tensor from an H x W x 3 uint8 RGB image (resized, normalised, padded)."""
        return image_tensor(image, self.spec.image)

    def token_ids(self, instruction: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(input_ids, attention_mask): image tokens of every camera, <bos>, the instruction, padding."""
        text = self.spec.text
        words = self.tokenizer.encode(instruction + text.suffix, add_special_tokens=False).ids
        ids = [text.bos_id, *words]
        pad = 0
        if text.length is not None:
            ids = ids[: text.length]
            pad = text.length - len(ids)
        image_tokens = self.image_tokens * len(self.spec.cameras)
        if text.pad_total is not None:
            pad = max(pad, text.pad_total - image_tokens - len(ids))
        full = [self.image_token_id] * image_tokens + ids + [text.pad_id] * pad
        mask = [1] * (image_tokens + len(ids)) + [0] * pad
        return torch.tensor(full, dtype=torch.long), torch.tensor(mask, dtype=torch.long)

    def state_tensor(self, state: np.ndarray) -> torch.Tensor:
        """Normalised, zero-padded [max_state_dim] state from joint positions."""
        s = np.asarray(state, dtype=np.float32).reshape(-1)
        if s.shape[0] != self.spec.state_dim:
            raise ObservationError(f"state has {s.shape[0]} values, the checkpoint expects {self.spec.state_dim}")
        if not np.all(np.isfinite(s)):
            raise ObservationError("state contains NaN or Inf")
        s = self.spec.state_norm.normalize(state_features(self.spec.state_features, s))
        out = torch.zeros(self.max_state_dim, dtype=torch.float32)
        out[: s.shape[0]] = torch.from_numpy(s)
        return out

    def normalize_actions(self, actions: np.ndarray) -> torch.Tensor:
        """Normalised, zero-padded [..., max_action_dim] actions (training labels)."""
        a = self.spec.action_norm.normalize(actions)
        out = torch.zeros(*a.shape[:-1], self.max_action_dim, dtype=torch.float32)
        out[..., : a.shape[-1]] = torch.from_numpy(a)
        return out

    def batch(self, observations: Sequence[Observation]) -> dict[str, torch.Tensor]:
        """Model inputs for a batch of observations (one frame of every checkpoint camera each)."""
        views = []
        for obs in observations:
            missing = [name for name in self.spec.cameras if name not in obs.images]
            if missing:
                raise ObservationError(f"this checkpoint needs an image from camera(s) {', '.join(missing)}")
            views.append(torch.stack([self.image_tensor(obs.images[name]) for name in self.spec.cameras]))
        pixels = torch.stack(views)
        ids, masks = zip(*(self.token_ids(obs.instruction) for obs in observations), strict=True)
        return {
            "pixel_values": pixels,
            "pixel_attention_mask": torch.ones(len(observations), pixels.shape[1], dtype=torch.bool),
            "input_ids": torch.stack(ids),
            "attention_mask": torch.stack(masks),
            "state": torch.stack([self.state_tensor(obs.state) for obs in observations]),
        }

    def unnormalize_actions(self, chunk: torch.Tensor) -> np.ndarray:
        """The model's normalised, padded output in its own units ([chunk, action_dim], padding dropped)."""
        a = chunk.detach().to(torch.float32).cpu().numpy()[..., : self.spec.action_dim]
        return self.spec.action_norm.unnormalize(a)

    def robot_actions(self, chunk: torch.Tensor, state: np.ndarray) -> np.ndarray:
        """[chunk, action_dim] robot actions (contract deltas, or joint positions) for an observation's joints."""
        actions = self.unnormalize_actions(chunk)
        if self.spec.action_space in (DELTA, JOINT_POSITION):
            return actions
        return targets_to_deltas(
            self.tool_targets(actions, state),
            state,
            max_translation=self.spec.max_translation,
            max_rotation=self.spec.max_rotation,
        )

    def tool_targets(self, actions: np.ndarray, state: np.ndarray) -> np.ndarray:
        """Absolute tool targets of a target-space chunk in model units (offsets are taken from the state's tool)."""
        if self.spec.action_space == TOOL_OFFSET:
            return offsets_to_targets(actions, state, self.spec.offset_scale)
        return actions
