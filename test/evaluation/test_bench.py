"""`dyq-vla bench`: per-mode latency, weight bytes and the not-faster-than verdicts."""

import json

from dyq_vla_ros.cli import main
from dyq_vla_ros.evaluation import SCALE_PRESETS, bench_policy, not_faster_than
from dyq_vla_ros.policy import Pi0Policy
from dyq_vla_ros.types import PrecisionMode


def test_a_mode_no_faster_than_a_more_precise_one_is_named():
    results = {
        "fp": {"latency_ms_p50": 10.0},
        "w4a16": {"latency_ms_p50": 12.0},  # slower than fp
        "w4a8": {"latency_ms_p50": 5.0},
        "w4a4": {"latency_ms_p50": 4.9},  # within the 5 % noise margin: not faster
        "w4a2": {"latency_ms_p50": 4.0},
    }
    assert not_faster_than(results) == {"w4a16": "fp", "w4a4": "w4a8"}
    assert not_faster_than(results, margin=0.0) == {"w4a16": "fp"}


def test_bench_policy_measures_each_mode_in_one_run():
    policy = Pi0Policy()
    results = bench_policy(policy, [PrecisionMode.W4A8, PrecisionMode.FP], steps=2, warmup=1, image_hw=(48, 64))
    assert list(results) == ["fp", "w4a8"]  # fp first, whatever the order asked
    # fp ran on its own float copy: the benchmarked policy was quantized once and stayed quantized
    assert policy.mode == PrecisionMode.W4A8 and policy.quant_report is not None
    assert results["fp"]["speedup_vs_fp"] == 1.0
    assert results["w4a8"]["weight_bytes"] < 0.35 * results["fp"]["weight_bytes"]
    for record in results.values():
        assert 0 < record["latency_ms_p50"] <= record["latency_ms_p99"]


def test_cli_writes_the_documented_json(tmp_path):
    out = tmp_path / "bench.json"
    args = ["bench", "--precision-modes", "fp,w4a16,w4a2", "--steps", "2", "--warmup", "0", "--image-size", "64x64"]
    assert main([*args, "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["model"] == "embedded" and report["device"] == "cpu"
    assert report["bf16_weight_bytes"] == 2 * report["parameters"]
    assert set(report["results"]) == {"fp", "w4a16", "w4a2"}
    for record in report["results"].values():
        assert {"latency_ms_p50", "latency_ms_p99", "weight_bytes", "speedup_vs_fp"} <= set(record)
    for cost in (report["switch_ms"], report["proxies_controller_ms"]):
        assert 0 < cost["p50"] <= cost["p99"]  # their speed goals are benchmark figures (docs/BENCHMARKS.md)


def test_scale_presets_have_their_nominal_sizes():
    import torch
    from transformers import PI0ForConditionalGeneration

    for name, low, high in (("scale-100m", 80e6, 120e6), ("scale-400m", 350e6, 450e6)):
        with torch.device("meta"):
            model = PI0ForConditionalGeneration(SCALE_PRESETS[name].to_pi0_config())
        assert low < sum(p.numel() for p in model.parameters()) < high, name
