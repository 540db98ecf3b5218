"""Bag round trip through the rosbags library: what rclpy serializes comes back equal."""

import pytest
from rclpy.serialization import serialize_message
from std_msgs.msg import Float32MultiArray, String, UInt8

from dyq_vla_ros.bags import BagError, BagRecorder, bag_topics, read_messages, type_name


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
