"""`dyq-vla gen-data`: expert demonstrations in safetensors shards with a manifest; resumable."""

import json

import numpy as np
import pytest

from dyq_vla_ros.training import DataConfig, DatasetError, generate_dataset, load_dataset
from dyq_vla_ros.training.data import MANIFEST


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("data")
    generate_dataset(directory, DataConfig(episodes=3, shard_episodes=2, image_size=32), progress=False)
    return directory


def test_frames_pair_observations_with_clean_expert_labels(dataset_dir):
    data = load_dataset(dataset_dir)
    manifest = json.loads((dataset_dir / MANIFEST).read_text())
    assert [s["file"] for s in manifest["shards"]] == ["shard_00000.safetensors", "shard_00001.safetensors"]
    assert len(data) == sum(e["length"] for e in manifest["episodes"])
    assert data.image.shape[1:] == (32, 32, 3) and data.image.dtype == np.uint8
    assert data.state.shape[1] == 7 and data.action.shape[1] == 7
    assert all(e["success"] for e in manifest["episodes"])  # the expert corrects the injected noise
    assert set(data.instructions) == {0, 1, 2}  # training seeds only
    # labels are the expert's own steps: translation within the simulator's per-step limit
    assert np.abs(data.action[:, :3]).max() <= 0.02 + 1e-6


def test_stored_images_are_the_rendered_frames(dataset_dir):
    from dyq_vla_ros.sim import PegInHoleEnv
    from dyq_vla_ros.training.data import resize_image

    data = load_dataset(dataset_dir)
    first = resize_image(PegInHoleEnv().reset(0).image, 32)  # frame 0 of seed 0, before any action
    np.testing.assert_array_equal(data.image[0], first)
    assert data.image.flags["C_CONTIGUOUS"]


def test_action_chunks_stay_within_their_episode(dataset_dir):
    data = load_dataset(dataset_dir)
    chunks = data.action_chunks(10)
    last = next(iter(data.episodes()))[-1]  # the final frame of the first episode
    np.testing.assert_array_equal(chunks[last, 0], data.action[last])
    np.testing.assert_array_equal(chunks[last, 1:, :6], 0.0)  # held, not the next episode's actions
    assert np.all(chunks[last, 1:, 6] == data.action[last, 6])
    np.testing.assert_array_equal(chunks[0, :5], data.action[:5])


def test_goals_are_the_experts_tool_targets_and_hold_after_the_episode(dataset_dir):
    from dyq_vla_ros.sim import PegInHoleEnv

    data = load_dataset(dataset_dir)
    assert data.goal.shape == (len(data), 7)
    env = PegInHoleEnv()
    env.reset(0)
    peg = env.target_peg.pos
    np.testing.assert_allclose(data.goal[0, :2], peg[:2], atol=1e-6)  # first move: over the named peg
    assert data.goal[0, 6] == -1.0 and np.all(data.goal[:, 3:5] == 0.0)  # open; only yaw about the vertical
    chunks = data.goal_chunks(10)
    last = next(iter(data.episodes()))[-1]
    np.testing.assert_array_equal(chunks[last], np.repeat(data.goal[last][None], 10, 0))
    np.testing.assert_array_equal(chunks[0], data.goal[:10])


def test_generation_resumes_and_refuses_other_settings(dataset_dir):
    before = {p.name: p.stat().st_mtime_ns for p in dataset_dir.glob("shard_*")}
    generate_dataset(dataset_dir, DataConfig(episodes=3, shard_episodes=2, image_size=32), progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in dataset_dir.glob("shard_*")} == before
    with pytest.raises(DatasetError, match="other settings"):
        generate_dataset(dataset_dir, DataConfig(episodes=3, shard_episodes=2, image_size=48), progress=False)


def test_missing_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="gen-data"):
        load_dataset(tmp_path)
    with pytest.raises(ValueError, match="training seeds"):
        DataConfig(episodes=10, start_seed=999_995)


def test_targets_locate_the_instructions_peg_and_hole(dataset_dir):
    from dyq_vla_ros.sim import PegInHoleEnv
    from dyq_vla_ros.training.data import task_targets

    data = load_dataset(dataset_dir)
    env = PegInHoleEnv()
    env.reset(0)
    np.testing.assert_allclose(data.target[0], task_targets(env))
    first = next(iter(data.episodes()))
    peg, hole = data.target[first, :2], data.target[first, 2:]
    assert np.ptp(hole, axis=0).max() == 0.0  # the hole block never moves
    assert np.linalg.norm(peg[-1] - hole[-1]) < 0.004  # the peg ends in its hole
    assert np.ptp(peg, axis=0).max() > 0.1  # and was carried there


def test_dagger_rollouts_execute_the_policy_and_keep_expert_labels(tmp_path, dataset_dir):
    from dyq_vla_ros.policy import create_random_checkpoint
    from dyq_vla_ros.sim import PegInHoleEnv, ScriptedExpert
    from dyq_vla_ros.training.data import load_datasets

    policy = create_random_checkpoint(tmp_path / "policy", calibration_chunks=0)
    out = tmp_path / "dagger"
    config = DataConfig(episodes=1, start_seed=3, image_size=32, policy=str(policy), expert_share=0.0)
    generate_dataset(out, config, progress=False)
    data = load_dataset(out)
    assert "DAgger rollouts of" in data.manifest["generator"]
    assert not data.manifest["episodes"][0]["success"]  # a random policy drove, not the expert
    # a frame's label is what the expert does in that frame's state (one with the gripper open)
    k = int(np.flatnonzero(np.isclose(data.state[:, 6], 0.045))[-1])
    assert k > 0
    env = PegInHoleEnv()
    env.reset(3)
    env.q = data.state[k, :6].astype(float)
    np.testing.assert_allclose(data.action[k], ScriptedExpert(env).act(), atol=1e-6)
    expert = load_dataset(dataset_dir)
    both = load_datasets([dataset_dir, out])
    assert len(both) == len(expert) + len(data) and set(both.instructions) == {0, 1, 2, 3}
    np.testing.assert_array_equal(both.image[len(expert) :], data.image)
    np.testing.assert_array_equal(both.target[: len(expert)], expert.target)
    with pytest.raises(DatasetError, match="share episode seeds"):
        load_datasets([dataset_dir, dataset_dir])
