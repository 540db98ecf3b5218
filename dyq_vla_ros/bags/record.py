"""Writing serialized ROS 2 messages to a bag (MCAP or sqlite3) with the rosbags library."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

from rosbags.interfaces import Connection
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from dyq_vla_ros.bags.errors import BagError

TYPESTORE = get_typestore(Stores.ROS2_HUMBLE)
"""Message definitions written into bags; the messages we record are identical across Humble..Kilted."""


def ros_time(ns: int) -> Any:
    """A rosbags builtin_interfaces/Time from nanoseconds."""
    return TYPESTORE.types["builtin_interfaces/msg/Time"](sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def type_name(msg_class: type) -> str:
    """'pkg/msg/Name' of an rclpy message class."""
    package = msg_class.__module__.split(".")[0]
    return f"{package}/msg/{msg_class.__name__}"


class BagRecorder:
    """Appends CDR-serialized messages to a new bag; connections are added as topics first appear."""

    def __init__(self, path: str | Path, *, storage: str = "mcap") -> None:
        self.path = Path(path)
        if self.path.exists():
            raise BagError(f"bag {self.path} already exists; choose a new path")
        plugins = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
        if storage not in plugins:
            raise BagError(f"unknown storage {storage!r}; expected one of {', '.join(plugins)}")
        self._writer = Writer(self.path, version=9, storage_plugin=plugins[storage])
        self._writer.open()
        self._connections: dict[str, Connection] = {}
        self.counts: dict[str, int] = {}

    def write(self, topic: str, msgtype: str, data: bytes | memoryview, timestamp_ns: int) -> None:
        """Record one serialized message."""
        conn = self._connections.get(topic)
        if conn is None:
            if msgtype not in TYPESTORE.fielddefs:
                raise BagError(f"no message definition for {msgtype} (topic {topic})")
            conn = self._writer.add_connection(topic, msgtype, typestore=TYPESTORE)
            self._connections[topic] = conn
        self._writer.write(conn, int(timestamp_ns), bytes(data))
        self.counts[topic] = self.counts.get(topic, 0) + 1

    def write_message(self, topic: str, msg: Any, timestamp_ns: int) -> None:
        """Serialize and record one rosbags message (its type comes from the message)."""
        self.write(topic, msg.__msgtype__, TYPESTORE.serialize_cdr(msg, msg.__msgtype__), timestamp_ns)

    def close(self) -> None:
        """Finish the bag (writes metadata.yaml)."""
        self._writer.close()

    def __enter__(self) -> BagRecorder:
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
