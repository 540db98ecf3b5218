"""ROS-free decoding of compressed images (raw images and joint states: test/ros/test_conversions.py)."""

import cv2
import numpy as np
import pytest

from dyq_vla_ros.bags import TYPESTORE
from dyq_vla_ros.sensors import ConversionError, compressed_to_rgb

CompressedImage = TYPESTORE.types["sensor_msgs/msg/CompressedImage"]
Header = TYPESTORE.types["std_msgs/msg/Header"]
Time = TYPESTORE.types["builtin_interfaces/msg/Time"]


def _compressed(rgb: np.ndarray, fmt: str) -> object:
    ok, data = cv2.imencode(f".{fmt}", rgb[:, :, ::-1])
    assert ok
    return CompressedImage(header=Header(stamp=Time(sec=0, nanosec=0), frame_id=""), format=fmt, data=data.reshape(-1))


def test_png_round_trip_is_exact_and_jpeg_is_close():
    rgb = np.random.default_rng(0).integers(0, 256, (12, 20, 3), dtype=np.uint8)
    np.testing.assert_array_equal(compressed_to_rgb(_compressed(rgb, "png")), rgb)
    smooth = np.full((16, 16, 3), (200, 40, 90), np.uint8)
    assert np.abs(compressed_to_rgb(_compressed(smooth, "jpeg")).astype(int) - smooth).max() < 8


def test_bad_compressed_images_are_rejected_with_a_reason():
    rgb = np.zeros((8, 8, 3), np.uint8)
    msg = _compressed(rgb, "png")
    msg.format = "tiff"
    with pytest.raises(ConversionError, match="unsupported compressed format"):
        compressed_to_rgb(msg)
    msg = _compressed(rgb, "png")
    msg.data = np.frombuffer(b"not an image at all", np.uint8)
    with pytest.raises(ConversionError, match="could not be decoded"):
        compressed_to_rgb(msg)
    with pytest.raises(ConversionError, match="exceeds"):
        compressed_to_rgb(_compressed(rgb, "png"), max_pixels=10)
