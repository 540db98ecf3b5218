"""Conversions between ROS messages and the arrays the policy and proxies use."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import TwistStamped
from sensor_msgs.msg import Image
from std_msgs.msg import Float32MultiArray, MultiArrayDimension
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint
from visualization_msgs.msg import Marker, MarkerArray

from dyq_vla_ros.sensors import (
    SUPPORTED_ENCODINGS,
    ConversionError,
    check_image,
    image_to_rgb,
    joint_positions,
    stamp_to_seconds,
)
from dyq_vla_ros.types import ACTION_NAMES

__all__ = [
    "BIT_COLOURS",
    "SUPPORTED_ENCODINGS",
    "ConversionError",
    "action_to_msg",
    "check_image",
    "image_to_rgb",
    "joint_positions",
    "joint_trajectory",
    "precision_marker",
    "rgb_to_image",
    "stamp_to_seconds",
    "twist_msg",
]


def rgb_to_image(rgb: np.ndarray, *, stamp: Time | None = None, frame_id: str = "camera") -> Image:
    """sensor_msgs/Image (rgb8) from an H x W x 3 uint8 array."""
    arr = np.ascontiguousarray(rgb, dtype=np.uint8)
    msg = Image()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(arr.shape[0]), int(arr.shape[1])
    msg.encoding = "rgb8"
    msg.step = msg.width * 3
    msg.data = arr.tobytes()
    return msg


def action_to_msg(action: np.ndarray) -> Float32MultiArray:
    """Float32MultiArray whose layout's dim label names the action values."""
    msg = Float32MultiArray()
    values = [float(v) for v in np.asarray(action, dtype=np.float32).reshape(-1)]
    label = ",".join(ACTION_NAMES) if len(values) == len(ACTION_NAMES) else "action"
    msg.layout.dim = [MultiArrayDimension(label=label, size=len(values), stride=len(values))]
    msg.data = values
    return msg


BIT_COLOURS: dict[int, tuple[float, float, float]] = {
    2: (0.9, 0.1, 0.1),
    4: (1.0, 0.55, 0.0),
    8: (0.95, 0.9, 0.1),
    16: (0.1, 0.85, 0.2),
}
"""rviz colour of each activation width: red (2 bits) through green (16)."""


def twist_msg(action: np.ndarray, period_s: float, *, frame_id: str, stamp: Time) -> TwistStamped:
    """TwistStamped of an action's translational and rotational deltas divided by the control period."""
    twist = TwistStamped()
    twist.header.stamp = stamp
    twist.header.frame_id = frame_id
    linear, angular = (float(v / period_s) for v in action[0:3]), (float(v / period_s) for v in action[3:6])
    twist.twist.linear.x, twist.twist.linear.y, twist.twist.linear.z = linear
    twist.twist.angular.x, twist.twist.angular.y, twist.twist.angular.z = angular
    return twist


def precision_marker(bits: int, sensitivity: float, *, frame_id: str, stamp: Time) -> MarkerArray:
    """A text marker showing the activation bits and S_t, coloured by precision."""
    m = Marker()
    m.header.frame_id = frame_id
    m.header.stamp = stamp
    m.ns, m.id = "dyq_vla", 0
    m.type, m.action = Marker.TEXT_VIEW_FACING, Marker.ADD
    m.pose.position.z = 0.6
    m.pose.orientation.w = 1.0
    m.scale.z = 0.08
    r, g, b = BIT_COLOURS[bits]
    m.color.r, m.color.g, m.color.b, m.color.a = r, g, b, 1.0
    m.text = f"W4A{bits}  S={sensitivity:.2f}"
    return MarkerArray(markers=[m])


def joint_trajectory(
    positions: Sequence[np.ndarray], joint_names: Sequence[str], period_s: float, *, stamp: Time
) -> JointTrajectory:
    """JointTrajectory of joint-position actions, one point per control period from now."""
    msg = JointTrajectory()
    msg.header.stamp = stamp
    msg.joint_names = list(joint_names)
    for i, q in enumerate(positions):
        point = JointTrajectoryPoint()
        point.positions = [float(v) for v in q]
        t = (i + 1) * period_s
        point.time_from_start = Duration(sec=int(t), nanosec=round((t - int(t)) * 1e9))
        msg.points.append(point)
    return msg
