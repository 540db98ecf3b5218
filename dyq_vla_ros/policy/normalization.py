"""Feature normalisation as checkpoints define it: mean/std, min/max, quantiles or none (LeRobot's modes)."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from dyq_vla_ros.policy.errors import CheckpointError


class NormMode(str, enum.Enum):
    """How a feature is mapped to the model's units (LeRobot's NormalizationMode names)."""

    IDENTITY = "IDENTITY"
    MEAN_STD = "MEAN_STD"
    MIN_MAX = "MIN_MAX"
    QUANTILES = "QUANTILES"
    QUANTILE10 = "QUANTILE10"


_STATS = {
    NormMode.MEAN_STD: ("mean", "std"),
    NormMode.MIN_MAX: ("min", "max"),
    NormMode.QUANTILES: ("q01", "q99"),
    NormMode.QUANTILE10: ("q10", "q90"),
}
"""The two statistics each mode needs."""


@dataclass(frozen=True, eq=False)
class Normalizer:
    """One feature's normalisation: y = (x - a) / (b + eps) for mean/std, y = 2 (x - lo) / (hi - lo) - 1 for ranges.

    The inverse is exact (LeRobot's: x = y * std + mean, no eps). With eps 0 the mean/std form is
    the project's own checkpoints' `(x - mean) / std`.
    """

    mode: NormMode
    first: np.ndarray
    """mean, min, q01 or q10 (empty for IDENTITY)."""
    second: np.ndarray
    """std, max, q99 or q90."""
    eps: float = 0.0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Normalizer):
            return NotImplemented
        return (
            self.mode is other.mode
            and self.eps == other.eps
            and np.array_equal(self.first, other.first)
            and np.array_equal(self.second, other.second)
        )

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def identity(cls) -> Normalizer:
        """No normalisation."""
        empty = np.zeros(0, np.float32)
        return cls(NormMode.IDENTITY, empty, empty)

    @classmethod
    def from_stats(
        cls, mode: NormMode | str, stats: Mapping[str, Sequence[float] | np.ndarray], *, eps: float, what: str
    ) -> Normalizer:
        """A normaliser from named statistics ({'mean': ..., 'std': ...}); CheckpointError names a missing one."""
        mode = NormMode(mode)
        if mode is NormMode.IDENTITY:
            return cls.identity()
        a, b = _STATS[mode]
        missing = [s for s in (a, b) if s not in stats or stats[s] is None]
        if missing:
            raise CheckpointError(f"{what}: normalisation {mode.value} needs the statistics {', '.join(missing)}")
        first = np.asarray(stats[a], np.float32).reshape(-1)
        second = np.asarray(stats[b], np.float32).reshape(-1)
        if first.shape != second.shape:
            raise CheckpointError(f"{what}: {a} has {first.size} values but {b} has {second.size}")
        if not (np.all(np.isfinite(first)) and np.all(np.isfinite(second))):
            raise CheckpointError(f"{what}: statistics contain NaN or Inf")
        if mode is NormMode.MEAN_STD and eps == 0.0 and np.any(second <= 0):
            raise CheckpointError(f"{what}: std must be positive")
        return cls(mode, first, second, eps)

    @property
    def dim(self) -> int | None:
        """Values the statistics cover (None: any, for IDENTITY)."""
        return None if self.mode is NormMode.IDENTITY else int(self.first.size)

    def _span(self) -> np.ndarray:
        span = self.second - self.first
        return np.where(span == 0, np.float32(max(self.eps, 1e-8)), span)

    def normalize(self, x: np.ndarray) -> np.ndarray:
        """Model units of x (the last dim matches the statistics)."""
        x = np.asarray(x, np.float32)
        if self.mode is NormMode.IDENTITY:
            return x
        if self.mode is NormMode.MEAN_STD:
            return (x - self.first) / (self.second + np.float32(self.eps))
        return (2.0 * (x - self.first) / self._span() - 1.0).astype(np.float32)

    def unnormalize(self, y: np.ndarray) -> np.ndarray:
        """Feature units of model output y."""
        y = np.asarray(y, np.float32)
        if self.mode is NormMode.IDENTITY:
            return y
        if self.mode is NormMode.MEAN_STD:
            return y * self.second + self.first
        return ((y + 1.0) / 2.0 * self._span() + self.first).astype(np.float32)
