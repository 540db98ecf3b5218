"""Per-layer CPU timing of the W4AX kernels beside their peers, the contenders interleaved in one run.

Peers of one linear layer: fp32 `F.linear` (MKL in torch's CPU builds); torch's fbgemm W8A8 dynamic
(`quantized.linear_prepack` + `linear_dynamic`: per-channel int8 weights, per-tensor uint8 activations
with reduce_range); onnxruntime MatMulNBits on this layer's own int4 values and scales, W4A8
(accuracy_level 4: activations quantized per block to int8) and W4A16 (accuracy_level 0: fp32 compute),
when onnxruntime and onnx are importable (`pip install -e '.[peers]'`); ours at 8 and 16 activation
bits on the backend the layer resolved to. Each round times every contender once, so a drift in the
machine's speed reaches all alike; the record keeps each one's median.
"""

from __future__ import annotations

import functools
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from dyq_vla_ros.quant.kernels import cpu_description, kernel_path
from dyq_vla_ros.quant.linear import ActivationPrecision, W4AXLinear
from dyq_vla_ros.quant.weights import unpack_int4

PI0_LAYER_SHAPES: tuple[tuple[int, int], ...] = (
    (512, 2048),
    (2048, 512),
    (1024, 1024),
    (1024, 2048),
    (2048, 2048),
    (1024, 4096),
    (4096, 1024),
)
"""(in, out) features of PI0-sized layers: the scale presets' and the action expert's MLP and attention shapes."""
PEER_TOKENS = (1, 51, 288)
"""Tokens per call: one (GEMV), the action expert's 51, the prefix's 288."""

Layer = Callable[[torch.Tensor], torch.Tensor]


def fbgemm_w8a8(linear: nn.Linear) -> Layer:
    """The dynamic int8 linear of torch (fbgemm on x86): per-channel int8 weight, per-tensor uint8 activations."""
    weight = linear.weight.detach().float()
    scales = (weight.abs().amax(1) / 127).clamp_min(1e-8).double()
    zeros = torch.zeros(weight.shape[0], dtype=torch.long)
    with warnings.catch_warnings():  # torch deprecates quantized tensors; the peer is what it measures
        warnings.simplefilter("ignore", UserWarning)
        qweight = torch.quantize_per_channel(weight, scales, zeros, 0, torch.qint8)
    bias = None if linear.bias is None else linear.bias.detach().float()
    packed = torch.ops.quantized.linear_prepack(qweight, bias)
    return lambda x: torch.ops.quantized.linear_dynamic(x, packed, True)


def onnxruntime_reason() -> str | None:
    """Why the onnxruntime peers cannot run here, or None."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        return f"onnxruntime peers skipped: {exc.name} is not installed (pip install -e '.[peers]')"
    return None


def onnxruntime_matmulnbits(layer: W4AXLinear, accuracy_level: int, threads: int) -> Layer:
    """MatMulNBits of onnxruntime on this layer's int4 values: byte j of a block holds values 2j and 2j + 1."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    packed, scales = layer.canonical_int4()
    n, group = layer.out_features, layer.group_size
    codes = (unpack_int4(packed, group) + 8).to(torch.uint8).reshape(n, -1, group)
    ort_bytes = (codes[..., 0::2] | (codes[..., 1::2] << 4)).contiguous().numpy()
    inputs = ["A", "B", "scales"]
    initializers = [
        numpy_helper.from_array(ort_bytes, "B"),
        numpy_helper.from_array(scales.float().reshape(-1).numpy(), "scales"),
    ]
    if layer.bias is not None:  # the 4th and 5th inputs (zero points, g_idx) left out
        inputs += ["", "", "bias"]
        initializers.append(numpy_helper.from_array(layer.bias.detach().float().numpy(), "bias"))
    attributes: dict[str, Any] = {
        "K": layer.in_features,
        "N": n,
        "bits": 4,
        "block_size": group,
        "accuracy_level": accuracy_level,
    }
    node = helper.make_node("MatMulNBits", inputs, ["Y"], domain="com.microsoft", **attributes)
    graph = helper.make_graph(
        [node],
        "w4_linear",
        [helper.make_tensor_value_info("A", TensorProto.FLOAT, ["M", layer.in_features])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["M", n])],
        initializer=initializers,
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 9
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return lambda x: torch.from_numpy(session.run(None, {"A": x.numpy()})[0])


