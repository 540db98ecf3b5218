"""The C++ W4AX kernel paths this CPU runs against the quantize-then-dequantize reference (the oracle).

Paths this CPU cannot execute are skipped here with the reason; test_cross_paths.py runs their
source under SIMDe (x86) and qemu-user (aarch64).
"""

import platform

import pytest
import torch
from torch import nn

from dyq_vla_ros.quant import ActivationPrecision, QuantizationError, W4AXLinear, quantize_model
from dyq_vla_ros.quant.activations import fake_quantize_per_token
from dyq_vla_ros.quant.kernels import (
    CPU_PATHS,
    CPU_TILE_ROWS,
    best_cpu_path,
    cpu_description,
    cpu_kernels,
    cpu_path_index,
    cpu_path_reason,
    kernel_path,
    resolve_backend,
)
from dyq_vla_ros.quant.layouts import from_cols, to_cols
from dyq_vla_ros.quant.weights import quantize_int4

CPU = torch.device("cpu")
MACHINE = platform.machine().lower()
BUILT_HERE = MACHINE in ("x86_64", "amd64", "aarch64", "arm64")


def runs_here(path: str):
    """Skip a test of `path` on a CPU that cannot execute it, saying why."""
    reason = cpu_path_reason(path)
    return pytest.mark.skipif(reason is not None, reason=f"{path}: {reason}")


PATH_PARAMS = [pytest.param(p, marks=runs_here(p)) for p in CPU_PATHS]


@pytest.mark.skipif(not BUILT_HERE, reason="the C++ kernels are built on x86-64 and aarch64 only")
def test_the_extension_is_built_and_auto_picks_the_best_path():
    ops = cpu_kernels()
    assert ops is not None, "dyq_vla_ros.quant._w4ax_cpu is missing: reinstall with make setup"
    best = best_cpu_path()
    assert best in CPU_PATHS and best != "avx2" and resolve_backend("auto", CPU, 64) == best
    built = list(ops.paths())
    assert built == [p for p in CPU_PATHS if p in built]  # best first
    if MACHINE in ("x86_64", "amd64"):
        assert built == ["avx512vnni", "avxvnni", "avx2_cols", "avx2"]
        if "avx2" in ops.cpu_features():
            assert cpu_path_reason("avx2") is None  # the AVX2 path is forced and tested on every x86 CPU
    description = cpu_description()
    assert description["best_path"] == best and best in description["paths_runnable"]
    for p in built:
        index = ops.path_index(p) if cpu_path_reason(p) is None else None
        if index is not None:
            assert ops.tile_rows(index) == CPU_TILE_ROWS[p]
            assert ops.layout(index) == ("rows" if CPU_TILE_ROWS[p] == 1 else "cols")


def test_backend_resolution():
    assert resolve_backend("auto", CPU, 32) == "torch"  # the kernels need groups of 64
    assert resolve_backend("reference", CPU, 64) == "reference"
    with pytest.raises(QuantizationError, match="multiple of 64"):
        resolve_backend("avx2", CPU, 32)
    with pytest.raises(QuantizationError, match="backend must be one of"):
        resolve_backend("fastest", CPU, 64)
    for path in CPU_PATHS:
        if (reason := cpu_path_reason(path)) is not None:
            with pytest.raises(QuantizationError, match="cannot run here"):
                resolve_backend(path, CPU, 64)
            assert path in reason or "lacks" in reason or "not built" in reason
        assert path in kernel_path(path, 8) and "fp32" in kernel_path(path, 16)


@pytest.mark.parametrize("path", PATH_PARAMS)
@pytest.mark.parametrize("bits", [16, 8, 4, 2])
@pytest.mark.parametrize(
    ("tokens", "in_features", "out_features", "group", "bias"),
    [
        (1, 64, 8, 64, True),
        (2, 512, 40, 64, True),  # GEMV and few-token tiles; output rows not a whole tile
        (11, 96, 257, 64, True),  # padded input, odd output count
        (128, 256, 96, 128, False),  # groups of two 64-value chunks
        (129, 256, 96, 64, True),
        (300, 130, 40, 64, True),
        (5, 1024, 33, 256, False),
    ],
)
def test_each_path_matches_the_reference(path, bits, tokens, in_features, out_features, group, bias):
    torch.manual_seed(tokens + in_features)
    linear = nn.Linear(in_features, out_features, bias=bias)
    precision = ActivationPrecision(bits)
    fast = W4AXLinear(linear, precision, group_size=group, backend=path)
    ref = W4AXLinear(linear, precision, group_size=group, backend="reference")
    torch.testing.assert_close(fast.dequantized_weight(), ref.dequantized_weight(), rtol=0, atol=0)  # one packing
    batch = 1 if tokens % 2 else 2
    x = 3 * torch.randn(batch, tokens, in_features) + 0.5
    with torch.inference_mode():
        y_fast, y_ref = fast(x), ref(x)
    assert y_fast.shape == (batch, tokens, out_features) and y_fast.dtype == x.dtype
    torch.testing.assert_close(y_fast, y_ref, rtol=1e-4, atol=1e-4 * float(y_ref.abs().max()))


