"""What the model's actions mean: the contract's end-effector deltas, or tool-pose targets turned into them.

The contract's actions are per-step deltas [dx, dy, dz, droll, dpitch, dyaw, gripper]. A policy may
instead predict *where the tool should go*: a chunk of absolute tool-pose targets
[x, y, z, rx, ry, rz, gripper] in the base frame, the orientation as the rotation vector from the
tool pointing straight down (x axis along the base's x), so pure yaw is (0, 0, yaw). Absolute
targets are what ACT, Diffusion Policy and π0 on ALOHA predict; here they also spare a tiny model
the subtraction "target seen in the image minus tool position in the state", which no delta-trained
attempt learned (docs/BENCHMARKS.md). The processor converts targets to deltas by the built-in
arm's forward kinematics, moving at most max_translation (norm) and max_rotation (per axis) per
step, as a Cartesian position controller with velocity limits would.
"""

from __future__ import annotations

import numpy as np

from dyq_vla_ros.policy.errors import CheckpointError
from dyq_vla_ros.policy.state_features import ARM_JOINTS

DELTA = "delta"
TOOL_TARGET = "tool_target"
ACTION_SPACES = (DELTA, TOOL_TARGET)
POINTING_DOWN = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])
"""Reference orientation of tool targets: tool z axis down, x axis along the base's x."""


def check_action_space(kind: str) -> None:
    """Raise CheckpointError for an unknown action space."""
    if kind not in ACTION_SPACES:
        raise CheckpointError(f"action_space must be one of {ACTION_SPACES}, got {kind!r}")


def tool_target(pose: np.ndarray, gripper: float) -> np.ndarray:
    """The 7-D tool target of a 4x4 tool pose and a gripper command."""
    from dyq_vla_ros.sim.kinematics import matrix_to_rotvec

    return np.array([*pose[:3, 3], *matrix_to_rotvec(pose[:3, :3] @ POINTING_DOWN.T), gripper])


def targets_to_deltas(
    targets: np.ndarray, joints: np.ndarray, *, max_translation: float, max_rotation: float
) -> np.ndarray:
    """[K, 7] contract deltas that move the tool from the pose of `joints` through K targets, rate-limited."""
    from dyq_vla_ros.sim.kinematics import ArmModel, matrix_to_rotvec, rotvec_to_matrix

    targets = np.asarray(targets, dtype=np.float64)
    pose = ArmModel().tool_pose(np.asarray(joints, dtype=np.float64)[:ARM_JOINTS])
    pos, rot = pose[:3, 3].copy(), pose[:3, :3].copy()
    out = np.empty_like(targets)
    for k, target in enumerate(targets):
        step = target[:3] - pos
        norm = float(np.linalg.norm(step))
        if norm > max_translation:
            step *= max_translation / norm
        turn = np.clip(
            matrix_to_rotvec(rotvec_to_matrix(target[3:6]) @ POINTING_DOWN @ rot.T), -max_rotation, max_rotation
        )
        pos, rot = pos + step, rotvec_to_matrix(turn) @ rot
        out[k] = (*step, *turn, target[6])
    return out.astype(np.float32)
