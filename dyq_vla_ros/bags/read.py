"""Reading bags (MCAP or sqlite3) with the rosbags library."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rosbags.highlevel import AnyReader

from dyq_vla_ros.bags.errors import BagError
from dyq_vla_ros.bags.record import TYPESTORE


def bag_topics(path: str | Path) -> dict[str, str]:
    """Topic -> message type of every connection in a bag."""
    with _open(path) as reader:
        return {c.topic: c.msgtype for c in reader.connections}


def read_messages(path: str | Path, topics: Sequence[str] | None = None) -> Iterator[tuple[str, int, Any]]:
    """(topic, timestamp_ns, deserialized message) in time order, optionally only some topics."""
    with _open(path) as reader:
        available = {c.topic for c in reader.connections}
        missing = sorted(set(topics or ()) - available)
        if missing:
            raise BagError(f"bag {path} has no topic {', '.join(missing)}; it has: {', '.join(sorted(available))}")
        conns = [c for c in reader.connections if topics is None or c.topic in topics]
        for conn, timestamp, raw in reader.messages(connections=conns):
            yield conn.topic, timestamp, reader.deserialize(raw, conn.msgtype)


def read_raw(path: str | Path) -> Iterator[tuple[str, str, int, bytes]]:
    """(topic, msgtype, timestamp_ns, CDR bytes) of every message, in time order."""
    with _open(path) as reader:
        for conn, timestamp, raw in reader.messages():
            yield conn.topic, conn.msgtype, timestamp, bytes(raw)


@contextmanager
def _open(path: str | Path) -> Iterator[AnyReader]:
    p = Path(path)
    if not p.exists():
        raise BagError(f"bag {p} does not exist")
    reader = AnyReader([p], default_typestore=TYPESTORE)
    try:
        reader.open()
    except Exception as exc:  # rosbags raises several reader errors for broken bags
        raise BagError(f"cannot open bag {p}: {exc}") from exc
    try:
        yield reader
    finally:
        reader.close()
