"""Test-run isolation: own ROS domain, localhost-only discovery, no model hub."""

import os
import sys
from pathlib import Path

# the tests share checkpoint factories (test/factories.py)
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Set before anything imports rclpy, and inherited by the node processes the tests start.
os.environ["ROS_DOMAIN_ID"] = str(1 + os.getpid() % 100)
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ["HF_HUB_OFFLINE"] = "1"
