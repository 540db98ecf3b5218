"""dyq_vla_ros: a ROS 2 VLA policy node with kinematics-driven dynamic activation precision."""

__version__ = "0.1.0"
