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

EPISODES, MIN_SUCCESSES = 8, 5
"""The shipped model in dyq inserts 95 of 100 held-out pegs in-process (docs/BENCHMARKS.md) and 3 of 3
over DDS in `make demo`. At a success rate of 0.90 P(X <= 4 of 8) = 0.005; even at 0.85 it is 0.021, so
a broken closed loop (0 successes) fails this test and a working one passes it."""


def test_the_shipped_model_inserts_pegs_over_dds_in_dyq_mode(tmp_path):
    bag = tmp_path / "demo_bag"
    summary = run_demo(episodes=EPISODES, policy_params={"control_rate_hz": 20.0}, bag=bag, timeout_s=900)
    assert [r["seed"] for r in summary.results] == [1_000_000 + i for i in range(EPISODES)]
    wins = sum(r["success"] for r in summary.results)
    assert wins >= MIN_SUCCESSES, summary.results
    for r in summary.results:
        assert (r["reason"] == "success") == r["success"] and (r["success"] or r["steps"] == 200)
    # real inference latency, pipelined: the node ran its shipped calibration's widths
    assert set(summary.bits) == {8, 16} and summary.bits[8] > summary.bits[16]
    assert float(summary.diagnostics["latency_ms_mean"]) > 0 and summary.diagnostics["precision_mode"] == "dyq"
    topics = [t for t, _, _ in read_messages(bag)]
    steps = sum(r["steps"] for r in summary.results)
    assert topics.count(contract.TOPIC_ACTION) >= steps  # every simulator step was an action recorded
    results = [json.loads(m.data) for _, _, m in read_messages(bag, [contract.TOPIC_EPISODE_RESULT])]
    assert [r["episode"] for r in results] == list(range(EPISODES))


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
