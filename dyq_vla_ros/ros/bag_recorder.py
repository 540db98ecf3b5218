"""A node that records topics, as serialized CDR, into a bag through bags.BagRecorder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float32, Float32MultiArray, String, UInt8

from dyq_vla_ros import contract
from dyq_vla_ros.bags import BagRecorder, type_name
from dyq_vla_ros.ros.qos import COMMAND_QOS, SENSOR_QOS

DEMO_TOPICS: tuple[tuple[str, type], ...] = (
    (contract.TOPIC_IMAGE, Image),
    (contract.TOPIC_WRIST_IMAGE, Image),
    (contract.TOPIC_JOINT_STATES, JointState),
    (contract.TOPIC_INSTRUCTION, String),
    (contract.TOPIC_ACTION, Float32MultiArray),
    (contract.TOPIC_BIT_WIDTH, UInt8),
    (contract.TOPIC_SENSITIVITY, Float32),
    (contract.TOPIC_DIAGNOSTICS, DiagnosticArray),
    (contract.TOPIC_EPISODE_RESULT, String),
)
"""What `dyq-vla demo --bag` records: the robot's inputs and the policy's outputs."""
RELIABLE_TOPICS = (
    contract.TOPIC_INSTRUCTION,
    contract.TOPIC_ACTION,
    contract.TOPIC_BIT_WIDTH,
    contract.TOPIC_SENSITIVITY,
    contract.TOPIC_EPISODE_RESULT,
)
"""Recorded reliably (their publishers are reliable): every message counts. Sensor streams are best effort."""


class TopicRecorder(Node):
    """Subscribes (reliably to the policy's outputs, best effort to sensors) and writes each message's raw bytes."""

    def __init__(self, bag: BagRecorder, topics: Sequence[tuple[str, type]] = DEMO_TOPICS, **node_kwargs: Any) -> None:
        super().__init__("dyq_vla_bag_recorder", **node_kwargs)
        self.bag = bag
        for topic, msg_class in topics:
            qos = COMMAND_QOS if topic in RELIABLE_TOPICS else SENSOR_QOS
            self.create_subscription(msg_class, topic, self._writer(topic, type_name(msg_class)), qos, raw=True)

    def _writer(self, topic: str, msgtype: str):
        def write(data: bytes) -> None:
            self.bag.write(topic, msgtype, data, self.get_clock().now().nanoseconds)

        return write
