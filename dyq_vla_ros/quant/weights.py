"""Group-wise symmetric 4-bit weights, two values packed per byte, with per-group scales.

Packing: within each group of G values of a row, byte j holds value j in its low nibble and
value j + G/2 in its high nibble, each stored as q + 8 (q in [-8, 7]). The AVX2 kernels unpack a
32-byte load into two contiguous runs of 32 values this way, without shuffles.
"""

from __future__ import annotations

import torch

from dyq_vla_ros.quant.errors import QuantizationError

INT4_MIN, INT4_MAX = -8, 7


def padded_in_features(in_features: int, group_size: int) -> int:
    """Input width rounded up to a whole number of groups (and to an even count for packing)."""
    groups = -(-in_features // group_size)
    return groups * group_size + (groups * group_size) % 2


def quantize_int4(weight: torch.Tensor, group_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize a [out, in] float weight to (packed uint8 [out, in_padded/2], scales [out, groups])."""
    if weight.ndim != 2:
        raise QuantizationError(f"expected a 2-D weight, got shape {tuple(weight.shape)}")
    if group_size < 2 or group_size % 2:
        raise QuantizationError(f"group_size must be an even number >= 2, got {group_size}")
    if not torch.isfinite(weight).all():
        raise QuantizationError("weight contains NaN or Inf")
    out_f, in_f = weight.shape
    w = weight.detach().to(torch.float32)
    padded = padded_in_features(in_f, group_size)
    if padded != in_f:
        w = torch.nn.functional.pad(w, (0, padded - in_f))
    groups = w.reshape(out_f, -1, group_size)
    scales = groups.abs().amax(dim=-1) / INT4_MAX
    scales = torch.where(scales > 0, scales, torch.ones_like(scales))
    q = torch.clamp(torch.round(groups / scales[..., None]), INT4_MIN, INT4_MAX).to(torch.int16)
    u = (q - INT4_MIN).to(torch.uint8)
    half = group_size // 2
    packed = u[..., :half] | (u[..., half:] << 4)
    return packed.reshape(out_f, padded // 2).contiguous(), scales.to(torch.float16).contiguous()


def unpack_int4(packed: torch.Tensor, group_size: int) -> torch.Tensor:
    """Signed int8 values [out, in_padded] from the packed nibbles."""
    groups = packed.reshape(packed.shape[0], -1, group_size // 2)
    low = (groups & 0x0F).to(torch.int8) + INT4_MIN
    high = (groups >> 4).to(torch.int8) + INT4_MIN
    return torch.cat((low, high), dim=-1).reshape(packed.shape[0], -1)


def dequantize_int4(
    packed: torch.Tensor, scales: torch.Tensor, in_features: int, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Float weight [out, in_features] from the packed 4-bit values and group scales."""
    group_size = packed.shape[1] * 2 // scales.shape[1]
    q = unpack_int4(packed, group_size)
    out_f, padded = q.shape
    w = q.reshape(out_f, -1, group_size).to(dtype) * scales.to(dtype)[..., None]
    return w.reshape(out_f, padded)[:, :in_features]
