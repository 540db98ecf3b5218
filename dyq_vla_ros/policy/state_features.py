"""The model's state vector from joint positions: the joints alone, or with the built-in arm's tool pose.

A tiny policy trained from scratch has to compute the tool position from six joint angles to the
millimetre before it can steer toward anything it sees; forward kinematics does that exactly, so
checkpoints trained on the built-in arm may take the tool pose as extra state. But a policy that
sees where its tool is can also imitate the demonstrations without looking: along an expert's path
the tool's own position already tells where the target is (causal confusion), and on its own
paths it then steers blind. `height+gripper` keeps only what a fixed overhead camera shows
poorly (the tool's height) and the gripper gap, so where to go in the plane must come from the image
(measured in docs/TRAINING_LOG.md: no better, and blind to the tool's tilt).
"""

from __future__ import annotations

import numpy as np

from dyq_vla_ros.kinematics import ARM_JOINTS, ArmModel
from dyq_vla_ros.policy.errors import CheckpointError

JOINTS = "joints"
JOINTS_AND_TOOL = "joints+tool"
HEIGHT_AND_GRIPPER = "height+gripper"
STATE_FEATURES = (JOINTS, JOINTS_AND_TOOL, HEIGHT_AND_GRIPPER)
TOOL_FEATURE_NAMES = ("tool_x", "tool_y", "tool_z", "tool_cos_yaw", "tool_sin_yaw")
HEIGHT_FEATURE_NAMES = ("tool_z", "gripper_gap")


def feature_dim(kind: str, joints: int) -> int:
    """Length of the model state for `joints` joint positions."""
    check_kind(kind, joints)
    if kind == HEIGHT_AND_GRIPPER:
        return len(HEIGHT_FEATURE_NAMES)
    return joints + (len(TOOL_FEATURE_NAMES) if kind == JOINTS_AND_TOOL else 0)


def check_kind(kind: str, joints: int) -> None:
    """Raise CheckpointError for an unknown kind or a joint count the built-in arm cannot take."""
    if kind not in STATE_FEATURES:
        raise CheckpointError(f"state_features must be one of {STATE_FEATURES}, got {kind!r}")
    if kind != JOINTS and joints <= ARM_JOINTS:
        raise CheckpointError(
            f"state_features {kind!r} needs the built-in arm's {ARM_JOINTS} joints and the gripper, got {joints}"
        )


def tool_positions(joints: np.ndarray) -> np.ndarray:
    """[N, 4] tool x, y, z and yaw of the built-in arm for joint positions [N, >= 6]."""
    arm = ArmModel()
    q = np.asarray(joints, dtype=np.float64).reshape(-1, np.shape(joints)[-1])
    out = np.empty((q.shape[0], 4))
    for i, row in enumerate(q):
        pose = arm.tool_pose(row[:ARM_JOINTS])
        out[i] = (*pose[:3, 3], np.arctan2(pose[1, 0], pose[0, 0]))
    return out


def state_features(kind: str, joints: np.ndarray) -> np.ndarray:
    """Model state [..., feature_dim] from joint positions [..., joints] (the arm's first, in its order)."""
    q = np.asarray(joints, dtype=np.float64)
    if kind == JOINTS:
        return q.astype(np.float32)
    flat = q.reshape(-1, q.shape[-1])
    pos = tool_positions(flat)
    tool = np.concatenate([pos[:, :3], np.cos(pos[:, 3:]), np.sin(pos[:, 3:])], 1)
    out = (
        np.stack([tool[:, 2], flat[:, ARM_JOINTS]], 1)
        if kind == HEIGHT_AND_GRIPPER
        else np.concatenate([flat, tool], 1)
    )
    return out.reshape(*q.shape[:-1], -1).astype(np.float32)
