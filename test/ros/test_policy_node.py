"""dyq_vla_node in its own process, driven over real DDS by a synthetic robot in this process."""

from __future__ import annotations

import math

import pytest
from lifecycle_msgs.msg import State, Transition
from std_msgs.msg import UInt8

from dyq_vla_ros import contract
from dyq_vla_ros.dyq import Thresholds
from dyq_vla_ros.ros.harness.synthetic_source import COARSE, FINE, SyntheticSource
from dyq_vla_ros.types import ACTION_NAMES, BIT_WIDTHS

RATE_HZ = 20.0
WAITING_FOR_WRIST = "no image from camera 'wrist' (/camera/wrist/image_raw) received"


@pytest.fixture
def source(executor):
    src = SyntheticSource()
    executor.add_node(src)
    return src


def test_node_publishes_actions_bit_widths_and_diagnostics(spin, recorder, start_node, source, node_api):
    start_node(control_rate_hz=RATE_HZ)
    node_api.wait_for_actions(10)

    def measured():
        return [
            s for s in node_api.statuses() if s.message == "commanding" and node_api.values(s)["latency_ms_p50"] != "0"
        ]

    spin.until(lambda: measured(), 10, "OK diagnostics reporting latency")

    actions = recorder.values(contract.TOPIC_ACTION)
    assert all(len(a.data) == 7 and all(math.isfinite(v) for v in a.data) for a in actions)
    assert actions[0].layout.dim[0].label == ",".join(ACTION_NAMES)
    bits = [m.data for m in recorder.values(contract.TOPIC_BIT_WIDTH)]
    assert bits and set(bits) <= set(BIT_WIDTHS)
    assert all(math.isfinite(m.data) and m.data >= 0 for m in recorder.values(contract.TOPIC_SENSITIVITY))
    twist = recorder.values(contract.TOPIC_TWIST)[-1]
    assert twist.header.frame_id == "tool0"

    # each twist is an action's deltas over the control period; the newest twist may arrive before its action
    def matches(t):
        rates = [t.linear.x, t.linear.y, t.linear.z, t.angular.x, t.angular.y, t.angular.z]
        return any(rates == pytest.approx([v * RATE_HZ for v in a.data[:6]], rel=1e-4, abs=1e-6) for a in actions)

    twists = recorder.values(contract.TOPIC_TWIST)[:-1]
    assert twists and all(matches(t.twist) for t in twists)
    assert recorder.values(contract.TOPIC_GRIPPER)
    marker = recorder.values(contract.TOPIC_MARKERS)[-1].markers[0]
    assert marker.text.startswith("W4A") and marker.header.frame_id == "base_link"

    values = node_api.values(measured()[-1])
    assert set(contract.DIAGNOSTIC_KEYS) <= set(values)
    assert int(values["activation_bits"]) in BIT_WIDTHS
    assert values["weight_bits"] == "4" and values["precision_mode"] == "dyq"
    assert float(values["latency_ms_p50"]) > 0 and float(values["input_age_ms"]) >= 0
    assert "dyq_tiny_pi0" in values["model"]


