"""Which fast W4AX kernels this machine can run, and the backend names layers dispatch on."""

from __future__ import annotations

import functools
import importlib
from types import ModuleType

import torch

from dyq_vla_ros.contract import QUANT_BACKENDS
from dyq_vla_ros.quant import triton_w4ax
from dyq_vla_ros.quant.errors import QuantizationError

BACKENDS = QUANT_BACKENDS
"""auto: fastest available; avx2: the C++ kernels (x86-64 CPU); triton: the Triton kernels (CUDA; on a
CPU only under TRITON_INTERPRET=1); torch: portable torch ops (aarch64, CUDA without triton);
reference: the quantize-then-dequantize accuracy oracle."""
AVX2_GROUP_MULTIPLE = 64


@functools.cache
def avx2_kernels() -> ModuleType | None:
    """The compiled AVX2 kernels, or None where they were not built or the CPU lacks AVX2."""
    if torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"):
        return None  # loading code compiled with -mavx2 here would fault
    try:
        return importlib.import_module("dyq_vla_ros.quant._w4ax_cpu")
    except ImportError:
        return None


def resolve_backend(name: str, device: torch.device, group_size: int) -> str:
    """The concrete backend for a layer: 'auto' picks triton on CUDA, avx2 on a capable CPU, else torch."""
    if name not in BACKENDS:
        raise QuantizationError(f"backend must be one of {BACKENDS}, got {name!r}")
    avx2_ok = device.type == "cpu" and group_size % AVX2_GROUP_MULTIPLE == 0 and avx2_kernels() is not None
    if name == "auto":
        if device.type == "cuda" and triton_w4ax.unsupported_reason(device, group_size) is None:
            return "triton"
        return "avx2" if avx2_ok else "torch"
    if name == "avx2" and not avx2_ok:
        raise QuantizationError(
            "the avx2 backend needs an x86-64 CPU with AVX2, the compiled extension "
            f"(dyq_vla_ros.quant._w4ax_cpu) and a group size that is a multiple of {AVX2_GROUP_MULTIPLE}"
        )
    if name == "triton" and (reason := triton_w4ax.unsupported_reason(device, group_size)):
        raise QuantizationError(reason)
    return name


def kernel_path(backend: str, bits: int) -> str:
    """What computes a W4AX layer on this backend at these activation bits (named in bench reports)."""
    if backend == "avx2":
        return "avx2 fp32 (int4 rows dequantized in L1)" if bits == 16 else "avx2 int8 path (u8 x int4)"
    if backend == "triton":
        return "triton w4a16 (int4 dequantized in registers)" if bits == 16 else "triton int8 path (int8 x int4 tl.dot)"
    return f"{backend}: dequantized weight, fake-quantized activations"
