"""The policy interface the node, replay and benchmarks drive."""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np

from dyq_vla_ros.types import PrecisionMode


@dataclass(frozen=True)
class Observation:
    """One policy input: an RGB image (H x W x 3 uint8), the robot state, the instruction, maybe a wrist image."""

    image: np.ndarray
    state: np.ndarray
    instruction: str
    wrist_image: np.ndarray | None = None
    """The wrist camera's RGB image, for checkpoints trained with one (processor `cameras`)."""


class Policy(abc.ABC):
    """A VLA policy producing action chunks at a switchable precision."""

    @property
    @abc.abstractmethod
    def chunk_size(self) -> int:
        """Actions per predicted chunk."""

    @property
    @abc.abstractmethod
    def action_dim(self) -> int:
        """Values per action."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Start a new episode or task."""

    @abc.abstractmethod
    def set_precision(self, mode: PrecisionMode, bits: int) -> None:
        """Run the next inference in this mode with these activation bits."""

    @abc.abstractmethod
    def predict_action_chunk(self, observation: Observation) -> np.ndarray:
        """Predict a [chunk_size, action_dim] chunk of actions in robot units."""
