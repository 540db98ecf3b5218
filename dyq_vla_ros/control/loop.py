"""The control tick of a chunked VLA policy with DyQ precision, free of ROS.

Shared by the ROS node and by in-process runners (replay, evaluation): one action per tick from
the current chunk, clipped to bounds; the kinematic proxies and the precision controller step
once per tick; the next chunk is requested early enough to cover the inference latency and,
on arrival, skips the actions executed since its request so it stays aligned in time.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dyq_vla_ros.contract import PROXY_SOURCES
from dyq_vla_ros.dyq import (
    ActionProxies,
    Calibration,
    JointCommandProxies,
    JointStateProxies,
    PrecisionController,
    ProxyInputError,
    ProxySample,
    SensitivityEstimator,
    Thresholds,
)
from dyq_vla_ros.params import NodeParams
from dyq_vla_ros.types import BIT_WIDTHS, GRIPPER_INDEX


@dataclass(frozen=True)
class TickResult:
    """What one control tick decided."""

    action: np.ndarray | None
    """The (clipped) action to execute, or None when no chunk is ready (a starved tick)."""
    clipped: bool
    bits: int
    """Activation bits the next inference will use."""
    sample: ProxySample | None
    proxy_error: str = ""


def hold_action(action_dim: int, gripper: float) -> np.ndarray:
    """The action that stops the robot: zero motion, gripper (the 7th value) kept where it was."""
    hold = np.zeros(action_dim, dtype=np.float32)
    hold[GRIPPER_INDEX : GRIPPER_INDEX + 1] = gripper
    return hold


def latch_gripper(actions: np.ndarray, current: float | None) -> np.ndarray:
    """A copy of a chunk whose gripper command (7th value, > 0 closes) switches at most once.

    After the first switch away from `current` (the last executed command; None: the chunk's first
    action) the rest of the chunk keeps the switched value: a chunk that closes on a peg and then,
    one step later, reopens (flow samples do this near the grasp) would drop it at once.
    """
    out = np.array(actions, dtype=np.float32, copy=True)
    if out.ndim != 2 or out.shape[0] == 0 or out.shape[1] <= GRIPPER_INDEX:
        return out
    closed = (out[0, GRIPPER_INDEX] if current is None else current) > 0.0
    switched = np.flatnonzero((out[:, GRIPPER_INDEX] > 0.0) != closed)
    if switched.size:
        out[switched[0] :, GRIPPER_INDEX] = out[switched[0], GRIPPER_INDEX]
    return out


def lookahead(latencies_ms: Sequence[float], period_ms: float, chunk_size: int) -> int:
    """Actions that should remain when the next inference starts: enough to cover its p90 latency."""
    if len(latencies_ms) == 0:
        return 0
    needed = math.ceil(float(np.percentile(np.asarray(latencies_ms, dtype=float), 90)) / period_ms)
    return max(0, min(needed, chunk_size - 1))


class ControlLoop:
    """Chunk queue, clipping, proxies and precision controller, advanced one tick at a time."""

    def __init__(
        self,
        controller: PrecisionController,
        action_proxies: ActionProxies | JointCommandProxies,
        joint_proxies: JointStateProxies,
        *,
        action_min: Sequence[float],
        action_max: Sequence[float],
        proxy_source: str = "action",
        actions_per_chunk: int = 0,
        gripper_latch: bool = True,
    ) -> None:
        self.controller = controller
        self.action_proxies = action_proxies
        self.joint_proxies = joint_proxies
        self.set_bounds(action_min, action_max)
        self.proxy_source = proxy_source
        self.actions_per_chunk = actions_per_chunk
        self.gripper_latch = gripper_latch
        self._queue: deque[np.ndarray] = deque()
        self._gripper: float | None = None
        self._executed_since_request = 0
        self._joint_stamp: float | None = None

    @property
    def proxy_source(self) -> str:
        """Where the proxies come from: 'action' or 'joint_state'."""
        return self._proxy_source

    @proxy_source.setter
    def proxy_source(self, source: str) -> None:
        if source not in PROXY_SOURCES:
            raise ValueError(f"proxy source must be one of {PROXY_SOURCES}, got {source!r}")
        self._proxy_source = source

    def set_bounds(self, action_min: Sequence[float], action_max: Sequence[float]) -> None:
        """Per-dimension clipping bounds."""
        lo, hi = np.asarray(action_min, np.float32), np.asarray(action_max, np.float32)
        if lo.shape != hi.shape or np.any(lo >= hi):
            raise ValueError("action bounds need equal lengths and action_min < action_max everywhere")
        self._lo, self._hi = lo, hi

    @property
    def queued(self) -> int:
        """Actions left in the current chunk."""
        return len(self._queue)

    @property
    def joint_commands(self) -> bool:
        """Whether the actions are joint positions (their proxies are joint-space deltas, no gripper latch)."""
        return isinstance(self.action_proxies, JointCommandProxies)

    def remaining(self) -> list[np.ndarray]:
        """The queued actions still to execute, clipped as they will be."""
        return [np.clip(a, self._lo, self._hi) for a in self._queue]

    @property
    def sample(self) -> ProxySample | None:
        """Latest proxy sample of the active source."""
        proxies = self.action_proxies if self._proxy_source == "action" else self.joint_proxies
        return proxies.estimator.last

    def new_episode(self) -> None:
        """Drop queued actions and reset proxies and controller (an episode starts at 16 bits)."""
        self._queue.clear()
        self._executed_since_request = 0
        self._joint_stamp = None
        self._gripper = None
        self.action_proxies.reset()
        self.joint_proxies.reset()
        self.controller.reset()

    def clear_queue(self) -> None:
        """Forget the queued actions (inputs went stale)."""
        self._queue.clear()

    def accept_chunk(self, actions: np.ndarray) -> None:
        """Take a new chunk, skipping the actions executed since it was requested (gripper latched if set)."""
        skip = min(self._executed_since_request, len(actions) - 1)
        n = self.actions_per_chunk or len(actions)
        kept = np.asarray(actions, np.float32)[skip : skip + n]
        if self.gripper_latch and not self.joint_commands:
            kept = latch_gripper(kept, self._gripper)
        self._queue = deque(kept)

    def note_executed(self, action: np.ndarray) -> None:
        """Count an action executed outside the queue (its gripper command is what the latch compares with)."""
        if action.shape[0] > GRIPPER_INDEX:
            self._gripper = float(action[GRIPPER_INDEX])

    def reconfigure(self, params: NodeParams) -> None:
        """Apply the live-changeable node parameters; the windows, histories and allowed widths stay."""
        self.controller.thresholds = params.thresholds
        self.controller.downgrade_steps = params.downgrade_steps
        if params.mode is not self.controller.mode:
            self.controller.mode = params.mode
        for proxies in (self.action_proxies, self.joint_proxies):
            proxies.estimator.lam = params.sensitivity_lambda
        self.proxy_source = params.proxy_source
        self.actions_per_chunk = params.actions_per_chunk
        self.gripper_latch = params.gripper_latch
        self.set_bounds(*bounds(params, joint_commands=self.joint_commands))

    def should_request(self, *, inflight: bool, lookahead_actions: int) -> bool:
        """Whether to start the next inference now."""
        return not inflight and len(self._queue) <= lookahead_actions

    def mark_requested(self) -> None:
        """An inference starts now; count the actions executed until its chunk arrives."""
        self._executed_since_request = 0

    def tick(self, joint_sample: tuple[np.ndarray, float] | None = None) -> TickResult:
        """Advance one control period; joint_sample is the latest (positions, stamp) if any."""
        action, clipped, error = None, False, ""
        if self._queue:
            raw = self._queue.popleft()
            action = np.clip(raw, self._lo, self._hi)
            clipped = not np.array_equal(action, raw)
            self._executed_since_request += 1
            if action.shape[0] > GRIPPER_INDEX:
                self._gripper = float(action[GRIPPER_INDEX])
        try:
            if self._proxy_source == "action" and action is not None:
                self.action_proxies.update(action)
            elif self._proxy_source == "joint_state" and joint_sample is not None:
                q, stamp = joint_sample
                if stamp != self._joint_stamp:
                    self._joint_stamp = stamp
                    self.joint_proxies.update(q, stamp)
        except ProxyInputError as exc:
            error = str(exc)
        sample = self.sample
        bits = self.controller.step(sample.sensitivity if sample else 0.0)
        return TickResult(action, clipped, bits, sample, error)


def initial_thresholds(calibration: Calibration, params: NodeParams) -> Thresholds:
    """The model's calibrated thresholds when it has them and `calibrated_thresholds` is set, else the theta_*."""
    if params.calibrated_thresholds and calibration.thresholds_calibrated:
        return calibration.thresholds
    return params.thresholds


