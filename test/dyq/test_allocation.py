"""Error-budget thresholds and hardware-aware widths."""

import pytest

from dyq_vla_ros.dyq import CalibrationError, Thresholds
from dyq_vla_ros.dyq.allocation import budget_limit, budget_thresholds, hardware_allowed_bits


def test_a_width_fits_the_budget_up_to_its_limit():
    # E_b <= D / (S + eta)  <=>  S <= D / E_b - eta
    assert budget_limit(0.5, d_acc=0.3, eta=0.1) == pytest.approx(0.5)
    assert budget_limit(0.0, d_acc=0.3, eta=0.1) == float("inf")


def test_thresholds_follow_the_errors_and_are_ordered_and_clipped():
    t = budget_thresholds({2: 1.0, 4: 0.5, 8: 0.25, 16: 0.1}, d_acc=0.2, eta=0.1, theta_fp_max=0.6)
    assert t == Thresholds(theta_2_4=0.1, theta_4_8=0.3, theta_fp=0.6)  # 8 bits would fit up to 0.7: capped
    # A huge 2-bit error never allows 2 bits; a tiny budget sends everything to 16 bits.
    t = budget_thresholds({2: 100.0, 4: 0.5, 8: 0.25}, d_acc=0.2, eta=0.1, theta_fp_max=0.5)
    assert t.theta_2_4 == 0.0 and t.theta_4_8 == pytest.approx(0.3)
    assert budget_thresholds({2: 9.0, 4: 9.0, 8: 9.0}, 0.01, 0.1, 0.5) == Thresholds(0.0, 0.0, 0.0)
    # A noisier 4-bit than 2-bit measurement cannot put theta_2_4 above theta_4_8.
    t = budget_thresholds({2: 0.4, 4: 0.8, 8: 0.2}, d_acc=0.2, eta=0.1, theta_fp_max=0.9)
    assert t.theta_2_4 == t.theta_4_8 == pytest.approx(0.15)


def test_bad_budgets_raise():
    with pytest.raises(CalibrationError, match="missing"):
        budget_thresholds({2: 1.0, 8: 0.2}, 0.2, 0.1, 0.5)
    with pytest.raises(CalibrationError, match="positive"):
        budget_thresholds({2: 1.0, 4: 0.5, 8: 0.2}, 0.0, 0.1, 0.5)


def test_widths_no_faster_than_a_more_precise_allowed_one_are_dropped():
    assert hardware_allowed_bits({16: 100.0, 8: 60.0, 4: 40.0, 2: 39.0}) == (4, 8, 16)  # 2 ~ 4 (within 5 %)
    assert hardware_allowed_bits({16: 100.0, 8: 120.0, 4: 90.0, 2: 50.0}) == (2, 4, 16)
    assert hardware_allowed_bits({16: 10.0, 8: 10.0, 4: 10.0, 2: 10.0}) == (16,)
    with pytest.raises(CalibrationError, match="16-bit"):
        hardware_allowed_bits({8: 1.0})
