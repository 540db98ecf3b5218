"""ROS-free control loop shared by the node and in-process runners."""

from dyq_vla_ros.control.loop import (
    ControlLoop,
    TickResult,
    allowed_widths,
    hold_action,
    initial_thresholds,
    latch_gripper,
    lookahead,
    make_control_loop,
)
from dyq_vla_ros.control.report import diagnostic_record

__all__ = [
    "ControlLoop",
    "TickResult",
    "allowed_widths",
    "diagnostic_record",
    "hold_action",
    "initial_thresholds",
    "latch_gripper",
    "lookahead",
    "make_control_loop",
]
