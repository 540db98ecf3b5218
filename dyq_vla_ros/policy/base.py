"""The policy interface the node, replay and benchmarks drive."""

from __future__ import annotations

import abc

import numpy as np

from dyq_vla_ros.types import Observation, PrecisionMode

__all__ = ["Observation", "Policy"]


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
