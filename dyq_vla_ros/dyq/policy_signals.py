"""Sensitivity signals from the policy itself, beside the kinematic proxies: its disagreement and gripper events.

- Disagreement: when a new chunk arrives, how far its first actions lie from what the previous chunk
  planned for the same ticks, relative to the size of those actions (0: the same plan, 1: as far
  off as the actions are long; clipped to 1). It costs nothing (both chunks exist) and is high where
  the policy changes its mind: decision points, corrections, and slow careful motion.
- Gripper events: nearness to a change of the gripper command, in the executed past or the planned
  future: 1 at the change, falling linearly to 0 `horizon` ticks away. Grasps and releases are the
  steps where an error is hardest to undo.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dyq_vla_ros.dyq.errors import ProxyInputError


class DisagreementSignal:
    """Relative distance between a new chunk and the previous chunk's plan for the same ticks."""

    def __init__(self, *, dims: int | None = None, floor: float = 1e-6) -> None:
        """dims: the leading action values compared (the motion, not the gripper); None: all."""
        self.dims = dims
        self.floor = floor
        self.value = 0.0

    def update(self, planned: np.ndarray | None, new: np.ndarray) -> float:
        """Take a new chunk; planned: the previous chunk's actions still queued for the same ticks (None: none)."""
        new = np.asarray(new, dtype=np.float64)
        if planned is None or len(planned) == 0 or len(new) == 0:
            return self.value
        planned = np.asarray(planned, dtype=np.float64)
        k = min(len(planned), len(new))
        a, b = new[:k, : self.dims], planned[:k, : self.dims]
        if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
            raise ProxyInputError("non-finite chunk")
        distance = float(np.linalg.norm(a - b, axis=1).mean())
        size = float((np.linalg.norm(a, axis=1).mean() + np.linalg.norm(b, axis=1).mean()) / 2)
        self.value = min(1.0, distance / max(size, self.floor))
        return self.value

    def reset(self) -> None:
        """Start a new episode."""
        self.value = 0.0


class GripperSignal:
    """Nearness (1 .. 0 over `horizon` ticks) to a change of the gripper command, executed or planned."""

    def __init__(self, *, horizon: int = 10) -> None:
        if horizon < 1:
            raise ValueError(f"horizon must be at least 1 tick, got {horizon}")
        self.horizon = horizon
        self.value = 0.0
        self._last: bool | None = None
        self._since = horizon

    def update(self, executed: float | None, planned: Sequence[float]) -> float:
        """One tick: the gripper command executed now (None: none) and those planned for the next ticks."""
        if executed is not None:
            closed = executed > 0.0
            self._since = 0 if self._last is not None and closed != self._last else self._since + 1
            self._last = closed
        ahead = self.horizon
        state = self._last
        for i, g in enumerate(planned):
            if state is not None and (g > 0.0) != state:
                ahead = i + 1
                break
            state = g > 0.0
        self.value = max(0.0, 1.0 - min(self._since, ahead) / self.horizon)
        return self.value

    def reset(self) -> None:
        """Start a new episode."""
        self.value = 0.0
        self._last = None
        self._since = self.horizon
