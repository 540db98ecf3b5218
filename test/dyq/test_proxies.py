"""Kinematic proxies against hand-computed values."""

import numpy as np
import pytest

from dyq_vla_ros.dyq import ActionProxies, JointStateProxies, ProxyInputError, RunningP95, SensitivityEstimator


def test_running_p95_uses_prior_until_enough_samples_then_history():
    p = RunningP95(2.0, history=5, min_samples=3)
    assert p.value() == 2.0
    p.push(1.0)
    p.push(2.0)
    assert p.value() == 2.0  # still the prior with 2 of 3 samples
    p.push(3.0)
    assert p.value() == pytest.approx(2.9)  # np.percentile([1, 2, 3], 95)


def test_running_p95_history_is_bounded():
    p = RunningP95(1.0, history=3, min_samples=1)
    for x in (100.0, 100.0, 100.0, 1.0, 1.0, 1.0):
        p.push(x)
    assert len(p) == 3
    assert p.value() == pytest.approx(1.0)


def test_running_p95_never_below_floor_fraction_of_prior():
    p = RunningP95(2.0, history=10, min_samples=1, floor_fraction=0.1)
    p.push(0.0)
    assert p.value() == pytest.approx(0.2)


def test_running_p95_rejects_bad_prior():
    with pytest.raises(ValueError):
        RunningP95(0.0)


def _estimator(**kw):
    args = dict(speed_p95=2.0, change_p95=1.0, motion_window=2, jerk_window=2, lam=0.5, min_samples=100)
    args.update(kw)
    return SensitivityEstimator(**args)


def test_sensitivity_hand_computed_sequence():
    est = _estimator()
    # m = 1 - speed/2, j = change/1; windows of 2; S = max(0, 0.5*M~ + 0.5*J~)
    s1 = est.update(1.0, None)
    assert (s1.motion_fineness_raw, s1.angular_jerk_raw) == (0.5, 0.0)
    assert s1.sensitivity == pytest.approx(0.25)
    s2 = est.update(0.0, 0.5)
    assert s2.motion_fineness == pytest.approx(0.75)
    assert s2.angular_jerk == pytest.approx(0.25)
    assert s2.sensitivity == pytest.approx(0.5)
    s3 = est.update(4.0, 0.0)
    assert s3.motion_fineness_raw == pytest.approx(-1.0)
    assert s3.motion_fineness == pytest.approx(0.0)
    assert s3.sensitivity == pytest.approx(0.125)
    s4 = est.update(4.0, 0.0)
    assert s4.motion_fineness == pytest.approx(-1.0)
    assert s4.sensitivity == 0.0  # clamped at zero


def test_sensitivity_lambda_weights_the_two_proxies():
    est = _estimator(lam=1.0)
    assert est.update(0.0, None).sensitivity == pytest.approx(1.0)
    est = _estimator(lam=0.0)
    est.update(0.0, None)
    assert est.update(0.0, 0.8).sensitivity == pytest.approx(0.4)  # J~ = (0 + 0.8) / 2


def test_default_windows_are_ten_and_five():
    est = SensitivityEstimator(speed_p95=1.0, change_p95=1.0, min_samples=1000)
    for _ in range(10):
        est.update(1.0, 0.0)  # m = 0, j = 0
    # one fine step: M~ = (9*0 + 1)/10 = 0.1; one jerky step: J~ = (4*0 + 1)/5 = 0.2
    s = est.update(0.0, 1.0)
    assert s.motion_fineness == pytest.approx(0.1)
    assert s.angular_jerk == pytest.approx(0.2)
    assert s.sensitivity == pytest.approx(0.15)


def test_normaliser_from_previous_steps_only():
    est = _estimator(min_samples=1, motion_window=1, jerk_window=1)
    est.update(1.0, None)  # normalised by the prior 2.0, then pushed
    s = est.update(1.0, None)  # P95([1.0]) = 1.0 -> m = 0
    assert s.motion_fineness_raw == pytest.approx(0.0)


def test_reset_restores_priors_and_clears_windows():
    est = _estimator(min_samples=1)
    est.update(10.0, None)
    est.update(10.0, 5.0)
    est.reset()
    assert est.last is None
    assert est.update(1.0, None).motion_fineness_raw == pytest.approx(0.5)


def test_action_proxies_speed_and_rotation_change():
    proxies = ActionProxies(_estimator(speed_p95=10.0, change_p95=6.0, motion_window=1, jerk_window=1))
    s1 = proxies.update(np.array([3.0, 4.0, 0.0, 0.0, 0.0, 0.0, 1.0]))
    assert s1.motion_fineness_raw == pytest.approx(0.5)  # 1 - 5/10
    assert s1.angular_jerk_raw == 0.0  # no previous rotation
    s2 = proxies.update(np.array([0.0, 0.0, 0.0, 1.0, 2.0, 2.0, -1.0]))
    assert s2.motion_fineness_raw == pytest.approx(1.0)
    assert s2.angular_jerk_raw == pytest.approx(0.5)  # ||(1,2,2)|| = 3, / 6


def test_action_proxies_reject_bad_actions():
    proxies = ActionProxies(_estimator())
    with pytest.raises(ProxyInputError):
        proxies.update(np.array([np.nan, 0, 0, 0, 0, 0, 0]))
    with pytest.raises(ProxyInputError):
        proxies.update(np.zeros(3))


def test_joint_state_proxies_velocity_and_change():
    proxies = JointStateProxies(_estimator(speed_p95=2.0, change_p95=4.0, motion_window=1, jerk_window=1))
    assert proxies.update(np.array([0.0, 0.0]), 0.0) is None
    s1 = proxies.update(np.array([0.3, 0.4]), 0.5)  # v = (0.6, 0.8), |v| = 1
    assert s1.motion_fineness_raw == pytest.approx(0.5)
    assert s1.angular_jerk_raw == 0.0
    s2 = proxies.update(np.array([0.3, 0.4]), 1.0)  # v = 0, |dv| = 1
    assert s2.motion_fineness_raw == pytest.approx(1.0)
    assert s2.angular_jerk_raw == pytest.approx(0.25)


def test_joint_state_proxies_reject_time_going_backwards_and_joint_count_change():
    proxies = JointStateProxies(_estimator())
    proxies.update(np.zeros(2), 1.0)
    with pytest.raises(ProxyInputError):
        proxies.update(np.ones(2), 1.0)
    with pytest.raises(ProxyInputError):
        proxies.update(np.ones(3), 2.0)


def test_percentile95_equals_numpys_linear_percentile():
    from dyq_vla_ros.dyq.proxies import percentile95

    rng = np.random.default_rng(3)
    for n in (1, 2, 3, 20, 21, 199, 200):
        values = rng.exponential(size=n)
        assert percentile95(values.copy()) == pytest.approx(float(np.percentile(values, 95.0)), rel=1e-12)
    assert percentile95(np.array([1.0, 2.0, 3.0, 4.0, 5.0])) == pytest.approx(4.8)  # 1 + 0.95 * 4 = index 3.8