def test_fine_phase_raises_to_16_bits_and_coarse_phase_lowers_them_after_k_steps(
    executor, spin, recorder, start_node, node_api
):
    k = 5
    # the default table (not the shipped calibration), so the phases below map to known widths
    start_node(control_rate_hz=RATE_HZ, proxy_source="joint_state", downgrade_steps=k, calibrated_thresholds=False)
    src = SyntheticSource(script=(COARSE, FINE, COARSE))
    executor.add_node(src)
    tagged: list[tuple[str, int]] = []
    recorder.create_subscription(
        UInt8,
        contract.TOPIC_BIT_WIDTH,
        lambda m: tagged.append((src.current_phase().name, m.data)),
        10,
    )
    node_api.wait_for_actions(1)
    src.restart_script()
    tagged.clear()
    recorder.clear()
    spin.for_(2 * COARSE.duration_s + FINE.duration_s - 0.2)

    phases = [p for p, _ in tagged]
    first_fine, last_fine = phases.index("fine"), len(phases) - 1 - phases[::-1].index("fine")
    coarse1, fine_bits, coarse2 = (
        [b for _, b in tagged[:first_fine]],
        [b for _, b in tagged[first_fine : last_fine + 1]],
        [b for _, b in tagged[last_fine + 1 :]],
    )
    assert coarse1[-10:] and max(coarse1[-10:]) <= 4, f"coarse transport should run at low precision: {coarse1}"
    assert 16 in fine_bits, f"fine alignment should reach 16 bits: {fine_bits}"
    assert coarse2[-5:] and max(coarse2[-5:]) <= 4, f"coarse again should come back down: {coarse2}"

    # Hysteresis rule, checked tick by tick on the published (sensitivity, bit width) pairs.
    bits = [m.data for m in recorder.values(contract.TOPIC_BIT_WIDTH)]
    sens = [m.data for m in recorder.values(contract.TOPIC_SENSITIVITY)]
    n = min(len(bits), len(sens))
    assert n > 100 and abs(len(bits) - len(sens)) <= 1
    table = Thresholds()
    downgrades = 0
    for i in range(k, n):
        wanted = table.lookup(sens[i])
        assert bits[i] >= wanted, f"tick {i}: upgrade to {wanted} not immediate (bits {bits[i]})"
        if bits[i] < bits[i - 1]:
            downgrades += 1
            asked = [table.lookup(s) for s in sens[i - k + 1 : i + 1]]
            assert max(asked) < bits[i - 1], f"tick {i}: downgrade without {k} lower requests: {asked}"
            assert bits[i] == max(asked)
    assert downgrades >= 2


def test_precision_mode_switch_at_run_time_and_rejected_parameters(spin, recorder, start_node, source, node_api):
    start_node(control_rate_hz=RATE_HZ)
    node_api.wait_for_actions()

    result = node_api.set_param("precision_mode", "w4a4")
    assert result.successful, result.reason
    spin.for_(0.5)
    recorder.clear()
    spin.for_(2.0)
    bits = [m.data for m in recorder.values(contract.TOPIC_BIT_WIDTH)]
    assert len(bits) >= 20 and set(bits) == {4}
    assert len(recorder.values(contract.TOPIC_ACTION)) >= 20  # still commanding
    assert any(node_api.values(s)["precision_mode"] == "w4a4" for s in node_api.statuses())

    for name, value, reason in (
        ("theta_fp", 1.5, "range"),
        ("theta_2_4", 0.9, "theta_2_4 <= theta_4_8 <= theta_fp"),
        ("precision_mode", "w4a3", "not one of"),
        ("control_rate_hz", 50.0, "read-only"),
        ("stale_timeout_s", -1.0, "range"),
    ):
        result = node_api.set_param(name, value)
        assert not result.successful, f"{name}={value} was accepted"
        assert reason in result.reason, result.reason


def test_deactivate_publishes_one_hold_then_stops_commanding(spin, recorder, start_node, source, node_api):
    start_node(control_rate_hz=RATE_HZ)
    node_api.wait_for_actions()
    assert node_api.transition(Transition.TRANSITION_DEACTIVATE)
    spin.for_(0.5)
    hold = recorder.values(contract.TOPIC_ACTION)[-1]
    assert list(hold.data[:6]) == [0.0] * 6
    count = len(recorder.values(contract.TOPIC_ACTION))
    spin.for_(1.0)
    assert len(recorder.values(contract.TOPIC_ACTION)) == count
    assert node_api.state() == State.PRIMARY_STATE_INACTIVE


def test_node_accepts_compressed_images(executor, spin, recorder, start_node, node_api):
    start_node(control_rate_hz=RATE_HZ)
    executor.add_node(SyntheticSource(image_format="jpeg"))
    node_api.wait_for_actions(10)
    spin.for_(1.2)
    values = node_api.latest()
    assert values["rejected_images"] == "0" and float(values["latency_ms_p50"]) > 0


