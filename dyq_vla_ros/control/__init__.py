"""ROS-free control loop shared by the node and in-process runners."""

from dyq_vla_ros.control.loop import ControlLoop, TickResult, lookahead, make_control_loop

__all__ = ["ControlLoop", "TickResult", "lookahead", "make_control_loop"]
