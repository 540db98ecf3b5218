"""Bags: record and read ROS 2 bags with the rosbags library (no rclpy)."""

from dyq_vla_ros.bags.errors import BagError
from dyq_vla_ros.bags.read import bag_topics, read_messages
from dyq_vla_ros.bags.record import TYPESTORE, BagRecorder, type_name

__all__ = ["TYPESTORE", "BagError", "BagRecorder", "bag_topics", "read_messages", "type_name"]
