"""A PI0 saved the way transformers users save one loads as it is, and runs as transformers' own processor would."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from factories import make_transformers_checkpoint
from PIL import Image

from dyq_vla_ros.policy import CheckpointError, CheckpointFormat, Observation, Pi0Policy, detect_format
from dyq_vla_ros.types import PrecisionMode


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    return make_transformers_checkpoint(tmp_path_factory.mktemp("tf") / "ckpt", state_dim=9, action_dim=5)


def test_no_project_file_is_needed(saved):
    path, _ = saved
    assert not (path / "dyq_processor.json").exists() and not (path / "dyq_calibration.json").exists()
    assert detect_format(path) is CheckpointFormat.TRANSFORMERS
    policy = Pi0Policy(path)
    spec = policy.processor.spec
    assert (spec.state_dim, spec.action_dim, policy.chunk_size) == (9, 5, 6)
    assert spec.cameras == ("scene",) and policy.predicts_joint_positions  # the documented defaults


def test_inputs_equal_what_pi0processor_makes(saved):
    path, processor = saved
    policy = Pi0Policy(path)
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)  # the model's size: no resampling on either side
    state = rng.normal(size=9).astype(np.float32)
    text = "pick up the red cube"
    theirs = processor(images=[[Image.fromarray(image)]], text=[text], state=[state.tolist()])
    ours = policy.processor.batch([Observation({"scene": image}, state, text)])
    assert ours["input_ids"].tolist() == theirs["input_ids"].tolist()
    assert ours["attention_mask"].tolist() == theirs["attention_mask"].tolist()
    np.testing.assert_allclose(ours["pixel_values"].numpy(), theirs["pixel_values"].numpy(), atol=1e-6)
    np.testing.assert_allclose(ours["state"].numpy(), theirs["state"].numpy(), rtol=1e-6, atol=1e-6)


def test_a_wide_frame_is_fitted_and_padded_bottom_right_as_transformers_does(saved):
    path, processor = saved
    policy = Pi0Policy(path)
    image = np.full((48, 96, 3), 255, np.uint8)  # half as high as wide: 16 of 32 rows are image
    theirs = processor(images=[[Image.fromarray(image)]], text=["pick"], state=[[0.0] * 9])["pixel_values"][0, 0]
    ours = policy.processor.image_tensor(image)
    assert torch.all(ours[:, :16] == 1.0) and torch.all(ours[:, 16:] == 0.0)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-6)


def test_actions_are_the_models_chunk_unnormalised_and_unpadded(saved):
    path, processor = saved
    policy = Pi0Policy(path)
    policy.set_precision(PrecisionMode.FP, 16)
    rng = np.random.default_rng(4)
    obs = Observation({"scene": rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)}, rng.normal(size=9), "put the peg")
    policy.reset()
    chunk = policy.predict_action_chunk(obs)
    inputs = processor(images=[[Image.fromarray(obs.images["scene"])]], text=[obs.instruction], state=[list(obs.state)])
    inputs.pop("actions", None)
    gen = torch.Generator().manual_seed(0)  # the policy's noise for inference 0 of an episode (noise_seed 0)
    noise = torch.randn(1, policy.chunk_size, policy.model.config.max_action_dim, generator=gen)
    raw = policy.model.sample_actions(noise=noise, **inputs)[0, :, :5].detach().numpy()
    config = json.loads((path / "processor_config.json").read_text())
    expected = raw * np.array(config["actions_std"]) + np.array(config["actions_mean"])
    assert chunk.shape == (6, 5)
    np.testing.assert_allclose(chunk, expected, rtol=1e-4, atol=1e-5)


def test_project_extras_say_what_the_state_and_actions_mean(tmp_path):
    path, _ = make_transformers_checkpoint(
        tmp_path / "x", state_dim=7, action_dim=7, extras={"action_space": "delta", "cameras": ["scene", "wrist"]}
    )
    policy = Pi0Policy(path)
    assert policy.processor.cameras == ("scene", "wrist") and not policy.predicts_joint_positions


def test_errors_name_the_file_or_key(tmp_path):
    path, _ = make_transformers_checkpoint(tmp_path / "broken")
    config = json.loads((path / "processor_config.json").read_text())
    config["state_mean"] = None
    (path / "processor_config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"processor_config.json: state_mean is missing"):
        Pi0Policy(path)
    (path / "tokenizer.json").unlink()
    with pytest.raises(CheckpointError, match=r"missing tokenizer\.json"):
        Pi0Policy(path)
    (path / "dyq_processor.json").write_text(json.dumps({"state_mean": [0.0]}))
    with pytest.raises(CheckpointError, match=r"missing tokenizer\.json"):
        Pi0Policy(path)
