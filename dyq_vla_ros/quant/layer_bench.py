"""Per-layer CUDA timing of the Triton W4AX kernels beside bf16 and the peers: tinygemm and torchao.

`python -m dyq_vla_ros.quant.layer_bench --shapes 304x2048x16384,51x1024x4096 --json layers.json` times
one linear layer of each TOKENSxINxOUT shape: bf16 `F.linear`, the triton backend at 16, 8 and 4 bits,
torch's tinygemm W4A16 kernel (`_weight_int4pack_mm`, fed this package's int4 values and scales) and,
where torchao is installed, its int4 weight-only and int8 dynamic paths. Each record also has the
largest error of the quantized outputs relative to the reference backend (torchao: to bf16, since it
quantizes the weight its own way). A peer that fails records its error instead of a time.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable, Sequence

import torch
from torch import nn

from dyq_vla_ros.quant.linear import ActivationPrecision, W4AXLinear
from dyq_vla_ros.quant.weights import unpack_int4


def parse_shapes(text: str) -> list[tuple[int, int, int]]:
    """TOKENSxINxOUT[,...] as tuples."""
    shapes = []
    for item in text.split(","):
        parts = item.strip().lower().split("x")
        if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
            raise argparse.ArgumentTypeError(f"expected TOKENSxINxOUT, got {item!r}")
        shapes.append((int(parts[0]), int(parts[1]), int(parts[2])))
    return shapes


def time_ms(fn: Callable[[], torch.Tensor], repeats: int = 50, warmup: int = 10) -> float:
    """Median CUDA-event time of one call (ms), after warm-up (autotuning and compilation)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return sorted(times)[len(times) // 2]


def tinygemm(layer: W4AXLinear, inner_k_tiles: int = 8) -> Callable[[torch.Tensor], torch.Tensor]:
    """Tinygemm (torch's W4A16 kernel) on this layer's int4 values (w = (u4 - 8) * scale + 0): a second layout."""
    u4 = (unpack_int4(layer.qweight, layer.group_size)[:, : layer.in_features] + 8).to(torch.uint8)
    packed = torch.ops.aten._convert_weight_to_int4pack((u4[:, ::2] << 4 | u4[:, 1::2]).contiguous(), inner_k_tiles)
    scales = layer.scales.to(torch.bfloat16)
    scales_and_zeros = torch.stack((scales, torch.zeros_like(scales)), dim=-1).transpose(0, 1).contiguous()
    return lambda x: torch.ops.aten._weight_int4pack_mm(x, packed, layer.group_size, scales_and_zeros)


def torchao(linear: nn.Linear, name: str, group_size: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """A bf16 copy of the layer quantized by torchao: 'int4' weight-only or 'int8' dynamic activations."""
    import copy

    from torchao import quantization as tq

    config = (
        tq.Int4WeightOnlyConfig(group_size=group_size) if name == "int4" else tq.Int8DynamicActivationInt8WeightConfig()
    )
    layer = copy.deepcopy(linear)
    tq.quantize_(layer, config)
    return layer


def _rel_err(y: torch.Tensor, ref: torch.Tensor) -> float:
    return float((y.float() - ref.float()).abs().max() / ref.float().abs().max().clamp_min(1e-30))


def bench_shape(tokens: int, in_features: int, out_features: int, *, group_size: int = 64, repeats: int = 50) -> dict:
    """Times (ms) and errors of every path for one layer shape on the current CUDA device."""
    torch.manual_seed(0)
    device = torch.device("cuda")
    linear = nn.Linear(in_features, out_features, bias=False, device=device, dtype=torch.bfloat16)
    x = torch.randn(tokens, in_features, device=device, dtype=torch.bfloat16)
    precision = ActivationPrecision(16)
    fast = W4AXLinear(linear, precision, group_size=group_size, backend="triton")
    ref = W4AXLinear(linear, precision, group_size=group_size, backend="reference")
    record: dict = {"shape": [tokens, in_features, out_features], "group_size": group_size}
    with torch.inference_mode():
        y_bf16 = linear(x)
        record["bf16_ms"] = time_ms(lambda: linear(x), repeats)
        for bits in (16, 8, 4):
            precision.bits = bits
            record[f"triton_w4a{bits}_ms"] = time_ms(lambda: fast(x), repeats)
            record[f"triton_w4a{bits}_err"] = _rel_err(fast(x), ref(x))
        precision.bits = 16
        peers = {
            "tinygemm_w4a16": lambda: tinygemm(fast),
            "torchao_int4wo": lambda: torchao(linear, "int4", group_size),
        }
        peers["torchao_int8dyn"] = lambda: torchao(linear, "int8", group_size)
        for name, make in peers.items():
            try:
                fn = make()
                record[f"{name}_ms"] = time_ms(functools.partial(fn, x), repeats)
                record[f"{name}_err"] = _rel_err(fn(x), ref(x) if name.startswith("tinygemm") else y_bf16)
            except Exception as exc:  # a peer missing or unsupported here is a finding, not a failure
                record[f"{name}_error"] = f"{type(exc).__name__}: {exc}"[:300]
    return record


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: time every shape, print one line per shape, optionally write JSON."""
    parser = argparse.ArgumentParser(prog="python -m dyq_vla_ros.quant.layer_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--shapes", type=parse_shapes, required=True, help="TOKENSxINxOUT[,...]")
    parser.add_argument("--group-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--json", help="also write the records here")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("layer_bench needs a CUDA device", file=sys.stderr)
        return 2
    records = []
    for shape in args.shapes:
        record = bench_shape(*shape, group_size=args.group_size, repeats=args.repeats)
        records.append(record)
        times = {k.removesuffix("_ms"): round(v, 4) for k, v in record.items() if k.endswith("_ms")}
        print(json.dumps({"shape": record["shape"], **times}))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "layers": records}, f, indent=1
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
