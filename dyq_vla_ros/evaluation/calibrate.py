"""`dyq-vla calibrate`: per-width action errors on fp rollouts, thresholds from the budget, usable widths.

The expected action error of each activation width is measured on successful full-precision
rollouts; the lookup thresholds follow from the error budget D_acc / (S + eta), and a latency
table decides which widths are worth using on a device.

At every inference of an fp rollout the same observation and the same flow-matching noise also go
through the 4-bit-weight model at 2, 4, 8 and 16 activation bits, and through fp with a different
noise draw. The errors are measured on the executed part of the chunk in units of the dataset's
action standard deviation. Unless D_acc is given, the budget is anchored to the fp policy's own
noise floor: at S = theta_fp_max a quantized step may deviate from fp as much as fp deviates from
itself under another noise draw.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np

from dyq_vla_ros.control import InferenceRequest
from dyq_vla_ros.dyq import Calibration, CalibrationError, Thresholds
from dyq_vla_ros.dyq.allocation import SPEED_MARGIN, budget_thresholds, hardware_allowed_bits
from dyq_vla_ros.evaluation.closed_loop import ClosedLoopEvaluator, EpisodeResult
from dyq_vla_ros.evaluation.parallel import Workers
from dyq_vla_ros.policy import Observation, Pi0Policy
from dyq_vla_ros.sim import calibration_seeds
from dyq_vla_ros.types import PrecisionMode

CALIBRATED_BITS = (2, 4, 8, 16)
NOISE_INDEX_OFFSET = 100_000
"""Noise-sequence offset of the second fp draw that measures the fp noise floor."""


@dataclass(frozen=True)
class CalibrateConfig:
    """Settings of a calibration run."""

    episodes: int = 20
    """fp rollouts on calibration seeds."""
    seed_start: int = 0
    """Offset into the calibration seeds."""
    eta: float = 0.1
    """eta of the budget D_acc / (S + eta)."""
    theta_fp_max: float = 0.5
    """Upper bound of theta_fp."""
    d_acc: float = 0.0
    """Error budget; 0 anchors it to the fp noise floor (see the module docstring)."""
    margin: float = SPEED_MARGIN
    """How much faster a width must be than every more precise one to be allowed."""
    successful_only: bool = True
    """Pool only successful rollouts (the paper's rule); otherwise failed ones too (for rarely succeeding policies)."""


def chunk_error(chunk: np.ndarray, reference: np.ndarray, scale: np.ndarray, executed: int) -> float:
    """Mean over the executed actions of the L2 distance, per dimension in units of scale."""
    diff = (np.asarray(chunk)[:executed] - np.asarray(reference)[:executed]) / scale
    return float(np.linalg.norm(diff, axis=1).mean())


@dataclass
class StepErrors:
    """Errors of one inference against the fp chunk, keyed by activation width, plus the fp noise floor."""

    sensitivity: float
    errors: dict[int, float]
    noise_floor: float


class ErrorProbe:
    """Runs fp rollouts and measures every width's action error at each inference."""

    def __init__(self, evaluator: ClosedLoopEvaluator, quantized: Pi0Policy) -> None:
        self.evaluator = evaluator
        self.quantized = quantized
        fp = evaluator.policy
        self.scale = np.asarray(fp.processor.action_scale, dtype=np.float64)
        per_chunk = evaluator.params.actions_per_chunk
        self.executed = per_chunk if 0 < per_chunk < fp.chunk_size else fp.chunk_size

    def episode(self, seed: int) -> tuple[EpisodeResult, list[StepErrors]]:
        """One fp rollout with the errors of every width at each of its inferences."""
        fp, q = self.evaluator.policy, self.quantized
        steps: list[StepErrors] = []

        def predict(request: InferenceRequest, observation: Observation) -> np.ndarray:
            index = request.index
            fp.set_precision(PrecisionMode.FP, 16)
            fp.inference_index = index + NOISE_INDEX_OFFSET
            other = fp.predict_action_chunk(observation)
            fp.inference_index = index
            reference = fp.predict_action_chunk(observation)
            errors = {}
            for b in CALIBRATED_BITS:
                q.set_precision(PrecisionMode.DYQ, b)
                q.inference_index = index
                errors[b] = chunk_error(q.predict_action_chunk(observation), reference, self.scale, self.executed)
            steps.append(StepErrors(0.0, errors, chunk_error(other, reference, self.scale, self.executed)))
            return reference

        result = self.evaluator.run_episode(seed, PrecisionMode.FP, predict=predict)
        for step, s in zip(steps, result.sensitivities, strict=True):
            step.sensitivity = float(s)
        return result, steps


def _binned(steps: Sequence[StepErrors], edges: Sequence[float]) -> list[dict]:
    s = np.array([x.sensitivity for x in steps])
    rows = []
    for lo, hi in itertools.pairwise(edges):
        mask = (s >= lo) & (s < hi) if hi < edges[-1] else (s >= lo) & (s <= hi)
        if mask.any():
            chosen = [x for x, m in zip(steps, mask, strict=True) if m]
            rows.append(
                {
                    "sensitivity": [float(lo), float(hi)],
                    "inferences": int(mask.sum()),
                    "errors": {str(b): float(np.mean([x.errors[b] for x in chosen])) for b in CALIBRATED_BITS},
                }
            )
    return rows


def allocate(
    steps: Sequence[StepErrors], config: CalibrateConfig, latency_ms: Mapping[int, float] | None
) -> tuple[Thresholds, tuple[int, ...], dict]:
    """Thresholds, allowed widths and the allocation record from pooled step errors."""
    if not steps:
        raise CalibrationError(
            "no inference of a successful fp rollout to calibrate from (--include-failures pools failed ones too)"
        )
    expected = {b: float(np.mean([x.errors[b] for x in steps])) for b in CALIBRATED_BITS}
    noise = float(np.mean([x.noise_floor for x in steps]))
    d_acc = config.d_acc or noise * (config.theta_fp_max + config.eta)
    if d_acc <= 0.0:
        raise CalibrationError("the fp noise floor is zero; give D_acc explicitly")
    thresholds = budget_thresholds(expected, d_acc, config.eta, config.theta_fp_max)
    allowed = hardware_allowed_bits(latency_ms, config.margin) if latency_ms else CALIBRATED_BITS
    record = {
        "method": "DyQ-VLA error budget D_acc / (S + eta), hardware-aware widths",
        "expected_error": {str(b): e for b, e in expected.items()},
        "fp_noise_floor": noise,
        "d_acc": d_acc,
        "eta": config.eta,
        "theta_fp_max": config.theta_fp_max,
        "latency_ms": {str(b): ms for b, ms in (latency_ms or {}).items()},
        "speed_margin": config.margin,
        "thresholds": asdict(thresholds),
        "allowed_bits": list(allowed),
        "inferences": len(steps),
        "errors_by_sensitivity": _binned(steps, [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0]),
    }
    return thresholds, tuple(allowed), record


def calibrate(
    evaluator: ClosedLoopEvaluator,
    quantized: Pi0Policy,
    config: CalibrateConfig,
    *,
    latency_ms: Mapping[int, float] | None = None,
    latency_source: str = "",
    progress: bool = True,
) -> tuple[Calibration, dict]:
    """A calibration (the model's priors with calibrated thresholds and widths) and its JSON report."""
    from tqdm import tqdm

    probe = ErrorProbe(evaluator, quantized)
    seeds = calibration_seeds(config.episodes, config.seed_start)
    found: dict[int, tuple[EpisodeResult, list[StepErrors]]] = {}
    bar = tqdm(total=len(seeds), desc="calibrate", unit="ep", disable=not progress)
    if evaluator.workers > 1 or evaluator.ray_address:
        args = (evaluator.params, evaluator.sim_config)
        workers = Workers(_worker_probe, args, workers=evaluator.workers, ray_address=evaluator.ray_address)
        try:
            for i, done in workers.map(_probe_episode, seeds):
                found[seeds[i]] = done
                bar.update(1)
        finally:
            workers.close()
    else:
        for seed in seeds:
            found[seed] = probe.episode(seed)
            bar.update(1)
    bar.close()
    pooled: list[StepErrors] = []
    successes = 0
    for seed in seeds:  # pooled in seed order, whichever worker finished first
        result, steps = found[seed]
        successes += int(result.success)
        if result.success or not config.successful_only:
            pooled.extend(steps)
    thresholds, allowed, record = allocate(pooled, config, latency_ms)
    record.update(
        {
            "episodes": len(seeds),
            "successful_episodes": successes,
            "successful_only": config.successful_only,
            "seeds": [seeds[0], seeds[-1]],
            "actions_per_chunk": probe.executed,
            "latency_source": latency_source,
        }
    )
    calibration = replace(evaluator.policy.calibration, thresholds=thresholds, allowed_bits=allowed, allocation=record)
    return calibration, record


def _worker_probe(params: object, sim_config: object) -> ErrorProbe:
    evaluator = ClosedLoopEvaluator(params, sim_config=sim_config)  # type: ignore[arg-type]
    return ErrorProbe(evaluator, Pi0Policy(evaluator.policy.path, evaluator.policy.config))


def _probe_episode(probe: ErrorProbe, seed: int) -> tuple[EpisodeResult, list[StepErrors]]:
    return probe.episode(seed)
