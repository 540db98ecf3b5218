"""Checkpoints as users bring them, on the live node over DDS: joint-space commands, named cameras, missing inputs."""

from __future__ import annotations

import numpy as np
import pytest
from factories import make_transformers_checkpoint

from dyq_vla_ros import contract
from dyq_vla_ros.policy import TinyPi0Architecture, create_random_checkpoint
from dyq_vla_ros.types import SIM_JOINT_NAMES

RATE_HZ = 20.0
TINY = TinyPi0Architecture(image_size=32, patch_size=8, num_layers=1, vision_layers=1)


def test_a_joint_position_checkpoint_commands_ros2_control(
    tmp_path, spin, recorder, start_node, start_source, node_api
):
    path, _ = make_transformers_checkpoint(tmp_path / "tf", state_dim=7, action_dim=6)
    start_source()
    start_node(control_rate_hz=RATE_HZ, model_path=str(path), joint_position_max="[1.0]", joint_position_min="[-1.0]")
    spin.until(lambda: len(recorder.values(contract.TOPIC_JOINT_TRAJECTORY)) >= 10, node_api.startup_s, "trajectories")
    trajectories = recorder.values(contract.TOPIC_JOINT_TRAJECTORY)
    commands = recorder.values(contract.TOPIC_JOINT_COMMAND)
    assert commands and not recorder.values(contract.TOPIC_ACTION)  # no end-effector topics for joint commands
    for traj in trajectories:
        assert list(traj.joint_names) == list(SIM_JOINT_NAMES[:6])  # the first action-dim joints of the state
        assert 1 <= len(traj.points) <= 5  # the chunk's actions still to execute (actions_per_chunk 5)
        times = [p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in traj.points]
        assert times == pytest.approx([(i + 1) / RATE_HZ for i in range(len(times))], abs=1e-6)
        assert all(len(p.positions) == 6 and np.all(np.abs(p.positions) <= 1.0) for p in traj.points)
    firsts = {tuple(np.round(t.points[0].positions, 6)) for t in trajectories}
    assert all(len(c.data) == 6 for c in commands)
    assert {tuple(np.round(c.data, 6)) for c in commands} & firsts  # the command is the trajectory's first point
    values = node_api.latest()
    assert values["precision_mode"] == "dyq" and int(values["activation_bits"]) in (2, 4, 8, 16)


def test_a_three_camera_checkpoint_waits_for_each_camera_by_name(
    tmp_path, spin, recorder, start_node, start_source, node_api
):
    path = create_random_checkpoint(tmp_path / "three", architecture=TINY, cameras=("scene", "wrist", "side"))
    start_source()  # scene and wrist only
    start_node(control_rate_hz=RATE_HZ, model_path=str(path), precision_mode="fp")
    waiting = "no image from camera 'side' (/camera/side/image_raw) received"
    spin.until(lambda: node_api.statuses() and waiting in node_api.statuses()[-1].message, 90, "waiting for side")
    assert not recorder.values(contract.TOPIC_ACTION)
    start_source(node_name="side_camera", cameras=("side",), wrist=False)
    node_api.wait_for_actions(5)


def test_camera_topics_remaps_a_camera(tmp_path, spin, recorder, start_node, start_source, node_api):
    path = create_random_checkpoint(tmp_path / "three", architecture=TINY, cameras=("scene", "wrist", "side"))
    start_source()
    start_node(control_rate_hz=RATE_HZ, model_path=str(path), camera_topics="['side=/camera/image_raw']")
    node_api.wait_for_actions(5)


def test_missing_joints_are_named_in_diagnostics(tmp_path, spin, recorder, start_node, start_source, node_api):
    extras = {"joint_names": ["arm_0", "arm_1", "arm_2", "arm_3", "arm_4", "arm_5", "shoulder_pan_joint"]}
    path, _ = make_transformers_checkpoint(tmp_path / "joints", state_dim=7, action_dim=6, extras=extras)
    start_source()
    start_node(control_rate_hz=RATE_HZ, model_path=str(path))

    def named() -> bool:
        statuses = node_api.statuses()
        return bool(statuses) and "lacks expected joints: arm_0, arm_1" in statuses[-1].message

    spin.until(named, node_api.startup_s, "diagnostics naming the missing joints")
    assert node_api.statuses()[-1].message.startswith("not commanding: no joint state received")
    assert not recorder.values(contract.TOPIC_JOINT_COMMAND)


def test_configure_names_an_unknown_camera(tmp_path, spin, recorder, start_node, node_api):
    start_node(camera_topics="['front=/x/image']")
    spin.until(
        lambda: any("camera_topics names ['front']" in s.message for s in node_api.statuses()),
        node_api.startup_s,
        "configure error",
    )
