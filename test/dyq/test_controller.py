"""Precision controller: lookup table, thresholds, hysteresis corner cases and static modes."""

import pytest

from dyq_vla_ros.dyq import CalibrationError, PrecisionController, Thresholds
from dyq_vla_ros.types import PrecisionMode

LOW, MID, HIGH, FP = 0.0, 0.2, 0.4, 0.9  # -> 2, 4, 8, 16 bits with the default thresholds


@pytest.mark.parametrize(
    ("s", "bits"),
    [(0.0, 2), (0.15, 2), (0.1501, 4), (0.3, 4), (0.3001, 8), (0.5, 8), (0.5001, 16), (3.0, 16)],
)
def test_lookup_table_boundaries(s, bits):
    assert Thresholds().lookup(s) == bits


def test_thresholds_must_be_ordered_and_in_unit_interval():
    with pytest.raises(CalibrationError, match="theta_2_4 <= theta_4_8 <= theta_fp"):
        Thresholds(0.4, 0.3, 0.5)
    with pytest.raises(CalibrationError, match="outside"):
        Thresholds(0.1, 0.3, 1.5)


def test_dynamic_mode_starts_at_16_bits():
    assert PrecisionController().bits == 16


def test_downgrade_only_after_k_consecutive_requests():
    c = PrecisionController(downgrade_steps=5)
    for _ in range(4):
        assert c.step(LOW) == 16
    assert c.step(LOW) == 2
    assert c.switch_count == 1


def test_interrupted_downgrade_run_starts_over():
    c = PrecisionController(downgrade_steps=5)
    for _ in range(4):
        c.step(LOW)
    assert c.step(FP) == 16  # a request equal to the current width resets the counter
    for _ in range(4):
        assert c.step(LOW) == 16
    assert c.step(LOW) == 2


def test_upgrade_is_immediate():
    c = PrecisionController(downgrade_steps=1)
    assert c.step(LOW) == 2
    assert c.step(HIGH) == 8
    assert c.step(FP) == 16


def test_upgrade_during_pending_downgrade_cancels_it():
    c = PrecisionController(downgrade_steps=3)
    for _ in range(3):
        c.step(LOW)
    assert c.bits == 2
    assert c.step(MID) == 4  # upgrade 2 -> 4 applies at once
    c.step(LOW)
    c.step(LOW)
    assert c.step(HIGH) == 8  # upgrade while a downgrade to 2 was pending
    assert c.step(LOW) == 8  # the count restarted


def test_downgrade_goes_to_the_highest_width_asked_during_the_run():
    c = PrecisionController(downgrade_steps=5)
    for s in (LOW, HIGH, LOW, MID, LOW):
        c.step(s)
    assert c.bits == 8


def test_downgrade_from_8_to_4():
    c = PrecisionController(downgrade_steps=2)
    c.step(HIGH)
    c.step(HIGH)
    assert c.bits == 8
    c.step(MID)
    assert c.step(MID) == 4


def test_k_equal_one_downgrades_at_once():
    c = PrecisionController(downgrade_steps=1)
    assert c.step(LOW) == 2


@pytest.mark.parametrize(
    ("mode", "bits"),
    [
        (PrecisionMode.FP, 16),
        (PrecisionMode.W4A16, 16),
        (PrecisionMode.W4A8, 8),
        (PrecisionMode.W4A4, 4),
        (PrecisionMode.W4A2, 2),
    ],
)
def test_static_modes_pin_the_width(mode, bits):
    c = PrecisionController(mode)
    for s in (LOW, FP, MID, LOW, LOW, LOW, LOW, LOW, LOW):
        assert c.step(s) == bits


def test_mode_switch_at_run_time():
    c = PrecisionController(downgrade_steps=1)
    c.step(LOW)
    c.mode = PrecisionMode.W4A4
    assert c.step(FP) == 4
    c.mode = PrecisionMode.DYQ
    assert c.bits == 16  # dynamic mode restarts at full precision
    assert c.step(LOW) == 2


def test_allowed_bits_round_requests_up():
    c = PrecisionController(downgrade_steps=1, allowed_bits=(4, 8))
    assert c.request(LOW) == 4
    assert c.step(LOW) == 4
    c = PrecisionController(downgrade_steps=1, allowed_bits=(2,))
    assert c.request(HIGH) == 16


def test_reset_returns_to_16_bits():
    c = PrecisionController(downgrade_steps=1)
    c.step(LOW)
    c.reset()
    assert c.bits == 16


def test_bad_settings_rejected():
    with pytest.raises(ValueError):
        PrecisionController(downgrade_steps=0)
    with pytest.raises(ValueError):
        PrecisionController(allowed_bits=(3,))
