"""Offline replay: a bag's camera, joint states and instruction through the node's code path, into a new bag.

The policy, processor, proxies, controller and chunk execution are the node's own (Pi0Policy and
ControlLoop); control ticks follow the bag's timestamps at the control rate, and inference is
taken as instantaneous (a chunk requested at one tick is used from the next).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dyq_vla_ros import contract
from dyq_vla_ros.bags.errors import BagError
from dyq_vla_ros.bags.read import bag_topics, read_raw
from dyq_vla_ros.bags.record import TYPESTORE, BagRecorder, ros_time
from dyq_vla_ros.control import diagnostic_record, hold_action, make_control_loop
from dyq_vla_ros.policy import Observation, Pi0Policy, Pi0PolicyConfig
from dyq_vla_ros.sensors import ConversionError, compressed_to_rgb, image_to_rgb, joint_positions, stamp_to_seconds
from dyq_vla_ros.types import ACTION_NAMES, WEIGHT_BITS, PrecisionMode

_T = TYPESTORE.types


@dataclass
class ReplaySummary:
    """What a replay produced."""

    ticks: int = 0
    actions: int = 0
    inferences: int = 0
    rejected_joint_states: int = 0
    rejected_images: int = 0
    bits: list[int] = field(default_factory=list)


def _action_msg(action: np.ndarray) -> object:
    dim = _T["std_msgs/msg/MultiArrayDimension"](label=",".join(ACTION_NAMES), size=len(action), stride=len(action))
    layout = _T["std_msgs/msg/MultiArrayLayout"](dim=[dim], data_offset=0)
    return _T["std_msgs/msg/Float32MultiArray"](layout=layout, data=np.asarray(action, np.float32))


class BagReplayer:
    """Runs one bag through the policy and writes the inputs plus the policy's outputs."""

    def __init__(
        self, params: dict[str, object], *, instruction: str = "", image_topic: str = "", joint_topic: str = ""
    ):
        self.params = {**contract.PARAMETER_DEFAULTS, **params}
        self.image_topic = image_topic or contract.TOPIC_IMAGE
        self.joint_topic = joint_topic or contract.TOPIC_JOINT_STATES
        self.instruction_override = instruction.strip()
        mode = PrecisionMode.parse(str(self.params["precision_mode"]))
        self.policy = Pi0Policy(
            str(self.params["model_path"]),
            Pi0PolicyConfig.from_params(self.params),
        )
        self.policy.set_precision(mode, 16 if mode.static_bits is None else mode.static_bits)
        self.loop = make_control_loop(self.policy.calibration, self.params)
        names = [n for n in self.params["joint_names"] if n]
        self.joint_names = names or list(self.policy.processor.config.joint_names)
        self.summary = ReplaySummary()
        self._latencies: list[float] = []

    def run(self, in_bag: Path, out_bag: Path, *, storage: str = "mcap") -> ReplaySummary:
        """Replay in_bag into out_bag."""
        topics = bag_topics(in_bag)
        default_missing = self.image_topic == contract.TOPIC_IMAGE and self.image_topic not in topics
        if default_missing and contract.TOPIC_IMAGE_COMPRESSED in topics:  # the image_transport twin
            self.image_topic = contract.TOPIC_IMAGE_COMPRESSED
        wrist = (contract.TOPIC_WRIST_IMAGE,) if self.policy.processor.wrist else ()
        for wanted in (self.image_topic, self.joint_topic, *wrist):
            if wanted not in topics:
                raise BagError(f"bag {in_bag} has no topic {wanted}; it has: {', '.join(sorted(topics))}")
        if not self.instruction_override and contract.TOPIC_INSTRUCTION not in topics:
            raise BagError(f"bag {in_bag} records no {contract.TOPIC_INSTRUCTION}; pass an instruction")
        period_ns = int(1e9 / float(self.params["control_rate_hz"]))
        self._instruction = self.instruction_override
        self._image = self._joint = None  # (time, (msgtype, raw)) / (time, positions, stamp)
        self._wrist = None  # (time, (msgtype, raw)) of the wrist camera, for checkpoints that take it
        self._pending: np.ndarray | None = None
        self._holding, self._last_gripper, self._last_diag = True, 0.0, -(10**18)
        next_tick = last_t = None
        with BagRecorder(out_bag, storage=storage) as out:
            if self._instruction:
                self.loop.new_episode()
            for topic, msgtype, t, raw in read_raw(in_bag):
                next_tick = t if next_tick is None else next_tick
                while next_tick < t:  # inputs stamped at a tick's time are read before that tick
                    self._tick(out, next_tick)
                    next_tick += period_ns
                out.write(topic, msgtype, raw, t)
                self._take(topic, msgtype, raw, t)
                last_t = t
            while next_tick is not None and next_tick <= last_t:
                self._tick(out, next_tick)
                next_tick += period_ns
        return self.summary

    def _take(self, topic: str, msgtype: str, raw: bytes, t: int) -> None:
        """Update the latest inputs with one recorded message."""
        if topic == self.image_topic:
            self._image = (t, (msgtype, raw))
        elif topic == contract.TOPIC_WRIST_IMAGE:
            self._wrist = (t, (msgtype, raw))
        elif topic == self.joint_topic:
            msg = TYPESTORE.deserialize_cdr(raw, msgtype)
            try:
                q, _ = joint_positions(msg, self.joint_names, self.policy.state_dim)
            except ConversionError:
                self.summary.rejected_joint_states += 1
                return
            self._joint = (t, q, stamp_to_seconds(msg.header.stamp) or t * 1e-9)
        elif topic == contract.TOPIC_INSTRUCTION and not self.instruction_override:
            text = TYPESTORE.deserialize_cdr(raw, msgtype).data.strip()
            if text:
                self._instruction = text
                self.loop.new_episode()
                self.policy.reset()
                self._pending = None

    def _tick(self, out: BagRecorder, t: int) -> None:
        """One control period at bag time t, as the node's control timer runs it."""
        stale_ns = int(float(self.params["stale_timeout_s"]) * 1e9)
        image, joint, wrist = self._image, self._joint, self._wrist
        fresh = (
            self._instruction
            and image is not None
            and joint is not None
            and t - image[0] <= stale_ns
            and t - joint[0] <= stale_ns
            and (not self.policy.processor.wrist or (wrist is not None and t - wrist[0] <= stale_ns))
        )
        if not fresh:
            if not self._holding:
                hold = hold_action(self.policy.action_dim, self._last_gripper)
                out.write_message(contract.TOPIC_ACTION, _action_msg(hold), t)
                self._holding = True
            self.loop.clear_queue()
        else:
            self._holding = False
            if self._pending is not None:
                self.loop.accept_chunk(self._pending)
                self._pending = None
            result = self.loop.tick((joint[1], joint[2]))
            self.summary.ticks += 1
            if result.action is not None:
                out.write_message(contract.TOPIC_ACTION, _action_msg(result.action), t)
                self._last_gripper = float(result.action[6]) if len(result.action) > 6 else 0.0
                self.summary.actions += 1
            self.summary.bits.append(result.bits)
            out.write_message(contract.TOPIC_BIT_WIDTH, _T["std_msgs/msg/UInt8"](data=result.bits), t)
            s = result.sample.sensitivity if result.sample else 0.0
            out.write_message(contract.TOPIC_SENSITIVITY, _T["std_msgs/msg/Float32"](data=s), t)
            if self.loop.should_request(inflight=False, lookahead_actions=0):
                self.loop.mark_requested()
                self._pending = self._infer(image[1], joint[1], self._instruction, wrist and wrist[1])
        if t - self._last_diag >= 1_000_000_000:
            out.write_message(contract.TOPIC_DIAGNOSTICS, self._diagnostics(t), t)
            self._last_diag = t

    def _infer(
        self,
        image_ref: tuple[str, bytes],
        q: np.ndarray,
        instruction: str,
        wrist_ref: tuple[str, bytes] | None = None,
    ) -> np.ndarray | None:
        try:
            rgb = self._decode(image_ref)
            wrist = self._decode(wrist_ref) if self.policy.processor.wrist else None
        except ConversionError:
            self.summary.rejected_images += 1
            return None
        controller = self.loop.controller
        self.policy.set_precision(controller.mode, controller.bits)
        start = time.perf_counter()
        actions = self.policy.predict_action_chunk(Observation(rgb, q.astype(np.float32), instruction, wrist))
        self._latencies.append(1000.0 * (time.perf_counter() - start))
        self.summary.inferences += 1
        return actions if np.all(np.isfinite(actions)) else None

    def _decode(self, ref: tuple[str, bytes]) -> np.ndarray:
        msgtype, raw = ref
        limit = int(self.params["max_image_pixels"])
        msg = TYPESTORE.deserialize_cdr(raw, msgtype)
        if msgtype == "sensor_msgs/msg/CompressedImage":
            return compressed_to_rgb(msg, max_pixels=limit)
        return image_to_rgb(msg, max_pixels=limit)

    def _diagnostics(self, t: int) -> object:
        record = diagnostic_record(
            self.loop,
            precision_mode=str(self.params["precision_mode"]),
            weight_bits=WEIGHT_BITS if self.policy.weight_bits == 4 else self.policy.weight_bits,
            model=str(self.policy.path),
            latencies_ms=self._latencies,
            dropped_frames=0,
            input_age_ms=0.0,
        )
        kv = _T["diagnostic_msgs/msg/KeyValue"]
        status = _T["diagnostic_msgs/msg/DiagnosticStatus"](
            level=0,
            name=contract.DIAGNOSTIC_STATUS_NAME,
            message="replay",
            hardware_id="dyq-vla replay",
            values=[kv(key=k, value=f"{v:.4g}" if isinstance(v, float) else str(v)) for k, v in record.items()],
        )
        header = _T["std_msgs/msg/Header"](stamp=ros_time(t), frame_id="")
        return _T["diagnostic_msgs/msg/DiagnosticArray"](header=header, status=[status])
