"""The built-in 6-DoF arm (UR5e-like DH parameters): forward kinematics, Jacobian, damped least-squares IK.

A robot model used by the simulator (sim/) and by the policy's state features and action spaces
(policy/), standing apart from both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dyq_vla_ros.types import SIM_JOINT_NAMES

ARM_JOINT_NAMES: tuple[str, ...] = SIM_JOINT_NAMES[:6]
GRIPPER_JOINT_NAME = SIM_JOINT_NAMES[6]
ARM_JOINTS = len(ARM_JOINT_NAMES)
"""Revolute joints of the arm; its joint-position vectors hold them first, then the gripper."""


def rotvec_to_matrix(v: np.ndarray) -> np.ndarray:
    """Rotation matrix of a rotation vector (Rodrigues)."""
    theta = float(np.linalg.norm(v))
    if theta < 1e-12:
        return np.eye(3)
    k = np.asarray(v, float) / theta
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(theta) * kx + (1 - np.cos(theta)) * kx @ kx


def matrix_to_rotvec(r: np.ndarray) -> np.ndarray:
    """Rotation vector of a rotation matrix."""
    cos = np.clip((np.trace(r) - 1.0) / 2.0, -1.0, 1.0)
    theta = float(np.arccos(cos))
    if theta < 1e-9:
        return np.zeros(3)
    if np.pi - theta < 1e-6:
        # axis from the symmetric part when sin(theta) ~ 0
        axis = np.sqrt(np.clip((np.diag(r) + 1.0) / 2.0, 0.0, None))
        axis *= np.sign(np.where(np.abs(r[:, np.argmax(axis)]) > 1e-9, r[:, np.argmax(axis)], 1.0))
        return theta * axis / np.linalg.norm(axis)
    w = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])
    return theta * w / (2.0 * np.sin(theta))


@dataclass(frozen=True)
class ArmModel:
    """Standard DH parameters, joint limits and velocity limits of the arm, and the tool offset."""

    d: tuple[float, ...] = (0.1625, 0.0, 0.0, 0.1333, 0.0997, 0.0996)
    a: tuple[float, ...] = (0.0, -0.425, -0.3922, 0.0, 0.0, 0.0)
    alpha: tuple[float, ...] = (np.pi / 2, 0.0, 0.0, np.pi / 2, -np.pi / 2, 0.0)
    tool_length: float = 0.16
    lower: tuple[float, ...] = (-2 * np.pi, -np.pi, -2.8, -2 * np.pi, -2 * np.pi, -2 * np.pi)
    upper: tuple[float, ...] = (2 * np.pi, 0.0, 2.8, 2 * np.pi, 2 * np.pi, 2 * np.pi)
    max_joint_step: float = 0.15
    """Velocity limit: the most any joint moves in one control step (rad)."""
    home: tuple[float, ...] = field(default=(0.0, -1.9, 1.9, -1.571, -1.571, 0.0))
    base_yaw: float = np.pi
    """The base is mounted turned half a turn so that the workspace lies at +x."""

    def frames(self, q: np.ndarray) -> list[np.ndarray]:
        """World transforms of the base, each joint frame and the tool tip (8 matrices)."""
        base = np.eye(4)
        base[:2, :2] = [[np.cos(self.base_yaw), -np.sin(self.base_yaw)], [np.sin(self.base_yaw), np.cos(self.base_yaw)]]
        out = [base]
        t = base
        for i in range(6):
            ct, st = np.cos(q[i]), np.sin(q[i])
            ca, sa = np.cos(self.alpha[i]), np.sin(self.alpha[i])
            a_i = np.array(
                [
                    [ct, -st * ca, st * sa, self.a[i] * ct],
                    [st, ct * ca, -ct * sa, self.a[i] * st],
                    [0.0, sa, ca, self.d[i]],
                    [0.0, 0.0, 0.0, 1.0],
                ]
            )
            t = t @ a_i
            out.append(t)
        tool = np.eye(4)
        tool[2, 3] = self.tool_length
        out.append(t @ tool)
        return out

    def tool_pose(self, q: np.ndarray) -> np.ndarray:
        """World transform of the tool tip."""
        return self.frames(q)[-1]

    def jacobian(self, q: np.ndarray, frames: list[np.ndarray] | None = None) -> np.ndarray:
        """6 x 6 geometric Jacobian of the tool tip (linear rows first) in the base frame."""
        fr = frames if frames is not None else self.frames(q)
        p_e = fr[-1][:3, 3]
        j = np.empty((6, 6))
        for i in range(6):
            z = fr[i][:3, 2]
            j[:3, i] = np.cross(z, p_e - fr[i][:3, 3])
            j[3:, i] = z
        return j

    def ik_step(self, q: np.ndarray, d_pos: np.ndarray, d_rot: np.ndarray, damping: float = 0.02) -> np.ndarray:
        """Joint positions after a damped-least-squares step toward a tool displacement (base frame)."""
        j = self.jacobian(q)
        twist = np.concatenate([d_pos, d_rot])
        dq = j.T @ np.linalg.solve(j @ j.T + damping**2 * np.eye(6), twist)
        biggest = np.max(np.abs(dq))
        if biggest > self.max_joint_step:
            dq *= self.max_joint_step / biggest
        return np.clip(q + dq, self.lower, self.upper)

    def move_tool(self, q: np.ndarray, target: np.ndarray, *, iterations: int = 3, damping: float = 0.02) -> np.ndarray:
        """Joint positions that bring the tool toward a target pose with a few DLS iterations."""
        for _ in range(iterations):
            pose = self.tool_pose(q)
            d_pos = target[:3, 3] - pose[:3, 3]
            d_rot = matrix_to_rotvec(target[:3, :3] @ pose[:3, :3].T)
            if np.linalg.norm(d_pos) < 1e-5 and np.linalg.norm(d_rot) < 1e-5:
                break
            q = self.ik_step(q, d_pos, d_rot, damping)
        return q
