"""Bag round trip through the rosbags library: what rclpy serializes comes back equal."""

import pytest
from rclpy.serialization import serialize_message
from std_msgs.msg import Float32MultiArray, String, UInt8

from dyq_vla_ros.bags import BagError, BagRecorder, bag_topics, read_messages, read_raw, type_name


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_round_trip(tmp_path, storage):
    path = tmp_path / "bag"
    with BagRecorder(path, storage=storage) as bag:
        bag.write("/bits", type_name(UInt8), serialize_message(UInt8(data=8)), 1_000)
        bag.write("/a", type_name(Float32MultiArray), serialize_message(Float32MultiArray(data=[1.0, 2.5])), 2_000)
        bag.write("/bits", type_name(UInt8), serialize_message(UInt8(data=16)), 3_000)
    assert bag.counts == {"/bits": 2, "/a": 1}
    assert bag_topics(path) == {"/bits": "std_msgs/msg/UInt8", "/a": "std_msgs/msg/Float32MultiArray"}
    msgs = list(read_messages(path))
    assert [(t, ts) for t, ts, _ in msgs] == [("/bits", 1_000), ("/a", 2_000), ("/bits", 3_000)]
    assert msgs[0][2].data == 8 and list(msgs[1][2].data) == [1.0, 2.5]
    assert [m.data for _, _, m in read_messages(path, ["/bits"])] == [8, 16]


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(BagError, match="does not exist"):
        list(read_messages(tmp_path / "nothing"))
    path = tmp_path / "bag"
    with BagRecorder(path) as bag:
        bag.write("/s", type_name(String), serialize_message(String(data="x")), 1)
    with pytest.raises(BagError, match="already exists"):
        BagRecorder(path)
    with pytest.raises(BagError, match="has no topic /missing; it has: /s"):
        list(read_messages(path, ["/missing"]))


def _fixture_messages() -> list[tuple[str, int, bytes]]:
    from bag_factories import FIXTURE

    from dyq_vla_ros.bags import read_raw

    return [(topic, t, raw) for topic, _, t, raw in read_raw(FIXTURE)]


@pytest.mark.parametrize(
    ("storage", "compression", "version"),
    [
        ("sqlite3", "", 9),
        ("mcap", "", 8),  # Iron's layout: QoS profiles as one YAML string
        ("mcap", "file", 9),
        ("mcap", "message", 9),
        ("sqlite3", "file", 9),
        ("sqlite3", "message", 9),
    ],
)
def test_bags_in_every_storage_and_zstd_compression_read_back_unchanged(tmp_path, storage, compression, version):
    import yaml
    from bag_factories import rewrite

    bag = rewrite(tmp_path / "bag", storage=storage, compression=compression, version=version)
    info = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert info["version"] == version and info["compression_mode"] == compression
    suffix = {"mcap": ".mcap", "sqlite3": ".db3"}[storage] + (".zstd" if compression == "file" else "")
    assert (bag / f"bag{suffix}").is_file()  # what rosbags wrote is the storage and compression asked for
    assert [(topic, t, bytes(raw)) for topic, _, t, raw in read_raw(bag)] == _fixture_messages()


@pytest.mark.parametrize("distro", ["jazzy", "humble"])
def test_a_bag_as_ros2_bag_record_writes_it_reads(tmp_path, distro):
    import yaml
    from bag_factories import ros2_bag_record_copy

    bag = ros2_bag_record_copy(tmp_path / "rosbag2_2025_06_01-12_00_00", distro)
    info = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    topics = {t["topic_metadata"]["name"]: t["topic_metadata"] for t in info["topics_with_message_count"]}
    if distro == "jazzy":
        assert info["version"] == 9 and info["ros_distro"] == "jazzy"
        assert topics["/joint_states"]["offered_qos_profiles"][0]["reliability"] == "best_effort"
        assert topics["/joint_states"]["type_description_hash"].startswith("RIHS01_")
    else:
        assert info["version"] == 5 and isinstance(topics["/joint_states"]["offered_qos_profiles"], str)
    assert info["relative_file_paths"] == [f"{bag.name}_0.{'mcap' if distro == 'jazzy' else 'db3'}"]
    assert [(topic, t, bytes(raw)) for topic, _, t, raw in read_raw(bag)] == _fixture_messages()
    assert bag_topics(bag)["/joint_states"] == "sensor_msgs/msg/JointState"


def _damaged_copy(tmp_path, name: str) -> tuple:
    import shutil

    from bag_factories import FIXTURE

    bag = tmp_path / name
    shutil.copytree(FIXTURE, bag)
    return bag, bag / f"{FIXTURE.name}.mcap", bag / "metadata.yaml"


def test_damaged_bags_are_bag_errors_naming_the_bag(tmp_path):
    truncated, mcap, _ = _damaged_copy(tmp_path, "truncated")
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 2])  # a recording cut off mid-file
    garbage, _, meta = _damaged_copy(tmp_path, "garbage")
    meta.write_text("rosbag2_bagfile_information: [this is: not, a bag\n")
    not_a_mapping, _, meta = _damaged_copy(tmp_path, "not_a_mapping")
    meta.write_text("just words\n")
    unfinished, _, meta = _damaged_copy(tmp_path, "unfinished")
    meta.unlink()  # rosbag2 writes metadata.yaml last: a crashed recording has none
    cases = {
        truncated: "cannot open bag .*truncated",
        garbage: "cannot open bag .*garbage.*YAML",
        not_a_mapping: "cannot open bag .*not_a_mapping",
        unfinished: r"bag .*unfinished has no metadata.yaml .*ros2 bag reindex",
    }
    for bag, message in cases.items():
        for read in (bag_topics, lambda b: list(read_messages(b)), lambda b: list(read_raw(b))):
            with pytest.raises(BagError, match=message):
                read(bag)


def test_a_damaged_message_is_a_bag_error_naming_the_bag_topic_and_time(tmp_path):
    topic, t, raw = next(m for m in _fixture_messages() if m[0] == "/joint_states")
    bag = tmp_path / "cut"
    with BagRecorder(bag) as out:
        out.write("/dyq_vla/instruction", type_name(String), serialize_message(String(data="x")), t - 1)
        out.write(topic, "sensor_msgs/msg/JointState", raw[: len(raw) // 2], t)  # cut off mid-message
    assert [m.data for _, _, m in read_messages(bag, ["/dyq_vla/instruction"])] == ["x"]
    with pytest.raises(BagError, match=rf"bag .*cut is damaged: its {topic} message at {t} ns cannot be decoded"):
        list(read_messages(bag))


def test_unknown_storage_is_named(tmp_path):
    with pytest.raises(BagError, match="unknown storage 'rosbag1'; expected one of mcap, sqlite3"):
        BagRecorder(tmp_path / "bag", storage="rosbag1")
    assert not (tmp_path / "bag").exists()
    bag, _, meta = _damaged_copy(tmp_path, "other_storage")
    meta.write_text(meta.read_text().replace("storage_identifier: mcap", "storage_identifier: hdf5"))
    with pytest.raises(BagError, match=r"cannot open bag .*other_storage: .*'hdf5' not supported"):
        bag_topics(bag)
