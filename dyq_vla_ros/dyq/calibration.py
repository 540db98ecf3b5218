"""Calibration shipped with a model: P95 priors for the proxies and the switching thresholds."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from dyq_vla_ros.dyq.controller import Thresholds
from dyq_vla_ros.dyq.errors import CalibrationError

CALIBRATION_FILE = "dyq_calibration.json"
_VERSION = 2


@dataclass(frozen=True)
class NormaliserPriors:
    """Calibrated P95 of the speed and change magnitudes of one proxy source."""

    speed_p95: float
    change_p95: float

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not (np.isfinite(value) and value > 0.0):
                raise CalibrationError(f"{name} must be a positive finite number, got {value!r}")


@dataclass(frozen=True)
class Calibration:
    """What the controller needs from offline calibration."""

    action: NormaliserPriors = field(default_factory=lambda: NormaliserPriors(1.0, 1.0))
    joint_state: NormaliserPriors = field(default_factory=lambda: NormaliserPriors(1.0, 1.0))
    thresholds: Thresholds = field(default_factory=Thresholds)
    allowed_bits: tuple[int, ...] = (2, 4, 8, 16)
    allocation: dict | None = None
    """How `dyq-vla calibrate` derived the thresholds and allowed widths; None while they are defaults."""

    @property
    def thresholds_calibrated(self) -> bool:
        """Whether the thresholds come from a calibration run rather than the defaults."""
        return self.allocation is not None

    def priors(self, source: str) -> NormaliserPriors:
        """Priors for proxy source 'action' or 'joint_state'."""
        if source == "action":
            return self.action
        if source == "joint_state":
            return self.joint_state
        raise CalibrationError(f"unknown proxy source {source!r}; expected 'action' or 'joint_state'")

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "version": _VERSION,
            "action": asdict(self.action),
            "joint_state": asdict(self.joint_state),
            "thresholds": asdict(self.thresholds),
            "allowed_bits": list(self.allowed_bits),
            **({"allocation": self.allocation} if self.allocation is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Calibration:
        """Parse the JSON form, raising CalibrationError on missing or bad fields."""
        allocation = data.get("allocation")
        if allocation is not None and not isinstance(allocation, dict):
            raise CalibrationError(f"calibration field 'allocation' must be an object, got {type(allocation).__name__}")
        try:
            return cls(
                action=NormaliserPriors(**data["action"]),
                joint_state=NormaliserPriors(**data["joint_state"]),
                thresholds=Thresholds(**data["thresholds"]),
                allowed_bits=tuple(int(b) for b in data.get("allowed_bits", (2, 4, 8, 16))),
                allocation=allocation,
            )
        except (KeyError, TypeError) as exc:
            raise CalibrationError(f"calibration data is missing or has a bad field: {exc}") from exc

    def save(self, path: Path) -> None:
        """Write as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> Calibration:
        """Read a JSON calibration file."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise CalibrationError(f"cannot read calibration file {path}: {exc}") from exc
        return cls.from_dict(data)


def action_magnitudes(episode: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-step translation speeds and rotation-command changes of one episode's actions."""
    a = np.asarray(episode, dtype=np.float64)
    speeds = np.linalg.norm(a[:, 0:3], axis=1)
    changes = np.linalg.norm(np.diff(a[:, 3:6], axis=0), axis=1)
    return speeds, changes


def joint_magnitudes(positions: np.ndarray, stamps_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-step joint-velocity norms and velocity-change norms of one episode."""
    v = np.diff(np.asarray(positions, np.float64), axis=0) / np.diff(np.asarray(stamps_s, np.float64))[:, None]
    return np.linalg.norm(v, axis=1), np.linalg.norm(np.diff(v, axis=0), axis=1)


def p95_priors(magnitudes: Iterable[tuple[np.ndarray, np.ndarray]]) -> NormaliserPriors:
    """Priors as the P95 of speeds and changes pooled over episodes."""
    pairs: Sequence[tuple[np.ndarray, np.ndarray]] = list(magnitudes)
    speeds = np.concatenate([s for s, _ in pairs]) if pairs else np.empty(0)
    changes = np.concatenate([c for _, c in pairs]) if pairs else np.empty(0)
    if speeds.size == 0 or changes.size == 0:
        raise CalibrationError("no samples to calibrate from")
    return NormaliserPriors(float(np.percentile(speeds, 95)), float(np.percentile(changes, 95)))
