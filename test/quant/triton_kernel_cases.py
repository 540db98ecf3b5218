"""The Triton W4AX kernels against the reference backend: on CUDA, or on the CPU under Triton's interpreter.

Not collected by default (the name does not match test_*.py): test_triton.py runs this file in a fresh
Python with TRITON_INTERPRET=1 set before triton is imported (Triton decorates its own library then), so
the setting reaches no other test. On a GPU machine run it directly: `pytest test/quant/triton_kernel_cases.py`.
"""

import os

import pytest
import torch
from torch import nn

from dyq_vla_ros.quant import (
    ActivationPrecision,
    QuantizationError,
    W4AXLinear,
    fake_quantize_per_token,
    quantize_model,
)
from dyq_vla_ros.quant.triton_w4ax import INTERPRETER_ENV, quantize_activations, triton_importable

ON_CUDA = torch.cuda.is_available() and os.environ.get(INTERPRETER_ENV) != "1"
DEVICE = torch.device("cuda" if ON_CUDA else "cpu")
needs_triton = pytest.mark.skipif(not triton_importable(), reason="triton is not installed (the test extra)")
if not ON_CUDA and os.environ.get(INTERPRETER_ENV) != "1":
    pytest.skip(f"no CUDA device: run with {INTERPRETER_ENV}=1 (test_triton.py does)", allow_module_level=True)


def _pair(linear: nn.Linear, bits: int, group: int) -> tuple[W4AXLinear, W4AXLinear]:
    precision = ActivationPrecision(bits)
    linear = linear.to(DEVICE)
    fast = W4AXLinear(linear, precision, group_size=group, backend="triton")
    return fast, W4AXLinear(linear, precision, group_size=group, backend="reference")


def _close(y, y_ref, atol=None):
    torch.testing.assert_close(y, y_ref, rtol=1e-4, atol=1e-4 * float(y_ref.abs().max()) if atol is None else atol)


@needs_triton
def test_a_cpu_launch_without_the_interpreter_is_refused(monkeypatch):
    fast, _ = _pair(nn.Linear(64, 8), 8, 64)
    fast(torch.randn(2, 64, device=DEVICE))  # kernels decorated for this mode
    if ON_CUDA:
        return
    monkeypatch.delenv(INTERPRETER_ENV)
    with pytest.raises(QuantizationError, match=INTERPRETER_ENV):
        fast(torch.randn(2, 64))


@needs_triton
@pytest.mark.parametrize("bits", [16, 8, 4, 2])
@pytest.mark.parametrize(
    ("tokens", "in_features", "out_features", "group", "bias"),
    [
        (1, 64, 8, 64, True),
        (11, 96, 257, 64, True),  # padded input, output rows not a multiple of the tile
        (70, 256, 96, 128, False),  # three token tiles, groups of 128
        (37, 130, 40, 64, True),  # everything odd
    ],
)
def test_triton_matches_the_reference(bits, tokens, in_features, out_features, group, bias):
    torch.manual_seed(tokens + in_features)
    fast, ref = _pair(nn.Linear(in_features, out_features, bias=bias), bits, group)
    torch.testing.assert_close(fast.qweight, ref.qweight, rtol=0, atol=0)  # one packing, stored K-major
    assert fast.qweight.t().is_contiguous() and fast.scales.t().is_contiguous()
    batch = 1 if tokens % 2 else 2
    x = 3 * torch.randn(batch, tokens, in_features, device=DEVICE) + 0.5
    with torch.inference_mode():
        y, y_ref = fast(x), ref(x)
    assert y.shape == (batch, tokens, out_features) and y.dtype == x.dtype
    _close(y, y_ref)


@needs_triton
@pytest.mark.parametrize("bits", [8, 4, 2])
def test_the_activation_quantizer_is_bit_exact_including_ties(bits):
    torch.manual_seed(bits)
    levels = 2**bits - 1
    ties = torch.tensor([[0.0, 0.5, 1.5, 2.5] + [float(levels)] * 4, [-float(levels), -2.5, -1.5, -0.5] + [0.0] * 4])
    x = torch.cat((ties, 5 * torch.randn(9, 8) - 2, torch.full((1, 8), 7.0))).to(DEVICE)  # one constant row
    q, scale, offset = quantize_activations(x, bits)
    lo, hi = x.amin(-1), x.amax(-1)
    ref_scale = (hi - lo).clamp_min(1e-8) / levels
    zero = torch.round(-lo / ref_scale)
    ref_q = torch.clamp(torch.round(x / ref_scale[:, None]) + zero[:, None], 0, levels)
    assert torch.equal(scale, ref_scale) and torch.equal(offset, 128 - zero)
    assert torch.equal(q.to(torch.float32) + 128, ref_q)
    torch.testing.assert_close((q + 128.0 - zero[:, None]) * scale[:, None], fake_quantize_per_token(x, bits))


@needs_triton
@pytest.mark.parametrize("bits", [16, 8, 4, 2])
def test_zero_constant_and_huge_inputs(bits):
    torch.manual_seed(3)
    fast, ref = _pair(nn.Linear(130, 40), bits, 64)
    zeros = torch.zeros(5, 130, device=DEVICE)
    _close(fast(zeros), ref(zeros), atol=1e-6)  # the bias alone
    constant = torch.full((3, 130), 0.25, device=DEVICE)
    _close(fast(constant), ref(constant))
    huge = 1e30 * torch.randn(4, 130, device=DEVICE)
    _close(fast(huge), ref(huge))
    nobias, nobias_ref = _pair(nn.Linear(130, 40, bias=False), bits, 64)
    assert torch.equal(nobias(zeros), torch.zeros(5, 40, device=DEVICE))
    assert torch.equal(nobias_ref(zeros), torch.zeros(5, 40, device=DEVICE))


@needs_triton
@pytest.mark.parametrize("bits", [16, 8])
def test_bf16_inputs_stay_bf16_and_within_bf16_rounding(bits):
    torch.manual_seed(4)
    linear = nn.Linear(192, 72)
    fast, ref = _pair(linear, bits, 64)
    x = torch.randn(33, 192, device=DEVICE).to(torch.bfloat16)
    y = fast(x)
    assert y.dtype == torch.bfloat16
    oracle = ref(x.float())  # the same bf16-representable inputs, in fp32
    err = float((y.float() - oracle).abs().max() / oracle.abs().max())
    ref_err = float((ref(x).float() - oracle).abs().max() / oracle.abs().max())  # the reference run in bf16
    assert err < 1e-2 and err <= ref_err + 1e-3


@needs_triton
def test_quantize_model_on_triton_switches_without_touching_weights():
    torch.manual_seed(5)
    model = nn.Sequential(nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 8)).to(DEVICE)
    precision, report = quantize_model(model, group_size=64, backend="triton")
    assert report.backends == {"triton"} and "backend triton" in report.summary()
    # packed weights + fp16 scales + float bias; no zero-point buffer (the kernels sum the weights per group)
    assert report.int4_linear_bytes == (64 * 64 + 64 * 2 * 2 + 64 * 4) + (8 * 32 + 8 * 1 * 2 + 8 * 4)
    ptrs = [m.qweight.data_ptr() for m in (model[0], model[2])]
    x = torch.randn(6, 128, device=DEVICE)
    outs = {}
    for bits in (16, 2, 8, 4):
        precision.bits = bits
        outs[bits] = model(x)
    assert [m.qweight.data_ptr() for m in (model[0], model[2])] == ptrs
    assert not torch.equal(outs[16], outs[2])
