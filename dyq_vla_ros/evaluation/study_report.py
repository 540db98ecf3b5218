"""The study's report: step-level and phase-level correlations of every proxy with s_t, and the raw records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the study's records, by name only: the study imports this module
    from dyq_vla_ros.evaluation.study import EpisodeStudy, StudyConfig

PROXIES = (
    "motion_fineness",
    "angular_jerk",
    "sensitivity",
    "joint_state",
    "disagreement",
    "gripper",
    "fused",
    "noise_spread",
)
"""The kinematic proxies (of the actions, as the paper), the joint-state S, the node's policy signals, and the
spread between two flow-noise draws of the same fp inference (an extra pass per inference)."""


def rank(x: np.ndarray) -> np.ndarray:
    """Ranks with ties averaged (for Spearman's correlation)."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x), dtype=float)
    for value in np.unique(x):
        tied = x == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    return ranks


def correlations(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> dict[str, float | None]:
    """Pearson and Spearman correlation of two samples (None where either is constant or too short)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3 or np.ptp(x) == 0.0 or np.ptp(y) == 0.0:
        return {"pearson": None, "spearman": None, "n": len(x)}
    return {
        "pearson": float(np.corrcoef(x, y)[0, 1]),
        "spearman": float(np.corrcoef(rank(x), rank(y))[0, 1]),
        "n": len(x),
    }


def summarise_study(studies: Sequence[EpisodeStudy], config: StudyConfig) -> dict:
    """Correlations of every proxy with s_t (per step, per phase), deviations by phase, and every step's record."""
    steps = [s for st in studies for s in st.steps]
    truth = np.array([s.sensitivity for s in steps])
    deviation = np.array([np.mean(s.deviations_mm) for s in steps])
    phases = sorted({s.phase for s in steps})
    by_phase = {
        p: {
            "steps": sum(s.phase == p for s in steps),
            "s_mean": float(np.mean([s.sensitivity for s in steps if s.phase == p])),
            "deviation_mm_mean": float(np.mean([np.mean(s.deviations_mm) for s in steps if s.phase == p])),
            "error_mean": float(np.mean([np.mean(s.errors) for s in steps if s.phase == p])),
            "failure_rate": float(np.mean([np.mean(s.failed) for s in steps if s.phase == p])),
            **{name: float(np.nanmean([s.proxies[name] for s in steps if s.phase == p])) for name in PROXIES},
        }
        for p in phases
    }
    step_level = {name: correlations([s.proxies[name] for s in steps], truth) for name in PROXIES}
    phase_level = {
        name: correlations([by_phase[p][name] for p in phases], [by_phase[p]["s_mean"] for p in phases])
        for name in PROXIES
    }
    return {
        "episodes": len(studies),
        "perturb_bits": config.perturb_bits,
        "draws": config.draws,
        "perturbations": int(sum(len(s.errors) for s in steps)),
        "failure_rate": float(np.mean([f for s in steps for f in s.failed])) if steps else 0.0,
        "s_mean": float(truth.mean()) if len(truth) else 0.0,
        "deviation_mm_mean": float(deviation.mean()) if len(deviation) else 0.0,
        "correlation_step": step_level,
        "correlation_step_deviation": {
            name: correlations([s.proxies[name] for s in steps], deviation) for name in PROXIES
        },
        "correlation_phase": phase_level,
        "phases": by_phase,
        "seeds": [st.seed for st in studies],
        "records": [st.to_json() for st in studies],
    }
