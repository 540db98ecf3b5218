"""`dyq-vla calibrate`: per-width action errors on fp rollouts and the allocation drawn from them."""

import numpy as np
import pytest

from dyq_vla_ros.cli import main
from dyq_vla_ros.dyq import CalibrationError, Thresholds
from dyq_vla_ros.evaluation import ClosedLoopEvaluator
from dyq_vla_ros.evaluation.calibrate import CalibrateConfig, ErrorProbe, StepErrors, allocate, chunk_error
from dyq_vla_ros.policy import Pi0Policy
from dyq_vla_ros.sim import SimConfig


def test_chunk_error_is_the_mean_scaled_distance_over_executed_actions():
    ref = np.zeros((4, 2))
    chunk = np.array([[3.0, 4.0], [0.0, 2.0], [9.0, 9.0], [9.0, 9.0]])
    assert chunk_error(chunk, ref, np.array([1.0, 2.0]), executed=2) == pytest.approx((np.hypot(3, 2) + 1.0) / 2)


def test_each_inference_of_an_fp_rollout_gets_every_widths_error():
    evaluator = ClosedLoopEvaluator({"actions_per_chunk": 5}, sim_config=SimConfig(max_steps=12))
    probe = ErrorProbe(evaluator, Pi0Policy(evaluator.policy.path, evaluator.policy.config))
    result, steps = probe.episode(900_000)
    assert probe.executed == 5
    assert len(steps) == len(result.inference_bits) >= 2 and set(result.inference_bits) == {16}
    for step in steps:
        assert set(step.errors) == {2, 4, 8, 16} and all(np.isfinite(e) and e > 0 for e in step.errors.values())
        assert step.noise_floor > 0
    # 2-bit activations distort the chunk more than 16-bit ones on the same 4-bit weights
    assert np.mean([s.errors[2] for s in steps]) > np.mean([s.errors[16] for s in steps])
    assert steps[0].sensitivity == 0.0  # nothing executed yet


def test_allocation_from_pooled_errors_and_a_latency_table():
    steps = [StepErrors(s, {2: 1.0, 4: 0.5, 8: 0.25, 16: 0.2}, noise_floor=0.5) for s in (0.0, 0.3, 0.8)]
    config = CalibrateConfig(eta=0.1, theta_fp_max=0.6)
    thresholds, allowed, record = allocate(steps, config, {16: 10.0, 8: 7.0, 4: 6.9, 2: 4.0})
    # D_acc = 0.5 * (0.6 + 0.1) = 0.35: 2 bits fit up to 0.25, 4 up to 0.6, 8 up to 1.3 (capped at 0.6)
    assert record["d_acc"] == pytest.approx(0.35)
    assert thresholds == Thresholds(0.25, 0.6, 0.6)
    assert allowed == (2, 8, 16)
    assert record["expected_error"]["2"] == 1.0 and sum(r["inferences"] for r in record["errors_by_sensitivity"]) == 3
    thresholds, allowed, _ = allocate(steps, CalibrateConfig(d_acc=0.05), None)
    assert allowed == (2, 4, 8, 16) and thresholds == Thresholds(0.0, 0.0, 0.1)
    with pytest.raises(CalibrationError, match="no inference"):
        allocate([], config, None)


def test_cli_refuses_to_calibrate_without_a_successful_rollout(tmp_path, capsys):
    out = tmp_path / "cal.json"
    with pytest.raises(SystemExit) as exc:
        main(["calibrate", "--episodes", "1", "--max-steps", "5", "--out", str(out)])
    assert exc.value.code == 2 and "no inference of a successful fp rollout" in capsys.readouterr().err
    assert not out.exists()


def test_cli_writes_a_calibration_the_control_loop_uses(tmp_path):
    import json

    from dyq_vla_ros.control import initial_thresholds
    from dyq_vla_ros.dyq import Calibration
    from dyq_vla_ros.params import NodeParams

    out, report = tmp_path / "cal.json", tmp_path / "report.json"
    argv = ["calibrate", "--episodes", "1", "--max-steps", "12", "--include-failures"]
    assert main([*argv, "--out", str(out), "--json", str(report)]) == 0
    data = json.loads(report.read_text())
    cal = Calibration.load(out)
    assert cal.thresholds_calibrated and cal.allocation["successful_only"] is False
    assert data["inferences"] >= 2 and set(data["expected_error"]) == {"2", "4", "8", "16"}
    assert cal.thresholds == Thresholds(**data["thresholds"]) and cal.allowed_bits == (2, 4, 8, 16)
    assert initial_thresholds(cal, NodeParams.defaults()) == cal.thresholds
