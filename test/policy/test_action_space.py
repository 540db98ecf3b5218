"""Tool-pose targets turned into the contract's deltas: rate-limited, reaching the target in the simulator."""

import numpy as np
import pytest

from dyq_vla_ros.policy import CheckpointError, ProcessorConfig
from dyq_vla_ros.policy.action_space import TOOL_TARGET, check_action_space, targets_to_deltas, tool_target
from dyq_vla_ros.sim import PegInHoleEnv
from dyq_vla_ros.sim.env import MAX_ROTATION, MAX_TRANSLATION

LIMITS = {"max_translation": MAX_TRANSLATION, "max_rotation": MAX_ROTATION}


def test_the_current_pose_as_target_means_standing_still():
    env = PegInHoleEnv()
    env.reset(0)
    here = tool_target(env.tool_pose, -1.0)
    deltas = targets_to_deltas(np.repeat(here[None], 3, 0), env.joint_positions(), **LIMITS)
    np.testing.assert_allclose(deltas[:, :6], 0.0, atol=1e-6)
    np.testing.assert_array_equal(deltas[:, 6], -1.0)


def test_a_distant_target_is_approached_at_the_step_limits_and_reached_in_the_simulator():
    env = PegInHoleEnv()
    env.reset(0)
    start = env.tool_pose
    goal = tool_target(start, 1.0)
    goal[:3] += [0.05, -0.03, -0.02]
    goal[5] += 0.25  # a quarter radian more yaw
    deltas = targets_to_deltas(np.repeat(goal[None], 8, 0), env.joint_positions(), **LIMITS)
    norms = np.linalg.norm(deltas[:, :3], axis=1)
    np.testing.assert_allclose(norms[:3], MAX_TRANSLATION, rtol=1e-5)  # 62 mm away: three full steps ...
    np.testing.assert_allclose(deltas[:, :3].sum(0), [0.05, -0.03, -0.02], atol=1e-6)  # ... then the rest
    np.testing.assert_allclose(deltas[:2, 5], MAX_ROTATION, rtol=1e-5)
    np.testing.assert_allclose(deltas[:, 5].sum(), 0.25, atol=1e-4)
    assert np.all(deltas[:, 6] == 1.0)
    for delta in deltas:
        env.advance(np.r_[delta[:6], -1.0])  # keep the gripper open: only the motion is checked
    np.testing.assert_allclose(env.tool_pose[:3, 3], goal[:3], atol=2e-3)
    np.testing.assert_allclose(tool_target(env.tool_pose, 0.0)[3:6], goal[3:6], atol=0.02)


def test_unknown_action_space_and_unfit_tool_target_settings_are_refused():
    with pytest.raises(CheckpointError, match="action_space"):
        check_action_space("joint_velocity")
    with pytest.raises(CheckpointError, match="built-in arm"):
        ProcessorConfig.identity(3, 7, action_space=TOOL_TARGET)
    with pytest.raises(CheckpointError, match="action_dim 7"):
        ProcessorConfig.identity(7, 6, action_space=TOOL_TARGET)


def test_tool_offsets_are_targets_relative_to_the_tool_and_convert_back():
    from dyq_vla_ros.policy.action_space import TOOL_OFFSET, offsets_to_targets, targets_to_offsets

    env = PegInHoleEnv()
    env.reset(0)
    here = tool_target(env.tool_pose, 1.0)
    goal = here + np.array([0.03, -0.01, -0.02, 0.0, 0.0, 0.2, 0.0])
    offsets = targets_to_offsets(np.stack([here, goal])[None], env.joint_positions()[None])[0]
    np.testing.assert_allclose(offsets[0, [0, 1, 2, 5]], 0.0, atol=1e-5)  # where the tool is: no offset
    np.testing.assert_allclose(offsets[:, 3:5], np.stack([here[3:5]] * 2), atol=1e-6)  # tilt stays absolute
    np.testing.assert_allclose(offsets[1, [0, 1, 2, 5, 6]], [0.03, -0.01, -0.02, 0.2, 1.0], atol=1e-5)
    np.testing.assert_allclose(offsets_to_targets(offsets, env.joint_positions()), np.stack([here, goal]), atol=1e-5)
    far = here.copy()
    far[5] += 2 * np.pi - 0.1  # a full turn less 0.1 rad: the offset is the short way round
    assert targets_to_offsets(far[None, None], env.joint_positions()[None])[0, 0, 5] == pytest.approx(-0.1, abs=1e-5)
    with pytest.raises(CheckpointError, match="built-in arm"):
        ProcessorConfig.identity(3, 7, action_space=TOOL_OFFSET)


def test_companded_offsets_are_fine_near_the_target_and_convert_back():
    from dyq_vla_ros.policy.action_space import compand, expand, offsets_to_targets, targets_to_offsets

    x = np.array([-0.3, -0.1, -0.001, 0.0, 0.001, 0.01, 0.3])
    y = compand(x, 0.01)
    np.testing.assert_allclose(expand(y, 0.01), x, atol=1e-12)
    assert np.all(np.diff(y) > 0) and abs(y[-1]) < 0.035  # monotone; 30 cm shrinks to 3.4 cm ...
    assert y[4] == pytest.approx(0.001, rel=0.06)  # ... while a millimetre stays a millimetre
    env = PegInHoleEnv()
    env.reset(0)
    goal = tool_target(env.tool_pose, 1.0) + np.array([0.12, -0.2, -0.05, 0.0, 0.0, 0.3, 0.0])
    offsets = targets_to_offsets(goal[None, None], env.joint_positions()[None], 0.01)[0]
    np.testing.assert_allclose(offsets[0, :3], compand(np.array([0.12, -0.2, -0.05]), 0.01), atol=1e-6)
    np.testing.assert_allclose(offsets_to_targets(offsets, env.joint_positions(), 0.01)[0], goal, atol=1e-5)
