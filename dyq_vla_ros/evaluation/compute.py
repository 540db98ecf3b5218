"""Compute allocation beyond bits: flow-matching steps chosen from S_t, against static settings, success vs compute.

An inference costs the VLM prefix pass plus one action-expert pass per flow step; `flow_cost` measures
that split for a model on the machine at hand, so that each evaluated variant's compute per episode
can be projected from the bits and steps its inferences ran, beside the latency measured in the run.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from dyq_vla_ros.dyq import Calibration
from dyq_vla_ros.evaluation.ablation import Variant
from dyq_vla_ros.evaluation.closed_loop import ClosedLoopEvaluator, EpisodeResult, summarise
from dyq_vla_ros.policy import Pi0Policy
from dyq_vla_ros.sim import eval_seeds
from dyq_vla_ros.types import PrecisionMode


def flow_cost(policy: Pi0Policy, modes: Sequence[PrecisionMode], *, repeats: int = 10) -> dict[str, dict[str, float]]:
    """Per mode: the prefix's and one flow step's median ms, from inferences at 1 step and at the full count."""
    obs = policy.random_observation(96, 96)
    full = policy.flow_steps
    times: dict[tuple[str, int], list[float]] = {}
    for _ in range(repeats + 1):  # the first round warms up
        for mode in modes:
            policy.set_precision(mode, mode.static_bits or 16)
            for steps in (1, full):
                policy.set_flow_steps(steps)
                start = time.perf_counter()
                policy.predict_action_chunk(obs)
                times.setdefault((mode.value, steps), []).append(1e3 * (time.perf_counter() - start))
    policy.set_flow_steps(None)
    out = {}
    for mode in modes:
        one = float(np.median(times[(mode.value, 1)][1:]))
        many = float(np.median(times[(mode.value, full)][1:]))
        step = max(0.0, (many - one) / max(1, full - 1))
        out[mode.value] = {"prefix_ms": max(0.0, one - step), "step_ms": step, "full_steps": full, "full_ms": many}
    return out


def episode_compute_ms(
    episode: EpisodeResult, cost: Mapping[str, Mapping[str, float]], mode: PrecisionMode = PrecisionMode.DYQ
) -> float:
    """An episode's projected compute: per inference the prefix of its width's mode plus its steps' cost."""
    total = 0.0
    for bits, steps in zip(episode.inference_bits, episode.inference_steps, strict=True):
        key = "fp" if mode is PrecisionMode.FP else f"w4a{bits}"
        row = cost[key] if key in cost else cost["w4a16" if bits == 16 else "w4a8"]
        total += row["prefix_ms"] + steps * row["step_ms"]
    return total


def compute_variants(
    calibration: Calibration,
    reduced_steps: Sequence[int],
    theta_flow: Sequence[float],
    *,
    proxy_source: str = "action",
) -> list[Variant]:
    """fp, static w4a8 at the full and at reduced step counts, dyq at full steps, and dyq with flow-step allocation."""
    variants = [Variant("fp", PrecisionMode.FP), Variant("static w4a8", PrecisionMode.W4A8)]
    variants += [Variant(f"static w4a8, {k} steps", PrecisionMode.W4A8, {"flow_steps": k}) for k in reduced_steps]
    variants.append(Variant("dyq", PrecisionMode.DYQ, {"proxy_source": proxy_source}, calibration))
    for k in reduced_steps:
        for theta in theta_flow:
            params = {"flow_steps_reduced": k, "theta_flow": theta, "proxy_source": proxy_source}
            variants.append(
                Variant(f"dyq + flow steps {k}/full, theta_flow={theta:g}", PrecisionMode.DYQ, params, calibration)
            )
    return variants


def run_compute_variants(
    evaluator: ClosedLoopEvaluator,
    variants: Sequence[Variant],
    episodes: int,
    cost: Mapping[str, Mapping[str, float]],
    *,
    seed_start: int = 0,
    progress: bool = True,
) -> dict[str, dict]:
    """Success and compute per episode (projected from `cost`, and the inference time measured) of each variant."""
    seeds = eval_seeds(episodes, seed_start)
    results: dict[str, dict] = {}
    for v in variants:
        done = evaluator.run_episodes(
            seeds, v.mode, desc=v.name, progress=progress, params=v.params, calibration=v.calibration
        )
        record = summarise(v.mode, done, evaluator.weight_bytes(v.mode))
        record["compute_ms_per_episode_projected"] = float(np.mean([episode_compute_ms(e, cost, v.mode) for e in done]))
        results[v.name] = record
    base, fp = results.get("static w4a8"), results.get("fp")
    for record in results.values():
        if base is not None:
            record["compute_vs_static_w4a8"] = (
                base["compute_ms_per_episode_projected"] / record["compute_ms_per_episode_projected"]
            )
        if fp is not None:
            low, high = fp["ci95"]
            record["within_fp_ci95"] = bool(low <= record["success_rate"] <= high)
    return results


def pareto_front(results: Mapping[str, dict]) -> list[str]:
    """The variants no other beats on both success (higher) and projected compute (lower)."""
    rows = {n: (r["success_rate"], r["compute_ms_per_episode_projected"]) for n, r in results.items()}
    return [
        n
        for n, (s, c) in rows.items()
        if not any((s2 >= s and c2 <= c) and (s2 > s or c2 < c) for m, (s2, c2) in rows.items() if m != n)
    ]


def plot_front(results: Mapping[str, dict], path: Path) -> None:
    """Success (95 % interval) against projected compute per episode, the front marked, as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    front = set(pareto_front(results))
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for name, r in results.items():
        x, y = r["compute_ms_per_episode_projected"], r["success_rate"]
        err = [[y - r["ci95"][0]], [r["ci95"][1] - y]]
        colour = "tab:red" if name.startswith("dyq") else "tab:blue"
        ax.errorbar([x], [y], yerr=err, marker="o" if name in front else "x", color=colour, capsize=3)
        ax.annotate(name, (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("compute per episode (ms, projected from the flow-cost split)")
    ax.set_ylabel("success rate")
    ax.set_title("success vs compute (o: on the front)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def calibration_with_widths(calibration: Calibration, bits: Sequence[int]) -> Calibration:
    """The calibration with other allowed widths (16 always stays)."""
    return replace(calibration, allowed_bits=tuple(bits))
