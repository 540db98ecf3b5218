"""Arm kinematics: FK, Jacobian, damped least-squares IK, limits."""

import numpy as np
import pytest

from dyq_vla_ros.kinematics import ArmModel, matrix_to_rotvec, rotvec_to_matrix

ARM = ArmModel()
HOME = np.array(ARM.home)


def test_home_pose_points_the_tool_down_in_front_of_the_robot():
    pose = ARM.tool_pose(HOME)
    np.testing.assert_allclose(pose[:3, 2], [0.0, 0.0, -1.0], atol=1e-3)
    assert pose[0, 3] > 0.2 and pose[2, 3] > 0.2


def test_jacobian_matches_finite_differences():
    q = HOME + np.array([0.1, -0.2, 0.3, 0.1, 0.2, -0.1])
    j = ARM.jacobian(q)
    eps = 1e-6
    base = ARM.tool_pose(q)
    for i in range(6):
        dq = np.zeros(6)
        dq[i] = eps
        moved = ARM.tool_pose(q + dq)
        np.testing.assert_allclose((moved[:3, 3] - base[:3, 3]) / eps, j[:3, i], atol=1e-4)
        np.testing.assert_allclose(matrix_to_rotvec(moved[:3, :3] @ base[:3, :3].T) / eps, j[3:, i], atol=1e-4)


@pytest.mark.parametrize("v", [np.zeros(3), np.array([0.3, -0.2, 0.1]), np.array([0.0, 0.0, 3.0])])
def test_rotvec_round_trip(v):
    np.testing.assert_allclose(matrix_to_rotvec(rotvec_to_matrix(v)), v, atol=1e-7)


@pytest.mark.parametrize("target", [(0.32, 0.3, 0.02), (0.5, -0.3, 0.05), (0.45, 0.0, 0.2), (0.35, -0.15, 0.1)])
def test_ik_reaches_commanded_poses_within_tolerance(target):
    goal = ARM.tool_pose(HOME)
    goal[:3, 3] = target
    goal[:3, :3] = rotvec_to_matrix(np.array([0.0, 0.0, 0.4])) @ goal[:3, :3]
    q = HOME.copy()
    for _ in range(80):
        q = ARM.move_tool(q, goal, iterations=1)
    reached = ARM.tool_pose(q)
    assert np.linalg.norm(reached[:3, 3] - goal[:3, 3]) < 1e-3
    assert np.linalg.norm(matrix_to_rotvec(goal[:3, :3] @ reached[:3, :3].T)) < 1e-2


def test_ik_step_respects_velocity_and_joint_limits():
    q = ARM.ik_step(HOME, np.array([0.5, 0.5, 0.5]), np.zeros(3))
    assert np.max(np.abs(q - HOME)) <= ARM.max_joint_step + 1e-12
    q = np.array(ARM.upper) - 1e-3
    q2 = ARM.ik_step(q, np.array([0.0, 0.0, -0.05]), np.array([0.1, 0.1, 0.1]))
    assert np.all(q2 <= np.array(ARM.upper)) and np.all(q2 >= np.array(ARM.lower))
