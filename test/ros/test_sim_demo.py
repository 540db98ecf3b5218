"""The simulated robot and the policy node as separate processes, closed loop over DDS."""

import json

import numpy as np
import rclpy
from sensor_msgs.msg import JointState
from std_msgs.msg import Float32MultiArray, String

from dyq_vla_ros import contract
from dyq_vla_ros.bags import read_messages
from dyq_vla_ros.ros.harness.demo import run_demo
from dyq_vla_ros.ros.qos import COMMAND_QOS, SENSOR_QOS
from dyq_vla_ros.ros.sim_robot_node import RESULT_QOS
from dyq_vla_ros.sim import JOINT_NAMES


def test_short_closed_loop_run_produces_episode_outcomes_and_a_bag(tmp_path):
    bag = tmp_path / "demo_bag"
    summary = run_demo(
        episodes=2, policy_params={"control_rate_hz": 20.0}, sim_params={"max_steps": 15}, bag=bag, timeout_s=240
    )
    assert len(summary.results) == 2
    for i, result in enumerate(summary.results):
        assert result["episode"] == i and result["seed"] == 1_000_000 + i
        assert isinstance(result["success"], bool) and result["reason"] in ("success", "max_steps")
        assert result["steps"] == 15 or result["success"]
        assert result["instruction"].startswith("put the ")
    assert sum(summary.bits.values()) >= 20 and set(summary.bits) <= {2, 4, 8, 16}
    assert float(summary.diagnostics["latency_ms_mean"]) > 0
    assert "success rate" in summary.table()

    topics = [t for t, _, _ in read_messages(bag)]
    for topic in (contract.TOPIC_IMAGE, contract.TOPIC_JOINT_STATES, contract.TOPIC_ACTION, contract.TOPIC_BIT_WIDTH):
        assert topics.count(topic) >= 10, topic
    results = [json.loads(m.data) for _, _, m in read_messages(bag, [contract.TOPIC_EPISODE_RESULT])]
    assert [r["episode"] for r in results] == [0, 1]


def test_sim_robot_node_applies_actions_and_reports_episodes(executor, spin, start_sim):
    start_sim(episodes=1, max_steps=12, first_seed=5)
    # the probe both listens for instructions and publishes actions, so the simulator sees a policy
    probe = rclpy.create_node("sim_probe")
    executor.add_node(probe)
    joints: list[JointState] = []
    results: list[dict] = []
    instructions: list[str] = []
    probe.create_subscription(JointState, contract.TOPIC_JOINT_STATES, joints.append, SENSOR_QOS)
    probe.create_subscription(
        String, contract.TOPIC_EPISODE_RESULT, lambda m: results.append(json.loads(m.data)), RESULT_QOS
    )
    probe.create_subscription(String, contract.TOPIC_INSTRUCTION, lambda m: instructions.append(m.data), COMMAND_QOS)
    actions = probe.create_publisher(Float32MultiArray, contract.TOPIC_ACTION, COMMAND_QOS)
    spin.until(lambda: instructions and joints, 60, "the episode's instruction and joint states")
    start = np.array(joints[-1].position)
    assert list(joints[-1].name) == list(JOINT_NAMES)
    for _ in range(12):
        actions.publish(Float32MultiArray(data=[0.0, 0.0, 0.01, 0.0, 0.0, 0.0, -1.0]))
        spin.for_(0.05)
    spin.until(lambda: results, 20, "the episode result")
    assert results[0]["steps"] == 12 and results[0]["success"] is False and results[0]["seed"] == 5
    spin.for_(0.3)
    assert np.linalg.norm(np.array(joints[-1].position) - start) > 0.05  # the arm moved up 12 cm
