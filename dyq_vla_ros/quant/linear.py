"""W4AX linear layer: one packed 4-bit weight copy serving every activation precision."""

from __future__ import annotations

import torch
from torch import nn

from dyq_vla_ros.quant import triton_w4ax
from dyq_vla_ros.quant.activations import ACTIVATION_BITS, fake_quantize_per_token
from dyq_vla_ros.quant.errors import QuantizationError
from dyq_vla_ros.quant.kernels import CPU_PATHS, cpu_kernels, cpu_path_index, resolve_backend
from dyq_vla_ros.quant.layouts import from_cols, to_cols
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

    The packed 4-bit weight is the only weight copy. Backends: the C++ kernel paths (avx512vnni,
    avxvnni, avx2, neon_dotprod, neon; quant.kernels): 2/4/8 bits quantize activations per token to
    uint8 and multiply them with the int4 weight in integer arithmetic, 16 bits multiply in float32;
    paths with the cols layout read the weight repacked at load into row tiles (quant.layouts, still
    4 bits). `triton` runs the Triton kernels on CUDA (quant.triton_w4ax: W4A16, and an int8 path for
    8, 4 and 2 bits), the packed weight and scales repacked at load to K-major storage. `torch` and
    `reference` dequantize on the fly and fake-quantize the input, the accuracy oracle.
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
        corr = None
        self._cpu_path = -1  # the extension's index of the C++ path, -1 on the other backends
        self._tile_rows = 1  # rows per tile of the cols layout; 1: quantize_int4's rows
        if self.backend in CPU_PATHS:
            # sum over groups of scale x (sum of the group's int4 values): the zero-point term
            q = unpack_int4(qweight, group_size).reshape(self.out_features, -1, group_size).sum(-1, dtype=torch.int32)
            corr = (q.to(torch.float32) * scales.to(torch.float32)).sum(-1).contiguous()
            self._cpu_path = cpu_path_index(self.backend)
            ops = cpu_kernels()
            assert ops is not None  # cpu_path_index raised otherwise
            if ops.layout(self._cpu_path) == "cols":  # the same values in the path's tiles; one copy
                self._tile_rows = int(ops.tile_rows(self._cpu_path))
                qweight, scales = to_cols(qweight, scales, self._tile_rows)
        elif self.backend == "triton":  # same values, the kernels' storage order; the row-major copy is freed
            qweight, scales = triton_w4ax.repack(qweight), triton_w4ax.repack(scales)
        self.register_buffer("qweight", qweight)
        self.register_buffer("scales", scales)
        bias = None if linear.bias is None else linear.bias.detach().clone()
        self.register_buffer("bias", bias)
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

    def canonical_int4(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The 4-bit copy in quantize_int4's layout (packed [out, in_padded/2], scales [out, groups]).

        A copy where the layer stores another layout (the cols tiles, triton's K-major order), else the buffers.
        """
        if self._tile_rows > 1:
            return from_cols(self.qweight, self.scales, self._tile_rows, self.out_features)
        return self.qweight.contiguous(), self.scales.contiguous()

    def dequantized_weight(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        """The float weight the 4-bit copy represents."""
        qweight, scales = self.canonical_int4() if self._tile_rows > 1 else (self.qweight, self.scales)
        return dequantize_int4(qweight, scales, self.in_features, dtype or self.compute_dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Y = Q_a(x) @ deq(W4)^T + b."""
        if self._cpu_path >= 0:  # one call into the extension; buffers read from the dict, not __getattr__
            buffers = self._buffers
            ops = cpu_kernels()
            assert ops is not None
            return ops.forward(
                x,
                self.precision.bits,
                buffers["qweight"],
                buffers["scales"],
                buffers["zero_point_correction"],
                buffers["bias"],
                self.group_size,
                self.out_features,
                self._cpu_path,
            )
        if self.backend == "triton":
            return triton_w4ax.w4ax_linear(
                x, self.precision.bits, self.qweight, self.scales, self.bias, self.group_size
            )
        xq = fake_quantize_per_token(x, self.precision.bits)
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return nn.functional.linear(xq, self.dequantized_weight(x.dtype), bias)

    def extra_repr(self) -> str:
        """Shape, group size and current activation bits."""
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"group_size={self.group_size}, activation_bits={self.precision.bits}, backend={self.backend}"
        )
