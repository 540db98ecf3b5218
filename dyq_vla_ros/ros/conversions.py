"""Conversions between ROS messages and the arrays the policy and proxies use."""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import Image
from std_msgs.msg import Float32MultiArray, MultiArrayDimension

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
    "SUPPORTED_ENCODINGS",
    "ConversionError",
    "action_to_msg",
    "check_image",
    "image_to_rgb",
    "joint_positions",
    "rgb_to_image",
    "stamp_to_seconds",
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
