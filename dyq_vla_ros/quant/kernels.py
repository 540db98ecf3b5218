"""Which fast W4AX kernels this machine can run, and the backend names layers dispatch on."""

from __future__ import annotations

import functools
from types import ModuleType

import torch

from dyq_vla_ros.contract import QUANT_BACKENDS
from dyq_vla_ros.quant.errors import QuantizationError

BACKENDS = QUANT_BACKENDS
"""auto: fastest available; avx2: the C++ kernels (x86-64 CPU); torch: portable torch ops (CUDA,
aarch64); reference: the quantize-then-dequantize accuracy oracle."""
AVX2_GROUP_MULTIPLE = 64


@functools.cache
def avx2_kernels() -> ModuleType | None:
    """The compiled AVX2 kernels, or None where they were not built or the CPU lacks AVX2."""
    if torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"):
        return None  # loading code compiled with -mavx2 here would fault
    try:
        from dyq_vla_ros.quant import _w4ax_cpu
    except ImportError:
        return None
    return _w4ax_cpu


def resolve_backend(name: str, device: torch.device, group_size: int) -> str:
    """The concrete backend for a layer: 'auto' picks avx2 on a capable CPU, else torch."""
    if name not in BACKENDS:
        raise QuantizationError(f"backend must be one of {BACKENDS}, got {name!r}")
    avx2_ok = device.type == "cpu" and group_size % AVX2_GROUP_MULTIPLE == 0 and avx2_kernels() is not None
    if name == "auto":
        return "avx2" if avx2_ok else "torch"
    if name == "avx2" and not avx2_ok:
        raise QuantizationError(
            "the avx2 backend needs an x86-64 CPU with AVX2, the compiled extension "
            f"(dyq_vla_ros.quant._w4ax_cpu) and a group size that is a multiple of {AVX2_GROUP_MULTIPLE}"
        )
    return name
