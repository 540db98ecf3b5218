"""Closed-loop evaluation in the built-in simulator, through the node's own policy and control-loop code.

Inference is taken as instantaneous in simulated time (a chunk requested at a step is used at that
step), so success does not depend on this machine's speed; the wall-clock latency of every policy
step is measured and reported beside it.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from dyq_vla_ros.control import PolicySession, Predict, allowed_widths, initial_thresholds
from dyq_vla_ros.dyq import Calibration, ProxySample
from dyq_vla_ros.evaluation.parallel import Workers
from dyq_vla_ros.params import NodeParams
from dyq_vla_ros.policy import Observation, Pi0Policy, Pi0PolicyConfig
from dyq_vla_ros.sim import Observation as SimObservation
from dyq_vla_ros.sim import PegInHoleEnv, SimConfig, eval_seeds
from dyq_vla_ros.sim.scene import yaw_error
from dyq_vla_ros.types import BIT_WIDTHS, PrecisionMode

SIM_PERIOD_S = 0.1
"""Simulated time per environment step (the demo's 10 Hz control rate)."""

REACH_MM = 20.0
"""Peg-to-hole distance counted as having carried the peg to its hole (partial progress)."""


def _observation(obs: SimObservation, instruction: str) -> Observation:
    return Observation.scene_and_wrist(obs.image, obs.joint_positions.astype(np.float32), instruction, obs.wrist_image)


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a success rate."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class EpisodeResult:
    """One evaluated episode."""

    seed: int
    success: bool
    steps: int
    tick_bits: list[int] = field(default_factory=list)
    inference_bits: list[int] = field(default_factory=list)
    inference_steps: list[int] = field(default_factory=list)
    """Flow-matching steps each inference ran."""
    request_signals: list[dict[str, float]] = field(default_factory=list)
    """Every sensitivity signal when each inference was requested (control.ControlLoop.signals)."""
    latencies_ms: list[float] = field(default_factory=list)
    grasped: bool = False
    """Whether the instruction's peg was held at some step (partial progress)."""
    reached: bool = False
    """Whether the held instruction's peg came within REACH_MM of its hole at some step."""
    final_distance_mm: float = 0.0
    """Horizontal distance of the instruction's peg from its hole at the end."""
    final_yaw_error_deg: float = 0.0
    """Yaw of the instruction's peg against its hole at the end (modulo 90 degrees)."""
    request_samples: list[ProxySample | None] = field(default_factory=list)
    """Proxies in force when each inference was requested (None before the first action)."""
    request_ticks: list[int] = field(default_factory=list)
    """Control tick at which each inference was requested."""

    @property
    def sensitivities(self) -> list[float]:
        """Sensitivity in force when each inference was requested (0 before the first action)."""
        return [s.sensitivity if s else 0.0 for s in self.request_samples]


def _share(bits: Sequence[int]) -> dict[str, float]:
    counts = Counter(bits)
    total = max(1, len(bits))
    return {str(b): counts.get(b, 0) / total for b in BIT_WIDTHS}


def summarise(mode: PrecisionMode, episodes: Sequence[EpisodeResult], weight_bytes: int) -> dict:
    """The JSON record of one mode."""
    n = len(episodes)
    wins = sum(e.success for e in episodes)
    latencies = [x for e in episodes for x in e.latencies_ms]
    steps = [x for e in episodes for x in e.inference_steps]
    return {
        "success_rate": wins / n if n else 0.0,
        "ci95": list(wilson_interval(wins, n)),
        "episodes": n,
        "successes": wins,
        "episode_length_mean": float(np.mean([e.steps for e in episodes])) if n else 0.0,
        "grasp_rate": float(np.mean([e.grasped for e in episodes])) if n else 0.0,
        "final_distance_mm_mean": float(np.mean([e.final_distance_mm for e in episodes])) if n else 0.0,
        "final_distance_mm_median": float(np.median([e.final_distance_mm for e in episodes])) if n else 0.0,
        "reach_rate": float(np.mean([e.reached for e in episodes])) if n else 0.0,
        "final_yaw_error_deg_median": float(np.median([e.final_yaw_error_deg for e in episodes])) if n else 0.0,
        "latency_ms_mean": float(np.mean(latencies)) if latencies else 0.0,
        "latency_ms_p99": float(np.percentile(latencies, 99)) if latencies else 0.0,
        "weight_bytes": int(weight_bytes),
        "bits_share": _share([b for e in episodes for b in e.tick_bits]),
        "inference_bits_share": _share([b for e in episodes for b in e.inference_bits]),
        "inferences_per_episode": float(np.mean([len(e.inference_bits) for e in episodes])) if n else 0.0,
        "flow_steps_mean": float(np.mean(steps)) if steps else 0.0,
        "compute_ms_per_episode": float(np.mean([sum(e.latencies_ms) for e in episodes])) if n else 0.0,
        "mode": mode.value,
    }


class ClosedLoopEvaluator:
    """Runs held-out simulator episodes with one policy in any precision mode."""

    def __init__(
        self,
        params: NodeParams | Mapping[str, object] | None = None,
        *,
        sim_config: SimConfig | None = None,
        policy: Pi0Policy | None = None,
        workers: int = 1,
        ray_address: str = "",
    ) -> None:
        """workers: episode processes (or Ray actors with ray_address: "local" or a cluster's address)."""
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.ray_address = ray_address
        self.params = params if isinstance(params, NodeParams) else NodeParams.from_mapping(params)
        self.sim_config = sim_config
        self.workers = workers
        self._pool: Workers | None = None
        self.policy = policy or Pi0Policy(self.params.model_path or None, Pi0PolicyConfig.from_params(self.params))
        if self.policy.processor.wrist:  # the checkpoint was trained with the wrist camera: render it too
            sim_config = replace(sim_config or SimConfig(), wrist_camera=True)
        self.env = PegInHoleEnv(sim_config)

    def run_episode(
        self,
        seed: int,
        mode: PrecisionMode,
        *,
        predict: Predict | None = None,
        params: Mapping[str, object] | None = None,
        calibration: Calibration | None = None,
    ) -> EpisodeResult:
        """One episode on a seed in a mode.

        predict(request, observation) replaces the policy's own inference (studies and calibration
        run other precisions beside it); params and calibration override the evaluator's for this episode.
        """
        run_params = self.params.replace(**{**(params or {}), "precision_mode": mode.value})
        session = PolicySession.from_params(
            self.policy, calibration or self.policy.calibration, run_params, predict=predict
        )
        session.new_episode()
        obs = self.env.reset(seed)
        instruction = self.env.instruction
        result = EpisodeResult(seed, False, 0)
        while not self.env.done:
            tick, chunk = session.step(
                functools.partial(_observation, obs, instruction), (obs.joint_positions, self.env.steps * SIM_PERIOD_S)
            )
            if chunk is not None:
                result.latencies_ms.append(chunk.latency_ms)
                result.inference_bits.append(chunk.request.bits)
                result.inference_steps.append(chunk.request.flow_steps)
                result.request_signals.append(dict(chunk.request.signals))
                result.request_samples.append(chunk.request.sample)
                result.request_ticks.append(chunk.request.tick)
            result.tick_bits.append(tick.bits)
            if session.loop.joint_commands:
                self.env.advance_joints(tick.action)
                obs = self.env.observe()
            else:
                obs = self.env.step(tick.action)
            holds = self._holds_target()
            result.grasped = result.grasped or holds
            result.reached = result.reached or (holds and self._peg_hole_distance_mm() <= REACH_MM)
        result.success, result.steps = bool(self.env.success), self.env.steps
        result.final_distance_mm = self._peg_hole_distance_mm()
        result.final_yaw_error_deg = abs(math.degrees(yaw_error(self.env.target_peg.yaw, self.env.target_block.yaw)))
        return result

    def _holds_target(self) -> bool:
        env = self.env
        return env.held is not None and env.held == env.scene.peg(env.task.peg_colour)

    def _peg_hole_distance_mm(self) -> float:
        return float(np.linalg.norm(self.env.target_peg.pos[:2] - self.env.target_block.xy) * 1e3)

    def run_episodes(
        self,
        seeds: Sequence[int],
        mode: PrecisionMode,
        *,
        desc: str = "",
        progress: bool = True,
        **overrides: object,
    ) -> list[EpisodeResult]:
        """Episodes on these seeds in one mode, with a progress bar (overrides as for run_episode)."""
        from tqdm import tqdm

        bar = tqdm(total=len(seeds), desc=desc or f"eval {mode.value}", unit="ep", disable=not progress)
        done: dict[int, EpisodeResult] = {}

        def record(result: EpisodeResult) -> None:
            done[result.seed] = result
            bar.update(1)
            bar.set_postfix(success=f"{sum(e.success for e in done.values())}/{len(done)}")

        if (self.workers == 1 and not self.ray_address) or "predict" in overrides:
            for seed in seeds:
                record(self.run_episode(seed, mode, **overrides))
        else:
            for _, result in self.pool.map(_worker_episode, [(seed, mode, overrides) for seed in seeds]):
                record(result)
        bar.close()
        return [done[seed] for seed in seeds]

    @property
    def pool(self) -> Workers:
        """The worker processes (or Ray actors), each with an evaluator of the same settings."""
        if self._pool is None:
            args = (self.params, self.sim_config)
            self._pool = Workers(_worker_evaluator, args, workers=self.workers, ray_address=self.ray_address)
        return self._pool

    def weight_bytes(self, mode: PrecisionMode) -> int:
        """Resident weight bytes of the policy in a mode."""
        self.policy.set_precision(mode, 16 if mode.static_bits is None else mode.static_bits)
        return self.policy.weight_bytes()

    def close(self) -> None:
        """Stop the worker processes, if any."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __enter__(self) -> ClosedLoopEvaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def evaluate(
        self, modes: Sequence[PrecisionMode], episodes: int, *, seed_start: int = 0, progress: bool = True
    ) -> dict:
        """Per-mode results over the same held-out seeds."""
        seeds = eval_seeds(episodes, seed_start)
        results = {}
        for mode in modes:
            done = self.run_episodes(seeds, mode, progress=progress)
            results[mode.value] = summarise(mode, done, self.weight_bytes(mode))
        return {
            "model": str(self.policy.path),
            "device": str(self.policy.device),
            "workers": self.workers,
            "seeds": [seeds[0], seeds[-1]],
            "params": {k: getattr(self.params, k) for k in ("control_rate_hz", "actions_per_chunk", "proxy_source")},
            "thresholds": asdict(initial_thresholds(self.policy.calibration, self.params)),
            "allowed_bits": list(allowed_widths(self.policy.calibration, self.params)),
            "results": results,
        }


def _worker_evaluator(params: NodeParams, sim_config: SimConfig | None) -> ClosedLoopEvaluator:
    """The evaluator of one worker (its torch runs on one thread: the workers share the cores)."""
    return ClosedLoopEvaluator(params, sim_config=sim_config)


def _worker_episode(
    evaluator: ClosedLoopEvaluator, job: tuple[int, PrecisionMode, Mapping[str, object]]
) -> EpisodeResult:
    seed, mode, overrides = job
    return evaluator.run_episode(seed, mode, **overrides)  # type: ignore[arg-type]
