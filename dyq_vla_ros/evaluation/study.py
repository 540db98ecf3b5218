"""`dyq-vla study`: the step-wise perturbation analysis of DyQ-VLA on the built-in task, as the paper defines it.

In a successful full-precision rollout, inference t alone runs at low activation precision (on the
4-bit weights, 4 bits by default as the paper injects) and the rollout continues in fp. Each draw j
gives the perturbed step's action error e_t,j (its executed actions against the fp chunk, in units
of the dataset's action spread) and the terminal deviation D_T,j (how far the target peg ends from
where the unperturbed rollout left it); draw 0 uses the reference's flow noise, later draws other
noise, so that a step's sensitivity s_t = mean_j D_T,j / mean_j e_t,j is separated from the noise of
a single draw. Every step's record is kept (tick, phase, every proxy and signal, e, D_T, failures),
and the proxies are correlated with s_t per step and per phase.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from dyq_vla_ros.control import InferenceRequest
from dyq_vla_ros.evaluation.calibrate import chunk_error
from dyq_vla_ros.evaluation.closed_loop import ClosedLoopEvaluator
from dyq_vla_ros.evaluation.parallel import Workers
from dyq_vla_ros.evaluation.study_report import PROXIES, summarise_study
from dyq_vla_ros.policy import Observation, Pi0Policy
from dyq_vla_ros.sim import PegInHoleEnv, ScriptedExpert, calibration_seeds
from dyq_vla_ros.types import PrecisionMode

STUDY_SEED_OFFSET = 10_000
"""Study seeds start this far into the calibration seeds, apart from `calibrate`'s."""
DRAW_NOISE_OFFSET = 200_000
"""Noise-sequence offset of perturbation draw j > 0."""
SPREAD_NOISE_OFFSET = 300_000

__all__ = ["PROXIES", "EpisodeStudy", "SensitivityStudy", "StepRecord", "StudyConfig", "summarise_study"]


@dataclass(frozen=True)
class StudyConfig:
    """Settings of a sensitivity study."""

    episodes: int = 20
    """Reference rollouts on study seeds."""
    seed_start: int = 0
    """Offset into the study seeds."""
    perturb_bits: int = 4
    """Activation bits of the perturbed inference."""
    stride: int = 1
    """Perturb every stride-th inference of an episode."""
    draws: int = 3
    """Perturbation draws per step (draw 0 with the reference's flow noise, the others with other noise)."""
    successful_only: bool = True
    """Study only episodes whose fp reference rollout succeeds (as the paper does)."""


@dataclass
class StepRecord:
    """One perturbed inference: where it was, what the proxies said, what the perturbation did."""

    inference: int
    tick: int
    phase: str
    proxies: dict[str, float]
    errors: list[float] = field(default_factory=list)
    """e_t per draw: the perturbed chunk's executed actions against fp's (dataset action-spread units)."""
    deviations_mm: list[float] = field(default_factory=list)
    """D_T per draw: terminal deviation of the target peg from the unperturbed rollout's end."""
    failed: list[bool] = field(default_factory=list)

    @property
    def sensitivity(self) -> float:
        """s_t = mean D_T / mean e_t (mm per unit of action error)."""
        return float(np.mean(self.deviations_mm) / max(float(np.mean(self.errors)), 1e-9))


@dataclass
class EpisodeStudy:
    """One reference episode and its perturbed steps."""

    seed: int
    ticks: list[int]
    phases: list[str]
    proxies: dict[str, list[float]]
    """Every proxy at every inference of the reference rollout."""
    steps: list[StepRecord] = field(default_factory=list)

    def to_json(self) -> dict:
        """The per-step records, for re-analysis without a rerun."""
        return {"seed": self.seed, "steps": [{**asdict(s), "s": s.sensitivity} for s in self.steps]}


def target_peg_position(env: PegInHoleEnv) -> np.ndarray:
    """Bottom-centre position of the instruction's peg."""
    return np.array(env.target_peg.pos, dtype=float)


def _proxies(request: InferenceRequest) -> dict[str, float]:
    sample, signals = request.sample, request.signals
    return {
        "motion_fineness": float(sample.motion_fineness) if sample else float("nan"),
        "angular_jerk": float(sample.angular_jerk) if sample else float("nan"),
        "sensitivity": float(sample.sensitivity) if sample else float("nan"),
        **{k: float(signals.get(k, float("nan"))) for k in ("joint_state", "disagreement", "gripper", "fused")},
    }


