"""The policy session: how a chunked VLA policy is executed, in one place for every runner.

The ROS node, bag replay, closed-loop evaluation and the DAgger driver all run a policy this way:
a control tick pops the next (clipped, gripper-latched) action of the current chunk and steps the
kinematic proxies and the precision controller; when the chunk runs low an inference is requested
at the bit width in force; the inference runs the policy at that precision, checks its actions are
finite and is delivered as the next chunk, skipping the actions executed since its request so that
it stays aligned with the observation it was predicted from. Runners differ only in where the
inference runs (the node's worker thread, or inline) and when its chunk is delivered.

The session holds no ROS or torch object: the policy is anything with the `ChunkPolicy` methods.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from dyq_vla_ros.control.loop import ControlLoop, TickResult, hold_action, lookahead, make_control_loop
from dyq_vla_ros.control.report import diagnostic_record
from dyq_vla_ros.dyq import Calibration, PrecisionController, ProxySample
from dyq_vla_ros.params import NodeParams
from dyq_vla_ros.types import GRIPPER_INDEX, Observation, PrecisionMode

LATENCY_WINDOW = 200
"""Inference latencies kept for the request look-ahead and the diagnostics percentiles."""


class ChunkPolicy(Protocol):
    """What the session needs of a policy."""

    @property
    def chunk_size(self) -> int:
        """Actions per predicted chunk."""
        ...

    @property
    def action_dim(self) -> int:
        """Values per action."""
        ...

    def reset(self) -> None:
        """Start a new episode."""
        ...

    def set_precision(self, mode: PrecisionMode, bits: int) -> None:
        """Run the next inference in this mode at these activation bits."""
        ...

    def predict_action_chunk(self, observation: Observation) -> np.ndarray:
        """A [chunk_size, action_dim] chunk of actions."""
        ...

    @property
    def predicts_joint_positions(self) -> bool:
        """Whether its actions are joint positions rather than end-effector deltas."""
        ...

    @property
    def flow_steps(self) -> int:
        """Its full flow-matching integration steps per inference."""
        ...

    def set_flow_steps(self, steps: int | None) -> None:
        """Integrate the next inferences in this many steps (None: the full count)."""
        ...


def uses_joint_commands(action_interface: str, predicts_joint_positions: bool) -> bool:
    """Whether actions are executed as joint positions, from the action_interface parameter and the checkpoint."""
    if action_interface == "auto":
        return predicts_joint_positions
    if action_interface == "joint_position" and not predicts_joint_positions:
        raise ValueError("action_interface joint_position needs a checkpoint whose actions are joint positions")
    return action_interface == "joint_position"


class NonFiniteActionsError(FloatingPointError):
    """The policy produced NaN or Inf actions; nothing of that chunk is executed."""


@dataclass(frozen=True)
class InferenceRequest:
    """One inference asked for by the control loop."""

    episode: int
    index: int
    """Inference of the episode (0 for its first)."""
    mode: PrecisionMode
    bits: int
    """Activation bits the inference runs at: those in force when it was requested."""
    tick: int
    """Control ticks executed in the episode when it was requested."""
    sample: ProxySample | None
    """The proxies in force when it was requested (None before the first action)."""
    flow_steps: int = 0
    """Flow-matching steps it runs (the checkpoint's full count unless the allocation chose fewer)."""
    signals: Mapping[str, float] = field(default_factory=dict)
    """Every sensitivity signal when it was requested (control.ControlLoop.signals)."""


@dataclass(frozen=True)
class Chunk:
    """The actions an inference produced."""

    request: InferenceRequest
    actions: np.ndarray
    latency_ms: float


Predict = Callable[[InferenceRequest, Observation], np.ndarray]
"""An inference other than the policy's own at the requested precision (studies, calibration)."""


class PolicySession:
    """A policy, its control loop and the chunk in flight, advanced by the runner that owns them."""

    def __init__(
        self,
        policy: ChunkPolicy,
        loop: ControlLoop,
        *,
        control_period_s: float,
        predict: Predict | None = None,
    ) -> None:
        self.policy = policy
        self.loop = loop
        self.control_period_s = control_period_s
        self._predict = predict
        self.episode = 0
        self.latencies_ms: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.holding = True
        self.last_gripper = 0.0
        self.last_action: np.ndarray | None = None
        """The last action executed (a joint-position hold repeats it)."""
        self._inflight: InferenceRequest | None = None
        self._inferences = 0
        self._ticks = 0
        self._policy_episode = -1

    @classmethod
    def from_params(
        cls,
        policy: ChunkPolicy,
        calibration: Calibration,
        params: NodeParams,
        *,
        predict: Predict | None = None,
    ) -> PolicySession:
        """A session configured from node parameters and the model's calibration."""
        joint_commands = uses_joint_commands(params.action_interface, policy.predicts_joint_positions)
        full = params.flow_steps or policy.flow_steps
        loop = make_control_loop(calibration, params, joint_commands=joint_commands, flow_steps=full)
        return cls(policy, loop, control_period_s=params.control_period_s, predict=predict)

    @property
    def controller(self) -> PrecisionController:
        """The precision controller."""
        return self.loop.controller

    @property
    def inflight(self) -> bool:
        """Whether a requested inference has not been delivered yet."""
        return self._inflight is not None

    def new_episode(self) -> None:
        """A new task: drop the queue and the chunk in flight; proxies, controller (16 bits) and policy restart."""
        self.episode += 1
        self._inflight = None
        self._inferences = 0
        self._ticks = 0
        self.loop.new_episode()

    def start(self) -> None:
        """Begin commanding afresh (a new activation): holding, no latencies, gripper open, a new episode."""
        self.latencies_ms.clear()
        self.holding = True
        self.last_gripper = 0.0
        self.last_action = None
        self.new_episode()

    def request(self, *, pipelined: bool = False) -> InferenceRequest | None:
        """The next inference to run, if the chunk runs low and none is in flight.

        pipelined: request early enough (the p90 of the measured latencies) that the next chunk
        arrives before this one runs out, as a runner with real inference latency must.
        """
        ahead = 0
        if pipelined:
            ahead = lookahead(list(self.latencies_ms), 1000.0 * self.control_period_s, self.policy.chunk_size)
        if not self.loop.should_request(inflight=self.inflight, lookahead_actions=ahead):
            return None
        self.loop.mark_requested()
        controller = self.loop.controller
        request = InferenceRequest(
            self.episode,
            self._inferences,
            controller.mode,
            controller.bits,
            self._ticks,
            self.loop.sample,
            self.loop.flow.steps,
            self.loop.signals(),
        )
        self._inflight = request
        self._inferences += 1
        return request

    def infer(self, request: InferenceRequest, observation: Observation) -> Chunk:
        """Run one requested inference (safe in a worker thread: it touches only the policy and latencies)."""
        if request.episode != self._policy_episode:
            self.policy.reset()
            self._policy_episode = request.episode
        start = time.perf_counter()
        if self._predict is not None:
            actions = self._predict(request, observation)
        else:
            self.policy.set_precision(request.mode, request.bits)
            self.policy.set_flow_steps(request.flow_steps if request.flow_steps != self.policy.flow_steps else None)
            actions = self.policy.predict_action_chunk(observation)
        latency_ms = 1000.0 * (time.perf_counter() - start)
        self.latencies_ms.append(latency_ms)
        actions = np.asarray(actions, dtype=np.float32)
        if not np.all(np.isfinite(actions)):
            raise NonFiniteActionsError("policy produced non-finite actions")
        return Chunk(request, actions, latency_ms)

    def deliver(self, chunk: Chunk | None) -> bool:
        """End the inference in flight; queue its chunk if it belongs to this episode (False: dropped)."""
        self._inflight = None
        if chunk is None or chunk.request.episode != self.episode:
            return False
        self.loop.accept_chunk(chunk.actions)
        return True

    def tick(self, joint_sample: tuple[np.ndarray, float] | None = None) -> TickResult:
        """One control period: the next action (None when starved), proxies and precision stepped."""
        result = self.loop.tick(joint_sample)
        self._ticks += 1
        if result.action is not None:
            self.last_action = result.action
            if result.action.shape[0] > GRIPPER_INDEX:
                self.last_gripper = float(result.action[GRIPPER_INDEX])
        return result

    def step(
        self, observe: Callable[[], Observation], joint_sample: tuple[np.ndarray, float] | None = None
    ) -> tuple[TickResult, Chunk | None]:
        """One tick with instantaneous inference: a chunk requested now is executed from this tick on."""
        chunk = None
        request = self.request()
        if request is not None:
            chunk = self.infer(request, observe())
            self.deliver(chunk)
        return self.tick(joint_sample), chunk

    def executed(self, action: np.ndarray) -> None:
        """Note an action executed outside the policy's chunks (a DAgger expert step), for the gripper latch."""
        self.loop.note_executed(action)
        if action.shape[0] > GRIPPER_INDEX:
            self.last_gripper = float(action[GRIPPER_INDEX])

    def resume(self) -> bool:
        """Inputs are usable again: whether the session was holding until now."""
        was, self.holding = self.holding, False
        return was

    def hold(self) -> np.ndarray | None:
        """Inputs are unusable: drop the queue; the hold action to send if commanding until now, else None."""
        self.loop.clear_queue()
        if self.holding:
            return None
        self.holding = True
        return self.hold_action()

    def hold_action(self) -> np.ndarray | None:
        """What stops the robot: zero motion, gripper kept (deltas), or the last joint command (None before one)."""
        if self.loop.joint_commands:
            return self.last_action
        return hold_action(self.policy.action_dim, self.last_gripper)

    def reconfigure(self, params: NodeParams) -> None:
        """Apply the live-changeable parameters (thresholds, hysteresis, mode, proxies, chunking, bounds)."""
        self.loop.reconfigure(params)
        self.control_period_s = params.control_period_s

    def diagnostics(
        self, *, precision_mode: str, weight_bits: int, model: str, dropped_frames: int, input_age_ms: float
    ) -> dict[str, object]:
        """The contract's diagnostic keys with their current values."""
        return diagnostic_record(
            self.loop,
            precision_mode=precision_mode,
            weight_bits=weight_bits,
            model=model,
            latencies_ms=list(self.latencies_ms),
            dropped_frames=dropped_frames,
            input_age_ms=input_age_ms,
        )


def stale_reason(now: float, *, instruction: str, inputs: Sequence[tuple[str, float | None]], timeout_s: float) -> str:
    """Why the inputs cannot be acted on (no instruction, an input never received or too old), or ''.

    inputs: (what, when it last arrived) in the order they are reported; None when never.
    """
    if not instruction:
        return "no instruction"
    for what, received in inputs:
        if received is None:
            return f"no {what} received"
    for what, received in inputs:
        age = now - received  # type: ignore[operator]
        if age > timeout_s:
            return f"{what} stale ({age:.2f} s)"
    return ""
