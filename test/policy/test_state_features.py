"""The model state from joint positions: forward kinematics of the built-in arm, and bad settings refused."""

import numpy as np
import pytest

from dyq_vla_ros.policy import CheckpointError, ProcessorConfig
from dyq_vla_ros.policy.state_features import (
    HEIGHT_AND_GRIPPER,
    JOINTS,
    JOINTS_AND_TOOL,
    feature_dim,
    state_features,
)
from dyq_vla_ros.sim import PegInHoleEnv, ScriptedExpert


def test_tool_features_are_the_simulated_tool_pose():
    env = PegInHoleEnv()
    env.reset(3)
    expert = ScriptedExpert(env)
    for _ in range(15):
        env.advance(expert.act())
    features = state_features(JOINTS_AND_TOOL, env.joint_positions())
    pose = env.tool_pose
    yaw = np.arctan2(pose[1, 0], pose[0, 0])
    assert features.shape == (feature_dim(JOINTS_AND_TOOL, 7),) == (12,)
    np.testing.assert_allclose(features[:7], env.joint_positions(), atol=1e-6)
    np.testing.assert_allclose(features[7:], [*pose[:3, 3], np.cos(yaw), np.sin(yaw)], atol=1e-5)
    height = state_features(HEIGHT_AND_GRIPPER, env.joint_positions())
    assert feature_dim(HEIGHT_AND_GRIPPER, 7) == 2
    np.testing.assert_allclose(height, [pose[2, 3], env.joint_positions()[6]], atol=1e-6)


def test_batches_featurise_row_by_row_and_joints_pass_through():
    q = np.random.default_rng(0).normal(size=(2, 3, 7))
    batch = state_features(JOINTS_AND_TOOL, q)
    assert batch.shape == (2, 3, 12)
    np.testing.assert_allclose(batch[1, 2], state_features(JOINTS_AND_TOOL, q[1, 2]), atol=1e-6)
    np.testing.assert_array_equal(state_features(JOINTS, q), q.astype(np.float32))


def test_processor_config_checks_feature_lengths_and_kind():
    cfg = ProcessorConfig.identity(7, 7, state_features=JOINTS_AND_TOOL)
    assert cfg.model_state_dim == 12 and len(cfg.state_mean) == 12
    with pytest.raises(CheckpointError, match="state_mean has 7 values, expected 12"):
        ProcessorConfig(7, 7, [0.0] * 7, [1.0] * 7, [0.0] * 7, [1.0] * 7, state_features=JOINTS_AND_TOOL)
    with pytest.raises(CheckpointError, match="state_features must be one of"):
        ProcessorConfig.identity(7, 7, state_features="tool")
    with pytest.raises(CheckpointError, match="needs the built-in arm's 6 joints"):
        ProcessorConfig.identity(4, 7, state_features=JOINTS_AND_TOOL)
    with pytest.raises(CheckpointError, match="and the gripper"):
        ProcessorConfig.identity(6, 7, state_features=HEIGHT_AND_GRIPPER)
