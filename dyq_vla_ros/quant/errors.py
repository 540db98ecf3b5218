"""Errors raised by the quantization package."""


class QuantizationError(ValueError):
    """A tensor, layer or setting that cannot be quantized as asked."""
