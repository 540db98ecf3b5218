"""The per-layer peers bench: its records, the peers' own accuracy, and `dyq-vla bench --peers`."""

import json

import pytest
import torch
from torch import nn

from dyq_vla_ros.cli import main
from dyq_vla_ros.quant import ActivationPrecision, W4AXLinear, peers
from dyq_vla_ros.quant.kernels import kernel_path


def test_a_layer_record_has_every_contender_side_by_side():
    record = peers.bench_layer(128, 96, 3, rounds=2)
    names = {"fp32", "fbgemm_w8a8", "ours_w4a8", "ours_w4a16"}
    if peers.onnxruntime_reason() is None:
        names |= {"ort_w4a8", "ort_w4a16"}
    assert set(record["ms"]) == set(record["gmac_s"]) == set(record["rel_err"]) == names
    assert record["shape"] == {"tokens": 3, "in": 128, "out": 96}
    assert all(v > 0 for v in record["ms"].values())
    assert record["rel_err"]["fp32"] == 0.0
    for name in names - {"fp32"}:  # 4- and 8-bit weights: close to fp32, not equal
        assert 0.0 < record["rel_err"][name] < 0.1, name
    assert set(record["ours_vs"]) == names - {"ours_w4a8", "ours_w4a16"}


def test_fbgemm_is_close_to_fp32():
    torch.manual_seed(0)
    linear = nn.Linear(256, 64)
    x = torch.randn(7, 256)
    with torch.inference_mode():
        torch.testing.assert_close(peers.fbgemm_w8a8(linear)(x), linear(x), rtol=0.05, atol=0.05)


@pytest.mark.skipif(peers.onnxruntime_reason() is not None, reason=str(peers.onnxruntime_reason()))
def test_onnxruntime_reads_this_layers_int4_values():
    torch.manual_seed(1)
    layer = W4AXLinear(nn.Linear(200, 48), ActivationPrecision(16), backend="reference")
    x = torch.randn(5, 200)
    with torch.inference_mode():
        torch.testing.assert_close(peers.onnxruntime_matmulnbits(layer, 0, 1)(x), layer(x), rtol=1e-4, atol=1e-4)


def test_without_onnxruntime_the_note_names_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_onnxruntime(name, *args, **kwargs):
        if name == "onnxruntime":
            raise ImportError("no onnxruntime", name="onnxruntime")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnxruntime)
    assert "onnxruntime" in str(peers.onnxruntime_reason()) and "[peers]" in str(peers.onnxruntime_reason())
    assert "ort_w4a8" not in peers.bench_layer(64, 32, 1, rounds=1)["ms"]


def test_cli_bench_peers_writes_the_layers_the_cpu_and_the_path(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(peers, "PI0_LAYER_SHAPES", ((64, 128),))
    monkeypatch.setattr(peers, "PEER_TOKENS", (1, 4))
    out = tmp_path / "bench.json"
    args = ["bench", "--precision-modes", "fp,w4a8", "--steps", "1", "--warmup", "0", "--image-size", "48x64"]
    assert main([*args, "--peers", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    table = report["peers"]
    assert [r["shape"]["tokens"] for r in table["layers"]] == [1, 4]
    assert table["cpu"] == report["cpu"]["cpu"] and table["features"] == report["cpu"]["features"]
    assert table["kernel"]["w4a8"] == kernel_path(table["backend"], 8)
    assert table["backend"] in report["backend"]  # the path the policy's layers took
    assert "ours_w4a8" in capsys.readouterr().err  # one line per layer as it finishes
