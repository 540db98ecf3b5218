"""`dyq-vla eval`: closed-loop episodes through the node's policy and control-loop code."""

import json
import math

import numpy as np
import pytest

from dyq_vla_ros.cli import main
from dyq_vla_ros.evaluation import ClosedLoopEvaluator, wilson_interval
from dyq_vla_ros.sim import PegInHoleEnv, SimConfig, is_eval_seed
from dyq_vla_ros.sim.scene import yaw_error
from dyq_vla_ros.types import PrecisionMode


def test_wilson_interval():
    lo, hi = wilson_interval(9, 10)
    assert lo == pytest.approx(0.5958, abs=1e-4) and hi == pytest.approx(0.9821, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    z2 = 1.96**2
    # all successes: the lower bound is n / (n + z^2), all failures the mirror image
    assert wilson_interval(200, 200) == (pytest.approx(200 / (200 + z2)), 1.0)
    assert wilson_interval(0, 20) == (0.0, pytest.approx(z2 / (20 + z2)))
    lo, hi = wilson_interval(92, 100)  # README's held-out figure: "95 % interval 85-96 %"
    assert (round(100 * lo), round(100 * hi)) == (85, 96)


def test_episodes_run_on_held_out_seeds_and_count_bits():
    evaluator = ClosedLoopEvaluator(sim_config=SimConfig(max_steps=25))
    report = evaluator.evaluate([PrecisionMode.W4A4, PrecisionMode.DYQ], 2, seed_start=3, progress=False)
    assert report["seeds"] == [1_000_003, 1_000_004] and all(is_eval_seed(s) for s in report["seeds"])
    static, dyq = report["results"]["w4a4"], report["results"]["dyq"]
    assert static["bits_share"] == {"2": 0.0, "4": 1.0, "8": 0.0, "16": 0.0}
    assert static["inference_bits_share"] == {"2": 0.0, "4": 1.0, "8": 0.0, "16": 0.0}
    # dyq on the shipped calibration: widths 8 and 16 only, every episode's first inference at 16 bits
    assert report["allowed_bits"] == [8, 16]
    episodes = evaluator.run_episodes([1_000_003, 1_000_004], PrecisionMode.DYQ, progress=False)
    assert [e.inference_bits[0] for e in episodes] == [16, 16] and [e.tick_bits[0] for e in episodes] == [16, 16]
    ticks = [b for e in episodes for b in e.tick_bits]
    assert dyq["bits_share"] == {str(b): ticks.count(b) / len(ticks) for b in (2, 4, 8, 16)}  # the same episodes
    for record in (static, dyq):
        # 25 steps cannot insert a peg: every episode runs to its time-out and fails
        assert record["episodes"] == 2 and record["successes"] == 0 and record["episode_length_mean"] == 25
        assert record["success_rate"] == 0.0 and record["ci95"] == pytest.approx(list(wilson_interval(0, 2)))
        assert record["latency_ms_mean"] > 0
    assert static["weight_bytes"] == evaluator.weight_bytes(PrecisionMode.W4A4) < report_fp_bytes()


def test_cli_writes_valid_json(tmp_path):
    out, bench = tmp_path / "eval.json", tmp_path / "bench.json"
    bench.write_text(json.dumps({"results": {"fp": {"latency_ms_p50": 10.0}, "w4a16": {"latency_ms_p50": 8.0}}}))
    argv = ["eval", "--episodes", "1", "--precision-modes", "fp,w4a16", "--max-steps", "15", "--bench", str(bench)]
    assert main([*argv, "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    fp, w4 = report["results"]["fp"], report["results"]["w4a16"]
    assert fp["episodes"] == 1 and fp["bits_share"]["16"] == 1.0
    assert set(fp) >= {"success_rate", "ci95", "episodes", "latency_ms_mean", "weight_bytes", "bits_share"}
    assert w4["projected_latency_ms"] == 8.0 and w4["projected_speedup_vs_fp"] == 1.25
    # neither 15-step episode succeeds: w4a16's 0 % lies in fp's interval for 0 of 1, and has no ratio to fp's 0 %
    assert fp["successes"] == w4["successes"] == 0 and fp["ci95"] == pytest.approx(list(wilson_interval(0, 1)))
    assert w4["within_fp_ci95"] is True and w4["success_vs_fp"] is None and report["latency_table"] == str(bench)


def test_worker_processes_run_the_same_episodes():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in each worker, so the arithmetic is the same
    try:
        seq = ClosedLoopEvaluator(sim_config=SimConfig(max_steps=10)).run_episodes(
            [1_000_000, 1_000_001], PrecisionMode.DYQ, progress=False
        )
    finally:
        torch.set_num_threads(threads)
    with ClosedLoopEvaluator(sim_config=SimConfig(max_steps=10), workers=2) as evaluator:
        par = evaluator.run_episodes([1_000_000, 1_000_001], PrecisionMode.DYQ, progress=False)
        report = evaluator.evaluate([PrecisionMode.W4A8], 2, progress=False)
    assert [e.seed for e in par] == [1_000_000, 1_000_001]
    for a, b in zip(seq, par, strict=True):
        assert (a.steps, a.tick_bits, a.inference_bits) == (b.steps, b.tick_bits, b.inference_bits)
    assert report["workers"] == 2 and report["results"]["w4a8"]["weight_bytes"] < report_fp_bytes()


def report_fp_bytes() -> int:
    from dyq_vla_ros.policy import Pi0Policy

    return Pi0Policy().weight_bytes()


def test_partial_progress_is_reported_per_episode():
    from dyq_vla_ros.evaluation.closed_loop import EpisodeResult, summarise

    episodes = [
        EpisodeResult(1, True, 80, grasped=True, reached=True, final_distance_mm=0.5, final_yaw_error_deg=1.0),
        EpisodeResult(2, False, 200, grasped=True, final_distance_mm=30.0, final_yaw_error_deg=12.0),
        EpisodeResult(3, False, 200, grasped=False, final_distance_mm=300.0, final_yaw_error_deg=20.0),
    ]
    record = summarise(PrecisionMode.FP, episodes, 1000)
    assert record["grasp_rate"] == pytest.approx(2 / 3) and record["final_distance_mm_median"] == 30.0
    assert record["reach_rate"] == pytest.approx(1 / 3) and record["final_yaw_error_deg_median"] == 12.0
    assert record["final_distance_mm_mean"] == pytest.approx(330.5 / 3)
    evaluator = ClosedLoopEvaluator(sim_config=SimConfig(max_steps=5))
    result = evaluator.run_episode(1_000_000, PrecisionMode.FP)
    assert not result.grasped and not result.reached and result.steps == 5
    # in five steps the arm cannot reach the peg: its distance and yaw error to the hole are the layout's own
    env = PegInHoleEnv()
    env.reset(1_000_000)
    peg, block = env.target_peg, env.target_block
    assert result.final_distance_mm == pytest.approx(np.linalg.norm(peg.pos[:2] - block.xy) * 1e3, abs=1e-9)
    assert result.final_distance_mm > 100
    assert result.final_yaw_error_deg == pytest.approx(abs(math.degrees(yaw_error(peg.yaw, block.yaw))), abs=1e-9)


HELD_OUT_EPISODES, REQUIRED_SUCCESSES = 40, 31
"""The embedded model must insert the peg in at least 31 of 40 held-out episodes per mode.

Measured on held-out seeds 0..99: fp 91/100, dyq 95/100. Taking p = 0.9 per episode (below both),
the successes X of 40 episodes are Binomial(40, 0.9) and P(X < 31) = 0.0051, so a sound model fails
this test on a fresh seed range about once in 200 (P = 0.0024 at p = 0.91, 2e-5 at p = 0.95); a
model degraded to p = 0.75 still passes 44 % of the time, one at p = 0.7 20 %.
"""
SEED_OFFSET = 200
"""The seeds are held-out seeds 200..239, not the range the model's rates were measured on."""


@pytest.fixture(scope="module")
def embedded_evaluator():
    with ClosedLoopEvaluator(workers=2) as evaluator:  # one process per core, one torch thread each
        yield evaluator


@pytest.mark.parametrize("mode", [PrecisionMode.FP, PrecisionMode.DYQ])
def test_the_embedded_model_grasps_carries_and_inserts_on_held_out_seeds(embedded_evaluator, mode):
    """The shipped checkpoint does the task with the node's defaults (see REQUIRED_SUCCESSES for the odds).

    In dyq it runs on its shipped calibration: hardware-aware widths 8 and 16 only.
    """
    from dyq_vla_ros.evaluation.closed_loop import summarise
    from dyq_vla_ros.sim import eval_seeds

    seeds = eval_seeds(HELD_OUT_EPISODES, SEED_OFFSET)
    episodes = embedded_evaluator.run_episodes(seeds, mode, progress=False)
    outcome = [(e.seed, e.success, round(e.final_distance_mm, 1), round(e.final_yaw_error_deg, 1)) for e in episodes]
    wins = [e for e in episodes if e.success]
    assert len(wins) >= REQUIRED_SUCCESSES, outcome
    max_steps = SimConfig().max_steps
    for e in episodes:
        if e.success:  # inserted: grasped, carried to the hole, inside the task's 4 mm (per axis) and 5 degrees
            assert e.grasped and e.reached and e.steps < max_steps, outcome
            assert e.final_distance_mm <= 4.0 * math.sqrt(2) and e.final_yaw_error_deg <= 5.0, outcome
        else:  # an episode ends only on success or its time-out
            assert e.steps == max_steps, outcome
    record = summarise(mode, episodes, 1)
    assert record["successes"] == len(wins) and record["ci95"] == pytest.approx(list(wilson_interval(len(wins), 40)))
    if mode is PrecisionMode.DYQ:
        assert embedded_evaluator.policy.calibration.allowed_bits == (8, 16)
        bits = {b for e in episodes for b in e.inference_bits}
        assert bits == {8, 16}, bits
        assert all(e.inference_bits[0] == 16 for e in episodes)  # each episode starts at 16 bits
    else:
        assert all(set(e.inference_bits) == {16} for e in episodes)


def test_a_joint_position_checkpoint_drives_the_simulator_by_joint_commands(tmp_path):
    from factories import make_transformers_checkpoint

    model, _ = make_transformers_checkpoint(tmp_path / "tf", state_dim=7, action_dim=7)  # six joints and the gripper
    evaluator = ClosedLoopEvaluator({"model_path": str(model)}, sim_config=SimConfig(max_steps=8))
    assert evaluator.policy.predicts_joint_positions
    start = evaluator.env.reset(1_000_000).joint_positions.copy()
    target = start.copy()
    target[5] += 0.05  # turn the wrist a little, gripper open: reachable in one rate-limited step
    chunks = []

    def predict(request, obs):
        chunks.append(evaluator.policy.predict_action_chunk(obs))  # the checkpoint's own inference still runs
        return np.tile(target, (evaluator.policy.chunk_size, 1))

    result = evaluator.run_episode(1_000_000, PrecisionMode.W4A8, predict=predict)
    assert result.steps == 8 and chunks and all(c.shape == (6, 7) for c in chunks)
    np.testing.assert_allclose(evaluator.env.joint_positions()[:6], target[:6], atol=1e-9)
