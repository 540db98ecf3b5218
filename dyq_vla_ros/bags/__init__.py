"""Bags: record and read ROS 2 bags with the rosbags library (no rclpy)."""

from dyq_vla_ros.bags.errors import BagError
from dyq_vla_ros.bags.read import bag_topics, read_messages, read_raw
from dyq_vla_ros.bags.record import TYPESTORE, BagRecorder, ros_time, type_name

__all__ = ["TYPESTORE", "BagError", "BagRecorder", "bag_topics", "read_messages", "read_raw", "ros_time", "type_name"]
