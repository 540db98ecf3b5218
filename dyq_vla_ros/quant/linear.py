"""W4AX linear layer: one packed 4-bit weight copy serving every activation precision."""

from __future__ import annotations

import torch
from torch import nn

from dyq_vla_ros.quant import triton_w4ax
from dyq_vla_ros.quant.activations import ACTIVATION_BITS, fake_quantize_per_token
from dyq_vla_ros.quant.errors import QuantizationError
from dyq_vla_ros.quant.kernels import avx2_kernels, resolve_backend
from dyq_vla_ros.quant.weights import dequantize_int4, quantize_int4, unpack_int4


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

    The packed 4-bit weight is the only weight copy. Backends: `avx2` runs the C++ kernels
    (2/4/8 bits: activations quantized per token to uint8 and multiplied with the int4 weight in
    integer arithmetic; 16 bits: each block of four weight rows dequantized into an L1 scratch
    and multiplied in float32); `triton` runs the Triton kernels on CUDA (quant.triton_w4ax: W4A16,
    and an int8 path for 8, 4 and 2 bits), the packed weight and scales repacked at load to
    K-major storage; `torch` and `reference` dequantize on the fly and fake-quantize the input,
    the accuracy oracle.
    """

    qweight: torch.Tensor
    scales: torch.Tensor
    bias: torch.Tensor | None
    zero_point_correction: torch.Tensor | None

    def __init__(
        self, linear: nn.Linear, precision: ActivationPrecision, *, group_size: int = 64, backend: str = "auto"
    ) -> None:
        super().__init__()
        self.in_features = linear.in_features
        self.out_features = linear.out_features
        self.group_size = group_size
        self.precision = precision
        self.backend = resolve_backend(backend, linear.weight.device, group_size)
        qweight, scales = quantize_int4(linear.weight, group_size)
        if self.backend == "triton":  # same values, the kernels' storage order; the row-major copy is freed
            qweight, scales = triton_w4ax.repack(qweight), triton_w4ax.repack(scales)
        self.register_buffer("qweight", qweight)
        self.register_buffer("scales", scales)
        bias = None if linear.bias is None else linear.bias.detach().clone()
        self.register_buffer("bias", bias)
        corr = None
        if self.backend == "avx2":
            # sum over groups of scale x (sum of the group's int4 values): the zero-point term
            q = unpack_int4(qweight, group_size).reshape(self.out_features, -1, group_size).sum(-1, dtype=torch.int32)
            corr = (q.to(torch.float32) * scales.to(torch.float32)).sum(-1).contiguous()
        self.register_buffer("zero_point_correction", corr)
        self.compute_dtype = linear.weight.dtype

    @classmethod
    def from_linear(
        cls, linear: nn.Linear, precision: ActivationPrecision, *, group_size: int = 64, backend: str = "auto"
    ) -> W4AXLinear:
        """Quantize a float linear layer once."""
        if not isinstance(linear, nn.Linear):
            raise QuantizationError(f"expected nn.Linear, got {type(linear).__name__}")
        return cls(linear, precision, group_size=group_size, backend=backend)

    def dequantized_weight(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        """The float weight the 4-bit copy represents."""
        return dequantize_int4(self.qweight, self.scales, self.in_features, dtype or self.compute_dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Y = Q_a(x) @ deq(W4)^T + b."""
        if self.backend == "avx2":
            return self._forward_avx2(x)
        if self.backend == "triton":
            return triton_w4ax.w4ax_linear(
                x, self.precision.bits, self.qweight, self.scales, self.bias, self.group_size
            )
        xq = fake_quantize_per_token(x, self.precision.bits)
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return nn.functional.linear(xq, self.dequantized_weight(x.dtype), bias)

    def _forward_avx2(self, x: torch.Tensor) -> torch.Tensor:
        ops = avx2_kernels()
        assert ops is not None  # resolve_backend chose avx2 only where the kernels load
        bits = self.precision.bits
        if bits != 16:
            return ops.w4_u8_forward(
                x, bits, self.qweight, self.scales, self.zero_point_correction, self._bias32, self.group_size
            )
        return ops.w4_f32_forward(x, self.qweight, self.scales, self._bias32, self.group_size)

    @property
    def _bias32(self) -> torch.Tensor | None:
        if self.bias is None or self.bias.dtype == torch.float32:
            return self.bias
        return self.bias.to(torch.float32)

    def extra_repr(self) -> str:
        """Shape, group size and current activation bits."""
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"group_size={self.group_size}, activation_bits={self.precision.bits}, backend={self.backend}"
        )
