"""Quantize every linear layer of a model to W4AX and report what changed."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import chain

import torch
from torch import nn

from dyq_vla_ros.quant.kernels import CPU_TILE_ROWS
from dyq_vla_ros.quant.layouts import cols_rows
from dyq_vla_ros.quant.linear import ActivationPrecision, W4AXLinear
from dyq_vla_ros.quant.weights import padded_in_features


@dataclass
class QuantReport:
    """What quantize_model did: layers quantized and kept, and resident weight bytes."""

    quantized: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    float_linear_bytes: int = 0
    int4_linear_bytes: int = 0
    backends: set[str] = field(default_factory=set)

    def summary(self) -> str:
        """One line for logs."""
        return (
            f"{len(self.quantized)} linear layers at W4 ({self.int4_linear_bytes / 1e6:.2f} MB, "
            f"from {self.float_linear_bytes / 1e6:.2f} MB), {len(self.kept)} kept in float; "
            f"backend {', '.join(sorted(self.backends)) or 'none'}"
        )


def _tensor_bytes(tensors: Iterable[torch.Tensor | None]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors if t is not None)


def resident_weight_bytes(model: nn.Module) -> int:
    """Bytes of every parameter and persistent buffer the model holds (shared tensors counted once)."""
    seen: set[int] = set()
    total = 0
    for t in list(model.parameters()) + [b for _, b in model.named_buffers()]:
        if t is None or t.data_ptr() in seen:
            continue
        seen.add(t.data_ptr())
        total += t.numel() * t.element_size()
    return total


def resident_bytes_estimate(
    model: nn.Module,
    *,
    dtype: torch.dtype,
    quantized: bool,
    group_size: int = 64,
    keep_float: Iterable[str] = (),
    backend: str = "triton",
) -> int:
    """The bytes resident_weight_bytes would report for this model loaded in `dtype`, in float or after quantize_model.

    Computed from shapes alone, so the model may live on the meta device. Float parameters count at
    `dtype`, buffers at the dtype they have; a W4AX layer holds its packed weight, fp16 group scales,
    its bias at `dtype` and, on a C++ kernel path, one float32 zero-point term per output row (paths
    with row tiles store whole tiles of weights and scales).
    """
    linears = quantizable_linears(model, keep_float) if quantized else []
    replaced = {name for name, _ in linears}
    float_size = torch.empty((), dtype=dtype, device="meta").element_size()
    named = chain(model.named_parameters(remove_duplicate=False), model.named_buffers(remove_duplicate=False))
    kept = {id(t): t for name, t in named if t is not None and name.rpartition(".")[0] not in replaced}
    params = {id(p) for p in model.parameters()}
    total = sum(t.numel() * (float_size if id(t) in params else t.element_size()) for t in kept.values())
    tile = CPU_TILE_ROWS.get(backend, 1)
    for _, linear in linears:
        out_f = linear.out_features
        rows = cols_rows(out_f, tile)
        total += rows * padded_in_features(linear.in_features, group_size) // 2
        total += rows * -(-linear.in_features // group_size) * 2
        total += 0 if linear.bias is None else out_f * float_size
        total += out_f * 4 if backend in CPU_TILE_ROWS else 0
    return total


def quantizable_linears(model: nn.Module, keep_float: Iterable[str] = ()) -> list[tuple[str, nn.Linear]]:
    """The (name, layer) pairs of every nn.Linear whose name matches no keep_float glob."""
    patterns = tuple(keep_float)
    return [
        (n, m)
        for n, m in model.named_modules()
        if isinstance(m, nn.Linear) and not any(fnmatch.fnmatchcase(n, p) for p in patterns)
    ]


def quantize_model(
    model: nn.Module,
    *,
    group_size: int = 64,
    keep_float: Iterable[str] = (),
    precision: ActivationPrecision | None = None,
    backend: str = "auto",
) -> tuple[ActivationPrecision, QuantReport]:
    """Replace each nn.Linear (except names matching a keep_float glob) by a W4AXLinear, in place."""
    precision = precision or ActivationPrecision(16)
    report = QuantReport()
    targets = quantizable_linears(model, keep_float)
    names = {n for n, _ in targets}
    report.kept = [n for n, m in model.named_modules() if isinstance(m, nn.Linear) and n not in names]
    for name, linear in targets:
        report.float_linear_bytes += _tensor_bytes((linear.weight, linear.bias))
        qlinear = W4AXLinear.from_linear(linear, precision, group_size=group_size, backend=backend)
        report.backends.add(qlinear.backend)
        report.int4_linear_bytes += _tensor_bytes(
            (qlinear.qweight, qlinear.scales, qlinear.bias, qlinear.zero_point_correction)
        )
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, qlinear)
        report.quantized.append(name)
    return precision, report
