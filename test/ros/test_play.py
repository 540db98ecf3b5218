"""`dyq-vla play` drives a live dyq_vla_node; its switching matches the offline replay of the same bag."""

import difflib
import itertools
import math
import time
from pathlib import Path

import numpy as np
import pytest

from dyq_vla_ros import contract
from dyq_vla_ros.bags import read_messages
from dyq_vla_ros.bags.replay import BagReplayer
from dyq_vla_ros.params import NodeParams
from dyq_vla_ros.policy import Observation, Pi0Policy, Pi0PolicyConfig
from dyq_vla_ros.ros.harness.processes import start_module
from dyq_vla_ros.sensors import image_to_rgb
from dyq_vla_ros.types import PrecisionMode

FIXTURE = Path(__file__).resolve().parent.parent / "data" / "sim_expert_seed1000000"
# the fixture steps at 10 Hz; the default table over all four widths, so that switching visits several
PARAMS = {"proxy_source": "joint_state", "control_rate_hz": 10.0, "calibrated_thresholds": False}
WIDE = [-100.0] * 7  # bounds wide enough that the model's actions are compared unclipped


def _first_frames(n: int):
    """(rgb, joint positions, instruction, wrist rgb) of the fixture's first n control steps."""
    images = [image_to_rgb(m) for _, _, m in itertools.islice(read_messages(FIXTURE, [contract.TOPIC_IMAGE]), n)]
    wrists = [image_to_rgb(m) for _, _, m in itertools.islice(read_messages(FIXTURE, [contract.TOPIC_WRIST_IMAGE]), n)]
    joints = [
        np.asarray(m.position) for _, _, m in itertools.islice(read_messages(FIXTURE, [contract.TOPIC_JOINT_STATES]), n)
    ]
    instruction = next(m.data for _, _, m in read_messages(FIXTURE, [contract.TOPIC_INSTRUCTION]))
    return list(zip(images, joints, itertools.repeat(instruction), wrists, strict=False))


def _runs(bits):
    """The sequence of switching decisions: consecutive equal widths merged."""
    return [b for b, _ in itertools.groupby(bits)]


def test_play_drives_the_live_node_like_the_offline_replay(tmp_path, spin, recorder, start_node, node_api):
    start_node(**PARAMS, action_min=f"{WIDE}", action_max=f"{[-v for v in WIDE]}")
    spin.until(lambda: node_api.statuses(), node_api.startup_s, "the node to come up")
    _wait(start_module("dyq_vla_ros.cli", ["play", str(FIXTURE), "--wait", "60"]), spin)
    actions = recorder.values(contract.TOPIC_ACTION)
    action_times = [t for t, _ in recorder.msgs[contract.TOPIC_ACTION]]
    # The bit widths of the ticks that commanded (not those before the instruction or after the bag ended).
    live_bits = [
        m.data for t, m in recorder.msgs[contract.TOPIC_BIT_WIDTH] if action_times[0] - 0.05 <= t <= action_times[-1]
    ]
    assert len(actions) >= 60  # the 7.3 s episode at 10 Hz, less start-up
    assert all(all(math.isfinite(v) for v in a.data) for a in actions)

    offline = BagReplayer(PARAMS).run(FIXTURE, tmp_path / "offline")
    # Live ticks fall at arbitrary phases against the recorded joint states, so a tick may see a
    # sample twice or skip one and the hysteresis can add a brief transient; the switching must
    # still visit the same widths and agree tick for tick almost everywhere.
    assert set(live_bits) == set(offline.bits) and len(set(offline.bits)) >= 3, (live_bits, offline.bits)
    agreement = difflib.SequenceMatcher(None, live_bits, offline.bits, autojunk=False).ratio()
    assert agreement >= 0.8, (agreement, _runs(live_bits), _runs(offline.bits))

    # The live node's first action is what the same policy predicts from one of the first frames
    # (which one depends on when the node's first tick fell), i.e. the same code path and numerics.
    policy = Pi0Policy(
        config=Pi0PolicyConfig.from_params(NodeParams.from_mapping(PARAMS))
    )  # the node's layers kept in float too
    policy.set_precision(PrecisionMode.DYQ, 16)
    first = np.asarray(actions[0].data)
    candidates = []
    for rgb, q, instruction, wrist in _first_frames(3):
        policy.reset()
        candidates.extend(
            policy.predict_action_chunk(Observation.scene_and_wrist(rgb, q.astype(np.float32), instruction, wrist))[:3]
        )
    assert min(np.abs(c - first).max() for c in candidates) < 1e-4


def _play(*args: str) -> None:
    player = start_module("dyq_vla_ros.cli", ["play", *args, "--wait", "60"])
    return player


def _wait(player, spin) -> None:
    try:
        deadline = time.monotonic() + 120
        while player.poll() is None and time.monotonic() < deadline:
            spin.for_(0.1)
        assert player.returncode == 0
        spin.for_(1.5)
    finally:
        if player.poll() is None:
            player.kill()


def test_play_with_clock_drives_a_sim_time_node_on_the_bags_time(spin, recorder, start_node, node_api):
    start_node(**PARAMS, use_sim_time="true", action_min=f"{WIDE}", action_max=f"{[-v for v in WIDE]}")
    # no status before /clock runs (the diagnostics timer is on sim time too); the player waits for the node
    _wait(_play(str(FIXTURE), "--clock", "--rate", "2.0"), spin)
    stamps = np.array(
        [t.header.stamp.sec + t.header.stamp.nanosec * 1e-9 for t in recorder.values(contract.TOPIC_TWIST)]
    )
    # however late the node's first inference falls in the bag (machine speed), it then ticks on bag time
    assert len(stamps) >= 10
    assert np.all((stamps >= 1.0) & (stamps <= 8.4))  # the bag's timeline (it starts at 1 s), not the wall clock
    assert float(np.median(np.diff(stamps))) == pytest.approx(0.1, abs=0.02)  # one tick per 0.1 s of bag time
    assert (stamps[-1] - stamps[0]) / (len(stamps) - 1) == pytest.approx(0.1, abs=0.02)


def test_play_publishes_a_recorded_camera_under_the_checkpoints_topic(tmp_path, spin, recorder, start_node, node_api):
    from dyq_vla_ros.bags import BagRecorder
    from dyq_vla_ros.bags.read import read_raw

    bag = tmp_path / "renamed"
    with BagRecorder(bag) as out:
        for topic, msgtype, t, raw in read_raw(FIXTURE):
            out.write("/gripper_cam/color" if topic == contract.TOPIC_WRIST_IMAGE else topic, msgtype, raw, t)
    start_node(**PARAMS)
    spin.until(lambda: node_api.statuses(), node_api.startup_s, "the node to come up")
    _wait(_play(str(bag), "--camera", "wrist=/gripper_cam/color"), spin)
    assert len(recorder.values(contract.TOPIC_ACTION)) >= 40  # the wrist camera arrived on its topic
