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
        env.step(np.r_[delta[:6], -1.0], render=False)  # keep the gripper open: only the motion is checked
    np.testing.assert_allclose(env.tool_pose[:3, 3], goal[:3], atol=2e-3)
    np.testing.assert_allclose(tool_target(env.tool_pose, 0.0)[3:6], goal[3:6], atol=0.02)


def test_unknown_action_space_and_unfit_tool_target_settings_are_refused():
    with pytest.raises(CheckpointError, match="action_space"):
        check_action_space("joint_velocity")
    with pytest.raises(CheckpointError, match="built-in arm"):
        ProcessorConfig.identity(3, 7, action_space=TOOL_TARGET)
    with pytest.raises(CheckpointError, match="action_dim 7"):
        ProcessorConfig.identity(7, 6, action_space=TOOL_TARGET)
