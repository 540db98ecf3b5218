"""dyq_vla_node: a lifecycle node running a VLA policy with kinematics-driven activation precision.

Callbacks only store inputs (latest-frame slot) and publish; inference runs in a worker thread.
Each control tick publishes the next action of the current chunk and updates the kinematic proxies
and the precision controller. The next chunk is requested early enough (by the measured p90
latency) to arrive before the current one runs out; on arrival it skips the actions executed
since its request, so it stays aligned in time with the observation it was predicted from.
The worker reads the requested precision only when an inference starts, so precision changes
between inferences, never inside one.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np
import torch
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import TwistStamped
from rcl_interfaces.msg import SetParametersResult
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import Float32, Float32MultiArray, String, UInt8
from visualization_msgs.msg import Marker, MarkerArray

from dyq_vla_ros import contract
from dyq_vla_ros.control import ControlLoop, diagnostic_record, hold_action, lookahead, make_control_loop
from dyq_vla_ros.dyq import (
    PrecisionController,
    Thresholds,
)
from dyq_vla_ros.policy import Observation, Pi0Policy, Pi0PolicyConfig
from dyq_vla_ros.ros import diagnostics, parameters
from dyq_vla_ros.ros.conversions import (
    ConversionError,
    action_to_msg,
    check_image,
    image_to_rgb,
    joint_positions,
    stamp_to_seconds,
)
from dyq_vla_ros.ros.qos import COMMAND_QOS, INSTRUCTION_QOS, SENSOR_QOS
from dyq_vla_ros.sensors import compressed_to_rgb
from dyq_vla_ros.types import WEIGHT_BITS, PrecisionMode

_MAX_INSTRUCTION_CHARS = 512
_BIT_COLOURS = {2: (0.9, 0.1, 0.1), 4: (1.0, 0.55, 0.0), 8: (0.95, 0.9, 0.1), 16: (0.1, 0.85, 0.2)}


@dataclass
class _Chunk:
    episode: int
    actions: np.ndarray


class PolicyNode(LifecycleNode):
    """Lifecycle node: configure loads the policy, activate commands, deactivate holds, cleanup frees."""

    def __init__(self, node_name: str = contract.NODE_NAME, **kwargs: object) -> None:
        super().__init__(node_name, **kwargs)
        parameters.declare_all(self)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._diag_pub = self.create_publisher(DiagnosticArray, contract.TOPIC_DIAGNOSTICS, 10)
        self._diag_timer = self.create_timer(self._param("diagnostics_period_s"), self.publish_diagnostics)

        self._lock = threading.Lock()
        self._request = threading.Event()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None

        self._policy: Pi0Policy | None = None
        self._controller: PrecisionController | None = None
        self._loop: ControlLoop | None = None
        self._joint_selection: list[str] = []
        self._pubs: dict[str, object] = {}
        self._subs: list = []
        self._control_timer = None

        self._lifecycle_state = "unconfigured"
        self._error = ""
        self._reset_runtime()

    # ------------------------------------------------------------------ helpers
    def _param(self, name: str):
        return self.get_parameter(name).value

    def _reset_runtime(self) -> None:
        """Forget inputs, queue and counters of the previous activation."""
        with self._lock:
            self._image_msg: Image | None = None
            self._image_stamp = 0.0
            self._image_seq = 0
            self._image_used_seq = 0
            self._image_time = 0.0
            self._wrist_msg: Image | None = None
            self._wrist_stamp = 0.0
            self._wrist_time = 0.0
            self._joint_q: np.ndarray | None = None
            self._joint_stamp = 0.0
            self._joint_time = 0.0
            self._instruction = str(self._param("instruction")).strip()
            self._episode = 0
            self._pending: _Chunk | None = None
            self._inflight = False
            self._reset_policy = True
        self._holding = True
        self._last_gripper = 0.0
        self._stale_reason = "not active"
        self._latencies: deque[float] = deque(maxlen=200)
        self._counters = {
            "dropped_frames": 0,
            "rejected_images": 0,
            "rejected_joint_states": 0,
            "rejected_instructions": 0,
            "clipped_actions": 0,
            "inference_errors": 0,
            "starved_ticks": 0,
            "published_actions": 0,
        }
        self._inference_failed = False
        self._last_bits_published = -1

    def _now(self) -> float:
        return time.monotonic()

    def _select_joints(self, joint_names: list[str]) -> list[str]:
        """Joints forming the state: the parameter's, else the checkpoint's ([] = message order)."""
        names = [n for n in joint_names if n]
        if names:
            return names
        return list(self._policy.processor.config.joint_names) if self._policy else []

    # ------------------------------------------------------------------ parameters
    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        """Validate a parameter change; apply cheap settings at once, the rest at the next inference."""
        values = {spec.name: self._param(spec.name) for spec in contract.PARAMETERS}
        values.update({p.name: p.value for p in params})
        reason = parameters.validate(values)
        if reason:
            return SetParametersResult(successful=False, reason=reason)
        if self._controller is not None:
            self._controller.thresholds = Thresholds(values["theta_2_4"], values["theta_4_8"], values["theta_fp"])
            self._controller.downgrade_steps = values["downgrade_steps"]
            mode = PrecisionMode.parse(values["precision_mode"])
            if mode is not self._controller.mode:
                self._controller.mode = mode
                self.get_logger().info(f"precision_mode -> {mode.value}")
            for proxies in (self._loop.action_proxies, self._loop.joint_proxies):
                proxies.estimator.lam = values["sensitivity_lambda"]
            self._loop.proxy_source = values["proxy_source"]
            self._loop.actions_per_chunk = values["actions_per_chunk"]
            self._loop.gripper_latch = values["gripper_latch"]
            self._loop.set_bounds(values["action_min"], values["action_max"])
            self._joint_selection = self._select_joints(values["joint_names"])
        return SetParametersResult(successful=True)

    # ------------------------------------------------------------------ lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load and quantize the model: SUCCESS -> inactive, FAILURE -> unconfigured."""
        threads = self._param("inference_threads") or max(1, (os.cpu_count() or 2) - 1)
        torch.set_num_threads(threads)
        values = {spec.name: self._param(spec.name) for spec in contract.PARAMETERS}
        try:
            mode = PrecisionMode.parse(values["precision_mode"])
            policy = Pi0Policy(values["model_path"], Pi0PolicyConfig.from_params(values))
            bounds = len(self._param("action_min"))
            if bounds != policy.action_dim:
                raise ValueError(
                    f"action_min/action_max have {bounds} values but the model's actions have {policy.action_dim}"
                )
            policy.set_precision(mode, 16 if mode.static_bits is None else mode.static_bits)
        except Exception as exc:  # any load failure must leave the node alive and unconfigured
            self._error = f"configure failed: {exc}"
            self.get_logger().error(self._error)
            self.publish_diagnostics()
            return TransitionCallbackReturn.FAILURE
        self._policy = policy
        self._joint_selection = self._select_joints(self._param("joint_names"))
        self._loop = make_control_loop(policy.calibration, values)
        self._controller = self._loop.controller
        self._show_thresholds(self._controller.thresholds)
        self._pubs = {
            "action": self.create_lifecycle_publisher(Float32MultiArray, contract.TOPIC_ACTION, COMMAND_QOS),
            "bits": self.create_lifecycle_publisher(UInt8, contract.TOPIC_BIT_WIDTH, COMMAND_QOS),
            "sensitivity": self.create_lifecycle_publisher(Float32, contract.TOPIC_SENSITIVITY, COMMAND_QOS),
            "twist": self.create_lifecycle_publisher(TwistStamped, contract.TOPIC_TWIST, COMMAND_QOS),
            "gripper": self.create_lifecycle_publisher(Float32, contract.TOPIC_GRIPPER, COMMAND_QOS),
            "markers": self.create_lifecycle_publisher(MarkerArray, contract.TOPIC_MARKERS, COMMAND_QOS),
        }
        self._stop.clear()
        self._worker = threading.Thread(target=self._worker_loop, name="dyq_vla_inference", daemon=True)
        self._worker.start()
        self._error = ""
        self._lifecycle_state = "inactive"
        report = policy.quant_report.summary() if policy.quant_report else "float weights"
        self.get_logger().info(
            f"configured {policy.path} on {policy.device} in mode {mode.value}: {report}; "
            f"chunk {policy.chunk_size} x {policy.action_dim}, state {policy.state_dim}; {threads} inference threads"
        )
        return TransitionCallbackReturn.SUCCESS

    def _show_thresholds(self, thresholds: Thresholds) -> None:
        """Make the theta_* parameters show the thresholds in force (the model's calibrated ones)."""
        wanted = {"theta_2_4": thresholds.theta_2_4, "theta_4_8": thresholds.theta_4_8, "theta_fp": thresholds.theta_fp}
        if any(self._param(name) != value for name, value in wanted.items()):
            self.set_parameters([Parameter(name, value=float(value)) for name, value in wanted.items()])
            self.get_logger().info(
                "calibrated thresholds from the model: "
                + ", ".join(f"{name}={value:.3f}" for name, value in wanted.items())
            )

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Subscribe and start the control timer: SUCCESS -> active."""
        self._reset_runtime()
        self._subs = [
            self.create_subscription(Image, contract.TOPIC_IMAGE, self._on_image, SENSOR_QOS),
            self.create_subscription(
                CompressedImage, contract.TOPIC_IMAGE_COMPRESSED, self._on_compressed_image, SENSOR_QOS
            ),
            self.create_subscription(JointState, contract.TOPIC_JOINT_STATES, self._on_joint_state, SENSOR_QOS),
            self.create_subscription(String, contract.TOPIC_INSTRUCTION, self._on_instruction, INSTRUCTION_QOS),
        ]
        if self._needs_wrist:
            self._subs.append(
                self.create_subscription(Image, contract.TOPIC_WRIST_IMAGE, self._on_wrist_image, SENSOR_QOS)
            )
        self._new_episode()
        self._control_timer = self.create_timer(1.0 / self._param("control_rate_hz"), self._on_control_tick)
        self._lifecycle_state = "active"
        self.get_logger().info("activated: commanding")
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop commanding after one hold action: SUCCESS -> inactive."""
        self._teardown_activity()
        self._lifecycle_state = "inactive"
        self.get_logger().info("deactivated: holding")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop the worker and free the model: SUCCESS -> unconfigured."""
        self._release()
        self._lifecycle_state = "unconfigured"
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Hold if active, then release everything: SUCCESS -> finalized."""
        if self._control_timer is not None:
            self._teardown_activity()
        self._release()
        self._lifecycle_state = "finalized"
        return TransitionCallbackReturn.SUCCESS

    def _teardown_activity(self) -> None:
        self._publish_hold()
        if self._control_timer is not None:
            self.destroy_timer(self._control_timer)
            self._control_timer = None
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []
        self._stale_reason = "not active"

    def _release(self) -> None:
        self._stop.set()
        self._request.set()
        if self._worker is not None:
            self._worker.join(timeout=30.0)
            self._worker = None
        for pub in self._pubs.values():
            self.destroy_lifecycle_publisher(pub)
        self._pubs = {}
        self._policy = self._controller = self._loop = None

    def destroy_node(self) -> None:
        """Stop the worker thread before the node goes away."""
        self._stop.set()
        self._request.set()
        if self._worker is not None:
            self._worker.join(timeout=30.0)
        super().destroy_node()

    # ------------------------------------------------------------------ inputs
    def _stamp_problem(self, stamp_s: float, previous_s: float) -> str:
        """Why a header stamp is unusable (future or out of order), or ''; zero stamps are accepted."""
        if stamp_s == 0.0:
            return ""
        ahead = stamp_s - self.get_clock().now().nanoseconds * 1e-9
        if ahead > self._param("max_future_stamp_s"):
            return f"stamp {ahead:.3f} s in the future"
        if stamp_s < previous_s:
            return f"stamp {previous_s - stamp_s:.3f} s older than the previous message (out of order)"
        return ""

    def _reject(self, counter: str, what: str, reason: str) -> None:
        self._counters[counter] += 1
        self.get_logger().warning(f"{what} rejected: {reason}", throttle_duration_sec=5.0)

    def _raw_image_ok(self, msg: Image, what: str) -> bool:
        """Whether a raw image's size and encoding are usable (else it is rejected and counted)."""
        try:
            check_image(msg, max_pixels=self._param("max_image_pixels"))
        except ConversionError as exc:
            self._reject("rejected_images", what, str(exc))
            return False
        return True

    def _image_stamp_ok(self, msg: Image | CompressedImage, what: str, previous_s: float) -> float | None:
        """An image's header stamp, or None if it is unusable (rejected and counted)."""
        stamp = stamp_to_seconds(msg.header.stamp)
        problem = self._stamp_problem(stamp, previous_s)
        if problem:
            self._reject("rejected_images", what, problem)
            return None
        return stamp

    def _on_image(self, msg: Image) -> None:
        if self._raw_image_ok(msg, "image"):
            self._store_image(msg)

    @property
    def _needs_wrist(self) -> bool:
        """Whether the loaded checkpoint also takes the wrist camera's image."""
        return self._policy is not None and self._policy.processor.wrist

    def _on_wrist_image(self, msg: Image) -> None:
        if not self._raw_image_ok(msg, "wrist image"):
            return
        stamp = self._image_stamp_ok(msg, "wrist image", self._wrist_stamp)
        if stamp is None:
            return
        with self._lock:
            self._wrist_stamp = max(stamp, self._wrist_stamp)
            self._wrist_msg = msg
            self._wrist_time = self._now()

    def _on_compressed_image(self, msg: CompressedImage) -> None:
        if not msg.data:  # decoding is left to the worker; only what costs nothing is checked here
            self._reject("rejected_images", "compressed image", "no data")
            return
        self._store_image(msg)

    def _store_image(self, msg: Image | CompressedImage) -> None:
        stamp = self._image_stamp_ok(msg, "image", self._image_stamp)
        if stamp is None:
            return
        with self._lock:
            self._image_stamp = max(stamp, self._image_stamp)
            self._image_msg = msg
            self._image_seq += 1
            self._image_time = self._now()

    def _on_joint_state(self, msg: JointState) -> None:
        try:
            q, _ = joint_positions(msg, self._joint_selection, self._policy.state_dim)
        except ConversionError as exc:
            self._reject("rejected_joint_states", "joint state", str(exc))
            return
        header_stamp = stamp_to_seconds(msg.header.stamp)
        problem = self._stamp_problem(header_stamp, self._joint_stamp)
        if problem:
            self._reject("rejected_joint_states", "joint state", problem)
            return
        stamp = header_stamp or self.get_clock().now().nanoseconds * 1e-9
        with self._lock:
            self._joint_q = q
            self._joint_stamp = stamp
            self._joint_time = self._now()

    def _on_instruction(self, msg: String) -> None:
        text = msg.data.strip()
        if not text or len(text) > _MAX_INSTRUCTION_CHARS:
            reason = "empty" if not text else f"longer than {_MAX_INSTRUCTION_CHARS} characters"
            self._reject("rejected_instructions", "instruction", reason)
            return
        with self._lock:
            self._instruction = text
        # every instruction message starts a new task, even when the text repeats (a new episode)
        self.get_logger().info(f"instruction: {text!r}; new episode, policy reset")
        self._new_episode()

    def _new_episode(self) -> None:
        """Reset policy, proxies and controller (16 bits) and drop the queued actions."""
        with self._lock:
            self._episode += 1
            self._pending = None
            self._reset_policy = True
        self._loop.new_episode()

    # ------------------------------------------------------------------ control loop
    def _staleness(self) -> str:
        now = self._now()
        timeout = self._param("stale_timeout_s")
        with self._lock:
            image_time, joint_time, instruction = self._image_time, self._joint_time, self._instruction
            wrist_time = self._wrist_time
        if not instruction:
            return "no instruction"
        if image_time == 0.0:
            return "no image received"
        if self._needs_wrist:
            if wrist_time == 0.0:
                return "no wrist image received"
            if now - wrist_time > timeout:
                return f"wrist image stale ({now - wrist_time:.2f} s)"
        if joint_time == 0.0:
            return "no joint state received"
        if now - image_time > timeout:
            return f"image stale ({now - image_time:.2f} s)"
        if now - joint_time > timeout:
            return f"joint state stale ({now - joint_time:.2f} s)"
        return ""

    def _on_control_tick(self) -> None:
        if not self.context.ok():  # a SIGINT/SIGTERM shut the context down under a pending timer
            return
        reason = self._staleness()
        if reason:
            if not self._holding:
                self._publish_hold()
                self.get_logger().warning(f"stopped commanding: {reason}")
            self._stale_reason = reason
            self._loop.clear_queue()
            self._publish_precision()
            return
        if self._holding:
            self._holding = False
            self._stale_reason = ""
            self.get_logger().info("inputs fresh: commanding")
        with self._lock:
            chunk, self._pending = self._pending, None
            inflight = self._inflight
        if chunk is not None and chunk.episode == self._episode:
            self._loop.accept_chunk(chunk.actions)
        with self._lock:
            joint_sample = None if self._joint_q is None else (self._joint_q, self._joint_stamp)
        result = self._loop.tick(joint_sample)
        if result.proxy_error:
            self.get_logger().warning(f"proxy input skipped: {result.proxy_error}", throttle_duration_sec=5.0)
        if result.action is not None:
            self._counters["clipped_actions"] += int(result.clipped)
            self._publish_action(result.action)
        else:
            self._counters["starved_ticks"] += 1
            if self._inference_failed and not self._holding:
                self._publish_hold()
        self._publish_precision()
        period_ms = 1000.0 / self._param("control_rate_hz")
        ahead = lookahead(list(self._latencies), period_ms, self._policy.chunk_size)
        if self._loop.should_request(inflight=inflight, lookahead_actions=ahead):
            with self._lock:
                self._inflight = True
            self._loop.mark_requested()
            self._request.set()

    def _publish_action(self, action: np.ndarray) -> None:
        if self._param("dry_run"):
            return
        period = 1.0 / self._param("control_rate_hz")
        self._pubs["action"].publish(action_to_msg(action))
        if len(action) >= 6:  # twist and gripper assume the [dx, dy, dz, droll, dpitch, dyaw, gripper] layout
            self._publish_twist(action, period)
        if len(action) > 6:
            self._last_gripper = float(action[6])
            self._pubs["gripper"].publish(Float32(data=self._last_gripper))
        self._counters["published_actions"] += 1

    def _publish_twist(self, action: np.ndarray, period: float) -> None:
        twist = TwistStamped()
        twist.header.stamp = self.get_clock().now().to_msg()
        twist.header.frame_id = self._param("twist_frame_id")
        twist.twist.linear.x, twist.twist.linear.y, twist.twist.linear.z = (float(v / period) for v in action[0:3])
        twist.twist.angular.x, twist.twist.angular.y, twist.twist.angular.z = (float(v / period) for v in action[3:6])
        self._pubs["twist"].publish(twist)

    def _publish_hold(self) -> None:
        """Zero motion, gripper kept where it was."""
        if not self._pubs or self._policy is None:
            return
        self._publish_action(hold_action(self._policy.action_dim, self._last_gripper))
        self._holding = True

    def _publish_precision(self) -> None:
        bits = self._controller.bits
        sample = self._loop.sample
        s = sample.sensitivity if sample else 0.0
        self._pubs["bits"].publish(UInt8(data=bits))
        self._pubs["sensitivity"].publish(Float32(data=float(s)))
        self._pubs["markers"].publish(self._marker(bits, s))
        if bits != self._last_bits_published:
            self._last_bits_published = bits
            self.publish_diagnostics()

    def _marker(self, bits: int, sensitivity: float) -> MarkerArray:
        m = Marker()
        m.header.frame_id = self._param("marker_frame_id")
        m.header.stamp = self.get_clock().now().to_msg()
        m.ns, m.id = "dyq_vla", 0
        m.type, m.action = Marker.TEXT_VIEW_FACING, Marker.ADD
        m.pose.position.z = 0.6
        m.pose.orientation.w = 1.0
        m.scale.z = 0.08
        r, g, b = _BIT_COLOURS[bits]
        m.color.r, m.color.g, m.color.b, m.color.a = r, g, b, 1.0
        m.text = f"W4A{bits}  S={sensitivity:.2f}"
        return MarkerArray(markers=[m])

    def diagnostics_record(self) -> dict[str, object]:
        """The contract's diagnostic keys with their current values."""
        policy = self._policy
        now = self._now()
        ages = [now - t for t in (self._image_time, self._joint_time) if t > 0.0]
        return diagnostic_record(
            self._loop,
            precision_mode=self._param("precision_mode"),
            weight_bits=(WEIGHT_BITS if policy.weight_bits == 4 else policy.weight_bits) if policy else 0,
            model=str(policy.path) if policy else str(self._param("model_path") or "embedded"),
            latencies_ms=list(self._latencies),
            dropped_frames=self._counters["dropped_frames"],
            input_age_ms=1000.0 * max(ages) if ages else -1.0,
        )

    def publish_diagnostics(self) -> None:
        """Publish the policy status on /diagnostics."""
        if not self.context.ok():
            return
        record = self.diagnostics_record()
        level, message = diagnostics.OK, "commanding"
        if self._error:
            level, message = diagnostics.ERROR, self._error
        elif self._inference_failed:
            level, message = diagnostics.ERROR, "inference failed; holding"
        elif self._lifecycle_state != "active":
            message = f"{self._lifecycle_state}: not commanding"
        elif self._stale_reason:
            level, message = diagnostics.WARN, f"not commanding: {self._stale_reason}"
        elif record["latency_ms_p99"] > self._param("latency_budget_ms"):
            level, message = diagnostics.WARN, "inference latency over budget"
        latencies = list(self._latencies)
        extra = {
            "lifecycle_state": self._lifecycle_state,
            "latency_ms_mean": float(np.mean(latencies)) if latencies else 0.0,
            **self._counters,
        }
        status = diagnostics.make_status(
            record, level=level, message=message, hardware_id=self.get_fully_qualified_name(), extra=extra
        )
        self._diag_pub.publish(diagnostics.make_array(status, self.get_clock().now().to_msg()))

    # ------------------------------------------------------------------ inference worker
    def _worker_loop(self) -> None:
        while not self._stop.is_set():
            if not self._request.wait(timeout=0.2):
                continue
            self._request.clear()
            if self._stop.is_set():
                break
            try:
                self._infer_once()
            except Exception as exc:  # an inference failure must not kill the node
                self._counters["inference_errors"] += 1
                self._inference_failed = True
                self.get_logger().error(f"inference failed: {type(exc).__name__}: {exc}", throttle_duration_sec=5.0)
            finally:
                with self._lock:
                    self._inflight = False

    def _infer_once(self) -> None:
        policy, controller = self._policy, self._controller
        if policy is None or controller is None:
            return
        with self._lock:
            msg, seq, q, wrist_msg = self._image_msg, self._image_seq, self._joint_q, self._wrist_msg
            instruction, episode, reset = self._instruction, self._episode, self._reset_policy
            self._reset_policy = False
            if msg is not None and seq > self._image_used_seq:
                self._counters["dropped_frames"] += max(0, seq - self._image_used_seq - 1)
                self._image_used_seq = seq
        if msg is None or q is None or not instruction or (wrist_msg is None and policy.processor.wrist):
            return
        if reset:
            policy.reset()
        policy.set_precision(controller.mode, controller.bits)
        start = time.perf_counter()
        limit = self._param("max_image_pixels")
        try:
            if isinstance(msg, CompressedImage):
                rgb = compressed_to_rgb(msg, max_pixels=limit)
            else:
                rgb = image_to_rgb(msg, max_pixels=limit)
        except ConversionError as exc:
            self._reject("rejected_images", "image", str(exc))
            with self._lock:  # drop the undecodable frame: the watchdog holds until a good one arrives
                if self._image_seq == seq:
                    self._image_msg, self._image_time = None, 0.0
            return
        wrist = None
        if policy.processor.wrist:
            try:
                wrist = image_to_rgb(wrist_msg, max_pixels=limit)
            except ConversionError as exc:
                self._reject("rejected_images", "wrist image", str(exc))
                with self._lock:
                    if self._wrist_msg is wrist_msg:
                        self._wrist_msg, self._wrist_time = None, 0.0
                return
        actions = policy.predict_action_chunk(Observation(rgb, q.astype(np.float32), instruction, wrist))
        self._latencies.append(1000.0 * (time.perf_counter() - start))
        if not np.all(np.isfinite(actions)):
            raise FloatingPointError("policy produced non-finite actions")
        self._inference_failed = False
        with self._lock:
            if episode == self._episode:
                self._pending = _Chunk(episode, actions)
