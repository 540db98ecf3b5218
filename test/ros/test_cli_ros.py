"""`dyq-vla demo`, `load-test` and `play` run as the command, over DDS in this module's domain.

Each starts its nodes as processes; they inherit ROS_DOMAIN_ID from the autouse `domain` fixture.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import numpy as np
import pytest
from bag_factories import FIXTURE, ros2_bag_record_copy
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String

from dyq_vla_ros import contract
from dyq_vla_ros.bags import read_messages
from dyq_vla_ros.ros.harness.processes import start_module
from dyq_vla_ros.ros.qos import INSTRUCTION_QOS, SENSOR_QOS


def dyq_vla(*argv: str, timeout: float) -> subprocess.CompletedProcess:
    """`python -m dyq_vla_ros.cli ARGV` to completion (killed after timeout seconds); its output as text."""
    command = [sys.executable, "-m", "dyq_vla_ros.cli", *argv]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def summary_table(text: str) -> dict[str, str]:
    """The demo's summary rows: name -> value (names and values apart by two or more spaces)."""
    rows = {}
    for line in text.splitlines():
        match = re.fullmatch(r"([a-z][a-z -]*[a-z])\s{2,}(\S.*)", line)
        if match:
            rows[match.group(1)] = match.group(2)
    return rows


def test_demo_prints_a_summary_the_recorded_episode_bears_out(tmp_path):
    bag = tmp_path / "demo_bag"
    result = dyq_vla("demo", "--episodes", "1", "--rate", "20", "--bag", str(bag), timeout=400)
    rows = summary_table(result.stdout)
    assert "policy: embedded tiny PI0, mode dyq; robot: built-in simulator" in result.stdout
    assert f"bag: {bag}" in result.stdout
    (episode,) = [json.loads(m.data) for _, _, m in read_messages(bag, [contract.TOPIC_EPISODE_RESULT])]
    successes = int(episode["success"])
    assert rows["episodes"] == "1"
    assert rows["success rate"] == f"{100.0 * successes:.1f} % ({successes}/1)"
    assert rows["mean episode length"] == f"{episode['steps']:.1f} steps" and 0 < episode["steps"] <= 200
    latency = re.fullmatch(r"mean ([\d.]+) ms, p99 ([\d.]+) ms", rows["policy latency"])
    assert latency and float(latency.group(1)) > 0 and float(latency.group(2)) > 0
    shares = dict(re.findall(r"(\d+)-bit ([\d.]+) %", rows["bit-width share"]))
    assert set(shares) == {"2", "4", "8", "16"} and sum(map(float, shares.values())) == pytest.approx(100.0, abs=0.3)
    assert shares["2"] == shares["4"] == "0.0"  # the shipped calibration: widths 8 and 16 only
    assert float(shares["16"]) > 0  # the episode starts at 16 bits
    assert rows["precision switches"].isdigit()
    # the recording holds what the demo promises, from the episode's start
    recorded = {t: sum(1 for _ in read_messages(bag, [t])) for t in (contract.TOPIC_ACTION, contract.TOPIC_IMAGE)}
    assert recorded[contract.TOPIC_ACTION] >= episode["steps"] and recorded[contract.TOPIC_IMAGE] > 0
    (instruction,) = [m.data for _, _, m in read_messages(bag, [contract.TOPIC_INSTRUCTION])]
    assert instruction.startswith("put the ") and instruction.endswith(" hole")


def test_load_test_reports_the_run_as_json():
    duration, rate = 3.0, 5.0
    argv = ["--duration", str(duration), "--camera-hz", "10", "--joint-hz", "50", "--image-size", "96x128"]
    result = dyq_vla("load-test", *argv, "--rate", str(rate), "--precision-mode", "w4a8", timeout=400)
    report = json.loads(result.stdout[result.stdout.index("{") :])
    assert report["node_alive"] is True and report["control_rate_hz"] == rate and report["image_size"] == [96, 128]
    assert report["duration_s"] >= duration  # it measures for the whole duration
    # the node publishes one action per control tick at most; it commands
    assert 0 < report["action_rate_hz"] <= rate * (1 + 1 / duration)
    assert report["camera_hz_published"] > 0 and report["joint_hz_published"] > 0
    # read from the node's diagnostics (their absence reads -1 or nan)
    assert report["dropped_frames"] >= 0 and report["starved_ticks"] >= 0
    assert 0 < report["latency_ms_p50"] <= report["latency_ms_p99"]
    assert report["latency_ms_p99_worst_window"] > 0  # nan unless diagnostics arrived during the run
    assert len(report["rss_mb"]) == 1 + int(duration // 5) and report["rss_mb"][0] > 100  # torch is loaded


class Listener(Node):
    """Hears what `dyq-vla play` publishes: instruction (reliable), joint states and the scene camera."""

    def __init__(self) -> None:
        super().__init__("dyq_vla_play_listener")
        self.instructions: list[str] = []
        self.joints: list[list[float]] = []
        self.images = 0
        self.create_subscription(
            String, contract.TOPIC_INSTRUCTION, lambda m: self.instructions.append(m.data), INSTRUCTION_QOS
        )
        self.create_subscription(
            JointState, contract.TOPIC_JOINT_STATES, lambda m: self.joints.append(list(m.position)), SENSOR_QOS
        )
        self.create_subscription(Image, contract.TOPIC_IMAGE, self._image, SENSOR_QOS)

    def _image(self, _msg: Image) -> None:
        self.images += 1


def test_play_publishes_a_humble_sqlite3_bag(tmp_path, executor, spin):
    bag = ros2_bag_record_copy(tmp_path / "humble_bag", "humble")  # sqlite3 storage, version 5 metadata
    listener = Listener()
    executor.add_node(listener)
    player = start_module(
        "dyq_vla_ros.cli", ["play", str(bag), "--rate", "4", "--wait", "60"], stdout=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while player.poll() is None and time.monotonic() < deadline:
            spin.for_(0.1)
        spin.for_(0.5)
    finally:
        if player.poll() is None:
            player.kill()
    out = player.communicate()[0]
    assert player.returncode == 0, out
    inputs = (contract.TOPIC_IMAGE, contract.TOPIC_WRIST_IMAGE, contract.TOPIC_JOINT_STATES, contract.TOPIC_INSTRUCTION)
    expected = sum(1 for _ in read_messages(FIXTURE, list(inputs)))
    assert out.strip() == f"published {expected} messages from {bag}"  # every recorded input, no other topic
    recorded = [list(m.position) for _, _, m in read_messages(FIXTURE, [contract.TOPIC_JOINT_STATES])]
    (instruction,) = [m.data for _, _, m in read_messages(FIXTURE, [contract.TOPIC_INSTRUCTION])]
    assert listener.instructions == [instruction]
    # best effort may drop a sample on a busy machine, but what arrives is the recording, in its order
    assert listener.joints and listener.images > 0
    it = iter(recorded)
    assert all(any(np.array_equal(heard, r) for r in it) for heard in listener.joints)
