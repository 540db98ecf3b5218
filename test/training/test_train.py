"""`dyq-vla train`: a short run lowers the flow-matching loss and writes a loadable checkpoint."""

from dataclasses import asdict

import numpy as np
import pytest

from dyq_vla_ros.policy import Observation, Pi0Policy
from dyq_vla_ros.policy.configuration_pi0 import TinyPi0Architecture
from dyq_vla_ros.training import DataConfig, TrainConfig, generate_dataset, train
from dyq_vla_ros.training.config import lr_at
from dyq_vla_ros.training.train import LOSS_PLOT

ARCH = TinyPi0Architecture(
    image_size=32, patch_size=8, hidden_size=32, intermediate_size=64, head_dim=16, max_state_dim=16
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    generate_dataset(data, DataConfig(episodes=2, image_size=32), progress=False)
    out = tmp_path_factory.mktemp("ckpt")
    config = TrainConfig(
        steps=200, batch_size=16, lr=3e-3, warmup_steps=10, checkpoint_every=100, architecture=asdict(ARCH)
    )
    return data, out, config, train(data, out, config, progress=False)


def test_loss_decreases(trained):
    *_, result = trained
    assert result.steps == 200
    assert np.mean(result.losses[-20:]) < 0.8 * np.mean(result.losses[:20])


def test_checkpoint_loads_and_predicts_in_robot_units(trained):
    _, out, _, _ = trained
    assert (out / LOSS_PLOT).stat().st_size > 1000
    policy = Pi0Policy(out)
    assert policy.processor.config.joint_names[0] == "shoulder_pan_joint"
    assert policy.processor.config.state_features == "joints+tool" and policy.state_dim == 7
    assert policy.calibration.joint_state.speed_p95 != 1.0  # priors measured on the demonstrations
    chunk = policy.predict_action_chunk(
        Observation.scene_and_wrist(
            np.zeros((128, 128, 3), np.uint8), np.zeros(7, np.float32), "put the red peg into the blue hole"
        )
    )
    assert chunk.shape == (10, 7) and np.all(np.isfinite(chunk))
    # tool targets by default, turned into contract deltas within the per-step limits
    assert policy.processor.config.action_space == "tool_target"
    assert np.all(np.linalg.norm(chunk[:, :3], axis=1) <= 0.02 + 1e-6) and np.all(np.abs(chunk[:, 3:6]) <= 0.1 + 1e-6)


def test_delta_action_space_still_trains_on_the_deltas(trained, tmp_path):
    data, _, config, _ = trained
    delta = TrainConfig(**{**asdict(config), "steps": 20, "action_space": "delta"})
    result = train(data, tmp_path, delta, progress=False)
    policy = Pi0Policy(tmp_path)
    assert result.steps == 20 and policy.processor.config.action_space == "delta"
    np.testing.assert_allclose(policy.processor.spec.action_norm.first[:3], [0, 0, 0], atol=0.02)  # deltas, not poses


def test_a_finished_run_resumes_without_more_steps(trained):
    data, out, config, _ = trained
    again = train(data, out, config, progress=False)
    assert again.steps == 200 and len(again.losses) == 200


def test_the_auxiliary_localiser_learns_and_stays_out_of_the_checkpoint(trained):
    import torch

    _, out, config, _ = trained
    assert config.aux_weight > 0
    state = torch.load(out / "training_state.pt", weights_only=False)
    aux = state["aux_losses"]
    assert len(aux) == 200 and np.mean(aux[-20:]) < 0.8 * np.mean(aux[:20])
    from safetensors import safe_open

    with safe_open(str(out / "model.safetensors"), "pt") as f:
        assert not {"head.weight", "mean", "std"} & set(f.keys())  # only PI0's own weights ship


def test_a_time_limit_anneals_the_learning_rate_by_the_deadline():
    config = TrainConfig(steps=1000, lr=1e-3, warmup_steps=10)
    assert lr_at(5, config) == pytest.approx(6e-4)
    assert 0.5e-3 < lr_at(500, config, elapsed_s=1e6) < 0.56e-3  # no time limit: time does not count
    limited = TrainConfig(steps=1000, lr=1e-3, warmup_steps=10, time_limit_s=100.0)
    # a tenth of the steps but all of the time: already at the floor
    assert lr_at(100, limited, elapsed_s=100.0) == pytest.approx(0.05e-3)
    assert lr_at(100, limited, elapsed_s=50.0) < lr_at(100, config, elapsed_s=50.0)
    # steps that run out first still set the pace
    assert lr_at(1000, limited, elapsed_s=1.0) == pytest.approx(0.05e-3)


def test_random_shift_moves_content_within_the_padding():
    import torch

    from dyq_vla_ros.training.batches import random_shift

    images = torch.zeros(64, 3, 16, 16)
    images[:, :, 8, 8] = 1.0  # one bright pixel
    shifted = random_shift(images, 2, np.random.default_rng(0))
    assert shifted.shape == images.shape
    ys, xs = (shifted[:, 0] == 1.0).nonzero()[:, 1], (shifted[:, 0] == 1.0).nonzero()[:, 2]
    assert len(ys) == 64 and ys.min() >= 6 and ys.max() <= 10 and xs.min() >= 6 and xs.max() <= 10
    assert len({(int(y), int(x)) for y, x in zip(ys, xs, strict=True)}) > 10  # the shifts vary
    assert torch.equal(random_shift(images, 0, np.random.default_rng(0)), images)


def test_vision_pretraining_learns_to_locate_and_is_logged(tmp_path):
    import json

    from dyq_vla_ros.sim import PegInHoleEnv
    from dyq_vla_ros.training.vision import COLOUR_NAMES, OBJECT_TARGETS, TOOL_TARGETS, render_layouts

    layouts = render_layouts([0, 1], 32)
    assert layouts.images.shape == (2, 32, 32, 3) and layouts.images.dtype == np.uint8
    assert layouts.mask.sum(1).tolist() == [24.0, 24.0]  # three pegs and three blocks: x, y, cos 4yaw, sin 4yaw
    assert np.all(np.abs(layouts.targets[layouts.mask > 0]) <= 1.0)
    env = PegInHoleEnv()
    env.reset(0)
    yaw_at = OBJECT_TARGETS + TOOL_TARGETS + 4 * COLOUR_NAMES.index(env.scene.pegs[0].colour)
    np.testing.assert_allclose(
        layouts.targets[0, yaw_at : yaw_at + 2], [np.cos(4 * env.scene.pegs[0].yaw), np.sin(4 * env.scene.pegs[0].yaw)]
    )
    posed = render_layouts([0, 1], 32, arm_poses=True)
    assert posed.mask.sum(1).tolist() == [27.0, 27.0]  # and the tool tip's xyz
    assert not np.array_equal(posed.images[0], layouts.images[0])  # the arm has moved
    np.testing.assert_array_equal(posed.targets[:, :16], layouts.targets[:, :16])

    data = tmp_path / "data"
    generate_dataset(data, DataConfig(episodes=1, image_size=32), progress=False)
    config = TrainConfig(steps=2, batch_size=8, vision_layouts=64, vision_steps=150, architecture=asdict(ARCH))
    train(data, tmp_path / "ckpt", config, progress=False)
    record = json.loads((tmp_path / "ckpt" / "training_log.json").read_text())["vision_pretraining"]
    assert record["layouts"] == 64 and record["steps"] == 150
    assert record["final_loss"] < 0.8 * record["first_loss"]
    assert "tool_mm_median" in record["held_out"]  # pretrained on arm poses by default: the tool is a target
    # on the held-out layouts it places pegs and holes better than knowing only where they stand on average
    # (the training layouts' mean position of each colour), and their yaws better than chance (22.5 degrees
    # median: a square's yaw error lies in [0, 45])
    from dyq_vla_ros.sim.seeds import calibration_seeds, train_seeds
    from dyq_vla_ros.training.train import VISION_HELD_OUT

    seen = render_layouts(train_seeds(64), 32, arm_poses=True)
    held_out = render_layouts(calibration_seeds(VISION_HELD_OUT), 32, arm_poses=True)
    mean = (seen.targets * seen.mask).sum(0) / np.maximum(seen.mask.sum(0), 1.0)
    for obj, offset in (("peg", 0), ("hole", 2)):
        x = [4 * c + offset for c in range(len(COLOUR_NAMES))]  # each colour's x; its y follows
        y = [i + 1 for i in x]
        dist = np.hypot(mean[x] - held_out.targets[:, x], mean[y] - held_out.targets[:, y])
        baseline = float(np.median(dist[held_out.mask[:, x] > 0])) * 1e3
        assert record["held_out"][f"{obj}_mm_median"] < 0.9 * baseline, (obj, record["held_out"], baseline)
        assert record["held_out"][f"{obj}_yaw_deg_median"] < 20.0


def test_fine_tuning_starts_from_a_checkpoint_on_several_datasets(trained, tmp_path):
    import json

    data, out, _, first = trained
    more = tmp_path / "more"
    generate_dataset(more, DataConfig(episodes=1, start_seed=2, image_size=32), progress=False)
    config = TrainConfig(steps=20, batch_size=16, lr=1e-3, warmup_steps=5, checkpoint_every=100, init_from=str(out))
    result = train([data, more], tmp_path / "ft", config, progress=False)
    start, scratch, trained_end = (np.mean(x) for x in (result.losses[:10], first.losses[:10], first.losses[-50:]))
    assert abs(start - trained_end) < abs(start - scratch)  # it starts where the first run ended, not from scratch
    log = json.loads((tmp_path / "ft" / "training_log.json").read_text())
    assert log["episodes"] == 3 and str(more) in log["dataset"] and log["vision_pretraining"] is None
    tuned = Pi0Policy(tmp_path / "ft")
    assert tuned.processor.config == Pi0Policy(out).processor.config  # normalisation kept from the start point


def test_holding_start_frames_carry_the_named_peg_toward_the_named_hole():
    from dyq_vla_ros.sim import PegInHoleEnv
    from dyq_vla_ros.training.start_frames import record_start_frames

    seeds = [500010, 500011, 500012]
    start = record_start_frames(seeds, 32, 10, holding=1.0)
    env = PegInHoleEnv()
    for i, seed in enumerate(seeds):
        env.reset(seed)
        assert np.all(start.goal_chunks[i, :, 6] > 0)  # the gripper stays closed on the peg
        assert start.frames.state[i, 6] < env.joint_positions()[6]  # and its gap shows it holds something
        assert np.linalg.norm(start.goal_chunks[i, 0, :2] - env.target_block.xy) < 0.015  # over the named hole
    assert np.all(record_start_frames(seeds, 32, 2, holding=0.0).goal_chunks[:, :, 6] < 0)


def test_start_frames_are_labelled_by_the_expert_and_mixed_into_training(trained, tmp_path):
    from dyq_vla_ros.sim import PegInHoleEnv
    from dyq_vla_ros.training.start_frames import record_start_frames

    start = record_start_frames([500000, 500001], 32, 10)
    env = PegInHoleEnv()
    for i, seed in enumerate((500000, 500001)):
        env.reset(seed)
        np.testing.assert_allclose(start.goal_chunks[i, 0, :2], env.target_peg.pos[:2], atol=1e-6)  # go for the peg
        assert not np.allclose(start.frames.state[i, :6], env.arm.home)  # from a random pose, not from home
    assert start.goal_chunks.shape == start.action_chunks.shape == (2, 10, 7)
    data, _, config, _ = trained
    mixed = TrainConfig(**{**asdict(config), "steps": 20, "start_frames": 8, "start_share": 0.5})
    result = train(data, tmp_path, mixed, progress=False)
    assert result.steps == 20 and np.all(np.isfinite(result.losses))


def test_wrist_camera_data_trains_a_two_camera_tool_offset_policy(trained, tmp_path):
    from dyq_vla_ros.evaluation.closed_loop import ClosedLoopEvaluator
    from dyq_vla_ros.policy import ObservationError
    from dyq_vla_ros.sim import PegInHoleEnv, SimConfig
    from dyq_vla_ros.training import load_dataset

    data = tmp_path / "wrist"
    generate_dataset(data, DataConfig(episodes=1, image_size=32, wrist_camera=True), progress=False)
    frames = load_dataset(data)
    assert frames.wrist.shape == frames.image.shape and frames.manifest["format_version"] == 4
    env = PegInHoleEnv(SimConfig(wrist_camera=True))
    env.reset(0)
    assert not np.array_equal(frames.wrist[0], frames.image[0])  # the wrist's own view, not the scene's
    _, _, config, _ = trained
    offset = TrainConfig(**{**asdict(config), "steps": 10, "action_space": "tool_offset", "start_frames": 4})
    result = train(data, tmp_path / "ckpt", offset, progress=False)
    assert result.steps == 10 and np.all(np.isfinite(result.losses))
    policy = Pi0Policy(tmp_path / "ckpt")
    assert policy.processor.cameras == ("scene", "wrist")
    assert policy.processor.config.action_space == "tool_offset" and policy.processor.config.offset_scale == 0.01
    obs = env.observe()
    state = obs.joint_positions.astype(np.float32)
    instruction = "put the red peg into the blue hole"
    with pytest.raises(ObservationError, match="wrist"):
        policy.predict_action_chunk(Observation.scene_and_wrist(obs.image, state, instruction))
    chunk = policy.predict_action_chunk(Observation.scene_and_wrist(obs.image, state, instruction, obs.wrist_image))
    assert chunk.shape == (10, 7) and np.all(np.linalg.norm(chunk[:, :3], axis=1) <= 0.02 + 1e-6)
    evaluator = ClosedLoopEvaluator({"model_path": str(tmp_path / "ckpt")}, sim_config=SimConfig(max_steps=10))
    assert evaluator.env.config.wrist_camera  # the evaluator renders what the checkpoint needs
    assert evaluator.run_episode(1000000, policy.mode).steps == 10


def test_near_start_frames_begin_the_last_centimetres_before_a_grasp_or_an_insertion():
    from dyq_vla_ros.sim import PegInHoleEnv
    from dyq_vla_ros.training.start_frames import NEAR_RADIUS, carry_to_random_pose

    env = PegInHoleEnv()
    for seed in (500020, 500021, 500022, 500023):
        env.reset(seed)
        carried = carry_to_random_pose(env, np.random.default_rng(seed), seed % 2 == 0, near=True)
        peg, tip = env.target_peg, env.tool_pose[:3, 3]
        if carried:  # the held peg hangs over the named hole, above the block
            assert np.linalg.norm(env.target_block.xy - peg.pos[:2]) <= NEAR_RADIUS + 0.002
            assert 0.03 < peg.pos[2] < 0.1
        else:  # the open gripper is just above the named peg
            assert seed % 2 == 1 and np.linalg.norm(tip[:2] - peg.pos[:2]) <= NEAR_RADIUS + 0.002
            assert peg.top < tip[2] < peg.top + 0.07


def test_quantization_aware_training_saves_the_weights_the_w4_layers_hold(trained, tmp_path):
    import torch
    from transformers import PI0ForConditionalGeneration

    from dyq_vla_ros.contract import KEEP_FLOAT_DEFAULT
    from dyq_vla_ros.policy import Pi0PolicyConfig
    from dyq_vla_ros.quant import quantizable_linears, snap_to_int4
    from dyq_vla_ros.training.train import STATE_FILE
    from dyq_vla_ros.types import PrecisionMode

    data, out, config, _ = trained
    qat = TrainConfig(**{**asdict(config), "steps": 20, "init_from": str(out), "qat_group_size": 16})
    result = train(data, tmp_path, qat, progress=False)
    assert result.steps == 20 and np.all(np.isfinite(result.losses))
    saved = PI0ForConditionalGeneration.from_pretrained(str(tmp_path))
    quantized = dict(quantizable_linears(saved, KEEP_FLOAT_DEFAULT))
    assert quantized and all(torch.equal(m.weight, snap_to_int4(m.weight, 16)) for m in quantized.values())
    kept = saved.get_submodule("action_out_proj").weight
    assert not torch.equal(kept, snap_to_int4(kept, 16))  # the node's float layers train in float
    masters = torch.load(tmp_path / STATE_FILE, weights_only=False)["model"]
    name = next(iter(quantized))
    assert not torch.equal(masters[f"{name}.weight"], quantized[name].weight)  # resuming continues the masters

    def chunks(path):
        policy = Pi0Policy(path, Pi0PolicyConfig(group_size=16, backend="reference"))
        instruction = "put the red peg into the blue hole"
        obs = Observation.scene_and_wrist(np.zeros((32, 32, 3), np.uint8), np.zeros(7, np.float32), instruction)
        fp = policy.predict_action_chunk(obs)
        policy.set_precision(PrecisionMode.W4A16, 16)
        policy.reset()
        return fp, policy.predict_action_chunk(obs)

    fp, w4 = chunks(tmp_path)
    np.testing.assert_allclose(w4, fp, atol=1e-4 * np.abs(fp).max())  # 4-bit weights cost nothing
    fp, w4 = chunks(out)
    assert np.abs(w4 - fp).max() > 1e-3 * np.abs(fp).max()  # unlike the float-trained start point
