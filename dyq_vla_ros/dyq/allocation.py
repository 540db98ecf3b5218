"""Bit-width allocation: thresholds from an action-error budget, and the widths worth using on a device.

DyQ-VLA allocates the lowest activation width b whose expected action error E_b fits the budget
D_acc / (S + eta) at sensitivity S. For a width with error E_b that holds while S <= D_acc / E_b - eta,
so each lookup threshold is the sensitivity at which the cheaper width stops fitting.
"""

from __future__ import annotations

from collections.abc import Mapping

from dyq_vla_ros.dyq.controller import Thresholds
from dyq_vla_ros.dyq.errors import CalibrationError

SPEED_MARGIN = 0.05
"""A width must be this much faster than every more precise width to be worth allocating."""


def budget_limit(error: float, d_acc: float, eta: float) -> float:
    """Highest sensitivity at which an expected action error still fits the budget D_acc / (S + eta)."""
    if error <= 0.0:
        return float("inf")
    return d_acc / error - eta


def budget_thresholds(errors: Mapping[int, float], d_acc: float, eta: float, theta_fp_max: float) -> Thresholds:
    """Lookup thresholds from the measured expected errors E_2, E_4, E_8 and the budget D_acc / (S + eta).

    theta_fp is where 8-bit activations stop fitting the budget, capped at theta_fp_max.
    """
    if d_acc <= 0.0 or eta <= 0.0:
        raise CalibrationError(f"D_acc and eta must be positive, got {d_acc} and {eta}")
    missing = {2, 4, 8} - set(errors)
    if missing:
        raise CalibrationError(f"expected action errors of widths {sorted(missing)} are missing")
    if not 0.0 <= theta_fp_max <= 1.0:
        raise CalibrationError(f"theta_fp_max must lie in [0, 1], got {theta_fp_max}")

    def clip(x: float, hi: float) -> float:
        return float(min(max(x, 0.0), hi))

    theta_fp = clip(budget_limit(errors[8], d_acc, eta), theta_fp_max)
    theta_4_8 = clip(budget_limit(errors[4], d_acc, eta), theta_fp)
    theta_2_4 = clip(budget_limit(errors[2], d_acc, eta), theta_4_8)
    return Thresholds(round(theta_2_4, 4), round(theta_4_8, 4), round(theta_fp, 4))


def hardware_allowed_bits(latency_ms: Mapping[int, float], margin: float = SPEED_MARGIN) -> tuple[int, ...]:
    """Widths clearly faster than every more precise width on this device (16 is always kept)."""
    if 16 not in latency_ms:
        raise CalibrationError("the latency table must include 16-bit activations")
    allowed = [16]
    for bits in sorted((b for b in latency_ms if b != 16), reverse=True):
        if latency_ms[bits] < (1.0 - margin) * min(latency_ms[b] for b in allowed):
            allowed.append(bits)
    return tuple(sorted(allowed))
