"""`dyq-vla study`: the step-wise perturbation analysis of DyQ-VLA on the built-in task.

In a successful full-precision rollout, inference t alone is run at low activation precision (on
the 4-bit weights) and the rollout continues in fp; the ground-truth sensitivity s_t of step t is
the terminal deviation this causes: how far the target peg ends from where the unperturbed
rollout left it. The study correlates s_t with the kinematic proxies in force at step t (motion
fineness M~, angular jerk J~ and their fusion S) and plots one episode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dyq_vla_ros.control import InferenceRequest
from dyq_vla_ros.evaluation.closed_loop import ClosedLoopEvaluator, EpisodeResult
from dyq_vla_ros.policy import Observation, Pi0Policy
from dyq_vla_ros.sim import PegInHoleEnv, ScriptedExpert, calibration_seeds
from dyq_vla_ros.types import PrecisionMode

STUDY_SEED_OFFSET = 10_000
"""Study seeds start this far into the calibration seeds, apart from `calibrate`'s."""
PROXIES = ("motion_fineness", "angular_jerk", "sensitivity")


@dataclass(frozen=True)
class StudyConfig:
    """Settings of a sensitivity study."""

    episodes: int = 10
    """Reference rollouts on study seeds."""
    seed_start: int = 0
    """Offset into the study seeds."""
    perturb_bits: int = 2
    """Activation bits of the perturbed inference."""
    stride: int = 1
    """Perturb every stride-th inference of an episode."""
    successful_only: bool = True
    """Study only episodes whose fp reference rollout succeeds (as the paper does)."""


@dataclass
class EpisodeStudy:
    """One reference episode and the consequence of perturbing each of its inferences."""

    seed: int
    ticks: list[int]
    phases: list[str]
    proxies: dict[str, list[float]]
    perturbed: list[int] = field(default_factory=list)
    """Inference indices that were perturbed."""
    deviation_mm: list[float] = field(default_factory=list)
    """Terminal deviation of the target peg caused by each perturbation."""
    failed: list[bool] = field(default_factory=list)
    """Whether each perturbation made the episode fail."""


def target_peg_position(env: PegInHoleEnv) -> np.ndarray:
    """Bottom-centre position of the instruction's peg."""
    return np.array(env.target_peg.pos, dtype=float)


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


