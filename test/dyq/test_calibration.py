"""Calibration: P95 priors from episodes, JSON round trip, clear errors."""

import json

import numpy as np
import pytest

from dyq_vla_ros.dyq import (
    Calibration,
    CalibrationError,
    NormaliserPriors,
    Thresholds,
    action_magnitudes,
    joint_magnitudes,
    p95_priors,
)


def test_action_magnitudes():
    a = np.array([[3, 4, 0, 0, 0, 0, 1], [0, 0, 0, 1, 2, 2, 1]], dtype=float)
    speeds, changes = action_magnitudes(a)
    np.testing.assert_allclose(speeds, [5.0, 0.0])
    np.testing.assert_allclose(changes, [3.0])


def test_joint_magnitudes():
    q = np.array([[0.0], [1.0], [3.0]])
    speeds, changes = joint_magnitudes(q, np.array([0.0, 1.0, 2.0]))
    np.testing.assert_allclose(speeds, [1.0, 2.0])
    np.testing.assert_allclose(changes, [1.0])


def test_p95_priors_pool_episodes():
    priors = p95_priors([(np.arange(1, 11, dtype=float), np.ones(3)), (np.arange(11, 21, dtype=float), np.ones(2))])
    assert priors.speed_p95 == pytest.approx(np.percentile(np.arange(1, 21), 95))
    assert priors.change_p95 == pytest.approx(1.0)
    with pytest.raises(CalibrationError):
        p95_priors([])


def test_json_round_trip(tmp_path):
    cal = Calibration(NormaliserPriors(0.3, 0.2), NormaliserPriors(1.5, 2.0), Thresholds(0.1, 0.2, 0.6), (4, 8, 16))
    cal.save(tmp_path / "c.json")
    assert Calibration.load(tmp_path / "c.json") == cal


def test_bad_files_raise_calibration_error(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(CalibrationError):
        Calibration.load(tmp_path / "bad.json")
    (tmp_path / "missing.json").write_text(json.dumps({"action": {"speed_p95": 1, "change_p95": 1}}))
    with pytest.raises(CalibrationError, match="missing"):
        Calibration.load(tmp_path / "missing.json")
    with pytest.raises(CalibrationError, match="positive"):
        NormaliserPriors(-1.0, 1.0)
