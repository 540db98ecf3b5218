"""The policy's outputs as rosbags messages, for replayed bags (the node's rclpy messages, field for field)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dyq_vla_ros import contract
from dyq_vla_ros.bags.record import TYPESTORE, ros_time
from dyq_vla_ros.types import ACTION_NAMES

_T = TYPESTORE.types


def action_msg(action: np.ndarray) -> Any:
    """std_msgs/Float32MultiArray whose layout's dim label names the end-effector action values."""
    label = ",".join(ACTION_NAMES) if len(action) == len(ACTION_NAMES) else "action"
    dim = _T["std_msgs/msg/MultiArrayDimension"](label=label, size=len(action), stride=len(action))
    layout = _T["std_msgs/msg/MultiArrayLayout"](dim=[dim], data_offset=0)
    return _T["std_msgs/msg/Float32MultiArray"](layout=layout, data=np.asarray(action, np.float32))


def joint_command_msg(action: np.ndarray) -> Any:
    """std_msgs/Float64MultiArray of one joint-position command."""
    layout = _T["std_msgs/msg/MultiArrayLayout"](dim=[], data_offset=0)
    return _T["std_msgs/msg/Float64MultiArray"](layout=layout, data=np.asarray(action, np.float64))


def joint_trajectory_msg(positions: Sequence[np.ndarray], names: Sequence[str], period_s: float, t_ns: int) -> Any:
    """trajectory_msgs/JointTrajectory, one point per control period from t_ns."""
    points = []
    for i, q in enumerate(positions):
        ns = round((i + 1) * period_s * 1e9)
        duration = _T["builtin_interfaces/msg/Duration"](sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)
        empty = np.zeros(0, np.float64)
        points.append(
            _T["trajectory_msgs/msg/JointTrajectoryPoint"](
                positions=np.asarray(q, np.float64),
                velocities=empty,
                accelerations=empty,
                effort=empty,
                time_from_start=duration,
            )
        )
    header = _T["std_msgs/msg/Header"](stamp=ros_time(t_ns), frame_id="")
    return _T["trajectory_msgs/msg/JointTrajectory"](header=header, joint_names=list(names), points=points)


def diagnostics_msg(record: Mapping[str, object], t_ns: int, message: str = "replay") -> Any:
    """diagnostic_msgs/DiagnosticArray holding the policy's status with the contract's keys."""
    kv = _T["diagnostic_msgs/msg/KeyValue"]
    status = _T["diagnostic_msgs/msg/DiagnosticStatus"](
        level=0,
        name=contract.DIAGNOSTIC_STATUS_NAME,
        message=message,
        hardware_id="dyq-vla replay",
        values=[kv(key=k, value=f"{v:.4g}" if isinstance(v, float) else str(v)) for k, v in record.items()],
    )
    header = _T["std_msgs/msg/Header"](stamp=ros_time(t_ns), frame_id="")
    return _T["diagnostic_msgs/msg/DiagnosticArray"](header=header, status=[status])


def scalar_msg(msgtype: str, value: float) -> Any:
    """A std_msgs message with one `data` field (UInt8, Float32)."""
    return _T[msgtype](data=value)
