"""`dyq-vla study`: per-step records of s_t = D_T / e_t over several draws, correlated with every proxy."""

import json

import numpy as np
import pytest

from dyq_vla_ros.evaluation import ClosedLoopEvaluator
from dyq_vla_ros.evaluation.study import (
    PROXIES,
    EpisodeStudy,
    SensitivityStudy,
    StepRecord,
    StudyConfig,
    plot_study,
    summarise_study,
)
from dyq_vla_ros.evaluation.study_report import correlations, rank
from dyq_vla_ros.policy import Pi0Policy
from dyq_vla_ros.sim import SimConfig


def test_rank_averages_ties_and_correlations_measure_agreement():
    np.testing.assert_allclose(rank(np.array([10.0, 30.0, 20.0, 20.0])), [0.0, 3.0, 1.5, 1.5])
    x = np.arange(10.0)
    c = correlations(x, x**3)
    assert c["spearman"] == pytest.approx(1.0) and 0.9 < c["pearson"] < 1.0 and c["n"] == 10
    assert correlations(x, -x)["pearson"] == pytest.approx(-1.0)
    assert correlations(x, np.ones(10)) == {"pearson": None, "spearman": None, "n": 10}
    assert correlations([np.nan, 1.0, 2.0, 3.0], [5.0, 1.0, 2.0, 3.0])["n"] == 3  # NaN pairs left out


def test_each_step_has_draws_with_error_and_deviation(tmp_path):
    evaluator = ClosedLoopEvaluator({"actions_per_chunk": 4}, sim_config=SimConfig(max_steps=12))
    quantized = Pi0Policy(evaluator.policy.path, evaluator.policy.config)
    config = StudyConfig(episodes=1, stride=2, draws=2, successful_only=False)
    study = SensitivityStudy(evaluator, quantized, config).episode(910_000)
    assert study is not None and study.ticks == [0, 4, 8] and len(study.phases) == 3
    assert [s.inference for s in study.steps] == [0, 2] and all(len(s.errors) == 2 for s in study.steps)
    for step in study.steps:
        assert all(e > 0 for e in step.errors)  # 4-bit activations always move a chunk somewhat
        assert step.sensitivity == pytest.approx(np.mean(step.deviations_mm) / np.mean(step.errors))
        assert set(step.proxies) == set(PROXIES)
    assert study.steps[0].errors[0] != study.steps[0].errors[1]  # the second draw has its own flow noise
    assert all(s > 0 for s in study.proxies["noise_spread"])  # fp under other noise differs from the reference
    assert np.isnan(study.proxies["sensitivity"][0])  # nothing executed before the first inference
    # only successful references count by default; 12 steps cannot succeed
    assert SensitivityStudy(evaluator, quantized, StudyConfig(stride=5)).episode(910_000) is None
    plot_study(study, tmp_path / "study.png")
    assert (tmp_path / "study.png").stat().st_size > 5000
    assert json.loads(json.dumps(study.to_json()))["steps"][1]["tick"] == 8


def _step(inference: int, phase: str, s: float, proxy: float) -> StepRecord:
    proxies = dict.fromkeys(PROXIES, proxy)
    return StepRecord(inference, 5 * inference, phase, proxies, [1.0, 1.0], [s, s], [s > 5, False])


def test_summary_correlates_per_step_and_per_phase():
    steps = [
        _step(0, "approach", 9.0, 0.9),
        _step(1, "transport", 0.5, 0.1),
        _step(2, "align", 2.0, 0.3),
        _step(3, "align", 7.0, 0.6),
        _step(4, "insert", 6.0, 0.8),
    ]
    study = EpisodeStudy(1, [0, 5, 10, 15, 20], [s.phase for s in steps], {}, steps)
    report = summarise_study([study], StudyConfig())
    assert report["perturbations"] == 10 and report["draws"] == 3
    assert report["correlation_step"]["disagreement"]["spearman"] == pytest.approx(0.9)  # one pair swapped
    assert report["phases"]["align"]["s_mean"] == pytest.approx(4.5) and report["phases"]["align"]["steps"] == 2
    assert report["correlation_phase"]["gripper"]["n"] == 4
    assert report["failure_rate"] == pytest.approx(0.3)
    assert report["records"][0]["steps"][3]["s"] == pytest.approx(7.0)
