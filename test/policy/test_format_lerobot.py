"""A LeRobot pi0 policy directory loads from its files, normalised and unnormalised as LeRobot's processors do."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from factories import TINY_LEROBOT, make_lerobot_checkpoint
from safetensors.numpy import load_file

from dyq_vla_ros.policy import CheckpointError, CheckpointFormat, Observation, Pi0Policy, Pi0PolicyConfig, detect_format

CONFIG = Pi0PolicyConfig(lerobot_sizes=TINY_LEROBOT)
EPS = 1e-8


@pytest.fixture(scope="module")
def lerobot(tmp_path_factory):
    return make_lerobot_checkpoint(tmp_path_factory.mktemp("lr") / "pi0")


def test_layout_sizes_cameras_and_weights(lerobot):
    path, _ = lerobot
    assert detect_format(path) is CheckpointFormat.LEROBOT
    policy = Pi0Policy(path, CONFIG)
    assert policy.processor.cameras == ("observation.images.top", "observation.images.left_wrist")
    assert (policy.state_dim, policy.action_dim, policy.chunk_size) == (7, 6, 6)
    assert policy.model.config.dit_config.hidden_size == 16  # the action expert's variant, gemma_300m (shrunk)
    saved = load_file(str(path / "model.safetensors"))
    got = policy.model.state_dict()
    np.testing.assert_array_equal(got["embed_action_time.state_proj.weight"], saved["model.state_proj.weight"])
    np.testing.assert_array_equal(  # PaliGemma's vocabulary comes from lm_head (LeRobot drops embed_tokens)
        got["model.vlm.language_model.embed_tokens.weight"],
        saved["model.paligemma_with_expert.paligemma.lm_head.weight"],
    )
    name = "encoder.layers.0.self_attn.q_proj.weight"
    np.testing.assert_array_equal(
        got[f"model.vlm.vision_tower.{name}"],
        saved[f"model.paligemma_with_expert.paligemma.model.vision_tower.vision_model.{name}"],
    )
    obs = Observation({c: np.zeros((48, 64, 3), np.uint8) for c in policy.processor.cameras}, np.zeros(7), "pick up")
    assert policy.predict_action_chunk(obs).shape == (6, 6)


def test_mean_std_as_lerobot_normalises_and_unnormalises(lerobot):
    path, stats = lerobot
    policy = Pi0Policy(path, CONFIG)
    x = np.array([0.3, -1.0, 2.0, 0.0, 0.5, -0.25, 1.5], np.float32)
    expected = (x - stats["observation.state.mean"]) / (stats["observation.state.std"] + EPS)
    state = policy.processor.state_tensor(x).numpy()
    np.testing.assert_allclose(state[:7], expected, rtol=1e-6)
    assert np.all(state[7:] == 0.0) and state.shape == (12,)
    y = torch.linspace(-1.0, 1.0, 6 * 8).reshape(6, 8)
    actions = policy.processor.unnormalize_actions(y)
    np.testing.assert_allclose(actions, y[:, :6].numpy() * stats["action.std"] + stats["action.mean"], rtol=1e-6)


def test_quantiles_where_a_checkpoint_asks_for_them(tmp_path):
    path, stats = make_lerobot_checkpoint(tmp_path / "q", state_mode="QUANTILES", action_mode="QUANTILES")
    policy = Pi0Policy(path, CONFIG)
    lo, hi = stats["observation.state.q01"], stats["observation.state.q99"]
    x = (lo + hi) / 2 + 0.1
    np.testing.assert_allclose(policy.processor.state_tensor(x).numpy()[:7], 2 * (x - lo) / (hi - lo) - 1, rtol=1e-5)
    y = np.full((6, 8), 0.5, np.float32)
    a_lo, a_hi = stats["action.q01"], stats["action.q99"]
    expected = np.broadcast_to((0.5 + 1) / 2 * (a_hi - a_lo) + a_lo, (6, 6))
    np.testing.assert_allclose(policy.processor.unnormalize_actions(torch.from_numpy(y)), expected, rtol=1e-5)


def test_frames_are_fitted_and_padded_centred_in_black(lerobot):
    path, _ = lerobot
    policy = Pi0Policy(path, CONFIG)
    pixels = policy.processor.image_tensor(np.full((16, 32, 3), 255, np.uint8))  # half as high: rows 8..23 image
    assert torch.all(pixels[:, 8:24] == 1.0) and torch.all(pixels[:, :8] == -1.0) and torch.all(pixels[:, 24:] == -1.0)


def test_the_statistics_file_is_the_one_the_json_names(tmp_path):
    path, _ = make_lerobot_checkpoint(tmp_path / "v040")
    old = "policy_preprocessor_step_5_normalizer_processor.safetensors"  # LeRobot 0.4.x numbering
    (path / "policy_preprocessor_step_6_normalizer_processor.safetensors").rename(path / old)
    pre = json.loads((path / "policy_preprocessor.json").read_text())
    pre["steps"][-1]["state_file"] = old
    (path / "policy_preprocessor.json").write_text(json.dumps(pre))
    assert Pi0Policy(path, CONFIG).state_dim == 7
    pre["steps"][-1]["state_file"] = "gone.safetensors"
    (path / "policy_preprocessor.json").write_text(json.dumps(pre))
    with pytest.raises(CheckpointError, match=r"names gone\.safetensors, which is missing"):
        Pi0Policy(path, CONFIG)


def test_a_hub_tokenizer_needs_tokenizer_path(tmp_path):
    path, _ = make_lerobot_checkpoint(tmp_path / "hub", tokenizer_dir=False)
    with pytest.raises(CheckpointError, match="tokenizer_path"):
        Pi0Policy(path, CONFIG)
    local, _ = make_lerobot_checkpoint(tmp_path / "with_tokenizer")
    policy = Pi0Policy(path, Pi0PolicyConfig(lerobot_sizes=TINY_LEROBOT, tokenizer_path=str(local / "tokenizer")))
    ids, mask = policy.processor.token_ids("pick up the cube")
    assert len(ids) == 2 * 16 + 12 and int(mask.sum()) == 2 * 16 + 6  # <bos> pick up the cube \n, padded to 12
