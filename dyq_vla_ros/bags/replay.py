"""Offline replay: a bag's cameras, joint states and instruction through the node's code path, into a new bag.

The policy, processor and chunk execution are the node's own (Pi0Policy and PolicySession, with the
node's staleness rule); control ticks follow the bag's timestamps at the control rate, and inference
is taken as instantaneous (a chunk requested at one tick is used from the next). Cameras are found
as the node finds them: `camera_topics` (or `cameras`) NAME=TOPIC, else the defaults, each with its
image_transport `/compressed` twin when the raw topic is not in the bag.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.serde import SerdeError

from dyq_vla_ros import contract
from dyq_vla_ros.bags.errors import BagError
from dyq_vla_ros.bags.messages import (
    action_msg,
    diagnostics_msg,
    joint_command_msg,
    joint_trajectory_msg,
    scalar_msg,
)
from dyq_vla_ros.bags.read import bag_topics, read_raw, undecodable
from dyq_vla_ros.bags.record import TYPESTORE, BagRecorder
from dyq_vla_ros.control import Chunk, InferenceRequest, NonFiniteActionsError, PolicySession, stale_reason
from dyq_vla_ros.params import NodeParams
from dyq_vla_ros.policy import Observation, Pi0Policy, Pi0PolicyConfig
from dyq_vla_ros.sensors import ConversionError, compressed_to_rgb, image_to_rgb, joint_positions, stamp_to_seconds
from dyq_vla_ros.types import SCENE_CAMERA, WEIGHT_BITS

_Frame = tuple[int, tuple[str, Any]]
"""(bag time, (msgtype, deserialized message)) of the newest frame of a camera."""
_Joint = tuple[int, np.ndarray, float]
"""(bag time, positions, stamp in seconds) of the newest joint state."""


@dataclass
class ReplaySummary:
    """What a replay produced."""

    ticks: int = 0
    actions: int = 0
    inferences: int = 0
    rejected_joint_states: int = 0
    rejected_images: int = 0
    bits: list[int] = field(default_factory=list)
    cameras: dict[str, str] = field(default_factory=dict)
    """Checkpoint camera -> the bag topic its frames came from."""


class BagReplayer:
    """Runs one bag through the policy session and writes the inputs plus the policy's outputs."""

    def __init__(
        self,
        params: NodeParams | Mapping[str, object],
        *,
        instruction: str = "",
        image_topic: str = "",
        joint_topic: str = "",
        cameras: Mapping[str, str] | None = None,
    ) -> None:
        """params: the node's; image_topic: the scene camera's topic; cameras: NAME -> TOPIC beside camera_topics."""
        self.params = params if isinstance(params, NodeParams) else NodeParams.from_mapping(params)
        self.joint_topic = joint_topic or contract.TOPIC_JOINT_STATES
        self.instruction_override = instruction.strip()
        mode = self.params.mode
        self.policy = Pi0Policy(self.params.model_path, Pi0PolicyConfig.from_params(self.params))
        self.policy.set_precision(mode, mode.static_bits or 16)
        self.session = PolicySession.from_params(self.policy, self.policy.calibration, self.params)
        self.joint_names = list(self.params.selected_joints) or list(self.policy.processor.config.joint_names)
        given = {**self.params.camera_topic_map, **(cameras or {})}
        if image_topic:
            given[SCENE_CAMERA] = image_topic
        self.camera_topics = {name: contract.camera_topic(name, given) for name in self.policy.processor.cameras}
        self.summary = ReplaySummary()

    def _resolve_topics(self, in_bag: Path) -> dict[str, list[str]]:
        """Bag topic -> the cameras it feeds (a camera's /compressed twin where its raw topic is absent)."""
        topics = bag_topics(in_bag)
        by_topic: dict[str, list[str]] = {}
        for name, topic in self.camera_topics.items():
            found = topic if topic in topics else f"{topic}/compressed"
            if found not in topics:
                raise BagError(
                    f"bag {in_bag} has no topic {topic} for camera {name!r} (nor {topic}/compressed); name its "
                    f"topic with --camera {name}=TOPIC; the bag has: {', '.join(sorted(topics))}"
                )
            by_topic.setdefault(found, []).append(name)
            self.summary.cameras[name] = found
        if self.joint_topic not in topics:
            raise BagError(f"bag {in_bag} has no topic {self.joint_topic}; it has: {', '.join(sorted(topics))}")
        if not self.instruction_override and contract.TOPIC_INSTRUCTION not in topics:
            raise BagError(f"bag {in_bag} records no {contract.TOPIC_INSTRUCTION}; pass an instruction")
        return by_topic

    def run(self, in_bag: Path, out_bag: Path, *, storage: str = "mcap") -> ReplaySummary:
        """Replay in_bag into out_bag."""
        self._by_topic = self._resolve_topics(in_bag)
        period_ns = int(1e9 * self.params.control_period_s)
        self._instruction = self.instruction_override
        self._frames: dict[str, _Frame] = {}
        self._joint: _Joint | None = None
        self._state_joints: list[str] = []
        self._pending: Chunk | None = None
        self._last_diag = -(10**18)
        next_tick: int | None = None
        last_t = 0
        with BagRecorder(out_bag, storage=storage) as out:
            if self._instruction:
                self.session.new_episode()
            for topic, msgtype, t, raw in read_raw(in_bag):
                next_tick = t if next_tick is None else next_tick
                while next_tick < t:  # inputs stamped at a tick's time are read before that tick
                    self._tick(out, next_tick)
                    next_tick += period_ns
                out.write(topic, msgtype, raw, t)
                try:
                    self._take(topic, msgtype, raw, t)
                except SerdeError as exc:  # a damaged message: the bag, not the replay, is at fault
                    raise undecodable(in_bag, topic, t, exc) from exc
                last_t = t
            while next_tick is not None and next_tick <= last_t:
                self._tick(out, next_tick)
                next_tick += period_ns
        return self.summary

    def _take(self, topic: str, msgtype: str, raw: bytes, t: int) -> None:
        """Update the latest inputs with one recorded message."""
        if topic in self._by_topic:
            for name in self._by_topic[topic]:
                self._frames[name] = (t, (msgtype, TYPESTORE.deserialize_cdr(raw, msgtype)))
        elif topic == self.joint_topic:
            msg: Any = TYPESTORE.deserialize_cdr(raw, msgtype)
            try:
                q, used = joint_positions(msg, self.joint_names, self.policy.state_dim)
            except ConversionError:
                self.summary.rejected_joint_states += 1
                return
            self._joint = (t, q, stamp_to_seconds(msg.header.stamp) or t * 1e-9)
            self._state_joints = used
        elif topic == contract.TOPIC_INSTRUCTION and not self.instruction_override:
            text = str(getattr(TYPESTORE.deserialize_cdr(raw, msgtype), "data", "")).strip()
            if text:
                self._instruction = text
                self.session.new_episode()
                self._pending = None

    def _tick(self, out: BagRecorder, t: int) -> None:
        """One control period at bag time t, as the node's control timer runs it."""
        session, joint = self.session, self._joint
        inputs: list[tuple[str, float | None]] = []
        for name, topic in self.summary.cameras.items():
            frame = self._frames.get(name)
            inputs.append((f"image from camera '{name}' ({topic})", None if frame is None else frame[0] * 1e-9))
        inputs.append(("joint state", None if joint is None else joint[0] * 1e-9))
        reason = stale_reason(
            t * 1e-9, instruction=self._instruction, inputs=inputs, timeout_s=self.params.stale_timeout_s
        )
        if self._pending is not None or session.inflight:
            session.deliver(None if reason else self._pending)
            self._pending = None
        if reason:
            self._write_action(out, session.hold(), t)
        else:
            assert joint is not None
            session.resume()
            result = session.tick((joint[1], joint[2]))
            self.summary.ticks += 1
            if result.action is not None:
                self._write_action(out, result.action, t)
                self.summary.actions += 1
            self.summary.bits.append(result.bits)
            out.write_message(contract.TOPIC_BIT_WIDTH, scalar_msg("std_msgs/msg/UInt8", result.bits), t)
            out.write_message(contract.TOPIC_SENSITIVITY, scalar_msg("std_msgs/msg/Float32", result.sensitivity), t)
            out.write_message(contract.TOPIC_FLOW_STEPS, scalar_msg("std_msgs/msg/UInt8", result.flow_steps), t)
            request = session.request()
            if request is not None:
                self._pending = self._infer(request, joint[1])
        if t - self._last_diag >= 1_000_000_000:
            out.write_message(contract.TOPIC_DIAGNOSTICS, self._diagnostics(t), t)
            self._last_diag = t

    def _write_action(self, out: BagRecorder, action: np.ndarray | None, t: int) -> None:
        if action is None:
            return
        if not self.session.loop.joint_commands:
            out.write_message(contract.TOPIC_ACTION, action_msg(action), t)
            return
        names = [n for n in self.params.command_joint_names if n] or self._state_joints[: len(action)]
        out.write_message(contract.TOPIC_JOINT_COMMAND, joint_command_msg(action), t)
        positions = [action, *self.session.loop.remaining()]
        trajectory = joint_trajectory_msg(positions, names, self.params.control_period_s, t)
        out.write_message(contract.TOPIC_JOINT_TRAJECTORY, trajectory, t)

    def _infer(self, request: InferenceRequest, q: np.ndarray) -> Chunk | None:
        try:
            images = {name: self._decode(frame[1]) for name, frame in self._frames.items()}
        except ConversionError:
            self.summary.rejected_images += 1
            return None
        self.summary.inferences += 1
        try:
            return self.session.infer(request, Observation(images, q.astype(np.float32), self._instruction))
        except NonFiniteActionsError:
            return None

    def _decode(self, ref: tuple[str, Any]) -> np.ndarray:
        msgtype, msg = ref
        limit = self.params.max_image_pixels
        if msgtype == "sensor_msgs/msg/CompressedImage":
            return compressed_to_rgb(msg, max_pixels=limit)
        return image_to_rgb(msg, max_pixels=limit)

    def _diagnostics(self, t: int) -> Any:
        record = self.session.diagnostics(
            precision_mode=self.params.precision_mode,
            weight_bits=WEIGHT_BITS if self.policy.weight_bits == 4 else self.policy.weight_bits,
            model=str(self.policy.path),
            dropped_frames=0,
            input_age_ms=0.0,
        )
        return diagnostics_msg(record, t)
