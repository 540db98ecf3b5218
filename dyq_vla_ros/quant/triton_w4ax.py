"""Triton W4AX kernels for CUDA: launchers, the load-time repack and the backend's availability.

W4A16 dequantizes each int4 tile in registers and multiplies in the activations' dtype (bf16/fp16 on
CUDA) with fp32 accumulation. W4A8 quantizes the activations per token to int8 (the reference's
asymmetric min-max levels, shifted by 128 to signed), multiplies int8 x int4 with `tl.dot` into int32
per weight group and applies the group scales in the loop. The 4- and 2-bit widths run through the
same int8 path (their levels are a subset of the 8-bit ones), so they are no faster than W4A8.

On a CPU the kernels run only under Triton's interpreter (TRITON_INTERPRET=1), which is how the tests
check them against the reference backend. Triton decorates its own library (tl.max, tl.sum, ...) when
it is first imported, so the variable must be in the environment before that: the tests run the
interpreted kernels in a subprocess. The mode is read at each launch; a launch whose mode differs from
the one triton was imported in raises QuantizationError.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import os
from types import SimpleNamespace

import torch

from dyq_vla_ros.quant.errors import QuantizationError

INTERPRETER_ENV = "TRITON_INTERPRET"
MIN_GROUP_SIZE = 64
"""int8 tl.dot needs K >= 32 per tile: one half-group."""
INTERPRETER_BLOCKS = {"BLOCK_M": 32, "BLOCK_N": 32}
"""Fixed tiles under the interpreter (no autotuning there); the tests' shapes are not multiples of them."""
QUANT_ROWS = 4
"""Token rows per program of the activation quantizer on CUDA."""
AUTOTUNE_TILES = ((16, 64, 4, 4), (32, 128, 4, 3), (64, 128, 8, 3), (128, 128, 8, 3))
"""(BLOCK_M, BLOCK_N, warps, stages): the few configurations tried per (token bucket, N, K), once each."""


@functools.cache
def triton_importable() -> bool:
    """Whether the triton package is installed (the `cuda` extra)."""
    return importlib.util.find_spec("triton") is not None


def interpreter_enabled() -> bool:
    """Whether Triton's CPU interpreter is switched on in this process's environment now."""
    return os.environ.get(INTERPRETER_ENV, "0") == "1"


def unsupported_reason(device: torch.device, group_size: int) -> str | None:
    """Why the triton backend cannot run layers on this device with this group size, or None when it can."""
    if not triton_importable():
        return "the triton backend needs the triton package (pip install -e '.[cuda]')"
    if device.type == "cpu" and not interpreter_enabled():
        return f"the triton backend runs on CUDA; on a CPU only under Triton's interpreter ({INTERPRETER_ENV}=1)"
    if device.type not in ("cuda", "cpu"):
        return f"the triton backend runs on CUDA, not on {device.type}"
    if group_size < MIN_GROUP_SIZE or group_size & (group_size - 1):
        return f"the triton backend needs a group size that is a power of two >= {MIN_GROUP_SIZE}, got {group_size}"
    return None


def repack(tensor: torch.Tensor) -> torch.Tensor:
    """The same [out, ...] values stored K-major (out contiguous), the layout the kernels load; one copy."""
    return tensor.t().contiguous().t()


def _bucket(tokens: int) -> int:
    return max(16, 1 << (tokens - 1).bit_length())


@functools.cache
def _kernels(interpret: bool) -> SimpleNamespace:
    """The kernels decorated for one mode; the environment says the same mode while this runs."""
    import triton
    import triton.language as tl
    from triton.runtime.interpreter import InterpretedFunction

    if isinstance(tl.max, InterpretedFunction) != interpret:  # triton's own library is decorated at its import
        raise QuantizationError(
            f"{INTERPRETER_ENV} must be set (or unset) before triton is first imported: this process imported it "
            f"{'without' if interpret else 'under'} the interpreter; run the interpreted kernels in a fresh process"
        )
    from dyq_vla_ros.quant import _triton_kernels as raw

    def matmul(fn):
        kernel = triton.jit(fn)
        if interpret:
            return kernel
        configs = [
            triton.Config({"BLOCK_M": m, "BLOCK_N": n}, num_warps=w, num_stages=s) for m, n, w, s in AUTOTUNE_TILES
        ]
        options = {"cache_results": True} if "cache_results" in inspect.signature(triton.autotune).parameters else {}
        return triton.autotune(configs=configs, key=["M_BUCKET", "N", "K"], **options)(kernel)

    return SimpleNamespace(
        triton=triton,
        quantize_rows=triton.jit(raw.quantize_rows),
        w4a8=matmul(raw.w4a8_matmul),
        w4a16=matmul(raw.w4a16_matmul),
    )


