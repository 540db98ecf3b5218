"""Decoding sensor messages into arrays, without ROS: works on rclpy and rosbags messages alike.

Shared by the node (rclpy messages) and bag replay (rosbags messages); both have the same fields.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dyq_vla_ros.errors import DyqVlaError

# encoding -> (channels, index order that yields RGB)
_ENCODINGS: dict[str, tuple[int, tuple[int, ...]]] = {
    "rgb8": (3, (0, 1, 2)),
    "bgr8": (3, (2, 1, 0)),
    "rgba8": (4, (0, 1, 2)),
    "bgra8": (4, (2, 1, 0)),
    "mono8": (1, (0, 0, 0)),
}
SUPPORTED_ENCODINGS = tuple(_ENCODINGS)


class ConversionError(DyqVlaError, ValueError):
    """A message whose content cannot be converted; the message says why."""


def stamp_to_seconds(stamp) -> float:
    """Seconds of a builtin_interfaces/Time."""
    return float(stamp.sec) + float(stamp.nanosec) * 1e-9


def check_image(msg, *, max_pixels: int = 4096 * 4096) -> None:
    """Raise ConversionError when an Image's header does not describe its data; copies nothing."""
    encoding = msg.encoding.lower()
    if encoding not in _ENCODINGS:
        raise ConversionError(f"unsupported image encoding {msg.encoding!r}; supported: {', '.join(_ENCODINGS)}")
    channels = _ENCODINGS[encoding][0]
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if h <= 0 or w <= 0:
        raise ConversionError(f"image has zero size ({w}x{h})")
    if h * w > max_pixels:
        raise ConversionError(f"image of {w}x{h} pixels exceeds the limit of {max_pixels}")
    if step < w * channels:
        raise ConversionError(f"image step {step} is smaller than width*channels {w * channels}")
    if len(msg.data) != h * step:
        raise ConversionError(f"image data has {len(msg.data)} bytes, expected height*step = {h * step}")


def image_to_rgb(msg, *, max_pixels: int = 4096 * 4096) -> np.ndarray:
    """H x W x 3 uint8 RGB array from a sensor_msgs/Image in a supported 8-bit encoding."""
    check_image(msg, max_pixels=max_pixels)
    channels, order = _ENCODINGS[msg.encoding.lower()]
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    rows = np.frombuffer(bytes(msg.data), dtype=np.uint8).reshape(h, step)
    pixels = rows[:, : w * channels].reshape(h, w, channels)
    return np.ascontiguousarray(pixels[:, :, list(order)])


def joint_positions(msg, names: Sequence[str], count: int) -> tuple[np.ndarray, list[str]]:
    """Positions of the named joints (or the first `count` in message order when names is empty)."""
    if len(msg.name) != len(msg.position):
        raise ConversionError(f"JointState has {len(msg.name)} names but {len(msg.position)} positions")
    if len(set(msg.name)) != len(msg.name):
        raise ConversionError("JointState has duplicated joint names")
    if names:
        index = {n: i for i, n in enumerate(msg.name)}
        missing = [n for n in names if n not in index]
        if missing:
            raise ConversionError(f"JointState lacks expected joints: {', '.join(missing)}")
        q = np.array([msg.position[index[n]] for n in names], dtype=np.float64)
        used = list(names)
    else:
        if len(msg.position) < count:
            raise ConversionError(f"JointState has {len(msg.position)} positions, the policy needs {count}")
        q = np.asarray(msg.position[:count], dtype=np.float64)
        used = list(msg.name[:count])
    if not np.all(np.isfinite(q)):
        raise ConversionError("JointState positions contain NaN or Inf")
    return q, used


def compressed_to_rgb(msg, *, max_pixels: int = 4096 * 4096) -> np.ndarray:
    """H x W x 3 uint8 RGB array from a sensor_msgs/CompressedImage in jpeg or png."""
    import cv2

    fmt = msg.format.lower()
    if "jpeg" not in fmt and "jpg" not in fmt and "png" not in fmt:
        raise ConversionError(f"unsupported compressed format {msg.format!r}; supported: jpeg, png")
    data = np.frombuffer(bytes(msg.data), dtype=np.uint8)
    if data.size == 0:
        raise ConversionError("compressed image has no data")
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ConversionError(f"compressed image ({msg.format}) could not be decoded")
    if bgr.shape[0] * bgr.shape[1] > max_pixels:
        raise ConversionError(f"image of {bgr.shape[1]}x{bgr.shape[0]} pixels exceeds the limit of {max_pixels}")
    return np.ascontiguousarray(bgr[:, :, ::-1])
