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


def test_calibrated_thresholds_are_marked_and_round_trip(tmp_path):
    default = Calibration()
    assert not default.thresholds_calibrated and "allocation" not in default.to_dict()
    record = {"d_acc": 0.2, "expected_error": {"2": 1.0, "4": 0.5, "8": 0.2, "16": 0.1}}
    cal = Calibration(thresholds=Thresholds(0.05, 0.2, 0.4), allocation=record)
    cal.save(tmp_path / "c.json")
    loaded = Calibration.load(tmp_path / "c.json")
    assert loaded == cal and loaded.thresholds_calibrated
    bad = {**cal.to_dict(), "allocation": [1, 2]}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(CalibrationError, match="allocation"):
        Calibration.load(tmp_path / "bad.json")


def test_version_1_files_still_load(tmp_path):
    v1 = {
        "version": 1,
        "action": {"speed_p95": 0.02, "change_p95": 0.05},
        "joint_state": {"speed_p95": 0.3, "change_p95": 0.2},
        "thresholds": {"theta_2_4": 0.15, "theta_4_8": 0.3, "theta_fp": 0.5},
        "allowed_bits": [2, 4, 8, 16],
    }
    (tmp_path / "v1.json").write_text(json.dumps(v1))
    cal = Calibration.load(tmp_path / "v1.json")
    assert cal.action.speed_p95 == 0.02 and not cal.thresholds_calibrated
