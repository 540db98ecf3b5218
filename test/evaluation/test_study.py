"""`dyq-vla study`: step-wise perturbation of fp rollouts and the proxies' correlation with it."""

import numpy as np
import pytest

from dyq_vla_ros.evaluation import ClosedLoopEvaluator
from dyq_vla_ros.evaluation.study import (
    EpisodeStudy,
    SensitivityStudy,
    StudyConfig,
    correlations,
    plot_study,
    rank,
    summarise_study,
)
from dyq_vla_ros.policy import Pi0Policy
from dyq_vla_ros.sim import SimConfig


def test_rank_averages_ties_and_correlations_measure_agreement():
    np.testing.assert_allclose(rank(np.array([10.0, 30.0, 20.0, 20.0])), [0.0, 3.0, 1.5, 1.5])
    x = np.arange(10.0)
    c = correlations(x, x**3)
    assert c["spearman"] == pytest.approx(1.0) and 0.9 < c["pearson"] < 1.0
    assert correlations(x, -x)["pearson"] == pytest.approx(-1.0)
    assert correlations(x, np.ones(10)) == {"pearson": None, "spearman": None}


def test_perturbing_each_inference_gives_a_terminal_deviation(tmp_path):
    evaluator = ClosedLoopEvaluator({"actions_per_chunk": 4}, sim_config=SimConfig(max_steps=12))
    quantized = Pi0Policy(evaluator.policy.path, evaluator.policy.config)
    config = StudyConfig(episodes=1, stride=2, successful_only=False)
    study = SensitivityStudy(evaluator, quantized, config).episode(910_000)
    assert study is not None and len(study.ticks) == 3 and study.ticks[0] == 0
    assert study.perturbed == [0, 2] and len(study.deviation_mm) == 2
    assert all(d >= 0.0 for d in study.deviation_mm) and len(study.phases) == len(study.ticks)
    assert np.isnan(study.proxies["sensitivity"][0])  # nothing executed before the first inference
    # only successful references count by default; 12 steps cannot succeed
    assert SensitivityStudy(evaluator, quantized, StudyConfig(stride=5)).episode(910_000) is None
    plot_study(study, tmp_path / "study.png")
    assert (tmp_path / "study.png").stat().st_size > 5000


def test_summary_correlates_the_proxies_with_the_true_sensitivity():
    proxies = {
        "motion_fineness": [float("nan"), 0.1, 0.5, 0.9, 0.8],
        "angular_jerk": [float("nan"), 0.3, 0.1, 0.2, 0.4],
        "sensitivity": [float("nan"), 0.2, 0.3, 0.55, 0.6],
    }
    study = EpisodeStudy(1, [0, 5, 10, 15, 20], ["approach", "transport", "align", "align", "insert"], proxies)
    study.perturbed, study.deviation_mm, study.failed = [0, 1, 2, 3, 4], [9.0, 0.5, 2.0, 7.0, 6.0], [1, 0, 0, 1, 1]
    report = summarise_study([study], StudyConfig())
    assert report["perturbations"] == 4  # the first inference has no proxies
    assert report["correlation"]["sensitivity"]["spearman"] == pytest.approx(0.8)
    assert report["deviation_by_phase_mm"]["align"] == {"mean": 4.5, "count": 2}
    assert report["failure_rate"] == pytest.approx(0.6)