@pytest.mark.parametrize("path", PATH_PARAMS)
@pytest.mark.parametrize("bits", [8, 4, 2])
def test_activation_codes_are_the_references_bit_for_bit(path, bits):
    ops = cpu_kernels()
    assert ops is not None
    index = cpu_path_index(path)
    torch.manual_seed(bits)
    x = torch.cat((5 * torch.randn(37, 200) - 1, torch.full((1, 200), 0.25)))  # and a constant token
    q, scale, zero = ops.quantize_per_token(x, bits, 256, index)
    levels = float(2**bits - 1)
    lo, hi = x.amin(-1, keepdim=True), x.amax(-1, keepdim=True)
    ref_scale = (hi - lo).clamp_min(1e-8) / levels
    ref_zero = torch.round(-lo / ref_scale)
    ref_q = torch.clamp(torch.round(x / ref_scale) + ref_zero, 0.0, levels).to(torch.uint8)
    assert torch.equal(scale, ref_scale[:, 0]) and torch.equal(zero, ref_zero[:, 0])
    assert torch.equal(q[:, :200] ^ int(ops.act_xor(index)), ref_q)
    assert torch.equal(q[:, 200:] ^ int(ops.act_xor(index)), torch.zeros(38, 56, dtype=torch.uint8))
    dequantized = (q[:, :200] ^ int(ops.act_xor(index))).float() - zero[:, None]
    torch.testing.assert_close(dequantized * scale[:, None], fake_quantize_per_token(x, bits), rtol=0, atol=0)


@pytest.mark.parametrize("path", PATH_PARAMS)
@pytest.mark.parametrize("bits", [16, 8])
def test_every_tiling_gives_the_same_bits(path, bits):
    """Tokens computed alone (GEMV), in small tiles and in a large batch agree exactly."""
    torch.manual_seed(3)
    fast = W4AXLinear(nn.Linear(256, 72), ActivationPrecision(bits), backend=path)
    x = torch.randn(61, 256)
    with torch.inference_mode():
        batch = fast(x)
        for rows in (slice(0, 1), slice(5, 7), slice(10, 13), slice(20, 24), slice(30, 61)):
            assert torch.equal(fast(x[rows]), batch[rows]), rows


def test_the_cols_layout_round_trips():
    torch.manual_seed(4)
    for out_features, group, tile in ((40, 64, 16), (8, 128, 8), (5, 64, 4), (33, 256, 16)):
        packed, scales = quantize_int4(torch.randn(out_features, 300), group)
        cols, tile_scales = to_cols(packed, scales, tile)
        assert cols.shape[0] % tile == 0 and cols.shape[0] - out_features < tile
        assert cols.numel() == cols.shape[0] * packed.shape[1]  # still 4 bits a value
        back, back_scales = from_cols(cols, tile_scales, tile, out_features)
        assert torch.equal(back, packed) and torch.equal(back_scales, scales)


@pytest.mark.parametrize("path", PATH_PARAMS)
def test_constant_tokens_and_bf16_inputs(path):
    linear = nn.Linear(64, 16)
    precision = ActivationPrecision(4)
    fast = W4AXLinear(linear, precision, backend=path)
    ref = W4AXLinear(linear, precision, backend="reference")
    x = torch.full((3, 64), 0.25)  # max == min: the scale floor keeps the division finite
    torch.testing.assert_close(fast(x), ref(x), rtol=1e-4, atol=1e-5)
    xb = torch.randn(5, 64).to(torch.bfloat16)
    assert fast(xb).dtype == torch.bfloat16
    assert fast(torch.zeros(0, 64)).shape == (0, 16)


@pytest.mark.skipif(best_cpu_path() is None, reason="no C++ kernel path runs here")
def test_quantize_model_reports_the_backend_and_the_extra_bytes():
    best = best_cpu_path()
    model = nn.Sequential(nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 8))
    _, report = quantize_model(model, group_size=64)
    assert report.backends == {best}
    assert f"backend {best}" in report.summary()
    rows_last = -(-8 // CPU_TILE_ROWS[str(best)]) * CPU_TILE_ROWS[str(best)]  # whole tiles of weights and scales
    # packed weights + fp16 scales + float bias + one float zero-point term per output row
    expected = (64 * 64 + 64 * 2 * 2 + 64 * 4 + 64 * 4) + (rows_last * 32 + rows_last * 1 * 2 + 8 * 4 + 8 * 4)
    assert report.int4_linear_bytes == expected
