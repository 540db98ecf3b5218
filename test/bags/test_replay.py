"""Offline replay through the node's code path, other robots' inputs, and plotting."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from dyq_vla_ros import contract
from dyq_vla_ros.bags import TYPESTORE, BagError, BagRecorder, read_messages
from dyq_vla_ros.bags.plot import plot_bag
from dyq_vla_ros.bags.read import bag_topics, read_raw
from dyq_vla_ros.bags.replay import BagReplayer
from dyq_vla_ros.bags.sim_bag import TOPIC_EXPERT_PHASE

FIXTURE = Path(__file__).resolve().parent.parent / "data" / "sim_expert_seed1000000"
FINE, COARSE = {"align", "insert"}, {"approach", "transport"}


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    out = tmp_path_factory.mktemp("replay") / "out"
    # the default table over all four widths (not the shipped calibration's 8/16), so the phases map to known widths
    summary = BagReplayer({"proxy_source": "joint_state", "calibrated_thresholds": False}).run(FIXTURE, out)
    return summary, out


def test_one_action_per_control_tick(replayed):
    summary, out = replayed
    images = [t for t, _, _ in read_messages(FIXTURE, [contract.TOPIC_IMAGE])]
    assert summary.ticks == len(images)  # the fixture steps once per 10 Hz period, as the node ticks
    assert summary.actions == summary.ticks - 1  # the first tick waits for the first chunk
    actions = [m for _, _, m in read_messages(out, [contract.TOPIC_ACTION])]
    assert len(actions) == summary.actions and all(len(a.data) == 7 for a in actions)
    bits = [m.data for _, _, m in read_messages(out, [contract.TOPIC_BIT_WIDTH])]
    assert bits == summary.bits


def test_bit_width_switches_up_in_the_fine_phase(replayed):
    summary, _ = replayed
    phases = [m.data for _, _, m in read_messages(FIXTURE, [TOPIC_EXPERT_PHASE])]
    pairs = list(zip(phases, summary.bits, strict=False))[10:]  # past the 16-bit episode start
    fine = [b for p, b in pairs if p in FINE]
    coarse = [b for p, b in pairs if p in COARSE]
    assert fine and coarse
    assert np.mean(fine) > np.mean(coarse) + 1.0
    assert len(set(summary.bits)) >= 3  # it does switch


def test_output_keeps_the_inputs_and_adds_outputs(replayed):
    _, out = replayed
    topics = bag_topics(out)
    for topic in (contract.TOPIC_IMAGE, contract.TOPIC_JOINT_STATES, contract.TOPIC_INSTRUCTION):
        assert topic in topics
    for topic in (
        contract.TOPIC_ACTION,
        contract.TOPIC_BIT_WIDTH,
        contract.TOPIC_SENSITIVITY,
        contract.TOPIC_DIAGNOSTICS,
    ):
        assert topic in topics
    diag = next(m for _, _, m in read_messages(out, [contract.TOPIC_DIAGNOSTICS]))
    assert {kv.key for kv in diag.status[0].values} == set(contract.DIAGNOSTIC_KEYS)


def test_missing_topic_error_lists_the_bags_topics(tmp_path):
    with pytest.raises(
        BagError, match=r"has no topic /front/image for camera 'scene'.*--camera scene=TOPIC.*/camera/image_raw"
    ):
        BagReplayer({}, image_topic="/front/image").run(FIXTURE, tmp_path / "out")


def _converted(tmp_path: Path, encoding: str) -> Path:
    """The fixture with its images re-encoded and extra finger joints added (another robot's bag)."""
    out = tmp_path / f"bag_{encoding}"
    compressed_type = "sensor_msgs/msg/CompressedImage"
    with BagRecorder(out) as bag:
        for topic, msgtype, t, raw in read_raw(FIXTURE):
            msg = TYPESTORE.deserialize_cdr(raw, msgtype)
            if topic == contract.TOPIC_IMAGE:
                rgb = msg.data.reshape(msg.height, msg.width, 3)
                if encoding in ("jpeg", "png"):  # image_transport's compressed twin instead of the raw topic
                    data = cv2.imencode(f".{encoding}", rgb[:, :, ::-1])[1].reshape(-1)
                    image = TYPESTORE.types[compressed_type](header=msg.header, format=encoding, data=data)
                    blob = TYPESTORE.serialize_cdr(image, compressed_type)
                    bag.write(contract.TOPIC_IMAGE_COMPRESSED, compressed_type, blob, t)
                    continue
                pixels = {"bgr8": rgb[:, :, ::-1], "mono8": rgb.mean(axis=2).astype(np.uint8)}[encoding]
                channels = 1 if pixels.ndim == 2 else 3
                msg.encoding, msg.step = encoding, msg.width * channels
                msg.data = np.ascontiguousarray(pixels).reshape(-1)
            elif topic == contract.TOPIC_JOINT_STATES:
                msg.name = ["finger_left", *msg.name, "finger_right"]
                msg.position = np.concatenate([[0.01], msg.position, [0.01]])
            bag.write(topic, msgtype, TYPESTORE.serialize_cdr(msg, msgtype), t)
    return out


@pytest.fixture(scope="module")
def default_replay(tmp_path_factory) -> Path:
    """The fixture replayed with the node's default parameters."""
    out = tmp_path_factory.mktemp("default") / "out"
    BagReplayer({}).run(FIXTURE, out)
    return out


@pytest.mark.parametrize("encoding", ["bgr8", "mono8", "jpeg", "png"])
def test_other_encodings_and_extra_finger_joints_replay(tmp_path, encoding, default_replay):
    summary = BagReplayer({}).run(_converted(tmp_path, encoding), tmp_path / "out")
    assert summary.actions > 50 and summary.rejected_images == 0 and summary.rejected_joint_states == 0
    if encoding in ("bgr8", "png"):  # lossless: the policy sees the very pixels, and the finger joints are left out
        assert _actions(tmp_path / "out") == _actions(default_replay)
    else:  # jpeg and grey lose detail, yet the policy still commands
        assert _actions(tmp_path / "out") != _actions(default_replay)


@pytest.mark.parametrize(("storage", "compression"), [("sqlite3", ""), ("mcap", "file"), ("sqlite3", "message")])
def test_sqlite3_and_zstd_compressed_bags_replay_as_the_mcap_one(tmp_path, storage, compression, default_replay):
    from bag_factories import rewrite

    bag = rewrite(tmp_path / "bag", storage=storage, compression=compression)
    summary = BagReplayer({}).run(bag, tmp_path / "out")
    assert summary.actions > 50 and _actions(tmp_path / "out") == _actions(default_replay)


def _with_damaged_message(tmp_path: Path, topic: str) -> tuple[Path, int]:
    """The fixture with the 20th message on topic cut in half; the bag and that message's time."""
    out = tmp_path / "damaged"
    seen, damaged_at = 0, -1
    with BagRecorder(out) as bag:
        for name, msgtype, t, raw in read_raw(FIXTURE):
            if name == topic:
                seen += 1
                if seen == 20:
                    raw, damaged_at = raw[: len(raw) // 2], t
            bag.write(name, msgtype, raw, t)
    return out, damaged_at


@pytest.mark.parametrize("topic", [contract.TOPIC_JOINT_STATES, contract.TOPIC_IMAGE])
def test_a_damaged_message_stops_the_replay_naming_the_bag_topic_and_time(tmp_path, topic):
    bag, t = _with_damaged_message(tmp_path, topic)
    with pytest.raises(BagError, match=rf"bag .*damaged is damaged: its {topic} message at {t} ns cannot be decoded"):
        BagReplayer({}).run(bag, tmp_path / "out")


def test_plot_writes_a_readable_png(replayed, tmp_path):
    _, out = replayed
    png = plot_bag(out, tmp_path / "plot.png", theta_fp=0.5)
    image = cv2.imread(str(png))
    assert image is not None and image.shape[0] > 400 and image.shape[1] > 600
    with pytest.raises(BagError, match="replay it first"):
        plot_bag(FIXTURE, tmp_path / "x.png")


def test_a_checkpoint_of_another_shape_replays(tmp_path):
    from dyq_vla_ros.policy.configuration_pi0 import TinyPi0Architecture
    from dyq_vla_ros.policy.embedded import DEFAULT_JOINT_NAMES, create_random_checkpoint

    arch = TinyPi0Architecture(image_size=48, patch_size=12, num_layers=3, vision_layers=1, chunk_size=6)
    model = create_random_checkpoint(
        tmp_path / "other", architecture=arch, state_dim=6, action_dim=6, joint_names=tuple(DEFAULT_JOINT_NAMES[:6])
    )
    params = {"model_path": str(model), "action_min": [-0.05] * 3 + [-0.25] * 3, "action_max": [0.05] * 3 + [0.25] * 3}
    summary = BagReplayer(params).run(FIXTURE, tmp_path / "out")
    assert summary.actions > 50 and summary.rejected_joint_states == 0
    actions = [m.data for _, _, m in read_messages(tmp_path / "out", [contract.TOPIC_ACTION])]
    assert actions and all(len(a) == 6 and np.all(np.isfinite(a)) for a in actions)


def test_a_wrist_camera_checkpoint_replays_bags_with_the_wrist_topic_only(tmp_path):
    from dyq_vla_ros.bags.sim_bag import record_sim_bag
    from dyq_vla_ros.policy.configuration_pi0 import TinyPi0Architecture
    from dyq_vla_ros.policy.embedded import create_random_checkpoint

    arch = TinyPi0Architecture(image_size=32, patch_size=8, num_layers=1, vision_layers=1)
    model = create_random_checkpoint(tmp_path / "wrist", architecture=arch, cameras=("scene", "wrist"))
    bag = record_sim_bag(tmp_path / "bag", [1000000], image_size=32)
    assert contract.TOPIC_WRIST_IMAGE in bag_topics(bag)
    summary = BagReplayer({"model_path": str(model)}).run(bag, tmp_path / "out")
    assert summary.actions > 50 and summary.inferences > 5 and summary.rejected_images == 0
    scene_only = record_sim_bag(tmp_path / "scene_only", [1000000], image_size=32, wrist=False)
    with pytest.raises(BagError, match="has no topic /camera/wrist/image_raw"):
        BagReplayer({"model_path": str(model)}).run(scene_only, tmp_path / "out2")


def _renamed(tmp_path: Path, renames: dict[str, str]) -> Path:
    """The fixture with some topics recorded under other names (another robot's cameras)."""
    out = tmp_path / "renamed"
    with BagRecorder(out) as bag:
        for topic, msgtype, t, raw in read_raw(FIXTURE):
            bag.write(renames.get(topic, topic), msgtype, raw, t)
    return out


def _actions(bag: Path) -> list[list[float]]:
    return [list(m.data) for _, _, m in read_messages(bag, [contract.TOPIC_ACTION])]


def test_camera_option_names_the_topic_of_a_camera(tmp_path, default_replay):
    bag = _renamed(tmp_path, {contract.TOPIC_WRIST_IMAGE: "/gripper_cam/color"})
    with pytest.raises(BagError, match=r"no topic /camera/wrist/image_raw for camera 'wrist'.*--camera wrist=TOPIC"):
        BagReplayer({}).run(bag, tmp_path / "refused")
    summary = BagReplayer({}, cameras={"wrist": "/gripper_cam/color"}).run(bag, tmp_path / "remapped")
    assert summary.cameras == {"scene": contract.TOPIC_IMAGE, "wrist": "/gripper_cam/color"}
    assert _actions(tmp_path / "remapped") == _actions(default_replay)  # the same frames, renamed


def test_the_cli_takes_camera_options(tmp_path):
    import json
    import subprocess
    import sys

    bag = _renamed(tmp_path, {contract.TOPIC_WRIST_IMAGE: "/gripper_cam/color"})
    command = [sys.executable, "-m", "dyq_vla_ros.cli", "replay", str(bag), str(tmp_path / "out")]
    result = subprocess.run([*command, "--camera", "wrist=/gripper_cam/color"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["cameras"]["wrist"] == "/gripper_cam/color"
    bad = subprocess.run([*command, "--camera", "wrist"], capture_output=True, text=True)
    assert bad.returncode == 2 and "must be NAME=/topic" in bad.stderr


def test_a_three_camera_checkpoint_replays_with_a_camera_mapped(tmp_path):
    from dyq_vla_ros.policy.configuration_pi0 import TinyPi0Architecture
    from dyq_vla_ros.policy.embedded import create_random_checkpoint

    arch = TinyPi0Architecture(image_size=32, patch_size=8, num_layers=1, vision_layers=1)
    model = create_random_checkpoint(tmp_path / "three", architecture=arch, cameras=("scene", "wrist", "side"))
    summary = BagReplayer({"model_path": str(model), "camera_topics": ["side=/camera/image_raw"]}).run(
        FIXTURE, tmp_path / "out"
    )
    assert summary.cameras["side"] == contract.TOPIC_IMAGE and summary.actions > 50


def test_a_joint_position_checkpoint_replays_into_joint_commands(tmp_path):
    from factories import make_transformers_checkpoint

    model, _ = make_transformers_checkpoint(tmp_path / "tf", state_dim=7, action_dim=5)
    summary = BagReplayer({"model_path": str(model)}).run(FIXTURE, tmp_path / "out")
    topics = bag_topics(tmp_path / "out")
    assert contract.TOPIC_JOINT_TRAJECTORY in topics and contract.TOPIC_ACTION not in topics
    commands = [m.data for _, _, m in read_messages(tmp_path / "out", [contract.TOPIC_JOINT_COMMAND])]
    assert len(commands) == summary.actions > 50 and all(len(c) == 5 for c in commands)
    trajectory = next(m for _, _, m in read_messages(tmp_path / "out", [contract.TOPIC_JOINT_TRAJECTORY]))
    assert list(trajectory.joint_names) == [n for n in bag_joint_names()[:5]]
    np.testing.assert_allclose(trajectory.points[0].positions, commands[0])


def bag_joint_names() -> list[str]:
    """The joint names in the fixture's joint states."""
    return list(next(m for _, _, m in read_messages(FIXTURE, [contract.TOPIC_JOINT_STATES])).name)
