"""4-bit weights, per-token activation quantization and the W4AX linear layer (torch)."""

from dyq_vla_ros.quant.activations import ACTIVATION_BITS, fake_quantize_per_token
from dyq_vla_ros.quant.errors import QuantizationError
from dyq_vla_ros.quant.linear import ActivationPrecision, W4AXLinear
from dyq_vla_ros.quant.model import (
    QuantReport,
    quantizable_linears,
    quantize_model,
    resident_bytes_estimate,
    resident_weight_bytes,
)
from dyq_vla_ros.quant.qat import Int4WeightGrid, snap_to_int4
from dyq_vla_ros.quant.weights import dequantize_int4, quantize_int4, unpack_int4

__all__ = [
    "ACTIVATION_BITS",
    "ActivationPrecision",
    "Int4WeightGrid",
    "QuantReport",
    "QuantizationError",
    "W4AXLinear",
    "dequantize_int4",
    "fake_quantize_per_token",
    "quantizable_linears",
    "quantize_int4",
    "quantize_model",
    "resident_bytes_estimate",
    "resident_weight_bytes",
    "snap_to_int4",
    "unpack_int4",
]
