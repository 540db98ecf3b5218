"""`dyq-vla play`: publish a bag's recorded inputs into the ROS graph at their recorded pace.

Camera frames can be published under another topic (`--camera NAME=TOPIC`: the bag's TOPIC goes out
on camera NAME's topic), and with `clock` the bag's timeline goes out on /clock, so that a node run
with use_sim_time commands on the bag's time at any play rate.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import rclpy
from builtin_interfaces.msg import Time
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import QoSProfile
from rosgraph_msgs.msg import Clock

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
REQUIRED_TOPICS = (contract.TOPIC_JOINT_STATES, contract.TOPIC_INSTRUCTION)
"""Topics waited for: a subscriber must be up before playing (cameras vary with the checkpoint)."""
CLOCK_PERIOD_S = 0.01
"""How often /clock is published while playing (ros2 bag play's default is 40 Hz; a finer clock keeps
control timers on sim time close to their period)."""


def message_class(msgtype: str) -> type:
    """The rclpy message class of 'pkg/msg/Name'."""
    package, _, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), name)


def _time(ns: int) -> Time:
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


class BagPlayer(Node):
    """Publishes the serialized messages of chosen topics, paced by their recorded timestamps."""

    def __init__(
        self,
        bag: Path,
        topics: Sequence[str] = DEFAULT_TOPICS,
        *,
        rate: float = 1.0,
        cameras: Mapping[str, str] | None = None,
        clock: bool = False,
        **kwargs: Any,
    ) -> None:
        """cameras: camera NAME -> the bag topic whose frames go out on NAME's topic."""
        super().__init__("dyq_vla_bag_player", **kwargs)
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        available = bag_topics(bag)
        remap = {bag_topic: contract.camera_topic(name) for name, bag_topic in (cameras or {}).items()}
        missing = [t for t in remap if t not in available]
        if missing:
            raise BagError(f"bag {bag} has no topic {', '.join(missing)}; it has: {', '.join(sorted(available))}")
        chosen = [t for t in dict.fromkeys([*topics, *remap]) if t in available]
        if not chosen:
            raise BagError(f"bag {bag} has none of {', '.join(topics)}; it has: {', '.join(sorted(available))}")
        self.bag, self.rate = Path(bag), rate
        self._pubs: dict[str, Publisher] = {
            t: self.create_publisher(message_class(available[t]), remap.get(t, t), self._qos(t)) for t in chosen
        }
        self._clock_pub = self.create_publisher(Clock, contract.TOPIC_CLOCK, 10) if clock else None
        self.published = 0

    @staticmethod
    def _qos(topic: str) -> QoSProfile:
        return INSTRUCTION_QOS if topic == contract.TOPIC_INSTRUCTION else SENSOR_QOS

    def wait_for_subscribers(self, timeout_s: float, spin: Any) -> bool:
        """Spin until the joint states and instruction we publish have subscribers (or timeout)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(p.get_subscription_count() > 0 for t, p in self._pubs.items() if t in REQUIRED_TOPICS):
                return True
            spin(0.05)
        return False

    def play(self, spin: Any) -> int:
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
                self._tick_clock(start_wall, start_bag, t)
                spin(min(wait, CLOCK_PERIOD_S))
            self._tick_clock(start_wall, start_bag, t)
            publisher.publish(raw)
            self.published += 1
        return self.published

    def _tick_clock(self, start_wall: float, start_bag: int, limit: int) -> None:
        """Publish the bag time now (never past the next message's stamp)."""
        if self._clock_pub is None:
            return
        now = start_bag + int((time.monotonic() - start_wall) * self.rate * 1e9)
        self._clock_pub.publish(Clock(clock=_time(min(now, limit))))


def play_bag(
    bag: Path,
    topics: Sequence[str] = DEFAULT_TOPICS,
    *,
    rate: float = 1.0,
    wait_s: float = 60.0,
    cameras: Mapping[str, str] | None = None,
    clock: bool = False,
) -> int:
    """`dyq-vla play`: publish a bag into the ROS graph in a private context; the count of messages published."""
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    player = BagPlayer(bag, topics, rate=rate, cameras=cameras, clock=clock, context=context)
    executor.add_node(player)

    def spin(timeout: float) -> None:
        executor.spin_once(timeout_sec=timeout)

    try:
        if not player.wait_for_subscribers(wait_s, spin):
            player.get_logger().warning(f"no subscriber appeared within {wait_s} s; playing anyway")
        return player.play(spin)
    except (KeyboardInterrupt, ExternalShutdownException):
        return player.published
    finally:
        executor.shutdown()
        player.destroy_node()
        rclpy.try_shutdown(context=context)
