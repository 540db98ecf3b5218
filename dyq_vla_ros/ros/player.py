"""`dyq-vla play`: publish a bag's recorded inputs into the ROS graph at their recorded pace."""

from __future__ import annotations

import importlib
import time
from collections.abc import Sequence
from pathlib import Path

from rclpy.node import Node
from rclpy.qos import QoSProfile

from dyq_vla_ros import contract
from dyq_vla_ros.bags import BagError, bag_topics
from dyq_vla_ros.bags.read import read_raw
from dyq_vla_ros.ros.qos import INSTRUCTION_QOS, SENSOR_QOS

DEFAULT_TOPICS = (
    contract.TOPIC_IMAGE,
    contract.TOPIC_IMAGE_COMPRESSED,
    contract.TOPIC_WRIST_IMAGE,
    contract.TOPIC_JOINT_STATES,
    contract.TOPIC_INSTRUCTION,
)
OPTIONAL_TOPICS = (contract.TOPIC_IMAGE_COMPRESSED, contract.TOPIC_WRIST_IMAGE)
"""Played when in the bag, but not waited for: a scene-only checkpoint never subscribes to the wrist camera."""


def message_class(msgtype: str) -> type:
    """The rclpy message class of 'pkg/msg/Name'."""
    package, _, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), name)


class BagPlayer(Node):
    """Publishes the serialized messages of chosen topics, paced by their recorded timestamps."""

    def __init__(
        self, bag: Path, topics: Sequence[str] = DEFAULT_TOPICS, *, rate: float = 1.0, **kwargs: object
    ) -> None:
        super().__init__("dyq_vla_bag_player", **kwargs)
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        available = bag_topics(bag)
        chosen = [t for t in topics if t in available]
        if not chosen:
            raise BagError(f"bag {bag} has none of {', '.join(topics)}; it has: {', '.join(sorted(available))}")
        self.bag, self.rate = Path(bag), rate
        self._pubs = {t: self.create_publisher(message_class(available[t]), t, self._qos(t)) for t in chosen}
        self.published = 0

    @staticmethod
    def _qos(topic: str) -> QoSProfile:
        return INSTRUCTION_QOS if topic == contract.TOPIC_INSTRUCTION else SENSOR_QOS

    def wait_for_subscribers(self, timeout_s: float, spin) -> bool:
        """Spin until every required topic we publish has a subscriber (or timeout)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(p.get_subscription_count() > 0 for t, p in self._pubs.items() if t not in OPTIONAL_TOPICS):
                return True
            spin(0.05)
        return False

    def play(self, spin) -> int:
        """Publish everything at the recorded pace (scaled by rate); returns the count published."""
        start_wall = time.monotonic()
        start_bag: int | None = None
        for topic, _msgtype, t, raw in read_raw(self.bag):
            publisher = self._pubs.get(topic)
            if publisher is None:
                continue
            start_bag = t if start_bag is None else start_bag
            due = start_wall + (t - start_bag) * 1e-9 / self.rate
            while (wait := due - time.monotonic()) > 0:
                spin(min(wait, 0.01))
            publisher.publish(raw)
            self.published += 1
        return self.published
