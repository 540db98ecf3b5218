"""Errors raised by the quantization package."""

from dyq_vla_ros.errors import DyqVlaError


class QuantizationError(DyqVlaError, ValueError):
    """A tensor, layer or setting that cannot be quantized as asked."""
