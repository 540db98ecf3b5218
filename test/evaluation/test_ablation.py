"""`dyq-vla ablate`: the ablation ladder and the theta_fp sweep, with latencies projected on a bench table."""

import json

import pytest

from dyq_vla_ros.cli import main
from dyq_vla_ros.dyq import Calibration, Thresholds
from dyq_vla_ros.evaluation.ablation import ablation_variants, against_fp, projected, sweep_variants
from dyq_vla_ros.types import PrecisionMode

TABLE = {
    "fp": {"latency_ms_p50": 100.0},
    "w4a16": {"latency_ms_p50": 120.0},
    "w4a8": {"latency_ms_p50": 80.0},
    "w4a4": {"latency_ms_p50": 79.0},
    "w4a2": {"latency_ms_p50": 60.0},
}
CALIBRATED = Calibration(thresholds=Thresholds(0.1, 0.3, 0.6), allocation={"d_acc": 0.1})


def test_the_ladder_adds_switching_then_calibration_then_hardware_awareness():
    variants = ablation_variants(CALIBRATED, ["w4a2"], TABLE)
    assert [v.name for v in variants] == [
        "static w4a2",
        "+ kinematic switching",
        "+ calibrated allocation",
        "+ hardware-aware allocation",
    ]
    switching, calibrated, aware = variants[1:]
    assert switching.params == {"calibrated_thresholds": False} and switching.calibration.allowed_bits == (2, 4, 8, 16)
    assert calibrated.params == {"calibrated_thresholds": True} and calibrated.calibration.allowed_bits == (2, 4, 8, 16)
    assert aware.calibration.allowed_bits == (2, 8, 16)  # w4a4 is no faster than w4a8 here
    assert ablation_variants(CALIBRATED, [], None)[-1].calibration.allowed_bits == CALIBRATED.allowed_bits


def test_the_sweep_replaces_theta_fp_and_caps_the_lower_thresholds():
    low, high = sweep_variants(CALIBRATED, [0.2, 0.8])
    assert low.calibration.thresholds == Thresholds(0.1, 0.2, 0.2) and low.mode is PrecisionMode.DYQ
    assert high.calibration.thresholds == Thresholds(0.1, 0.3, 0.8) and high.calibration.thresholds_calibrated


def test_latency_is_projected_from_the_measured_width_shares():
    record = {"mode": "dyq", "inference_bits_share": {"2": 0.5, "4": 0.0, "8": 0.25, "16": 0.25}}
    p = projected(record, TABLE)
    assert p["projected_latency_ms"] == pytest.approx(0.5 * 60 + 0.25 * 80 + 0.25 * 120)
    assert p["projected_speedup_vs_fp"] == pytest.approx(100 / 80)
    assert projected({"mode": "fp", "inference_bits_share": {"16": 1.0}}, TABLE)["projected_speedup_vs_fp"] == 1.0


def test_each_mode_is_compared_with_fp_success_and_projected_on_the_table():
    shares = {"2": 0.0, "4": 0.0, "8": 0.5, "16": 0.5}
    results = {
        "fp": {"mode": "fp", "success_rate": 0.8, "ci95": [0.7, 0.9], "inference_bits_share": {"16": 1.0}},
        "dyq": {"mode": "dyq", "success_rate": 0.6, "ci95": [0.5, 0.7], "inference_bits_share": shares},
    }
    against_fp(results, TABLE)
    assert results["fp"]["success_vs_fp"] == 1.0 and results["fp"]["within_fp_ci95"]
    assert results["dyq"]["success_vs_fp"] == pytest.approx(0.75) and not results["dyq"]["within_fp_ci95"]
    assert results["dyq"]["projected_latency_ms"] == pytest.approx(100.0)
    alone = {"w4a8": {"mode": "w4a8", "success_rate": 0.5, "ci95": [0.4, 0.6], "inference_bits_share": shares}}
    against_fp(alone)
    assert "success_vs_fp" not in alone["w4a8"] and "projected_latency_ms" not in alone["w4a8"]


def test_cli_runs_every_variant_on_the_same_seeds(tmp_path):
    bench, out, png = tmp_path / "bench.json", tmp_path / "ablate.json", tmp_path / "sweep.png"
    bench.write_text(json.dumps({"results": TABLE}))
    argv = ["ablate", "--episodes", "1", "--max-steps", "8", "--static", "w4a2", "--theta-fp", "0.3,0.7"]
    assert main([*argv, "--bench", str(bench), "--json", str(out), "--plot", str(png)]) == 0
    results = json.loads(out.read_text())["results"]
    assert list(results) == [
        "static w4a2",
        "+ kinematic switching",
        "+ calibrated allocation",
        "+ hardware-aware allocation",
        "theta_fp=0.3",
        "theta_fp=0.7",
    ]
    assert results["static w4a2"]["projected_latency_ms"] == 60.0
    assert results["+ hardware-aware allocation"]["allowed_bits"] == [2, 8, 16]
    assert results["theta_fp=0.3"]["thresholds"]["theta_fp"] == 0.3
    assert results["+ kinematic switching"]["thresholds"] == {"theta_2_4": 0.15, "theta_4_8": 0.3, "theta_fp": 0.5}
    assert all(r["episodes"] == 1 for r in results.values()) and png.stat().st_size > 5000
