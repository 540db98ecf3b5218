"""4-bit weight packing and group-wise quantization."""

import pytest
import torch

from dyq_vla_ros.quant import QuantizationError, dequantize_int4, quantize_int4, unpack_int4
from dyq_vla_ros.quant.weights import padded_in_features


def test_pack_unpack_round_trip_is_exact():
    # a weight whose groups are already on the int4 grid with scale 1
    q = torch.randint(-7, 8, (6, 64)).float()
    q[:, 0] = 7  # absmax 7 per group -> scale exactly 1
    packed, scales = quantize_int4(q, group_size=64)
    assert packed.dtype == torch.uint8 and packed.shape == (6, 32)
    torch.testing.assert_close(unpack_int4(packed, 64).float(), q)
    torch.testing.assert_close(scales.float(), torch.ones(6, 1))


def test_dequantization_error_within_half_a_step():
    torch.manual_seed(0)
    w = torch.randn(32, 200)
    packed, scales = quantize_int4(w, group_size=32)
    deq = dequantize_int4(packed, scales, 200)
    assert deq.shape == w.shape
    step = scales.float().repeat_interleave(32, dim=1)[:, :200]
    assert torch.all((deq - w).abs() <= step / 2 + 1e-3)


def test_packed_size_is_half_a_byte_per_weight_plus_scales():
    packed, scales = quantize_int4(torch.randn(128, 256), group_size=64)
    assert packed.numel() * packed.element_size() == 128 * 256 // 2
    assert scales.shape == (128, 4) and scales.dtype == torch.float16


def test_padding_for_widths_that_are_not_a_group_multiple():
    assert padded_in_features(8, 64) == 64
    assert padded_in_features(130, 64) == 192
    w = torch.randn(4, 8)
    packed, scales = quantize_int4(w, group_size=64)
    assert dequantize_int4(packed, scales, 8).shape == (4, 8)


def test_bad_inputs():
    with pytest.raises(QuantizationError):
        quantize_int4(torch.randn(3, 4, 5), group_size=4)
    with pytest.raises(QuantizationError):
        quantize_int4(torch.randn(3, 4), group_size=3)
    with pytest.raises(QuantizationError):
        quantize_int4(torch.tensor([[float("nan"), 1.0]]), group_size=2)
