"""The PI0 policy on the real transformers model: embedded checkpoint, precision modes, errors."""

import fnmatch
import shutil

import numpy as np
import pytest
import torch

from dyq_vla_ros.contract import KEEP_FLOAT_DEFAULT
from dyq_vla_ros.policy import (
    EMBEDDED_MODEL_DIR,
    CheckpointError,
    Observation,
    ObservationError,
    Pi0Policy,
    TinyPi0Architecture,
    check_checkpoint,
    create_random_checkpoint,
)
from dyq_vla_ros.quant import W4AXLinear
from dyq_vla_ros.quant.kernels import CPU_PATHS, cpu_path_reason
from dyq_vla_ros.types import PrecisionMode


@pytest.fixture(scope="module")
def policy():
    return Pi0Policy()


def _obs(h=48, w=80, seed=0):
    """A random observation with both cameras (the embedded checkpoint takes the wrist camera too)."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return Observation.scene_and_wrist(
        image, rng.normal(size=7).astype(np.float32), "put the red peg", image[::-1].copy()
    )


def test_embedded_checkpoint_is_the_trained_two_camera_model():
    policy = Pi0Policy()
    assert policy.processor.wrist and policy.processor.config.action_space == "tool_offset"
    scene_only = Observation.scene_and_wrist(_obs().images["scene"], _obs().state, "put the red peg")
    with pytest.raises(ObservationError, match=r"camera\(s\) wrist"):
        policy.predict_action_chunk(scene_only)


def test_the_embedded_model_was_trained_on_the_4bit_grid_the_quantized_modes_hold():
    from transformers import PI0ForConditionalGeneration

    from dyq_vla_ros.policy import Pi0PolicyConfig
    from dyq_vla_ros.quant import quantizable_linears, snap_to_int4

    model = PI0ForConditionalGeneration.from_pretrained(str(EMBEDDED_MODEL_DIR))
    quantized = quantizable_linears(model, KEEP_FLOAT_DEFAULT)
    group = Pi0PolicyConfig().group_size
    assert len(quantized) > 50 and all(torch.equal(m.weight, snap_to_int4(m.weight, group)) for _, m in quantized)


def test_embedded_checkpoint_is_complete():
    check_checkpoint(EMBEDDED_MODEL_DIR)


def test_chunk_shape_and_determinism(policy):
    policy.set_precision(PrecisionMode.FP, 16)
    policy.reset()
    a = policy.predict_action_chunk(_obs())
    assert a.shape == (policy.chunk_size, 7) and np.all(np.isfinite(a))
    b = policy.predict_action_chunk(_obs())
    assert not np.allclose(a, b)  # the noise sequence advances within an episode
    policy.reset()
    np.testing.assert_allclose(policy.predict_action_chunk(_obs()), a, rtol=1e-5, atol=1e-6)


def test_any_image_size_is_accepted(policy):
    policy.reset()
    for h, w in ((16, 16), (480, 640), (64, 64)):
        assert policy.predict_action_chunk(_obs(h, w)).shape == (policy.chunk_size, 7)


def test_quantized_modes_wrap_every_linear_but_the_float_defaults_and_error_shrinks_with_bits(policy):
    policy.set_precision(PrecisionMode.FP, 16)
    fp_bytes = policy.weight_bytes()
    policy.reset()
    ref = policy.predict_action_chunk(_obs())
    errs = {}
    for mode, bits in ((PrecisionMode.W4A16, 16), (PrecisionMode.W4A8, 8), (PrecisionMode.W4A2, 2)):
        policy.set_precision(mode, bits)
        policy.reset()
        errs[bits] = float(np.abs(policy.predict_action_chunk(_obs()) - ref).mean())
    linears = sorted(n for n, m in policy.model.named_modules() if isinstance(m, torch.nn.Linear))
    assert linears == sorted(policy.quant_report.kept)  # every other linear layer is W4AX
    assert linears and all(any(fnmatch.fnmatchcase(n, p) for p in KEEP_FLOAT_DEFAULT) for n in linears)
    assert sum(isinstance(m, W4AXLinear) for m in policy.model.modules()) == len(policy.quant_report.quantized)
    assert policy.weight_bytes() < fp_bytes / 2
    assert policy.weight_bits == 4
    assert errs[16] < errs[2] and errs[8] < errs[2]


def test_switching_among_4bit_modes_keeps_the_weights(policy):
    policy.set_precision(PrecisionMode.W4A8, 8)
    layer = next(m for m in policy.model.modules() if isinstance(m, W4AXLinear))
    ptr = layer.qweight.data_ptr()
    policy.set_precision(PrecisionMode.W4A4, 4)
    policy.set_precision(PrecisionMode.DYQ, 2)
    assert layer.qweight.data_ptr() == ptr and layer.precision.bits == 2


def test_back_to_fp_reloads_exact_float_weights(policy):
    policy.set_precision(PrecisionMode.FP, 16)
    policy.reset()
    a = policy.predict_action_chunk(_obs())
    policy.set_precision(PrecisionMode.W4A4, 4)
    policy.set_precision(PrecisionMode.FP, 16)
    policy.reset()
    np.testing.assert_allclose(policy.predict_action_chunk(_obs()), a, rtol=1e-5, atol=1e-6)
    assert policy.weight_bits == 32


def test_bad_observations_raise_observation_error(policy):
    image = _obs().images["scene"]
    with pytest.raises(ObservationError, match="state has 3 values"):
        policy.predict_action_chunk(Observation.scene_and_wrist(image, np.zeros(3), "x", image))
    with pytest.raises(ObservationError, match="NaN"):
        policy.predict_action_chunk(Observation.scene_and_wrist(image, np.full(7, np.nan), "x", image))
    with pytest.raises(ObservationError, match="H x W x 3"):
        policy.predict_action_chunk(Observation.scene_and_wrist(np.zeros((8, 8), np.uint8), np.zeros(7), "x", image))
    with pytest.raises(ObservationError, match="H x W x 3"):
        policy.predict_action_chunk(Observation.scene_and_wrist(image, np.zeros(7), "x", np.zeros((8, 8), np.uint8)))


def test_tokenizer_maps_unknown_words_to_unk(policy):
    ids, mask = policy.processor.token_ids("put the zorblax peg")
    unk = policy.processor.tokenizer.token_to_id("<unk>")
    text = ids[mask.bool()][policy.processor.image_tokens * 2 :].tolist()  # after the scene and wrist tokens
    assert text[0] == policy.processor.tokenizer.token_to_id("<bos>")
    assert unk in text and len(text) == 5


def test_other_architecture_loads_through_the_same_code(tmp_path):
    arch = TinyPi0Architecture(image_size=32, patch_size=8, chunk_size=4, max_state_dim=6, max_action_dim=8)
    create_random_checkpoint(tmp_path / "ck", architecture=arch, state_dim=5, joint_names=(), calibration_chunks=2)
    p = Pi0Policy(tmp_path / "ck")
    obs = Observation.scene_and_wrist(np.zeros((20, 30, 3), np.uint8), np.zeros(5, np.float32), "pick up the cube")
    assert p.predict_action_chunk(obs).shape == (4, 7)


def test_missing_and_pickle_files_named(tmp_path):
    ck = tmp_path / "ck"
    shutil.copytree(EMBEDDED_MODEL_DIR, ck)
    (ck / "tokenizer.json").unlink()
    with pytest.raises(CheckpointError, match=r"tokenizer\.json"):
        Pi0Policy(ck)
    shutil.copy(EMBEDDED_MODEL_DIR / "tokenizer.json", ck)
    (ck / "model.safetensors").rename(ck / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="pickle"):
        Pi0Policy(ck)
    (ck / "pytorch_model.bin").unlink()
    (ck / "model.safetensors").write_bytes(b"truncated")
    with pytest.raises(CheckpointError, match="cannot load"):
        Pi0Policy(ck)
    with pytest.raises(CheckpointError, match="not a directory"):
        Pi0Policy(tmp_path / "nowhere")


def test_mismatched_config_and_weights_fail_with_a_clear_error(tmp_path):
    import json

    ck = tmp_path / "ck"
    shutil.copytree(EMBEDDED_MODEL_DIR, ck)
    config = json.loads((ck / "config.json").read_text())
    config["dit_config"]["intermediate_size"] *= 2  # the weights no longer fit this architecture
    (ck / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="cannot load PI0 weights"):
        Pi0Policy(ck)


def test_pickle_weights_load_only_when_explicitly_allowed(tmp_path):
    from transformers import PI0ForConditionalGeneration

    from dyq_vla_ros.policy import Pi0PolicyConfig

    ck = tmp_path / "ck"
    shutil.copytree(EMBEDDED_MODEL_DIR, ck)
    model = PI0ForConditionalGeneration.from_pretrained(str(ck))
    (ck / "model.safetensors").unlink()
    torch.save(model.state_dict(), ck / "pytorch_model.bin")  # a pickle checkpoint, as older tools write them
    with pytest.raises(CheckpointError, match="allow_pickle_weights"):
        Pi0Policy(ck)
    policy = Pi0Policy(ck, Pi0PolicyConfig(allow_pickle=True))
    assert policy.predict_action_chunk(_obs()).shape == (policy.chunk_size, 7)


@pytest.fixture(scope="module")
def random_model(tmp_path_factory):
    """A random-weight two-camera checkpoint: smooth enough to compare numerics end to end.

    The trained model amplifies a single low-bit rounding flip (the float reference and the integer
    kernels sum in different orders) through its layers and five flow steps into a visibly
    different chunk; layer-level agreement is tested in test/quant.
    """
    return create_random_checkpoint(tmp_path_factory.mktemp("random") / "ck", cameras=("scene", "wrist"))


def test_bfloat16_model_runs_float_and_w4ax_modes_close_to_float32(random_model):
    from dyq_vla_ros.policy import Pi0PolicyConfig

    image = np.zeros((64, 64, 3), np.uint8)
    obs = Observation.scene_and_wrist(image, np.zeros(7, np.float32), "put the red peg into the blue hole", image)
    reference = Pi0Policy(random_model).predict_action_chunk(obs)
    policy = Pi0Policy(random_model, Pi0PolicyConfig(dtype="bfloat16"))  # what device auto picks on CUDA
    assert policy.dtype == torch.bfloat16
    tolerance = 0.05 * np.abs(reference).max()
    assert np.abs(policy.predict_action_chunk(obs) - reference).max() < tolerance
    policy.set_precision(PrecisionMode.W4A8, 8)
    policy.reset()  # the same flow-matching noise as the reference's first inference
    assert np.abs(policy.predict_action_chunk(obs) - reference).max() < 2 * tolerance


@pytest.mark.parametrize("backend", CPU_PATHS)
def test_every_cpu_kernel_path_matches_the_reference_on_the_action_output(backend, random_model):
    """Each C++ path this CPU runs, through the whole policy (the torch backend runs the reference's ops on a CPU)."""
    from dyq_vla_ros.policy import Pi0PolicyConfig

    if (reason := cpu_path_reason(backend)) is not None:
        pytest.skip(f"{backend}: {reason}")
    fast = Pi0Policy(random_model, Pi0PolicyConfig(backend=backend))
    ref = Pi0Policy(random_model, Pi0PolicyConfig(backend="reference"))
    for bits in (16, 8, 4, 2):
        for policy in (fast, ref):
            policy.set_precision(PrecisionMode.DYQ, bits)
            policy.reset()
        a, b = fast.predict_action_chunk(_obs()), ref.predict_action_chunk(_obs())
        if bits in (16, 8):
            np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3 * float(np.abs(b).max()), err_msg=f"{bits} bits")
        else:  # with 4 or 16 levels a rare rounding flip moves a chunk a little, a wrong kernel moves it all
            assert np.abs(a - b).mean() < 0.02 * np.abs(b).mean(), bits
            assert np.abs(a - b).max() < 0.1 * np.abs(b).max(), bits
    assert {m.backend for m in fast.model.modules() if isinstance(m, W4AXLinear)} == {backend}


def test_switching_mid_sequence_equals_a_fresh_model_in_that_mode():
    switched = Pi0Policy()
    switched.set_precision(PrecisionMode.DYQ, 16)
    for bits in (2, 16, 8):  # run inferences at other widths first
        switched.set_precision(PrecisionMode.DYQ, bits)
        switched.predict_action_chunk(_obs())
    switched.set_precision(PrecisionMode.W4A4, 4)
    switched.reset()
    fresh = Pi0Policy()
    fresh.set_precision(PrecisionMode.W4A4, 4)
    np.testing.assert_array_equal(switched.predict_action_chunk(_obs()), fresh.predict_action_chunk(_obs()))


def test_noise_seed_sets_the_flow_matching_noise(random_model):
    from dyq_vla_ros.params import NodeParams
    from dyq_vla_ros.policy import Pi0PolicyConfig

    def chunk(seed: int) -> np.ndarray:
        policy = Pi0Policy(random_model, Pi0PolicyConfig.from_params(NodeParams.from_mapping(noise_seed=seed)))
        policy.set_precision(PrecisionMode.FP, 16)
        return policy.predict_action_chunk(_obs())

    a, b = chunk(12345), chunk(12345)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, chunk(0))
