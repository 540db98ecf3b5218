"""What the model's actions mean: the contract's end-effector deltas, or tool-pose targets turned into them.

The contract's actions are per-step deltas [dx, dy, dz, droll, dpitch, dyaw, gripper]. A policy may
instead predict *where the tool should go*: a chunk of absolute tool-pose targets
[x, y, z, rx, ry, rz, gripper] in the base frame, the orientation as the rotation vector from the
tool pointing straight down (x axis along the base's x), so pure yaw is (0, 0, yaw). Absolute
targets are what ACT, Diffusion Policy and π0 on ALOHA predict; here they also spare a tiny model
the subtraction "target seen in the image minus tool position in the state", which no delta-trained
model learned here (docs/TRAINING_LOG.md). The processor converts targets to deltas by the built-in
arm's forward kinematics, moving at most max_translation (norm) and max_rotation (per axis) per
step, as a Cartesian position controller with velocity limits would.

`tool_offset` predicts the same targets relative to the tool's pose at the observation: position
minus the tool's position, yaw minus the tool's yaw (wrapped), tilt and gripper as they are. With a
wrist camera the offset to a peg or hole is what the image shows directly (UMI's relative
trajectories); absolute targets would need the tool's absolute position, which only the coarse
scene camera shows. Position offsets may be companded (`offset_scale` s > 0: x -> sign(x) s log(1 + |x|/s)),
so that a model whose outputs carry a fixed error in normalised units is precise to the millimetre
near the target and coarse far from it, as a visual-servoing loop needs: linear normalisation over
the 30 cm workspace would make 5 % of one standard deviation about 5 mm everywhere.
"""

from __future__ import annotations

import numpy as np

from dyq_vla_ros.kinematics import ARM_JOINTS, ArmModel, matrix_to_rotvec, rotvec_to_matrix
from dyq_vla_ros.policy.errors import CheckpointError
from dyq_vla_ros.policy.state_features import tool_positions

DELTA = "delta"
TOOL_TARGET = "tool_target"
TOOL_OFFSET = "tool_offset"
JOINT_POSITION = "joint_position"
"""Absolute joint-position targets, executed as they are (ALOHA, SO-100 and other LeRobot arms, DROID)."""
ACTION_SPACES = (DELTA, TOOL_TARGET, TOOL_OFFSET, JOINT_POSITION)
TARGET_SPACES = (TOOL_TARGET, TOOL_OFFSET)
"""Action spaces the processor converts to contract deltas by forward kinematics."""
POINTING_DOWN = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])
"""Reference orientation of tool targets: tool z axis down, x axis along the base's x."""


def check_action_space(kind: str) -> None:
    """Raise CheckpointError for an unknown action space."""
    if kind not in ACTION_SPACES:
        raise CheckpointError(f"action_space must be one of {ACTION_SPACES}, got {kind!r}")


def tool_target(pose: np.ndarray, gripper: float) -> np.ndarray:
    """The 7-D tool target of a 4x4 tool pose and a gripper command."""
    return np.array([*pose[:3, 3], *matrix_to_rotvec(pose[:3, :3] @ POINTING_DOWN.T), gripper])


def targets_to_deltas(
    targets: np.ndarray, joints: np.ndarray, *, max_translation: float, max_rotation: float
) -> np.ndarray:
    """[K, 7] contract deltas that move the tool from the pose of `joints` through K targets, rate-limited."""
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


def _wrap(angle: np.ndarray) -> np.ndarray:
    return (angle + np.pi) % (2 * np.pi) - np.pi


def compand(x: np.ndarray, scale: float) -> np.ndarray:
    """Signed logarithmic compression sign(x) s log(1 + |x|/s); the identity when scale is 0."""
    return x if scale <= 0 else np.sign(x) * scale * np.log1p(np.abs(x) / scale)


def expand(y: np.ndarray, scale: float) -> np.ndarray:
    """Inverse of compand."""
    return y if scale <= 0 else np.sign(y) * scale * np.expm1(np.abs(y) / scale)


def targets_to_offsets(targets: np.ndarray, joints: np.ndarray, scale: float = 0.0) -> np.ndarray:
    """[N, K, 7] tool targets relative to the tool pose of each frame's joints [N, >= 6], positions companded."""
    tool = tool_positions(joints)[:, None, :]
    out = np.array(targets, dtype=np.float64, copy=True)
    out[..., :3] = compand(out[..., :3] - tool[..., :3], scale)
    out[..., 5] = _wrap(out[..., 5] - tool[..., 3])
    return out.astype(np.float32)


def offsets_to_targets(offsets: np.ndarray, joints: np.ndarray, scale: float = 0.0) -> np.ndarray:
    """[K, 7] absolute tool targets from offsets relative to the tool pose of `joints` (inverse of the above)."""
    tool = tool_positions(joints)[0]
    out = np.array(offsets, dtype=np.float64, copy=True)
    out[..., :3] = expand(out[..., :3], scale) + tool[:3]
    out[..., 5] += tool[3]
    return out
