"""Bags as other tools write them: rosbags' own writer in every storage and compression, and `ros2 bag record`.

`ros2 bag record` is not installed here; `ros2_bag_record_copy` writes what it writes: a directory
`NAME/` holding `NAME_0.mcap` (Jazzy) or `NAME_0.db3` (Humble, whose default storage is sqlite3) and a
metadata.yaml in that distro's layout: Jazzy's version 9 with `offered_qos_profiles` as a list of
policies by name and a `type_description_hash` per topic; Humble's version 5 with the QoS profiles as
one YAML string of numeric policies and no hash.
"""

from __future__ import annotations

from pathlib import Path

from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import CompressionFormat, CompressionMode, StoragePlugin, Writer

from dyq_vla_ros import contract
from dyq_vla_ros.bags import TYPESTORE
from dyq_vla_ros.bags.read import read_raw

FIXTURE = Path(__file__).resolve().parent / "data" / "sim_expert_seed1000000"
"""The simulator expert's bag (64 px scene and wrist cameras, joint states, instruction, expert phase)."""

INFINITE = QosTime(sec=9223372036, nsec=854775807)
SENSOR_QOS = Qos(
    QosHistory.UNKNOWN, 0, QosReliability.BEST_EFFORT, QosDurability.VOLATILE, INFINITE, INFINITE,
    QosLiveliness.AUTOMATIC, INFINITE, False,
)  # fmt: skip
RELIABLE_QOS = Qos(
    QosHistory.UNKNOWN, 0, QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL, INFINITE, INFINITE,
    QosLiveliness.AUTOMATIC, INFINITE, False,
)  # fmt: skip


def offered_qos(topic: str) -> Qos:
    """What the simulator's publishers offer: sensor-data QoS for cameras and joints, else reliable."""
    sensors = (contract.TOPIC_IMAGE, contract.TOPIC_WRIST_IMAGE, contract.TOPIC_JOINT_STATES)
    return SENSOR_QOS if topic in sensors else RELIABLE_QOS


def rewrite(
    out: Path,
    *,
    source: Path = FIXTURE,
    storage: str = "mcap",
    version: int = 9,
    compression: str = "",
) -> Path:
    """Write source's messages anew with rosbags' Writer (storage mcap or sqlite3; compression '', file, message)."""
    plugin = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}[storage]
    writer = Writer(out, version=version, storage_plugin=plugin)
    if compression:
        mode = {"file": CompressionMode.FILE, "message": CompressionMode.MESSAGE}[compression]
        writer.set_compression(mode, CompressionFormat.ZSTD)
    writer.open()
    connections = {}
    for topic, msgtype, t, raw in read_raw(source):
        if topic not in connections:
            qos = [offered_qos(topic)]
            connections[topic] = writer.add_connection(topic, msgtype, typestore=TYPESTORE, offered_qos_profiles=qos)
        writer.write(connections[topic], t, raw)
    writer.close()
    return out


def _qos_yaml_v9(qos: Qos, indent: str) -> str:
    lines = [
        f"- history: {qos.history.name.lower()}",
        f"  depth: {qos.depth}",
        f"  reliability: {qos.reliability.name.lower()}",
        f"  durability: {qos.durability.name.lower()}",
        "  deadline:",
        f"    sec: {qos.deadline.sec}",
        f"    nsec: {qos.deadline.nsec}",
        "  lifespan:",
        f"    sec: {qos.lifespan.sec}",
        f"    nsec: {qos.lifespan.nsec}",
        f"  liveliness: {qos.liveliness.name.lower()}",
        "  liveliness_lease_duration:",
        f"    sec: {qos.liveliness_lease_duration.sec}",
        f"    nsec: {qos.liveliness_lease_duration.nsec}",
        "  avoid_ros_namespace_conventions: false",
    ]
    return "\n".join(indent + line for line in lines)


def _qos_string_v5(qos: Qos) -> str:
    """Humble's offered_qos_profiles: a YAML document of numeric policies, stored as one quoted string."""
    text = (
        f"- history: {qos.history.value}\\n  depth: {qos.depth}\\n  reliability: {qos.reliability.value}\\n"
        f"  durability: {qos.durability.value}\\n  deadline:\\n    sec: {qos.deadline.sec}\\n"
        f"    nsec: {qos.deadline.nsec}\\n  lifespan:\\n    sec: {qos.lifespan.sec}\\n    nsec: {qos.lifespan.nsec}\\n"
        f"  liveliness: {qos.liveliness.value}\\n  liveliness_lease_duration:\\n"
        f"    sec: {qos.liveliness_lease_duration.sec}\\n    nsec: {qos.liveliness_lease_duration.nsec}\\n"
        "  avoid_ros_namespace_conventions: false"
    )
    return f'"{text}"'


def ros2_bag_record_copy(out: Path, distro: str = "jazzy", *, source: Path = FIXTURE) -> Path:
    """Write source as `ros2 bag record -o out` of that distro leaves it: NAME/NAME_0.mcap (or .db3), metadata."""
    storage = {"jazzy": "mcap", "humble": "sqlite3"}[distro]
    written = rewrite(out.with_name(out.name + "_rosbags"), source=source, storage=storage)
    out.mkdir()
    suffix = {"mcap": ".mcap", "sqlite3": ".db3"}[storage]
    data = out / f"{out.name}_0{suffix}"
    (written / f"{written.name}{suffix}").rename(data)
    counts: dict[str, list] = {}
    first, last = None, 0
    for topic, msgtype, t, _ in read_raw(source):
        counts.setdefault(topic, [msgtype, 0])[1] += 1
        first, last = t if first is None else first, t
    total = sum(n for _, n in counts.values())
    lines = ["rosbag2_bagfile_information:"]
    lines += [f"  version: {9 if distro == 'jazzy' else 5}", f"  storage_identifier: {storage}"]
    lines += ["  duration:", f"    nanoseconds: {last - first}", "  starting_time:"]
    lines += [f"    nanoseconds_since_epoch: {first}", f"  message_count: {total}", "  topics_with_message_count:"]
    for topic, (msgtype, n) in counts.items():
        lines += ["    - topic_metadata:", f"        name: {topic}", f"        type: {msgtype}"]
        lines.append("        serialization_format: cdr")
        if distro == "jazzy":
            lines.append("        offered_qos_profiles:")
            lines.append(_qos_yaml_v9(offered_qos(topic), "          "))
            lines.append(f"        type_description_hash: {TYPESTORE.hash_rihs01(msgtype)}")
        else:
            lines.append(f"        offered_qos_profiles: {_qos_string_v5(offered_qos(topic))}")
        lines.append(f"      message_count: {n}")
    lines += ['  compression_format: ""', '  compression_mode: ""', "  relative_file_paths:", f"    - {data.name}"]
    lines += ["  files:", f"    - path: {data.name}", "      starting_time:"]
    lines += [f"        nanoseconds_since_epoch: {first}", "      duration:", f"        nanoseconds: {last - first}"]
    lines.append(f"      message_count: {total}")
    if distro == "jazzy":
        lines += ["  custom_data: ~", "  ros_distro: jazzy"]
    (out / "metadata.yaml").write_text("\n".join(lines) + "\n")
    for leftover in written.iterdir():
        leftover.unlink()
    written.rmdir()
    return out