def test_a_calibrated_model_brings_its_thresholds_and_shows_them_as_parameters(tmp_path, start_node, source, node_api):
    import shutil

    from dyq_vla_ros.dyq import CALIBRATION_FILE, Calibration
    from dyq_vla_ros.policy import EMBEDDED_MODEL_DIR

    model = tmp_path / "model"
    shutil.copytree(EMBEDDED_MODEL_DIR, model)
    base = Calibration.load(model / CALIBRATION_FILE)
    calibrated = Calibration(base.action, base.joint_state, Thresholds(0.05, 0.2, 0.45), (2, 4, 8, 16), {"d_acc": 0.1})
    calibrated.save(model / CALIBRATION_FILE)
    start_node(control_rate_hz=RATE_HZ, model_path=str(model), theta_fp=0.7)
    node_api.wait_for_actions(1)
    assert node_api.get_params("theta_2_4", "theta_4_8", "theta_fp") == pytest.approx([0.05, 0.2, 0.45])


def test_a_checkpoint_of_another_shape_loads_quantizes_and_commands(
    tmp_path, spin, recorder, start_node, source, node_api
):
    from dyq_vla_ros.policy.configuration_pi0 import TinyPi0Architecture
    from dyq_vla_ros.policy.embedded import DEFAULT_JOINT_NAMES, create_random_checkpoint

    # another robot's policy: 48 px images, 6-D actions (no gripper), 6 arm joints picked by name, 3 layers
    arch = TinyPi0Architecture(image_size=48, patch_size=12, num_layers=3, vision_layers=1, chunk_size=6)
    arm = tuple(DEFAULT_JOINT_NAMES[:6])
    model = create_random_checkpoint(tmp_path / "other", architecture=arch, state_dim=6, action_dim=6, joint_names=arm)
    start_node(
        control_rate_hz=RATE_HZ,
        model_path=str(model),
        precision_mode="w4a8",
        keep_float_modules="['action_out_proj']",
        action_min="[-0.05, -0.05, -0.05, -0.25, -0.25, -0.25]",
        action_max="[0.05, 0.05, 0.05, 0.25, 0.25, 0.25]",
    )
    node_api.wait_for_actions(5)
    spin.until(lambda: len(recorder.values(contract.TOPIC_TWIST)) >= 5, 10, "twists")
    actions = recorder.values(contract.TOPIC_ACTION)
    assert all(len(a.data) == 6 and all(math.isfinite(v) for v in a.data) for a in actions)
    assert not recorder.values(contract.TOPIC_GRIPPER)  # no gripper value in these actions
    assert {m.data for m in recorder.values(contract.TOPIC_BIT_WIDTH)} == {8}
    spin.until(node_api.statuses, 10, "diagnostics")
    assert "other" in node_api.latest()["model"] and node_api.latest()["weight_bits"] == "4"


def test_a_wrist_camera_checkpoint_holds_until_wrist_images_arrive(
    tmp_path, executor, spin, recorder, start_node, node_api
):
    import numpy as np
    import rclpy
    from sensor_msgs.msg import Image

    from dyq_vla_ros.policy.configuration_pi0 import TinyPi0Architecture
    from dyq_vla_ros.policy.embedded import create_random_checkpoint
    from dyq_vla_ros.ros.conversions import rgb_to_image
    from dyq_vla_ros.ros.qos import SENSOR_QOS

    executor.add_node(SyntheticSource(wrist=False))
    arch = TinyPi0Architecture(image_size=32, patch_size=8, num_layers=1, vision_layers=1)
    model = create_random_checkpoint(tmp_path / "wrist", architecture=arch, cameras=("scene", "wrist"))
    start_node(control_rate_hz=RATE_HZ, model_path=str(model), precision_mode="fp")
    spin.until(
        lambda: node_api.statuses() and WAITING_FOR_WRIST in node_api.statuses()[-1].message,
        90,
        "waiting for wrist",
    )
    assert not recorder.values(contract.TOPIC_ACTION)  # scene camera and joints alone command nothing
    wrist = rclpy.create_node("wrist_camera")
    executor.add_node(wrist)
    pub = wrist.create_publisher(Image, contract.TOPIC_WRIST_IMAGE, SENSOR_QOS)
    frame = np.full((32, 32, 3), 90, np.uint8)
    wrist.create_timer(0.05, lambda: pub.publish(rgb_to_image(frame, stamp=wrist.get_clock().now().to_msg())))
    node_api.wait_for_actions(5, timeout=30)
    spin.until(lambda: node_api.statuses()[-1].message == "commanding", 10, "diagnostics saying commanding")
    executor.remove_node(wrist)
    wrist.destroy_node()
