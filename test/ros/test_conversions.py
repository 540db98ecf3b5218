"""Message conversions: image encodings, bad images, joint selection, action layout."""

import numpy as np
import pytest
from sensor_msgs.msg import Image, JointState

from dyq_vla_ros.ros.conversions import (
    ConversionError,
    action_to_msg,
    image_to_rgb,
    joint_positions,
    rgb_to_image,
)
from dyq_vla_ros.types import ACTION_NAMES


def _image(arr: np.ndarray, encoding: str, pad: int = 0) -> Image:
    h, w = arr.shape[:2]
    channels = 1 if arr.ndim == 2 else arr.shape[2]
    rows = arr.reshape(h, w * channels)
    if pad:
        rows = np.concatenate([rows, np.zeros((h, pad), np.uint8)], axis=1)
    return Image(height=h, width=w, encoding=encoding, step=w * channels + pad, data=rows.tobytes())


@pytest.fixture
def rgb():
    return np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)


def test_rgb_round_trip(rgb):
    np.testing.assert_array_equal(image_to_rgb(rgb_to_image(rgb)), rgb)


@pytest.mark.parametrize("encoding", ["bgr8", "BGR8"])
def test_bgr(rgb, encoding):
    np.testing.assert_array_equal(image_to_rgb(_image(rgb[:, :, ::-1].copy(), encoding)), rgb)


def test_rgba_bgra_and_row_padding(rgb):
    alpha = np.full((5, 7, 1), 255, np.uint8)
    np.testing.assert_array_equal(image_to_rgb(_image(np.concatenate([rgb, alpha], 2), "rgba8", pad=3)), rgb)
    bgra = np.concatenate([rgb[:, :, ::-1], alpha], 2)
    np.testing.assert_array_equal(image_to_rgb(_image(bgra, "bgra8")), rgb)


def test_mono8_is_replicated(rgb):
    mono = rgb[:, :, 0].copy()
    out = image_to_rgb(_image(mono, "mono8"))
    assert out.shape == (5, 7, 3)
    np.testing.assert_array_equal(out[:, :, 2], mono)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda m: setattr(m, "encoding", "16UC1"), "unsupported image encoding"),
        (lambda m: setattr(m, "height", 6), "expected height\\*step"),
        (lambda m: setattr(m, "step", 3), "smaller than width"),
        (lambda m: (setattr(m, "height", 0), setattr(m, "data", b"")), "zero size"),
    ],
)
def test_bad_images_are_rejected_with_a_reason(rgb, mutate, match):
    msg = rgb_to_image(rgb)
    mutate(msg)
    with pytest.raises(ConversionError, match=match):
        image_to_rgb(msg)


def test_huge_images_rejected(rgb):
    with pytest.raises(ConversionError, match="exceeds"):
        image_to_rgb(rgb_to_image(rgb), max_pixels=10)


def test_joint_positions_by_name_and_in_order():
    msg = JointState(name=["b", "a", "finger"], position=[2.0, 1.0, 0.5])
    q, names = joint_positions(msg, ["a", "b"], 2)
    np.testing.assert_array_equal(q, [1.0, 2.0])
    assert names == ["a", "b"]
    q, names = joint_positions(msg, [], 2)
    np.testing.assert_array_equal(q, [2.0, 1.0])


@pytest.mark.parametrize(
    ("msg", "names", "match"),
    [
        (JointState(name=["a"], position=[1.0, 2.0]), [], "1 names but 2 positions"),
        (JointState(name=["a", "a"], position=[1.0, 2.0]), [], "duplicated"),
        (JointState(name=["a"], position=[1.0]), ["a", "c"], "lacks expected joints: c"),
        (JointState(name=["a", "b"], position=[float("nan"), 1.0]), [], "NaN"),
        (JointState(name=["a"], position=[1.0]), [], "needs 2"),
    ],
)
def test_bad_joint_states(msg, names, match):
    with pytest.raises(ConversionError, match=match):
        joint_positions(msg, names, 2)


def test_action_layout_names_the_values():
    msg = action_to_msg(np.arange(7, dtype=np.float32))
    assert msg.layout.dim[0].label == ",".join(ACTION_NAMES)
    assert msg.layout.dim[0].size == 7
    assert list(msg.data) == pytest.approx(list(range(7)))
