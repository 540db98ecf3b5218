"""dyq_vla_node: a lifecycle node running a VLA policy with kinematics-driven activation precision.

The node wires three parts together: input slots (ros/inputs.py) filled by the subscription
callbacks, the policy session (control/session.py) advanced by the control timer, and the
inference worker (ros/worker.py) that runs each requested inference in its own thread. The
worker reads the requested precision only when an inference starts, so precision changes between
inferences, never inside one. Parameter changes are validated as a whole record and applied in
one place (`_apply_params`).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import TwistStamped
from rclpy.lifecycle import LifecycleNode, LifecyclePublisher, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.subscription import Subscription
from rclpy.timer import Timer
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import Float32, Float32MultiArray, Float64MultiArray, String, UInt8
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import MarkerArray

from dyq_vla_ros import contract
from dyq_vla_ros.control import PolicySession, diagnostic_record, uses_joint_commands
from dyq_vla_ros.dyq import Thresholds
from dyq_vla_ros.params import NodeParams
from dyq_vla_ros.policy import Pi0Policy, Pi0PolicyConfig
from dyq_vla_ros.ros import diagnostics, parameters
from dyq_vla_ros.ros.conversions import action_to_msg, joint_trajectory, precision_marker, twist_msg
from dyq_vla_ros.ros.inputs import InputSlots
from dyq_vla_ros.ros.qos import COMMAND_QOS, INSTRUCTION_QOS, SENSOR_QOS
from dyq_vla_ros.ros.worker import InferenceWorker
from dyq_vla_ros.types import GRIPPER_INDEX, WEIGHT_BITS


class PolicyNode(LifecycleNode):
    """Lifecycle node: configure loads the policy, activate commands, deactivate holds, cleanup frees."""

    def __init__(self, node_name: str = contract.NODE_NAME, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        parameters.declare_all(self)
        self._params = parameters.read(self, NodeParams)
        parameters.watch(self, NodeParams, self._apply_params)
        self._diag_pub = self.create_publisher(DiagnosticArray, contract.TOPIC_DIAGNOSTICS, 10)
        self._diag_timer = self.create_timer(self._params.diagnostics_period_s, self.publish_diagnostics)
        sim_time = bool(self.get_parameter("use_sim_time").value)
        self._inputs = InputSlots(reject=self._log_rejection, ros_now=self._ros_now)
        if sim_time:  # receipt times and staleness on the bag's clock, whatever the play rate
            self._inputs.now = self._ros_now
        self._policy: Pi0Policy | None = None
        self._session: PolicySession | None = None
        self._worker: InferenceWorker | None = None
        self._pubs: dict[str, LifecyclePublisher] = {}
        self._subs: list[Subscription] = []
        self._control_timer: Timer | None = None
        self._lifecycle_state = "unconfigured"
        self._error = ""
        self._stale_reason = "not active"
        self._last_bits_published = -1

    # ------------------------------------------------------------------ parameters
    def _apply_params(self, params: NodeParams) -> None:
        """The one place parameter changes take effect (validated as a whole record before)."""
        previous, self._params = self._params, params
        if self._session is None or self._policy is None:
            return
        if params.mode is not previous.mode:
            self.get_logger().info(f"precision_mode -> {params.precision_mode}")
        self._session.reconfigure(params)
        self._inputs.configure(params, joints=self._joint_selection(), state_dim=self._policy.state_dim)

    def _joint_selection(self) -> list[str]:
        """Joints forming the state: the parameter's, else the checkpoint's ([] = message order)."""
        names = list(self._params.selected_joints)
        if names or self._policy is None:
            return names
        return list(self._policy.processor.config.joint_names)

    def _camera_topics(self, policy: Pi0Policy) -> dict[str, str]:
        """Checkpoint camera name -> topic (camera_topics, else the defaults)."""
        given = self._params.camera_topic_map
        return {name: contract.camera_topic(name, given) for name in policy.processor.cameras}

    def _check_fit(self, policy: Pi0Policy, params: NodeParams, joint_commands: bool) -> None:
        """Raise ValueError when bounds or camera topics do not fit the checkpoint."""
        cameras = policy.processor.cameras
        short = {name.rsplit(".", 1)[-1] for name in cameras}
        unknown = [n for n in params.camera_topic_map if n not in cameras and n not in short]
        if unknown:
            raise ValueError(f"camera_topics names {unknown}, but the checkpoint takes the cameras {list(cameras)}")
        if joint_commands:
            if len(params.joint_position_min) not in (1, policy.action_dim):
                raise ValueError(
                    f"joint_position_min/max have {len(params.joint_position_min)} values; give one or "
                    f"{policy.action_dim} (the model's joint commands)"
                )
        elif len(params.action_min) != policy.action_dim:
            raise ValueError(
                f"action_min/action_max have {len(params.action_min)} values but the model's actions have "
                f"{policy.action_dim}"
            )

    def _command_joint_names(self) -> list[str]:
        """Names in the joint commands: command_joint_names, else the first action-dim joints of the state."""
        assert self._policy is not None
        given = [n for n in self._params.command_joint_names if n]
        if given:
            return given
        state = self._joint_selection() or list(self._inputs.state_joints)
        return state[: self._policy.action_dim]

    def _show_thresholds(self, thresholds: Thresholds) -> None:
        """Make the theta_* parameters show the thresholds in force (the model's calibrated ones)."""
        wanted = {"theta_2_4": thresholds.theta_2_4, "theta_4_8": thresholds.theta_4_8, "theta_fp": thresholds.theta_fp}
        if any(getattr(self._params, name) != value for name, value in wanted.items()):
            self.set_parameters([Parameter(name, value=float(value)) for name, value in wanted.items()])
            self.get_logger().info(
                "calibrated thresholds from the model: "
                + ", ".join(f"{name}={value:.3f}" for name, value in wanted.items())
            )

    # ------------------------------------------------------------------ lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load and quantize the model: SUCCESS -> inactive, FAILURE -> unconfigured."""
        params = self._params
        threads = params.inference_threads or max(1, (os.cpu_count() or 2) - 1)
        torch.set_num_threads(threads)
        try:
            policy = Pi0Policy(params.model_path, Pi0PolicyConfig.from_params(params))
            joint_commands = uses_joint_commands(params.action_interface, policy.predicts_joint_positions)
            self._check_fit(policy, params, joint_commands)
            policy.set_precision(params.mode, params.mode.static_bits or 16)
        except Exception as exc:  # any load failure must leave the node alive and unconfigured
            self._error = f"configure failed: {exc}"
            self.get_logger().error(self._error)
            self.publish_diagnostics()
            return TransitionCallbackReturn.FAILURE
        self._policy = policy
        self._session = PolicySession.from_params(policy, policy.calibration, params)
        self._show_thresholds(self._session.controller.thresholds)
        topics: tuple[tuple[str, Any, str], ...] = (
            (("joint_trajectory", JointTrajectory, contract.TOPIC_JOINT_TRAJECTORY),
             ("joint_command", Float64MultiArray, contract.TOPIC_JOINT_COMMAND))
            if joint_commands
            else (("action", Float32MultiArray, contract.TOPIC_ACTION),
                  ("twist", TwistStamped, contract.TOPIC_TWIST),
                  ("gripper", Float32, contract.TOPIC_GRIPPER))
        )  # fmt: skip
        topics += (
            ("bits", UInt8, contract.TOPIC_BIT_WIDTH),
            ("sensitivity", Float32, contract.TOPIC_SENSITIVITY),
            ("flow_steps", UInt8, contract.TOPIC_FLOW_STEPS),
            ("markers", MarkerArray, contract.TOPIC_MARKERS),
        )
        self._pubs = {key: self.create_lifecycle_publisher(cls, topic, COMMAND_QOS) for key, cls, topic in topics}
        self._worker = InferenceWorker(self._session, self._inputs, on_error=self._log_inference_error)
        self._error = ""
        self._lifecycle_state = "inactive"
        report = policy.quant_report.summary() if policy.quant_report else "float weights"
        interface = "joint positions" if joint_commands else "end-effector deltas"
        self.get_logger().info(
            f"configured {policy.path} ({policy.format.value} layout) on {policy.device} in mode "
            f"{params.precision_mode}: {report}; chunk {policy.chunk_size} x {policy.action_dim} ({interface}), "
            f"state {policy.state_dim}; cameras {self._camera_topics(policy)}; {threads} inference threads"
        )
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Subscribe and start the control timer: SUCCESS -> active."""
        assert self._policy is not None and self._session is not None
        cameras = self._camera_topics(self._policy)
        self._inputs.reset(cameras, self._params, joints=self._joint_selection(), state_dim=self._policy.state_dim)
        self._subs = []
        for name, topic in cameras.items():  # the raw topic and its image_transport compressed twin
            self._subs.append(self.create_subscription(Image, topic, self._inputs.on_image(name), SENSOR_QOS))
            self._subs.append(
                self.create_subscription(
                    CompressedImage, f"{topic}/compressed", self._inputs.on_compressed_image(name), SENSOR_QOS
                )
            )
        self._subs += [
            self.create_subscription(JointState, contract.TOPIC_JOINT_STATES, self._inputs.on_joint_state, SENSOR_QOS),
            self.create_subscription(String, contract.TOPIC_INSTRUCTION, self._on_instruction, INSTRUCTION_QOS),
        ]
        self._session.start()
        assert self._worker is not None
        self._worker.failed = False
        self._last_bits_published = -1
        self._control_timer = self.create_timer(self._params.control_period_s, self._on_control_tick)
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
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        for pub in self._pubs.values():
            self.destroy_lifecycle_publisher(pub)
        self._pubs = {}
        self._policy = self._session = None

    def destroy_node(self) -> None:
        """Stop the worker thread before the node goes away."""
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        super().destroy_node()

    # ------------------------------------------------------------------ callbacks
    def _ros_now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _log_rejection(self, what: str, reason: str) -> None:
        self.get_logger().warning(f"{what} rejected: {reason}", throttle_duration_sec=5.0)

    def _log_inference_error(self, exc: Exception) -> None:
        self.get_logger().error(f"inference failed: {type(exc).__name__}: {exc}", throttle_duration_sec=5.0)

    def _on_instruction(self, msg: String) -> None:
        # every instruction message starts a new task, even when the text repeats (a new episode)
        if self._inputs.on_instruction(msg) and self._session is not None:
            self.get_logger().info(f"instruction: {self._inputs.instruction!r}; new episode, policy reset")
            self._session.new_episode()

    def _on_control_tick(self) -> None:
        session, worker = self._session, self._worker
        if not self.context.ok() or session is None or worker is None:
            return  # a SIGINT/SIGTERM shut the context down under a pending timer
        reason = self._inputs.staleness()
        outcome = worker.take()
        if outcome is not None:  # a chunk that finished while inputs went stale is not executed
            session.deliver(None if reason else outcome.chunk)
        if reason:
            hold = session.hold()
            if hold is not None:
                self._publish_action(hold)
                self.get_logger().warning(f"stopped commanding: {reason}")
            self._stale_reason = reason
            self._publish_precision()
            return
        if session.resume():
            self._stale_reason = ""
            self.get_logger().info("inputs fresh: commanding")
        result = session.tick(self._inputs.joint_sample())
        if result.proxy_error:
            self.get_logger().warning(f"proxy input skipped: {result.proxy_error}", throttle_duration_sec=5.0)
        if result.action is not None:
            if result.clipped:
                self._inputs.count("clipped_actions")
            self._publish_action(result.action)
        else:
            self._inputs.count("starved_ticks")
            if worker.failed:
                self._publish_hold()
        self._publish_precision()
        request = session.request(pipelined=True)
        if request is not None:
            worker.submit(request)

    # ------------------------------------------------------------------ outputs
    def _publish_action(self, action: np.ndarray | None) -> None:
        if self._params.dry_run or not self._pubs or action is None:
            return
        stamp = self.get_clock().now().to_msg()
        if "joint_command" in self._pubs:
            remaining = self._session.loop.remaining() if self._session else []
            names = self._command_joint_names()
            period = self._params.control_period_s
            self._pubs["joint_command"].publish(Float64MultiArray(data=[float(v) for v in action]))
            self._pubs["joint_trajectory"].publish(joint_trajectory([action, *remaining], names, period, stamp=stamp))
        else:
            self._pubs["action"].publish(action_to_msg(action))
            if len(action) >= 6:  # twist and gripper assume the [dx, dy, dz, droll, dpitch, dyaw, gripper] layout
                period = self._params.control_period_s
                twist = twist_msg(action, period, frame_id=self._params.twist_frame_id, stamp=stamp)
                self._pubs["twist"].publish(twist)
            if len(action) > GRIPPER_INDEX:
                self._pubs["gripper"].publish(Float32(data=float(action[GRIPPER_INDEX])))
        self._inputs.count("published_actions")

    def _publish_hold(self) -> None:
        """Stop the robot: zero motion with the gripper kept, or the last joint command again."""
        if self._session is None:
            return
        self._publish_action(self._session.hold_action())
        self._session.holding = True

    def _publish_precision(self) -> None:
        assert self._session is not None
        bits = self._session.controller.bits
        s = self._session.loop.sensitivity
        stamp = self.get_clock().now().to_msg()
        self._pubs["bits"].publish(UInt8(data=bits))
        self._pubs["sensitivity"].publish(Float32(data=float(s)))
        self._pubs["flow_steps"].publish(UInt8(data=self._session.loop.flow.steps))
        self._pubs["markers"].publish(precision_marker(bits, s, frame_id=self._params.marker_frame_id, stamp=stamp))
        if bits != self._last_bits_published:
            self._last_bits_published = bits
            self.publish_diagnostics()

    def diagnostics_record(self) -> dict[str, object]:
        """The contract's diagnostic keys with their current values."""
        policy, session = self._policy, self._session
        if policy is None or session is None:
            return diagnostic_record(
                None,
                precision_mode=self._params.precision_mode,
                weight_bits=0,
                model=self._params.model_path or "embedded",
                latencies_ms=[],
                dropped_frames=self._inputs.counters["dropped_frames"],
                input_age_ms=self._inputs.input_age_ms(),
            )
        return session.diagnostics(
            precision_mode=self._params.precision_mode,
            weight_bits=WEIGHT_BITS if policy.weight_bits == 4 else policy.weight_bits,
            model=str(policy.path),
            dropped_frames=self._inputs.counters["dropped_frames"],
            input_age_ms=self._inputs.input_age_ms(),
        )

    def publish_diagnostics(self) -> None:
        """Publish the policy status on /diagnostics."""
        if not self.context.ok():
            return
        record = self.diagnostics_record()
        level, message = diagnostics.OK, "commanding"
        if self._error:
            level, message = diagnostics.ERROR, self._error
        elif self._worker is not None and self._worker.failed:
            level, message = diagnostics.ERROR, "inference failed; holding"
        elif self._lifecycle_state != "active":
            message = f"{self._lifecycle_state}: not commanding"
        elif self._stale_reason:
            level, message = diagnostics.WARN, f"not commanding: {self._stale_reason}"
        elif float(record["latency_ms_p99"]) > self._params.latency_budget_ms:  # type: ignore[arg-type]
            level, message = diagnostics.WARN, "inference latency over budget"
        latencies = list(self._session.latencies_ms) if self._session else []
        extra = {
            "lifecycle_state": self._lifecycle_state,
            "latency_ms_mean": float(np.mean(latencies)) if latencies else 0.0,
            **self._inputs.counters,
        }
        status = diagnostics.make_status(
            record, level=level, message=message, hardware_id=self.get_fully_qualified_name(), extra=extra
        )
        self._diag_pub.publish(diagnostics.make_array(status, self.get_clock().now().to_msg()))