def correlations(x: np.ndarray, y: np.ndarray) -> dict[str, float | None]:
    """Pearson and Spearman correlation of two samples (None where either is constant)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3 or np.ptp(x) == 0.0 or np.ptp(y) == 0.0:
        return {"pearson": None, "spearman": None}
    return {
        "pearson": float(np.corrcoef(x, y)[0, 1]),
        "spearman": float(np.corrcoef(rank(x), rank(y))[0, 1]),
    }


class SensitivityStudy:
    """Runs reference and perturbed rollouts with an fp policy and its 4-bit-weight twin."""

    def __init__(self, evaluator: ClosedLoopEvaluator, quantized: Pi0Policy, config: StudyConfig) -> None:
        self.evaluator = evaluator
        self.quantized = quantized
        self.config = config

    def _rollout(self, seed: int, perturb_at: int | None, phases: list[str] | None = None) -> EpisodeResult:
        fp, q, env = self.evaluator.policy, self.quantized, self.evaluator.env

        def predict(request: InferenceRequest, observation: Observation) -> np.ndarray:
            index = request.index
            if phases is not None:
                expert = ScriptedExpert(env)
                expert.act()
                phases.append(expert.phase)
            policy = q if index == perturb_at else fp
            if policy is q:
                q.set_precision(PrecisionMode.DYQ, self.config.perturb_bits)
            policy.inference_index = index
            return policy.predict_action_chunk(observation)

        fp.set_precision(PrecisionMode.FP, 16)
        return self.evaluator.run_episode(seed, PrecisionMode.FP, predict=predict)

    def episode(self, seed: int) -> EpisodeStudy | None:
        """The study of one seed; None when the fp reference rollout fails and only successes count."""
        phases: list[str] = []
        reference = self._rollout(seed, None, phases)
        if self.config.successful_only and not reference.success:
            return None
        end = target_peg_position(self.evaluator.env)
        proxies = {
            name: [float(getattr(s, name)) if s else float("nan") for s in reference.request_samples]
            for name in PROXIES
        }
        study = EpisodeStudy(seed, list(reference.request_ticks), phases, proxies)
        for t in range(0, len(reference.request_ticks), self.config.stride):
            result = self._rollout(seed, t)
            study.perturbed.append(t)
            study.deviation_mm.append(float(np.linalg.norm(target_peg_position(self.evaluator.env) - end) * 1e3))
            study.failed.append(not result.success)
        return study

    def run(self, *, progress: bool = True) -> list[EpisodeStudy]:
        """Studies of every seed whose reference rollout succeeds."""
        from tqdm import tqdm

        seeds = calibration_seeds(self.config.episodes, STUDY_SEED_OFFSET + self.config.seed_start)
        studies = []
        for seed in tqdm(seeds, desc="study", unit="ep", disable=not progress):
            study = self.episode(seed)
            if study is not None:
                studies.append(study)
        return studies


def summarise_study(studies: list[EpisodeStudy], config: StudyConfig) -> dict:
    """Correlations of the proxies with the ground-truth sensitivity, pooled and per episode."""
    pooled: dict[str, list[float]] = {name: [] for name in PROXIES}
    truth: list[float] = []
    per_episode: dict[str, list[float]] = {name: [] for name in PROXIES}
    for st in studies:
        xs = {name: np.array([st.proxies[name][t] for t in st.perturbed]) for name in PROXIES}
        ys = np.array(st.deviation_mm)
        valid = np.isfinite(xs["sensitivity"])
        for name in PROXIES:
            pooled[name].extend(xs[name][valid])
            r = correlations(xs[name][valid], ys[valid])["pearson"]
            if r is not None:
                per_episode[name].append(r)
        truth.extend(ys[valid])
    y = np.array(truth)
    return {
        "episodes": len(studies),
        "perturb_bits": config.perturb_bits,
        "perturbations": len(y),
        "failure_rate": float(np.mean([f for st in studies for f in st.failed])) if studies else 0.0,
        "deviation_mm_mean": float(y.mean()) if len(y) else 0.0,
        "correlation": {name: correlations(np.array(pooled[name]), y) for name in PROXIES},
        "correlation_per_episode_mean": {name: float(np.mean(v)) if v else None for name, v in per_episode.items()},
        "deviation_by_phase_mm": _by_phase(studies),
        "seeds": [st.seed for st in studies],
    }


def _by_phase(studies: list[EpisodeStudy]) -> dict[str, dict[str, float]]:
    rows: dict[str, list[float]] = {}
    for st in studies:
        for t, dev in zip(st.perturbed, st.deviation_mm, strict=True):
            rows.setdefault(st.phases[t], []).append(dev)
    return {phase: {"mean": float(np.mean(v)), "count": len(v)} for phase, v in rows.items()}


def plot_study(study: EpisodeStudy, path: Path) -> None:
    """s_t, the proxies and the expert's task phase over one episode, as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ticks = np.array(study.ticks)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5), sharex=True)
    top.bar(ticks[study.perturbed], study.deviation_mm, width=2.0, color="tab:red", alpha=0.7)
    top.set_ylabel("s_t: terminal\ndeviation (mm)")
    top.set_title(f"step-wise perturbation, seed {study.seed}")
    for name, colour in zip(PROXIES, ("tab:blue", "tab:orange", "black"), strict=True):
        bottom.plot(ticks, study.proxies[name], color=colour, lw=1.5 if name == "sensitivity" else 1.0, label=name)
    bottom.set_ylabel("proxy")
    bottom.set_xlabel("control step")
    bottom.legend(loc="upper left", fontsize=8)
    colours = plt.get_cmap("Pastel1")
    names = list(dict.fromkeys(study.phases))
    for ax in (top, bottom):
        start = 0
        for i in range(1, len(study.phases) + 1):
            if i == len(study.phases) or study.phases[i] != study.phases[start]:
                end = ticks[i] if i < len(ticks) else ticks[-1] + 1
                ax.axvspan(ticks[start], end, color=colours(names.index(study.phases[start]) % 9), alpha=0.5, lw=0)
                if ax is top:
                    ax.text(ticks[start], ax.get_ylim()[1] * 0.9, study.phases[start], fontsize=7)
                start = i
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
