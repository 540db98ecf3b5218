"""sim_robot_node: the built-in simulator as a robot on the ROS graph.

Publishes the camera and joint states at their rates, applies each /dyq_vla/action message as
one simulator step, runs episodes (reset, instruction, success or time-out) and reports every
episode on /sim/episode_result and in the log.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float32MultiArray, Float64MultiArray, String

from dyq_vla_ros import contract
from dyq_vla_ros.params import SimParams
from dyq_vla_ros.ros import parameters
from dyq_vla_ros.ros.conversions import rgb_to_image
from dyq_vla_ros.ros.qos import COMMAND_QOS, INSTRUCTION_QOS, SENSOR_QOS
from dyq_vla_ros.sim import JOINT_NAMES, PegInHoleEnv, SimConfig, SimError

RESULT_QOS = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
"""Episode results are kept for late joiners (volatile subscribers are compatible too)."""


class SimRobotNode(Node):
    """Runs peg-in-hole episodes driven by the actions it receives."""

    def __init__(self, node_name: str = contract.SIM_NODE_NAME, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        parameters.declare_all(self, contract.SIM_PARAMETERS)
        self.params = p = parameters.read(self, SimParams)
        self.env = PegInHoleEnv(
            SimConfig(
                max_steps=p.max_steps,
                image_width=p.image_width,
                image_height=p.image_height,
                wrist_camera=p.wrist_camera,
            )
        )
        self._image_pub = self.create_publisher(Image, contract.TOPIC_IMAGE, SENSOR_QOS)
        self._wrist_pub = self.create_publisher(Image, contract.TOPIC_WRIST_IMAGE, SENSOR_QOS)
        self._joint_pub = self.create_publisher(JointState, contract.TOPIC_JOINT_STATES, SENSOR_QOS)
        self._instruction_pub = self.create_publisher(String, contract.TOPIC_INSTRUCTION, INSTRUCTION_QOS)
        self._result_pub = self.create_publisher(String, contract.TOPIC_EPISODE_RESULT, RESULT_QOS)
        self.create_subscription(Float32MultiArray, contract.TOPIC_ACTION, self._on_action, COMMAND_QOS)
        self.create_subscription(Float64MultiArray, contract.TOPIC_JOINT_COMMAND, self._on_joint_command, COMMAND_QOS)
        self.create_timer(1.0 / p.camera_rate_hz, self._publish_image)
        self.create_timer(1.0 / p.joint_rate_hz, self._publish_joints)
        self.create_timer(0.05, self._manage_episodes)
        self.state = "idle"
        self.episode = 0
        self.results: list[dict] = []
        self.rejected_actions = 0
        self._state_since = time.monotonic()
        self.finished = False

    def _set_state(self, state: str) -> None:
        self.state = state
        self._state_since = time.monotonic()

    def _manage_episodes(self) -> None:
        if self.state == "idle":
            if self.params.episodes and self.episode >= self.params.episodes:
                self._finish()
                return
            seed = self.params.first_seed + self.episode
            self.env.reset(seed)
            self._set_state("waiting")
        elif self.state == "waiting":
            if self.policy_listening():
                self._instruction_pub.publish(String(data=self.env.instruction))
                self.get_logger().info(f"episode {self.episode} (seed {self.env.seed}): {self.env.instruction!r}")
                self._set_state("running")
        elif self.state == "running":
            timed_out = time.monotonic() - self._state_since > self.params.episode_timeout_s
            if self.env.done or timed_out:
                self._report("success" if self.env.success else ("timeout" if timed_out else "max_steps"))
                self._set_state("pause")
        elif self.state == "pause" and time.monotonic() - self._state_since >= self.params.reset_pause_s:
            self.episode += 1
            self._set_state("idle")

    def policy_listening(self) -> bool:
        """Whether a policy (subscribing to the instruction, publishing actions) and enough other listeners are up."""
        listeners = {
            (i.node_namespace, i.node_name) for i in self.get_subscriptions_info_by_topic(contract.TOPIC_INSTRUCTION)
        }
        actors = {
            (i.node_namespace, i.node_name)
            for topic in (contract.TOPIC_ACTION, contract.TOPIC_JOINT_COMMAND)
            for i in self.get_publishers_info_by_topic(topic)
        }
        return bool(listeners & actors) and len(listeners) >= self.params.min_instruction_subscribers

    def _report(self, reason: str) -> None:
        result = {
            "episode": self.episode,
            "seed": self.env.seed,
            "instruction": self.env.instruction,
            "success": bool(self.env.success),
            "steps": self.env.steps,
            "reason": reason,
            "duration_s": round(time.monotonic() - self._state_since, 3),
        }
        self.results.append(result)
        self._result_pub.publish(String(data=json.dumps(result)))
        wins = sum(r["success"] for r in self.results)
        self.get_logger().info(
            f"episode {self.episode} {'SUCCESS' if result['success'] else 'FAILURE'} ({reason}) after "
            f"{self.env.steps} steps; {wins}/{len(self.results)} successful so far"
        )

    def _finish(self) -> None:
        if not self.finished:
            wins = sum(r["success"] for r in self.results)
            self.get_logger().info(f"all {len(self.results)} episodes done: {wins} successful")
            self.finished = True

    def _on_action(self, msg: Float32MultiArray) -> None:
        self._apply(self.env.advance, msg.data, "action")

    def _on_joint_command(self, msg: Float64MultiArray) -> None:
        self._apply(self.env.advance_joints, msg.data, "joint command")

    def _apply(self, step: Callable[[np.ndarray], None], data: Sequence[float], what: str) -> None:
        """One simulator step from an end-effector action or a joint-position command."""
        if self.state != "running" or self.env.done:
            return
        try:
            step(np.asarray(data, dtype=np.float64))
        except SimError as exc:
            self.rejected_actions += 1
            self.get_logger().warning(f"{what} rejected: {exc}", throttle_duration_sec=5.0)

    def _publish_image(self) -> None:
        if self.env.scene is None:
            return
        stamp = self.get_clock().now().to_msg()
        obs = self.env.observe()
        self._image_pub.publish(rgb_to_image(obs.image, stamp=stamp, frame_id="scene_camera"))
        if obs.wrist_image is not None:
            self._wrist_pub.publish(rgb_to_image(obs.wrist_image, stamp=stamp, frame_id="wrist_camera"))

    def _publish_joints(self) -> None:
        if self.env.scene is None:
            return
        msg = JointState()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.name = list(JOINT_NAMES)
        msg.position = [float(v) for v in self.env.joint_positions()]
        self._joint_pub.publish(msg)


def main(args: list[str] | None = None) -> None:
    """Run the simulated robot until shutdown (or until its episodes are done, if asked)."""
    rclpy.init(args=args)
    node = SimRobotNode()
    try:
        while rclpy.ok() and not (node.finished and node.params.exit_when_done):
            rclpy.spin_once(node, timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
