"""Which fast W4AX kernels this machine can run, and the backend names layers dispatch on."""

from __future__ import annotations

import functools
import importlib
import platform
from pathlib import Path
from types import ModuleType

import torch

from dyq_vla_ros.contract import QUANT_BACKENDS
from dyq_vla_ros.quant import triton_w4ax
from dyq_vla_ros.quant.errors import QuantizationError

BACKENDS = QUANT_BACKENDS
"""auto: fastest available; avx512vnni, avxvnni, avx2_cols, avx2 (x86-64), neon_dotprod, neon (aarch64): the
C++ kernel paths, one per micro-architecture (avx2_cols: AVX2 on 8-row tiles, auto's choice on an AVX2-only
CPU; avx2: AVX2 on quantize_int4's rows, slower, only when named); triton: the Triton kernels (CUDA; on a CPU only under
TRITON_INTERPRET=1); torch: portable torch ops; reference: the quantize-then-dequantize accuracy oracle."""
CPU_PATHS = ("avx512vnni", "avxvnni", "avx2_cols", "avx2", "neon_dotprod", "neon")
"""The C++ kernel paths, in the order auto prefers them within an architecture."""
CPU_TILE_ROWS = {"avx512vnni": 16, "avxvnni": 8, "avx2": 1, "avx2_cols": 8, "neon_dotprod": 4, "neon": 4}
"""Output rows per weight tile of each path's layout (1: quantize_int4's rows; the extension says the same)."""
CPU_GROUP_MULTIPLE = 64


@functools.cache
def cpu_kernels() -> ModuleType | None:
    """The compiled C++ kernels (every path of this architecture), or None where they were not built."""
    try:
        return importlib.import_module("dyq_vla_ros.quant._w4ax_cpu")
    except ImportError:
        return None


def cpu_path_reason(name: str) -> str | None:
    """Why the C++ kernel path `name` cannot run here, or None when it can."""
    ops = cpu_kernels()
    if ops is None:
        return (
            "the C++ kernels (dyq_vla_ros.quant._w4ax_cpu) are not built: reinstall with make setup "
            "(x86-64 or aarch64, a compiler and torch at build time)"
        )
    reason = ops.unsupported_reason(name)
    return None if reason is None else str(reason)


def best_cpu_path() -> str | None:
    """The fastest C++ kernel path this CPU runs, or None."""
    ops = cpu_kernels()
    best = None if ops is None else ops.best_path()
    return None if best is None else str(best)


@functools.cache
def cpu_path_index(name: str) -> int:
    """The extension's index of a runnable path (what a layer passes on every call)."""
    reason = cpu_path_reason(name)
    ops = cpu_kernels()
    if reason is not None or ops is None:
        raise QuantizationError(f"the {name} backend cannot run here: {reason}")
    return int(ops.path_index(name))


def resolve_backend(name: str, device: torch.device, group_size: int) -> str:
    """The concrete backend for a layer: 'auto' picks triton on CUDA, the best C++ path on a CPU, else torch."""
    if name not in BACKENDS:
        raise QuantizationError(f"backend must be one of {BACKENDS}, got {name!r}")
    if name == "auto":
        if device.type == "cuda" and triton_w4ax.unsupported_reason(device, group_size) is None:
            return "triton"
        best = best_cpu_path()
        if device.type == "cpu" and group_size % CPU_GROUP_MULTIPLE == 0 and best is not None:
            return best
        return "torch"
    if name in CPU_PATHS:
        if device.type != "cpu":
            raise QuantizationError(f"the {name} backend runs on the CPU, not on {device.type}")
        if group_size % CPU_GROUP_MULTIPLE:
            raise QuantizationError(
                f"the {name} backend needs a group size that is a multiple of {CPU_GROUP_MULTIPLE}, got {group_size}"
            )
        if (reason := cpu_path_reason(name)) is not None:
            raise QuantizationError(f"the {name} backend cannot run here: {reason}")
    if name == "triton" and (reason := triton_w4ax.unsupported_reason(device, group_size)):
        raise QuantizationError(reason)
    return name


_CPU_KERNELS = {
    "avx512vnni": (
        "avx512vnni int8 path (u8 x int4, zmm vpdpbusd, 16-row tiles)",
        "avx512vnni fp32 (zmm, tiles in L1)",
    ),
    "avxvnni": ("avxvnni int8 path (u8 x int4, ymm vpdpbusd, 8-row tiles)", "avxvnni fp32 (ymm, tiles in L1)"),
    "avx2": ("avx2 int8 path (u8 x int4)", "avx2 fp32 (int4 rows dequantized in L1)"),
    "avx2_cols": ("avx2_cols int8 path (u8 x int4, ymm vpmaddubsw, 8-row tiles)", "avx2_cols fp32 (ymm, tiles in L1)"),
    "neon_dotprod": ("neon_dotprod int8 path (s8 x int4, sdot, 4-row tiles)", "neon fp32 (tiles in L1)"),
    "neon": ("neon int8 path (s8 x int4, smull/smlal, 4-row tiles)", "neon fp32 (tiles in L1)"),
}


def kernel_path(backend: str, bits: int) -> str:
    """What computes a W4AX layer on this backend at these activation bits (named in bench reports)."""
    if backend in _CPU_KERNELS:
        integer, floating = _CPU_KERNELS[backend]
        return floating if bits == 16 else integer
    if backend == "triton":
        return "triton w4a16 (int4 dequantized in registers)" if bits == 16 else "triton int8 path (int8 x int4 tl.dot)"
    return f"{backend}: dequantized weight, fake-quantized activations"


def cpu_model() -> str:
    """The CPU's model name as the OS reports it, with its family and model numbers where given (x86)."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip().lower(), value.strip())
    except OSError:
        pass
    name = fields.get("model name") or fields.get("hardware") or platform.processor() or platform.machine()
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    elif "cpu part" in fields:  # aarch64: implementer and part number
        name += f" (implementer {fields.get('cpu implementer', '?')}, part {fields['cpu part']})"
    return name


def cpu_description() -> dict[str, object]:
    """The CPU, its SIMD features, the kernel paths built and which of them run here (for reports)."""
    ops = cpu_kernels()
    built = [] if ops is None else [str(p) for p in ops.paths()]
    return {
        "cpu": cpu_model(),
        "machine": platform.machine(),
        "features": "" if ops is None else str(ops.cpu_features()),
        "paths_built": built,
        "paths_runnable": [p for p in built if cpu_path_reason(p) is None],
        "best_path": best_cpu_path(),
    }
