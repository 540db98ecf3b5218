"""Compute allocation: projected compute per episode, the success-vs-compute front, `ablate --compute`."""

import json

import pytest

from dyq_vla_ros.cli import main
from dyq_vla_ros.evaluation.closed_loop import EpisodeResult
from dyq_vla_ros.evaluation.compute import episode_compute_ms, pareto_front
from dyq_vla_ros.types import PrecisionMode

COST = {
    "fp": {"prefix_ms": 20.0, "step_ms": 5.0},
    "w4a16": {"prefix_ms": 15.0, "step_ms": 4.0},
    "w4a8": {"prefix_ms": 10.0, "step_ms": 3.0},
}


def test_an_episode_costs_each_inference_its_widths_prefix_plus_its_steps():
    episode = EpisodeResult(seed=0, success=True, steps=10, inference_bits=[8, 16, 8], inference_steps=[1, 5, 2])
    assert episode_compute_ms(episode, COST) == pytest.approx((10 + 3) + (15 + 20) + (10 + 6))
    # fp runs its own float copy: its cost row, whatever the 16 bits recorded
    fp = EpisodeResult(seed=0, success=True, steps=10, inference_bits=[16, 16], inference_steps=[5, 5])
    assert episode_compute_ms(fp, COST, PrecisionMode.FP) == pytest.approx(2 * (20 + 25))
    # 4- and 2-bit inferences run the 8-bit integer path where the table has no row of their own
    low = EpisodeResult(seed=0, success=True, steps=5, inference_bits=[4, 2], inference_steps=[5, 5])
    assert episode_compute_ms(low, COST) == pytest.approx(2 * (10 + 15))


def test_the_front_keeps_what_nothing_beats_on_both_success_and_compute():
    results = {
        "cheap, poor": {"success_rate": 0.5, "compute_ms_per_episode_projected": 100.0},
        "dear, good": {"success_rate": 0.95, "compute_ms_per_episode_projected": 400.0},
        "dominated": {"success_rate": 0.9, "compute_ms_per_episode_projected": 500.0},
        "tied on success, cheaper": {"success_rate": 0.95, "compute_ms_per_episode_projected": 300.0},
    }
    assert sorted(pareto_front(results)) == ["cheap, poor", "tied on success, cheaper"]


def test_ablate_compute_runs_every_variant_with_the_steps_it_names(tmp_path, capsys):
    out, plot = tmp_path / "compute.json", tmp_path / "front.png"
    args = ["ablate", "--compute", "--episodes", "2", "--max-steps", "25", "--flow-steps", "1"]
    assert main([*args, "--theta-flow", "0.5", "--json", str(out), "--plot", str(plot)]) == 0
    report = json.loads(out.read_text())
    assert json.loads(capsys.readouterr().out) == report
    results = report["results"]
    assert list(results) == [
        "fp",
        "static w4a8",
        "static w4a8, 1 steps",
        "dyq",
        "dyq + flow steps 1/full, theta_flow=0.5",
    ]
    full = report["flow_cost"]["w4a8"]["full_steps"]
    assert full == 5  # the embedded model's count
    assert results["static w4a8"]["flow_steps_mean"] == full
    assert results["static w4a8, 1 steps"]["flow_steps_mean"] == 1
    assert 1 <= results["dyq + flow steps 1/full, theta_flow=0.5"]["flow_steps_mean"] <= full
    assert results["static w4a8"]["compute_vs_static_w4a8"] == 1.0
    # one step instead of five costs less by the measured split, whatever this machine's speed
    assert results["static w4a8, 1 steps"]["compute_vs_static_w4a8"] >= 1.0
    assert all(isinstance(r["within_fp_ci95"], bool) for r in results.values())
    assert set(report["front"]) <= set(results) and report["front"]
    assert plot.stat().st_size > 0
