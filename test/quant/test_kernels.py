"""The AVX2 W4AX kernels against the quantize-then-dequantize reference (the accuracy oracle)."""

import platform

import pytest
import torch
from torch import nn

from dyq_vla_ros.quant import ActivationPrecision, QuantizationError, W4AXLinear, quantize_model
from dyq_vla_ros.quant.kernels import avx2_kernels, resolve_backend

AVX2_CPU = platform.machine().lower() in ("x86_64", "amd64") and torch.backends.cpu.get_cpu_capability() in (
    "AVX2",
    "AVX512",
)
needs_avx2 = pytest.mark.skipif(not AVX2_CPU, reason="the AVX2 kernels are x86-64 only")


@needs_avx2
def test_the_extension_is_built_on_an_avx2_machine():
    assert avx2_kernels() is not None, "dyq_vla_ros.quant._w4ax_cpu is missing: reinstall with make setup"
    assert resolve_backend("auto", torch.device("cpu"), 64) == "avx2"


def test_backend_resolution():
    assert resolve_backend("auto", torch.device("cpu"), 32) == "torch"  # kernels need groups of 64
    assert resolve_backend("reference", torch.device("cpu"), 64) == "reference"
    with pytest.raises(QuantizationError, match="multiple of 64"):
        resolve_backend("avx2", torch.device("cpu"), 32)
    with pytest.raises(QuantizationError, match="backend must be one of"):
        resolve_backend("fastest", torch.device("cpu"), 64)


@needs_avx2
@pytest.mark.parametrize("bits", [16, 8, 4, 2])
@pytest.mark.parametrize(
    ("tokens", "in_features", "out_features", "group", "bias"),
    [
        (1, 64, 8, 64, True),
        (11, 96, 257, 64, True),  # padded input, odd output count (row blocks of 4)
        (128, 256, 96, 128, False),  # groups of two 64-value chunks
        (129, 256, 96, 64, True),
        (300, 130, 40, 64, True),
    ],
)
def test_avx2_matches_the_reference(bits, tokens, in_features, out_features, group, bias):
    torch.manual_seed(tokens + in_features)
    linear = nn.Linear(in_features, out_features, bias=bias)
    precision = ActivationPrecision(bits)
    fast = W4AXLinear(linear, precision, group_size=group, backend="avx2")
    ref = W4AXLinear(linear, precision, group_size=group, backend="reference")
    torch.testing.assert_close(fast.qweight, ref.qweight)  # one packing, shared by both
    batch = 1 if tokens % 2 else 2  # odd row counts too: the kernels take tokens in pairs
    x = 3 * torch.randn(batch, tokens, in_features) + 0.5
    with torch.inference_mode():
        y_fast, y_ref = fast(x), ref(x)
    assert y_fast.shape == (batch, tokens, out_features) and y_fast.dtype == x.dtype
    torch.testing.assert_close(y_fast, y_ref, rtol=1e-4, atol=1e-4 * float(y_ref.abs().max()))


@needs_avx2
def test_avx2_handles_constant_tokens_and_bf16_inputs():
    linear = nn.Linear(64, 16)
    precision = ActivationPrecision(4)
    fast = W4AXLinear(linear, precision, backend="avx2")
    ref = W4AXLinear(linear, precision, backend="reference")
    x = torch.full((3, 64), 0.25)  # max == min: the scale floor keeps the division finite
    torch.testing.assert_close(fast(x), ref(x), rtol=1e-4, atol=1e-5)
    xb = torch.randn(5, 64).to(torch.bfloat16)
    assert fast(xb).dtype == torch.bfloat16


@needs_avx2
def test_quantize_model_reports_the_backend_and_the_extra_bytes():
    model = nn.Sequential(nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 8))
    _, report = quantize_model(model, group_size=64)
    assert report.backends == {"avx2"}
    assert "backend avx2" in report.summary()
    # packed weights + fp16 scales + float bias + one float zero-point term per output row
    expected = (64 * 64 + 64 * 2 * 2 + 64 * 4 + 64 * 4) + (8 * 32 + 8 * 1 * 2 + 8 * 4 + 8 * 4)
    assert report.int4_linear_bytes == expected