def _launch_kernels(x: torch.Tensor) -> SimpleNamespace:
    interpret = interpreter_enabled()
    if x.device.type == "cpu" and not interpret:
        raise QuantizationError(f"the triton backend runs on CUDA; on a CPU only under {INTERPRETER_ENV}=1")
    return _kernels(interpret)


def _grid(ops: SimpleNamespace, m: int, n: int, interpret: bool):
    if interpret:
        return (ops.triton.cdiv(m, INTERPRETER_BLOCKS["BLOCK_M"]), ops.triton.cdiv(n, INTERPRETER_BLOCKS["BLOCK_N"]))
    return lambda meta: (ops.triton.cdiv(m, meta["BLOCK_M"]), ops.triton.cdiv(n, meta["BLOCK_N"]))


def quantize_activations(x: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows of a 2-D x as (q - 128 int8, scale fp32, 128 - zero fp32): quant.activations' levels exactly."""
    ops = _launch_kernels(x)
    m, k = x.shape
    q = torch.empty((m, k), dtype=torch.int8, device=x.device)
    scale = torch.empty(m, dtype=torch.float32, device=x.device)
    offset = torch.empty(m, dtype=torch.float32, device=x.device)
    if m:
        rows = INTERPRETER_BLOCKS["BLOCK_M"] if interpreter_enabled() else QUANT_ROWS
        block = min(1024, max(16, 1 << (k - 1).bit_length()))
        grid = (ops.triton.cdiv(m, rows),)
        ops.quantize_rows[grid](
            x, q, scale, offset, m, k, x.stride(0), q.stride(0), LEVELS=float(2**bits - 1), ROWS=rows, BLOCK_K=block
        )
    return q, scale, offset


def w4ax_linear(
    x: torch.Tensor,
    bits: int,
    qweight: torch.Tensor,
    scales: torch.Tensor,
    bias: torch.Tensor | None,
    group_size: int,
) -> torch.Tensor:
    """Y = Q_a(x) @ deq(W4)^T + b with the Triton kernels: W4A16 at 16 bits, the int8 path at 8, 4 and 2."""
    ops = _launch_kernels(x)
    interpret = interpreter_enabled()
    lead, k = x.shape[:-1], x.shape[-1]
    x2 = x.reshape(-1, k)
    if x2.stride(-1) != 1:
        x2 = x2.contiguous()
    m, n = x2.shape[0], qweight.shape[0]
    upcast = interpret and x.dtype == torch.bfloat16  # see the W4A16 kernel: bf16 under the interpreter
    y = torch.empty((m, n), dtype=torch.float32 if upcast else x.dtype, device=x.device)
    if m == 0:
        return y.to(x.dtype).reshape(*lead, n)
    blocks = INTERPRETER_BLOCKS if interpret else {}
    shape = (m, n, k, _bucket(m), scales.shape[1])
    strides = (qweight.stride(0), qweight.stride(1), scales.stride(0), scales.stride(1), y.stride(0))
    common = {"HAS_BIAS": bias is not None, "HALF": group_size // 2, **blocks}
    b = bias if bias is not None else scales  # any pointer when HAS_BIAS is false
    grid = _grid(ops, m, n, interpret)
    if bits == 16:
        precision = "ieee" if x.dtype == torch.float32 else None  # fp32 inputs: no tf32 rounding
        ops.w4a16[grid](
            x2, qweight, scales, b, y, *shape, x2.stride(0), *strides, DOT_PRECISION=precision, UPCAST=upcast, **common
        )
    else:
        q, xscale, offset = quantize_activations(x2, bits)
        ops.w4a8[grid](q, xscale, offset, qweight, scales, b, y, *shape, q.stride(0), *strides, **common)
    return y.to(x.dtype).reshape(*lead, n)  # a no-op but under the interpreter with bf16 (rounds to nearest)
