"""The control tick of a chunked VLA policy with DyQ precision, free of ROS.

Shared by the ROS node and by in-process runners (replay, evaluation): one action per tick from
the current chunk, clipped to bounds; the kinematic proxies and the precision controller step
once per tick; the next chunk is requested early enough to cover the inference latency and,
on arrival, skips the actions executed since its request so it stays aligned in time.
"""

from __future__ import annotations

import contextlib
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dyq_vla_ros.contract import PROXY_SOURCES
from dyq_vla_ros.dyq import (
    ActionProxies,
    Calibration,
    DisagreementSignal,
    FlowStepController,
    GripperSignal,
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
    """The kinematic proxies (of the action stream, or of the joint states with proxy_source joint_state)."""
    proxy_error: str = ""
    sensitivity: float = 0.0
    """S_t of the proxy_source in force: what the precision and the flow-step controllers acted on."""
    flow_steps: int = 0
    """Flow-matching steps the next inference will use."""


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
        flow: FlowStepController | None = None,
    ) -> None:
        self.controller = controller
        self.action_proxies = action_proxies
        self.joint_proxies = joint_proxies
        self.flow = flow or FlowStepController(1)
        motion_dims = None if isinstance(action_proxies, JointCommandProxies) else GRIPPER_INDEX
        self.disagreement = DisagreementSignal(dims=motion_dims)
        self.gripper = GripperSignal()
        self.set_bounds(action_min, action_max)
        self.proxy_source = proxy_source
        self.actions_per_chunk = actions_per_chunk
        self.gripper_latch = gripper_latch
        self._queue: deque[np.ndarray] = deque()
        self._plan: np.ndarray | None = None
        """The last chunk from its first executed action on, beyond what actions_per_chunk executes."""
        self._executed_since_accept = 0
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
        """Latest kinematic proxy sample (of the joint states with proxy_source joint_state, else of the actions)."""
        proxies = self.joint_proxies if self._proxy_source == "joint_state" else self.action_proxies
        return proxies.estimator.last

    def signals(self) -> dict[str, float]:
        """Every sensitivity signal now, whichever proxy_source the controllers follow."""
        kinematic = self.action_proxies.estimator.last
        joints = self.joint_proxies.estimator.last
        out = {
            "action": kinematic.sensitivity if kinematic else 0.0,
            "joint_state": joints.sensitivity if joints else 0.0,
            "disagreement": self.disagreement.value,
            "gripper": self.gripper.value,
        }
        out["fused"] = max(out["action"], out["disagreement"], out["gripper"])
        return out

    @property
    def sensitivity(self) -> float:
        """S_t of the proxy_source in force."""
        if self._proxy_source in ("action", "joint_state"):
            sample = self.sample
            return sample.sensitivity if sample else 0.0
        return self.signals()[self._proxy_source]

    def new_episode(self) -> None:
        """Drop queued actions and reset proxies and controller (an episode starts at 16 bits)."""
        self._queue.clear()
        self._plan = None
        self._executed_since_request = 0
        self._joint_stamp = None
        self._gripper = None
        self.action_proxies.reset()
        self.joint_proxies.reset()
        self.disagreement.reset()
        self.gripper.reset()
        self.controller.reset()
        self.flow.reset()

    def clear_queue(self) -> None:
        """Forget the queued actions and the plan behind them (inputs went stale)."""
        self._queue.clear()
        self._plan = None

    def accept_chunk(self, actions: np.ndarray) -> None:
        """Take a new chunk, skipping the actions executed since it was requested (gripper latched if set)."""
        skip = min(self._executed_since_request, len(actions) - 1)
        n = self.actions_per_chunk or len(actions)
        aligned = np.asarray(actions, np.float32)[skip:]
        kept = aligned[:n]
        if self.gripper_latch and not self.joint_commands:
            kept = latch_gripper(kept, self._gripper)
        planned = None if self._plan is None else self._plan[self._executed_since_accept :]
        with contextlib.suppress(ProxyInputError):  # a session never accepts a non-finite chunk
            self.disagreement.update(planned, aligned)
        self._plan, self._executed_since_accept = aligned, 0
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
        self.flow.reduced, self.flow.theta = params.flow_steps_reduced, params.theta_flow
        if params.flow_steps:
            self.flow.full = params.flow_steps
        self.flow.downgrade_steps = params.downgrade_steps

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
            self._executed_since_accept += 1
            if action.shape[0] > GRIPPER_INDEX:
                self._gripper = float(action[GRIPPER_INDEX])
        error = self._update_proxies(action, joint_sample)
        if not self.joint_commands and self._lo.shape[0] > GRIPPER_INDEX:  # actions with a gripper command
            executed = None if action is None else float(action[GRIPPER_INDEX])
            self.gripper.update(executed, [float(a[GRIPPER_INDEX]) for a in self._queue])
        s = self.sensitivity
        bits = self.controller.step(s)
        steps = self.flow.step(s)
        return TickResult(action, clipped, bits, self.sample, error, s, steps)

    def _update_proxies(self, action: np.ndarray | None, joint_sample: tuple[np.ndarray, float] | None) -> str:
        """Feed both kinematic sources; the error of the one in force ('' if none)."""
        error = ""
        if action is not None:
            try:
                self.action_proxies.update(action)
            except ProxyInputError as exc:
                error = str(exc) if self._proxy_source != "joint_state" else error
        if joint_sample is not None and joint_sample[1] != self._joint_stamp:
            q, stamp = joint_sample
            self._joint_stamp = stamp
            try:
                self.joint_proxies.update(q, stamp)
            except ProxyInputError as exc:
                error = str(exc) if self._proxy_source == "joint_state" else error
        return error


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


def make_control_loop(
    calibration: Calibration, params: NodeParams, *, joint_commands: bool = False, flow_steps: int = 1
) -> ControlLoop:
    """The control loop configured from node parameters and a model's calibration.

    joint_commands: the actions are joint positions (proxies on joint-space deltas, joint bounds);
    flow_steps: the checkpoint's flow-matching steps (the full count of the flow-step allocation).
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
        flow=FlowStepController(
            flow_steps,
            reduced=params.flow_steps_reduced,
            theta=params.theta_flow,
            downgrade_steps=params.downgrade_steps,
        ),
    )
