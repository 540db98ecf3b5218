"""Quantization-aware training: float master weights, forward and backward on the 4-bit grid."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from dyq_vla_ros.quant.model import quantizable_linears
from dyq_vla_ros.quant.weights import dequantize_int4, quantize_int4


def snap_to_int4(weight: torch.Tensor, group_size: int) -> torch.Tensor:
    """The weight W4AXLinear would hold, as floats: quantize_int4 then dequantize_int4."""
    packed, scales = quantize_int4(weight, group_size)
    return dequantize_int4(packed, scales, weight.shape[1], torch.float32).to(weight.dtype)


class Int4WeightGrid:
    """The linear layers quantize_model would quantize, with their weights swappable onto the 4-bit grid.

    Inside `snapped()` each layer computes with its grid weight; gradients taken there update the
    float master weight when the block ends (the straight-through estimator). Snapping is idempotent,
    so a checkpoint saved inside `snapped()` quantizes back to exactly the weights it was trained with.
    """

    def __init__(self, model: nn.Module, group_size: int = 64, keep_float: Iterable[str] = ()) -> None:
        shared = _shared_parameters(model)
        self.layers = [m for _, m in quantizable_linears(model, keep_float) if m.weight.data_ptr() not in shared]
        self.group_size = group_size

    @contextmanager
    def snapped(self) -> Iterator[None]:
        """Run the block (forward and backward) with grid weights; the float weights come back after."""
        masters = [layer.weight.data for layer in self.layers]
        with torch.no_grad():
            for layer, master in zip(self.layers, masters, strict=True):
                layer.weight.data = snap_to_int4(master, self.group_size)
        try:
            yield
        finally:
            for layer, master in zip(self.layers, masters, strict=True):
                layer.weight.data = master


def _shared_parameters(model: nn.Module) -> set[int]:
    """Data pointers of parameters registered under more than one name (tied weights are not snapped)."""
    seen: dict[int, int] = {}
    for _, p in model.named_parameters(remove_duplicate=False):
        seen[p.data_ptr()] = seen.get(p.data_ptr(), 0) + 1
    return {ptr for ptr, n in seen.items() if n > 1}
