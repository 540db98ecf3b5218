"""Per-token activation quantization (quantize-then-dequantize reference)."""

from __future__ import annotations

import torch

from dyq_vla_ros.quant.errors import QuantizationError

ACTIVATION_BITS = (2, 4, 8, 16)


def fake_quantize_per_token(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Round x to `bits`-bit asymmetric min-max levels per token (last dim); 16 returns x unchanged."""
    if bits == 16:
        return x
    if bits not in ACTIVATION_BITS:
        raise QuantizationError(f"activation bits must be one of {ACTIVATION_BITS}, got {bits}")
    xf = x.to(torch.float32)
    levels = float(2**bits - 1)
    lo = xf.amin(dim=-1, keepdim=True)
    hi = xf.amax(dim=-1, keepdim=True)
    scale = (hi - lo).clamp_min(1e-8) / levels
    zero = torch.round(-lo / scale)
    q = torch.clamp(torch.round(xf / scale) + zero, 0.0, levels)
    return ((q - zero) * scale).to(x.dtype)
