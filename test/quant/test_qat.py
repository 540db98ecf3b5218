"""Quantization-aware training: grid weights in forward and backward, float masters kept."""

import torch
from torch import nn

from dyq_vla_ros.quant import ActivationPrecision, Int4WeightGrid, W4AXLinear, dequantize_int4, snap_to_int4


def test_snapped_weights_are_what_the_w4ax_layer_holds_and_snapping_twice_changes_nothing():
    torch.manual_seed(0)
    linear = nn.Linear(100, 24)
    snapped = snap_to_int4(linear.weight.detach(), 32)
    layer = W4AXLinear.from_linear(linear, ActivationPrecision(16), group_size=32, backend="reference")
    torch.testing.assert_close(snapped, dequantize_int4(layer.qweight, layer.scales, 100), rtol=0, atol=0)
    assert torch.equal(snap_to_int4(snapped, 32), snapped)
    assert not torch.equal(snapped, linear.weight.detach())


def test_the_grid_computes_on_snapped_weights_and_the_gradient_updates_the_float_master():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 8))
    grid = Int4WeightGrid(model, group_size=32, keep_float=["2"])
    assert grid.layers == [model[0]]  # "2" (the last layer) stays in float
    master = model[0].weight.detach().clone()
    x = torch.randn(5, 64)
    with grid.snapped():
        assert torch.equal(model[0].weight.detach(), snap_to_int4(master, 32))
        out = model(x)
        out.square().sum().backward()
    assert torch.equal(model[0].weight.detach(), master)  # the float master is back
    expected = torch.nn.functional.relu(x @ snap_to_int4(master, 32).T + model[0].bias) @ model[2].weight.T
    torch.testing.assert_close(out, expected + model[2].bias, rtol=1e-5, atol=1e-5)
    assert model[0].weight.grad is not None and model[0].weight.grad.abs().sum() > 0


def test_tied_weights_are_left_alone():
    embed = nn.Embedding(16, 32)
    head = nn.Linear(32, 16, bias=False)
    head.weight = embed.weight
    model = nn.ModuleDict({"embed": embed, "head": head})
    assert Int4WeightGrid(model, group_size=32).layers == []
