"""W4AX linear layer: one packed 4-bit weight copy serving every activation precision."""

from __future__ import annotations

import torch
from torch import nn

from dyq_vla_ros.quant.activations import ACTIVATION_BITS, fake_quantize_per_token
from dyq_vla_ros.quant.errors import QuantizationError
from dyq_vla_ros.quant.weights import dequantize_int4, quantize_int4


class ActivationPrecision:
    """The activation bit width shared by every W4AX layer of one model; set it once to switch all."""

    def __init__(self, bits: int = 16) -> None:
        self.bits = bits

    @property
    def bits(self) -> int:
        """Activation bits in force (2, 4, 8 or 16)."""
        return self._bits

    @bits.setter
    def bits(self, value: int) -> None:
        if value not in ACTIVATION_BITS:
            raise QuantizationError(f"activation bits must be one of {ACTIVATION_BITS}, got {value}")
        self._bits = int(value)


class W4AXLinear(nn.Module):
    """Linear layer computing with 4-bit group-quantized weights and switchable activation bits.

    This is the reference path: it dequantizes the weight on the fly and fake-quantizes the
    input per token, so it is the accuracy oracle rather than a fast kernel.
    """

    def __init__(self, linear: nn.Linear, precision: ActivationPrecision, *, group_size: int = 64) -> None:
        super().__init__()
        self.in_features = linear.in_features
        self.out_features = linear.out_features
        self.group_size = group_size
        self.precision = precision
        qweight, scales = quantize_int4(linear.weight, group_size)
        self.register_buffer("qweight", qweight)
        self.register_buffer("scales", scales)
        bias = None if linear.bias is None else linear.bias.detach().clone()
        self.register_buffer("bias", bias)
        self.compute_dtype = linear.weight.dtype

    @classmethod
    def from_linear(cls, linear: nn.Linear, precision: ActivationPrecision, *, group_size: int = 64) -> W4AXLinear:
        """Quantize a float linear layer once."""
        if not isinstance(linear, nn.Linear):
            raise QuantizationError(f"expected nn.Linear, got {type(linear).__name__}")
        return cls(linear, precision, group_size=group_size)

    def dequantized_weight(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        """The float weight the 4-bit copy represents."""
        return dequantize_int4(self.qweight, self.scales, self.in_features, dtype or self.compute_dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Y = Q_a(x) @ deq(W4)^T + b."""
        xq = fake_quantize_per_token(x, self.precision.bits)
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return nn.functional.linear(xq, self.dequantized_weight(x.dtype), bias)

    def extra_repr(self) -> str:
        """Shape, group size and current activation bits."""
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"group_size={self.group_size}, activation_bits={self.precision.bits}"
        )
