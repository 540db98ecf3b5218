"""Episode seeds: training and evaluation seeds never overlap."""

from __future__ import annotations

EVAL_SEED_BASE = 1_000_000
"""Seeds below this are for training data; seeds from here on are held out for evaluation."""


def train_seeds(n: int, start: int = 0) -> list[int]:
    """N training seeds from start."""
    if start < 0 or start + n > EVAL_SEED_BASE:
        raise ValueError(f"training seeds must lie in [0, {EVAL_SEED_BASE})")
    return list(range(start, start + n))


def eval_seeds(n: int, start: int = 0) -> list[int]:
    """N held-out evaluation seeds from start."""
    if start < 0:
        raise ValueError("start must be >= 0")
    return list(range(EVAL_SEED_BASE + start, EVAL_SEED_BASE + start + n))


def is_eval_seed(seed: int) -> bool:
    """Whether a seed is held out for evaluation."""
    return seed >= EVAL_SEED_BASE


CALIBRATION_SEED_BASE = 900_000
"""Calibration and sensitivity-study seeds: in the training range, far above any gen-data run's episodes."""


def calibration_seeds(n: int, start: int = 0) -> list[int]:
    """N calibration seeds from start (disjoint from evaluation seeds)."""
    if start < 0 or CALIBRATION_SEED_BASE + start + n > EVAL_SEED_BASE:
        raise ValueError(f"calibration seeds must lie in [{CALIBRATION_SEED_BASE}, {EVAL_SEED_BASE})")
    return list(range(CALIBRATION_SEED_BASE + start, CALIBRATION_SEED_BASE + start + n))
