"""W4AX linear layer against the float layer; switching never touches the weights."""

import copy

import pytest
import torch
from torch import nn

from dyq_vla_ros.quant import (
    ActivationPrecision,
    QuantizationError,
    W4AXLinear,
    fake_quantize_per_token,
    quantize_model,
    resident_weight_bytes,
)


def _rel_err(a, b):
    return float((a - b).detach().norm() / b.detach().norm())


def test_fake_quant_error_shrinks_with_bits_and_16_is_identity():
    torch.manual_seed(0)
    x = torch.randn(16, 256)
    errs = {b: _rel_err(fake_quantize_per_token(x, b), x) for b in (2, 4, 8)}
    assert errs[8] < 0.01 < errs[4] < 0.15 < errs[2] < 0.6
    assert fake_quantize_per_token(x, 16) is x
    with pytest.raises(QuantizationError):
        fake_quantize_per_token(x, 3)


def test_fake_quant_is_per_token():
    x = torch.stack([torch.linspace(-1, 1, 64), 1000 * torch.linspace(-1, 1, 64)])
    xq = fake_quantize_per_token(x, 8)
    assert _rel_err(xq[0], x[0]) < 0.01  # the large token does not swamp the small one


@pytest.fixture
def layer_pair():
    torch.manual_seed(1)
    lin = nn.Linear(256, 128)
    precision = ActivationPrecision(16)
    return lin, W4AXLinear.from_linear(lin, precision, group_size=64), precision


def test_error_against_float_layer_shrinks_as_bits_grow(layer_pair):
    lin, qlin, precision = layer_pair
    x = torch.randn(8, 256)
    ref = lin(x).detach()
    errs = {}
    for bits in (2, 4, 8, 16):
        precision.bits = bits
        errs[bits] = _rel_err(qlin(x), ref)
    assert errs[16] < 0.12  # 4-bit weights alone
    assert errs[8] < errs[16] + 0.01
    assert errs[16] < errs[4] < 0.3
    assert errs[4] < errs[2] < 0.8


def test_switching_reallocates_no_weight(layer_pair):
    _, qlin, precision = layer_pair
    ptrs = (qlin.qweight.data_ptr(), qlin.scales.data_ptr())
    before = qlin.qweight.clone()
    x = torch.randn(2, 256)
    for bits in (2, 8, 4, 16, 2):
        precision.bits = bits
        qlin(x)
        assert (qlin.qweight.data_ptr(), qlin.scales.data_ptr()) == ptrs
    assert torch.equal(qlin.qweight, before)


def test_switched_layer_matches_fresh_layer_in_that_mode(layer_pair):
    lin, qlin, precision = layer_pair
    x = torch.randn(4, 256)
    precision.bits = 8
    qlin(x)
    precision.bits = 2
    fresh_precision = ActivationPrecision(2)
    fresh = W4AXLinear.from_linear(lin, fresh_precision, group_size=64)
    torch.testing.assert_close(qlin(x), fresh(x))


def test_bad_bits_rejected():
    with pytest.raises(QuantizationError):
        ActivationPrecision(5)


def test_quantize_model_replaces_every_linear_with_one_shared_switch():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Sequential(nn.Linear(64, 32), nn.Linear(32, 8)))
    ref = copy.deepcopy(model)
    fp_bytes = resident_weight_bytes(model)
    precision, report = quantize_model(model, group_size=32, keep_float=["2.1"])
    assert report.quantized == ["0", "2.0"] and report.kept == ["2.1"]
    assert isinstance(model[0], W4AXLinear) and isinstance(model[2][1], nn.Linear)
    assert model[0].precision is model[2][0].precision is precision
    assert resident_weight_bytes(model) < fp_bytes / 3
    x = torch.randn(3, 64)
    precision.bits = 2
    low = model(x)
    precision.bits = 16
    high = model(x)
    assert _rel_err(high, ref(x)) < _rel_err(low, ref(x))
