"""A synthetic robot: camera images, joint states with coarse and fine motion phases, an instruction.

Stands in for a robot until the simulator drives the node; its motion script makes the
kinematic proxies see fast smooth transport (low precision) and slow jittery alignment (high).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import String

from dyq_vla_ros import contract
from dyq_vla_ros.ros.conversions import rgb_to_image
from dyq_vla_ros.ros.qos import INSTRUCTION_QOS, SENSOR_QOS
from dyq_vla_ros.types import SIM_JOINT_NAMES as DEFAULT_JOINT_NAMES


@dataclass(frozen=True)
class MotionPhase:
    """A stretch of joint motion: constant speed (rad/s) plus a square-wave velocity jitter."""

    name: str
    duration_s: float
    speed: float
    jitter: float = 0.0
    jitter_hz: float = 2.5


COARSE = MotionPhase("coarse", 4.0, speed=1.2)
FINE = MotionPhase("fine", 4.0, speed=0.03, jitter=0.1, jitter_hz=5.0)
DEFAULT_SCRIPT = (COARSE, FINE)


class MotionScript:
    """Joint positions over time following a sequence of phases, looping."""

    def __init__(self, phases: Sequence[MotionPhase], n_joints: int) -> None:
        self.phases = tuple(phases)
        self.period = sum(p.duration_s for p in self.phases)
        direction = np.linspace(1.0, -0.5, n_joints)
        self.direction = direction / np.linalg.norm(direction)
        self._q = np.zeros(n_joints)
        self._t = 0.0

    def phase_at(self, t: float) -> MotionPhase:
        """The phase in force at time t."""
        t = t % self.period
        for phase in self.phases:
            if t < phase.duration_s:
                return phase
            t -= phase.duration_s
        return self.phases[-1]

    def velocity(self, t: float) -> np.ndarray:
        """Joint velocity at time t."""
        p = self.phase_at(t)
        v = p.speed * self.direction
        if p.jitter:
            sign = 1.0 if int(t * 2 * p.jitter_hz) % 2 == 0 else -1.0
            v = v + sign * p.jitter * np.roll(self.direction, 1)
        return v

    def advance(self, t: float) -> np.ndarray:
        """Integrate to time t and return the positions."""
        if t > self._t:
            self._q = self._q + self.velocity(self._t) * (t - self._t)
            self._t = t
        return self._q.copy()


class SyntheticSource(Node):
    """Publishes camera (and, unless wrist is False, a wrist camera), joint states and the instruction."""

    def __init__(
        self,
        *,
        instruction: str = "put the red peg into the blue hole",
        image_rate_hz: float = 15.0,
        joint_rate_hz: float = 50.0,
        image_size: tuple[int, int] = (96, 128),
        joint_names: Sequence[str] = DEFAULT_JOINT_NAMES,
        script: Sequence[MotionPhase] = DEFAULT_SCRIPT,
        node_name: str = "dyq_vla_synthetic_source",
        image_format: str = "raw",
        wrist: bool = True,
        cameras: Sequence[str] = (),
        send_instruction: bool = True,
        **node_kwargs: Any,
    ) -> None:
        super().__init__(node_name, **node_kwargs)
        self.instruction = instruction
        self.joint_names = list(joint_names)
        self.script = MotionScript(script, len(self.joint_names))
        self.image_size = image_size
        self._t0 = self.get_clock().now()
        if image_format not in ("raw", "png", "jpeg"):
            raise ValueError(f"image_format must be raw, png or jpeg, got {image_format!r}")
        self.image_format = image_format
        if image_format == "raw":
            self._image_pub = self.create_publisher(Image, contract.TOPIC_IMAGE, SENSOR_QOS)
        else:
            self._image_pub = self.create_publisher(CompressedImage, contract.TOPIC_IMAGE_COMPRESSED, SENSOR_QOS)
        self._wrist_pub = self.create_publisher(Image, contract.TOPIC_WRIST_IMAGE, SENSOR_QOS) if wrist else None
        self._camera_pubs = [
            self.create_publisher(Image, contract.camera_topic(name), SENSOR_QOS) for name in cameras
        ]  # further cameras, each on its default topic
        self._joint_pub = self.create_publisher(JointState, contract.TOPIC_JOINT_STATES, SENSOR_QOS)
        self._instruction_pub = self.create_publisher(String, contract.TOPIC_INSTRUCTION, INSTRUCTION_QOS)
        self.create_timer(1.0 / image_rate_hz, self._publish_image)
        self.create_timer(1.0 / joint_rate_hz, self._publish_joints)
        self._instruction_sent = False
        self.published = {"images": 0, "joint_states": 0}
        if send_instruction:
            self.create_timer(0.2, self._publish_instruction)

    def restart_script(self) -> None:
        """Play the motion script from its first phase again."""
        self._t0 = self.get_clock().now()
        self.script = MotionScript(self.script.phases, len(self.joint_names))

    def elapsed(self) -> float:
        """Seconds since the source started."""
        return (self.get_clock().now() - self._t0).nanoseconds * 1e-9

    def current_phase(self) -> MotionPhase:
        """Motion phase being played now."""
        return self.script.phase_at(self.elapsed())

    def _publish_instruction(self) -> None:
        """Send the instruction once per matched subscriber (each message starts a new task)."""
        if self._instruction_pub.get_subscription_count() == 0:
            self._instruction_sent = False
        elif not self._instruction_sent:
            self._instruction_pub.publish(String(data=self.instruction))
            self._instruction_sent = True

    def _publish_joints(self) -> None:
        now = self.get_clock().now()
        msg = JointState()
        msg.header.stamp = now.to_msg()
        msg.name = self.joint_names
        msg.position = [float(v) for v in self.script.advance(self.elapsed())]
        self._joint_pub.publish(msg)
        self.published["joint_states"] += 1

    def _publish_image(self) -> None:
        h, w = self.image_size
        t = self.elapsed()
        img = np.full((h, w, 3), 40, dtype=np.uint8)
        x = int((0.5 + 0.4 * np.sin(t)) * (w - 16))
        y = int((0.5 + 0.4 * np.cos(0.7 * t)) * (h - 16))
        img[y : y + 16, x : x + 16] = (220, 30, 30)
        stamp = self.get_clock().now().to_msg()
        if self.image_format == "raw":
            self._image_pub.publish(rgb_to_image(img, stamp=stamp))
        else:
            msg = CompressedImage(
                format=self.image_format, data=cv2.imencode(f".{self.image_format}", img[:, :, ::-1])[1].tobytes()
            )
            msg.header.stamp = stamp
            self._image_pub.publish(msg)
        if self._wrist_pub is not None:  # the same moving square, seen from the wrist
            self._wrist_pub.publish(rgb_to_image(np.ascontiguousarray(img[::-1, ::-1]), stamp=stamp))
        for i, pub in enumerate(self._camera_pubs):
            pub.publish(rgb_to_image(np.ascontiguousarray(np.roll(img, 8 * (i + 1), axis=1)), stamp=stamp))
        self.published["images"] += 1


def main(argv: list[str] | None = None) -> None:
    """Run the synthetic robot on its own for a while; print what it published as JSON."""
    import argparse
    import json
    import time

    import rclpy
    from rclpy.executors import ExternalShutdownException

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--image-hz", type=float, default=15.0)
    parser.add_argument("--joint-hz", type=float, default=50.0)
    parser.add_argument("--image-size", default="96x128", help="HEIGHTxWIDTH")
    parser.add_argument("--duration", type=float, default=0.0, help="seconds; 0 runs until shut down")
    args = parser.parse_args(argv)
    height, width = (int(v) for v in args.image_size.split("x"))
    rclpy.init()
    node = SyntheticSource(image_rate_hz=args.image_hz, joint_rate_hz=args.joint_hz, image_size=(height, width))
    start = time.monotonic()
    try:
        while rclpy.ok() and (not args.duration or time.monotonic() - start < args.duration):
            rclpy.spin_once(node, timeout_sec=0.01)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        elapsed = time.monotonic() - start
        print(json.dumps({k: round(v / elapsed, 1) for k, v in node.published.items()}), flush=True)
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