def interleaved_ms(contenders: dict[str, Callable[[], object]], rounds: int, warmup: int = 2) -> dict[str, float]:
    """Median ms of each contender, every round timing each of them once."""
    for fn in contenders.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) * 1e3)
    return {name: float(np.median(t)) for name, t in times.items()}


def _rounds(macs: int, budget_macs: float = 4e9) -> int:
    return int(min(200, max(5, budget_macs // max(macs, 1))))


def bench_layer(
    in_features: int,
    out_features: int,
    tokens: int,
    *,
    backend: str = "auto",
    group_size: int = 64,
    rounds: int | None = None,
    onnxruntime: bool = True,
) -> dict:
    """Median ms, GMAC/s and largest error (relative to fp32's largest output) of every contender on one shape."""
    torch.manual_seed(0)
    linear = nn.Linear(in_features, out_features)
    precision = ActivationPrecision(8)
    ours = W4AXLinear(linear, precision, group_size=group_size, backend=backend)
    x = torch.randn(tokens, in_features)

    def at_bits(bits: int) -> Layer:
        def run(v: torch.Tensor) -> torch.Tensor:
            precision.bits = bits
            return ours(v)

        return run

    layers: dict[str, Layer] = {
        "fp32": lambda v: nn.functional.linear(v, linear.weight, linear.bias),
        "fbgemm_w8a8": fbgemm_w8a8(linear),
        "ours_w4a8": at_bits(8),
        "ours_w4a16": at_bits(16),
    }
    if onnxruntime and onnxruntime_reason() is None:
        threads = torch.get_num_threads()
        layers["ort_w4a8"] = onnxruntime_matmulnbits(ours, 4, threads)
        layers["ort_w4a16"] = onnxruntime_matmulnbits(ours, 0, threads)
    macs = tokens * in_features * out_features
    with torch.inference_mode():
        ref = layers["fp32"](x)
        scale = float(ref.abs().max())
        errors = {name: float((fn(x) - ref).abs().max()) / scale for name, fn in layers.items()}
        calls: dict[str, Callable[[], object]] = {name: functools.partial(fn, x) for name, fn in layers.items()}
        ms = interleaved_ms(calls, rounds or _rounds(macs))
    return {
        "shape": {"tokens": tokens, "in": in_features, "out": out_features},
        "ms": ms,
        "gmac_s": {name: macs / (t * 1e-3) / 1e9 for name, t in ms.items()},
        "rel_err": errors,
        "ours_vs": {name: t / ms["ours_w4a8"] for name, t in ms.items() if not name.startswith("ours")},
    }


def bench_peers(
    shapes: Sequence[tuple[int, int]] | None = None,
    tokens: Sequence[int] | None = None,
    *,
    backend: str = "auto",
    group_size: int = 64,
    progress: Callable[[dict], None] | None = None,
) -> dict:
    """Every shape (default PI0_LAYER_SHAPES) at every token count (PEER_TOKENS); the CPU, its features and the path."""
    shapes = PI0_LAYER_SHAPES if shapes is None else shapes
    tokens = PEER_TOKENS if tokens is None else tokens
    probe = W4AXLinear(nn.Linear(64, 64), ActivationPrecision(8), group_size=group_size, backend=backend)
    note = onnxruntime_reason()
    records = []
    for in_features, out_features in shapes:
        for m in tokens:
            record = bench_layer(in_features, out_features, m, backend=backend, group_size=group_size)
            records.append(record)
            if progress:
                progress(record)
    return {
        **cpu_description(),
        "threads": torch.get_num_threads(),
        "backend": probe.backend,
        "kernel": {"w4a8": kernel_path(probe.backend, 8), "w4a16": kernel_path(probe.backend, 16)},
        "quantized_engine": torch.backends.quantized.engine,
        "onnxruntime": note or "onnxruntime MatMulNBits: w4a8 = accuracy_level 4, w4a16 = accuracy_level 0",
        "ours_vs": "peer median ms / ours_w4a8 median ms (> 1: ours faster)",
        "layers": records,
    }