class SensitivityStudy:
    """Reference and perturbed rollouts with an fp policy and its 4-bit-weight twin."""

    def __init__(self, evaluator: ClosedLoopEvaluator, quantized: Pi0Policy, config: StudyConfig) -> None:
        self.evaluator = evaluator
        self.quantized = quantized
        self.config = config
        fp = evaluator.policy
        self.scale = np.asarray(fp.processor.action_scale, dtype=np.float64)
        per_chunk = evaluator.params.actions_per_chunk
        self.executed = per_chunk if 0 < per_chunk < fp.chunk_size else fp.chunk_size

    def _rollout(self, seed: int, perturb: tuple[int, int] | None, log: list | None = None) -> tuple[bool, list]:
        """(success, [(request, chunk)]) of an fp rollout, inference perturb[0] run at low bits with draw perturb[1]."""
        fp, q, env = self.evaluator.policy, self.quantized, self.evaluator.env
        chunks: list = []

        def predict(request: InferenceRequest, observation: Observation) -> np.ndarray:
            index = request.index
            if log is not None:
                expert = ScriptedExpert(env)
                expert.act()
                log.append(expert.phase)
            if perturb is not None and index == perturb[0]:
                q.set_precision(PrecisionMode.DYQ, self.config.perturb_bits)
                q.inference_index = index + perturb[1] * DRAW_NOISE_OFFSET
                chunk = q.predict_action_chunk(observation)
            else:
                fp.inference_index = index
                chunk = fp.predict_action_chunk(observation)
            chunks.append((request, chunk))
            return chunk

        fp.set_precision(PrecisionMode.FP, 16)
        result = self.evaluator.run_episode(seed, PrecisionMode.FP, predict=predict)
        return result.success, chunks

    def episode(self, seed: int) -> EpisodeStudy | None:
        """The study of one seed; None when the fp reference rollout fails and only successes count."""
        phases: list[str] = []
        success, reference = self._rollout(seed, None, phases)
        if self.config.successful_only and not success:
            return None
        end = target_peg_position(self.evaluator.env)
        spreads = self._spreads(seed, reference)
        rows = [{**_proxies(r), "noise_spread": spread} for (r, _), spread in zip(reference, spreads, strict=True)]
        proxies = {name: [row[name] for row in rows] for name in PROXIES}
        study = EpisodeStudy(seed, [r.tick for r, _ in reference], phases, proxies)
        for t in range(0, len(reference), self.config.stride):
            request, ref_chunk = reference[t]
            record = StepRecord(t, request.tick, phases[t], rows[t])
            for j in range(self.config.draws):
                ok, perturbed = self._rollout(seed, (t, j))
                record.errors.append(chunk_error(perturbed[t][1], ref_chunk, self.scale, self.executed))
                moved = target_peg_position(self.evaluator.env) - end
                record.deviations_mm.append(float(np.linalg.norm(moved) * 1e3))
                record.failed.append(not ok)
            study.steps.append(record)
        return study

    def _spreads(self, seed: int, reference: list) -> list[float]:
        """Per reference inference: its chunk against fp's with other flow noise on the same observation."""
        fp = self.evaluator.policy
        out: list[float] = []

        def predict(request: InferenceRequest, observation: Observation) -> np.ndarray:
            fp.inference_index = request.index + SPREAD_NOISE_OFFSET
            other = fp.predict_action_chunk(observation)
            ref = reference[request.index][1]
            out.append(chunk_error(other, ref, self.scale, self.executed))
            return ref  # follow the reference rollout exactly

        fp.set_precision(PrecisionMode.FP, 16)
        self.evaluator.run_episode(seed, PrecisionMode.FP, predict=predict)
        return out

    def run(self, *, progress: bool = True, workers: Workers | None = None) -> list[EpisodeStudy]:
        """Studies of every seed whose reference rollout succeeds (in parallel with workers)."""
        from tqdm import tqdm

        seeds = calibration_seeds(self.config.episodes, STUDY_SEED_OFFSET + self.config.seed_start)
        found: dict[int, EpisodeStudy | None] = {}
        bar = tqdm(total=len(seeds), desc="study", unit="ep", disable=not progress)
        if workers is None:
            for seed in seeds:
                found[seed] = self.episode(seed)
                bar.update(1)
        else:
            for i, study in workers.map(_study_episode, seeds):
                found[seeds[i]] = study
                bar.update(1)
        bar.close()
        return [st for seed in seeds if (st := found[seed]) is not None]


def study_workers(evaluator: ClosedLoopEvaluator, config: StudyConfig) -> Workers:
    """Worker processes (or Ray actors) each holding a study of the evaluator's checkpoint and settings."""
    args = (evaluator.params, evaluator.sim_config, config)
    return Workers(_worker_study, args, workers=evaluator.workers, ray_address=evaluator.ray_address)


def _worker_study(params: object, sim_config: object, config: StudyConfig) -> SensitivityStudy:
    ev = ClosedLoopEvaluator(params, sim_config=sim_config)  # type: ignore[arg-type]
    return SensitivityStudy(ev, Pi0Policy(ev.policy.path, ev.policy.config), config)


def _study_episode(study: SensitivityStudy, seed: int) -> EpisodeStudy | None:
    return study.episode(seed)


def plot_study(
    study: EpisodeStudy, path: Path, proxies: Sequence[str] = ("sensitivity", "disagreement", "gripper")
) -> None:
    """s_t, proxies and the expert's task phase over one episode, as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ticks = np.array(study.ticks)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5), sharex=True)
    steps = study.steps
    top.bar([s.tick for s in steps], [s.sensitivity for s in steps], width=2.0, color="tab:red", alpha=0.7)
    top.set_ylabel("s_t = D_T / e_t\n(mm per unit)")
    top.set_title(f"step-wise perturbation, seed {study.seed}")
    for name, colour in zip(proxies, ("black", "tab:blue", "tab:green", "tab:orange"), strict=False):
        bottom.plot(ticks, study.proxies[name], color=colour, lw=1.2, label=name)
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
