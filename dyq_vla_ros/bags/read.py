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
        messages = _messages(path, reader, conns)
        for conn, timestamp, raw in messages:
            try:
                msg = reader.deserialize(raw, conn.msgtype)
            except Exception as exc:  # a damaged message: rosbags raises its reader or serde errors
                raise undecodable(path, conn.topic, timestamp, exc) from exc
            yield conn.topic, timestamp, msg


def read_raw(path: str | Path) -> Iterator[tuple[str, str, int, bytes]]:
    """(topic, msgtype, timestamp_ns, CDR bytes) of every message, in time order."""
    with _open(path) as reader:
        for conn, timestamp, raw in _messages(path, reader, None):
            yield conn.topic, conn.msgtype, timestamp, bytes(raw)


def undecodable(path: str | Path, topic: str, timestamp_ns: int, exc: Exception) -> BagError:
    """The error for a recorded message that cannot be deserialized."""
    return BagError(f"bag {path} is damaged: its {topic} message at {timestamp_ns} ns cannot be decoded ({exc})")


def _messages(path: str | Path, reader: AnyReader, connections: list | None) -> Iterator[tuple[Any, int, bytes]]:
    """The reader's messages; a storage error while reading (a damaged chunk) is a BagError naming the bag."""
    it = reader.messages(connections=connections) if connections is not None else reader.messages()
    while True:
        try:
            item = next(it)
        except StopIteration:
            return
        except Exception as exc:  # rosbags raises several reader errors for damaged storage
            raise BagError(f"bag {path} is damaged: reading its messages failed ({exc})") from exc
        yield item


@contextmanager
def _open(path: str | Path) -> Iterator[AnyReader]:
    p = Path(path)
    if not p.exists():
        raise BagError(f"bag {p} does not exist")
    if p.is_dir() and not (p / "metadata.yaml").exists():
        raise BagError(
            f"bag {p} has no metadata.yaml (a recording that did not finish? `ros2 bag reindex {p}` writes one)"
        )
    try:
        reader = AnyReader([p], default_typestore=TYPESTORE)
        reader.open()
    except Exception as exc:  # rosbags raises several reader errors for broken bags
        raise BagError(f"cannot open bag {p}: {exc}") from exc
    try:
        yield reader
    finally:
        reader.close()
