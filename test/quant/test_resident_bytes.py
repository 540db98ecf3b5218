"""Resident weight bytes computed from shapes (meta device) against the bytes the loaded models hold."""

import json

import pytest
import torch
from safetensors import safe_open
from transformers import PI0Config, PI0ForConditionalGeneration

from dyq_vla_ros.contract import KEEP_FLOAT_DEFAULT
from dyq_vla_ros.evaluation.bench import SCALE_PRESETS, create_preset_checkpoint, estimated_weight_bytes
from dyq_vla_ros.policy import EMBEDDED_MODEL_DIR, Pi0Policy, TinyPi0Architecture
from dyq_vla_ros.policy.checkpoint import load_pi0_model
from dyq_vla_ros.quant import quantize_model, resident_bytes_estimate, resident_weight_bytes
from dyq_vla_ros.quant.kernels import CPU_PATHS, cpu_path_reason

CPU = torch.device("cpu")


def _meta_model(config: PI0Config) -> PI0ForConditionalGeneration:
    with torch.device("meta"):
        return PI0ForConditionalGeneration(config)


@pytest.mark.parametrize("backend", ["torch", *CPU_PATHS])
def test_the_estimate_is_the_measured_bytes_of_the_shipped_model(backend):
    if backend != "torch" and (reason := cpu_path_reason(backend)) is not None:
        pytest.skip(f"{backend}: {reason}")
    meta = _meta_model(PI0Config.from_pretrained(str(EMBEDDED_MODEL_DIR)))
    model = load_pi0_model(EMBEDDED_MODEL_DIR, CPU)
    assert resident_weight_bytes(model) == resident_bytes_estimate(meta, dtype=torch.float32, quantized=False)
    _, report = quantize_model(model, keep_float=KEEP_FLOAT_DEFAULT, backend=backend)
    assert report.backends == {backend}
    estimate = resident_bytes_estimate(
        meta, dtype=torch.float32, quantized=True, keep_float=KEEP_FLOAT_DEFAULT, backend=backend
    )
    assert resident_weight_bytes(model) == estimate


def test_the_bf16_estimate_differs_only_by_the_cast_buffers():
    config = PI0Config.from_pretrained(str(EMBEDDED_MODEL_DIR))
    model = load_pi0_model(EMBEDDED_MODEL_DIR, CPU, dtype=torch.bfloat16)
    # buffers count at the dtype they are built with (float32); loading in bf16 casts a few scalars
    cast = sum(2 * b.numel() for b in model.buffers() if b.dtype == torch.bfloat16)
    estimate = estimated_weight_bytes(config, dtype=torch.bfloat16, backend="torch")
    assert estimate["parameters"] == sum(p.numel() for p in model.parameters())
    assert estimate["fp"] == resident_weight_bytes(model) + cast
    quantize_model(model, keep_float=KEEP_FLOAT_DEFAULT, backend="torch")
    assert estimate["w4ax"] == resident_weight_bytes(model) + cast


def test_the_pi0_3b_preset_has_pi0s_shapes_and_the_defaults_keep_one_width():
    model = _meta_model(SCALE_PRESETS["pi0-3b"].to_pi0_config())
    assert 3.3e9 < sum(p.numel() for p in model.parameters()) < 3.6e9
    expert, vlm = model.model.dit, model.model.vlm
    assert (expert.config.hidden_size, expert.config.intermediate_size, expert.config.num_hidden_layers) == (
        1024,
        4096,
        18,
    )
    text = vlm.config.text_config
    assert (text.hidden_size, text.intermediate_size, text.num_key_value_heads, text.head_dim) == (2048, 16384, 1, 256)
    vision = vlm.config.vision_config
    assert (vision.hidden_size, vision.intermediate_size, vision.num_hidden_layers, vision.num_attention_heads) == (
        1152,
        4304,
        27,
        16,
    )
    tiny = TinyPi0Architecture().to_pi0_config()
    assert tiny.dit_config.hidden_size == tiny.vlm_config.text_config.hidden_size == 64
    assert tiny.vlm_config.vision_config.intermediate_size == 128


def test_a_preset_checkpoint_is_written_directly_in_bfloat16(tmp_path):
    path = create_preset_checkpoint(tmp_path / "tiny", TinyPi0Architecture(), device=CPU, dtype=torch.bfloat16)
    assert torch.get_default_dtype() == torch.float32
    with safe_open(str(path / "model.safetensors"), framework="pt") as weights:
        assert {weights.get_tensor(k).dtype for k in weights.keys()} == {torch.bfloat16}  # noqa: SIM118
    assert json.loads((path / "config.json").read_text())["dtype"] == "bfloat16"
    policy = Pi0Policy(path)  # loads (in float32 on the CPU) and runs
    assert policy.parameter_count == sum(
        p.numel() for p in _meta_model(TinyPi0Architecture().to_pi0_config()).parameters()
    )
