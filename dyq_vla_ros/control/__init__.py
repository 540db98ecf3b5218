"""ROS-free execution of a chunked policy: the control tick and the policy session shared by every runner."""

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
from dyq_vla_ros.control.session import (
    Chunk,
    ChunkPolicy,
    InferenceRequest,
    NonFiniteActionsError,
    PolicySession,
    Predict,
    stale_reason,
    uses_joint_commands,
)

__all__ = [
    "Chunk",
    "ChunkPolicy",
    "ControlLoop",
    "InferenceRequest",
    "NonFiniteActionsError",
    "PolicySession",
    "Predict",
    "TickResult",
    "allowed_widths",
    "diagnostic_record",
    "hold_action",
    "initial_thresholds",
    "latch_gripper",
    "lookahead",
    "make_control_loop",
    "stale_reason",
    "uses_joint_commands",
]