def allowed_widths(calibration: Calibration, params: NodeParams) -> tuple[int, ...]:
    """The calibration's (hardware-aware) widths when `calibrated_thresholds` is set, else every width.

    Thresholds and widths come from one calibration run; hand-set theta_* name all four widths.
    """
    return calibration.allowed_bits if params.calibrated_thresholds else BIT_WIDTHS


def bounds(params: NodeParams, *, joint_commands: bool) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The clipping bounds of the actions: joint_position_min/max for joint commands, else action_min/max."""
    if joint_commands:
        return params.joint_position_min, params.joint_position_max
    return params.action_min, params.action_max


def make_control_loop(calibration: Calibration, params: NodeParams, *, joint_commands: bool = False) -> ControlLoop:
    """The control loop configured from node parameters and a model's calibration.

    joint_commands: the actions are joint positions (proxies on joint-space deltas, joint bounds).
    """
    controller = PrecisionController(
        params.mode,
        thresholds=initial_thresholds(calibration, params),
        downgrade_steps=params.downgrade_steps,
        allowed_bits=allowed_widths(calibration, params),
    )

    def estimator(source: str) -> SensitivityEstimator:
        priors = calibration.priors(source)
        return SensitivityEstimator(
            speed_p95=priors.speed_p95,
            change_p95=priors.change_p95,
            motion_window=params.motion_window,
            jerk_window=params.jerk_window,
            lam=params.sensitivity_lambda,
            history=params.p95_history,
        )

    lo, hi = bounds(params, joint_commands=joint_commands)
    command_proxies = JointCommandProxies if joint_commands else ActionProxies
    return ControlLoop(
        controller,
        command_proxies(estimator("action")),
        JointStateProxies(estimator("joint_state")),
        action_min=lo,
        action_max=hi,
        proxy_source=params.proxy_source,
        actions_per_chunk=params.actions_per_chunk,
        gripper_latch=params.gripper_latch,
    )
