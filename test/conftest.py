"""Test-run isolation: localhost-only discovery, no model hub, the shared checkpoint factories on the path."""

import os
import sys
from pathlib import Path

# the tests share checkpoint factories (test/factories.py)
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Each test module that uses DDS gets a domain of its own (test/ros/conftest.py); discovery stays on localhost.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ["HF_HUB_OFFLINE"] = "1"
