"""`dyq-vla ablate`: DyQ-VLA's ablation on the built-in task and a sweep of theta_fp.

Variants build up the method: static low-bit activations, + kinematic switching (default
thresholds, every width), + calibrated allocation (the model's calibrated thresholds, every
width), + hardware-aware allocation (calibrated thresholds and only the widths worth using on the
device). Each is evaluated closed loop on the same held-out seeds; its per-inference latency is
projected from a latency table (`dyq-vla bench` JSON) with its measured bit-width shares.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from dyq_vla_ros.control import initial_thresholds
from dyq_vla_ros.dyq import Calibration, Thresholds
from dyq_vla_ros.dyq.allocation import hardware_allowed_bits
from dyq_vla_ros.evaluation.bench import bits_latency_table, projected_latency_ms
from dyq_vla_ros.evaluation.closed_loop import ClosedLoopEvaluator, summarise
from dyq_vla_ros.sim import eval_seeds
from dyq_vla_ros.types import BIT_WIDTHS, PrecisionMode


@dataclass(frozen=True)
class Variant:
    """One evaluated configuration: a mode plus parameter and calibration overrides."""

    name: str
    mode: PrecisionMode
    params: dict = field(default_factory=dict)
    calibration: Calibration | None = None


def ablation_variants(
    calibration: Calibration,
    static: Sequence[str] = ("w4a4", "w4a2"),
    table: Mapping[str, Mapping[str, float]] | None = None,
) -> list[Variant]:
    """The ablation ladder for a model's calibration; the widths of the last rung come from the bench table."""
    every_width = replace(calibration, allowed_bits=BIT_WIDTHS)
    if table is not None:
        calibration = replace(calibration, allowed_bits=hardware_allowed_bits(bits_latency_table(table)))
    return [
        *(Variant(f"static {m}", PrecisionMode.parse(m)) for m in static),
        Variant("+ kinematic switching", PrecisionMode.DYQ, {"calibrated_thresholds": False}, every_width),
        Variant("+ calibrated allocation", PrecisionMode.DYQ, {"calibrated_thresholds": True}, every_width),
        Variant("+ hardware-aware allocation", PrecisionMode.DYQ, {"calibrated_thresholds": True}, calibration),
    ]


def sweep_variants(calibration: Calibration, theta_fp_values: Sequence[float]) -> list[Variant]:
    """The dyq mode with the calibrated allocation and theta_fp replaced (lower thresholds capped at it)."""
    variants = []
    for theta_fp in theta_fp_values:
        t = calibration.thresholds
        thresholds = Thresholds(min(t.theta_2_4, theta_fp), min(t.theta_4_8, theta_fp), theta_fp)
        calib = replace(calibration, thresholds=thresholds, allocation=calibration.allocation or {})
        variants.append(Variant(f"theta_fp={theta_fp:g}", PrecisionMode.DYQ, {"calibrated_thresholds": True}, calib))
    return variants


def projected(record: Mapping, table: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """A result's per-inference latency on a bench table, from its mode or measured width shares."""
    fp_ms = float(table["fp"]["latency_ms_p50"])
    if record["mode"] == PrecisionMode.FP.value:
        ms = fp_ms
    else:
        ms = projected_latency_ms(record["inference_bits_share"], bits_latency_table(table))
    return {"projected_latency_ms": ms, "projected_speedup_vs_fp": fp_ms / ms}


def against_fp(results: Mapping[str, dict], table: Mapping[str, Mapping[str, float]] | None = None) -> None:
    """Add, in place, each mode's success relative to fp's, whether it lies in fp's interval, projected latency."""
    fp = results.get(PrecisionMode.FP.value)
    for record in results.values():
        if fp is not None:
            rate, (lo, hi) = record["success_rate"], fp["ci95"]
            record["success_vs_fp"] = rate / fp["success_rate"] if fp["success_rate"] > 0 else None
            record["within_fp_ci95"] = bool(lo <= rate <= hi)
        if table is not None:
            record.update(projected(record, table))


def run_variants(
    evaluator: ClosedLoopEvaluator,
    variants: Sequence[Variant],
    episodes: int,
    *,
    seed_start: int = 0,
    table: Mapping[str, Mapping[str, float]] | None = None,
    progress: bool = True,
) -> dict[str, dict]:
    """Closed-loop results of each variant on the same held-out seeds."""
    seeds = eval_seeds(episodes, seed_start)
    results = {}
    for v in variants:
        done = evaluator.run_episodes(
            seeds, v.mode, desc=v.name, progress=progress, params=v.params, calibration=v.calibration
        )
        record = summarise(v.mode, done, evaluator.weight_bytes(v.mode))
        if v.calibration is not None:
            in_force = initial_thresholds(v.calibration, evaluator.params.replace(**v.params))
            record["thresholds"] = asdict(in_force)
            record["allowed_bits"] = list(v.calibration.allowed_bits)
        if table is not None:
            record.update(projected(record, table))
        results[v.name] = record
    return results


def plot_sweep(results: Mapping[str, dict], path: Path) -> None:
    """Success (95 % interval) and projected speed-up against theta_fp, as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted((float(name.split("=")[1]), r) for name, r in results.items() if name.startswith("theta_fp="))
    x = [t for t, _ in rows]
    rate = [r["success_rate"] for _, r in rows]
    lo = [r["success_rate"] - r["ci95"][0] for _, r in rows]
    hi = [r["ci95"][1] - r["success_rate"] for _, r in rows]
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    ax.errorbar(x, rate, yerr=[lo, hi], marker="o", capsize=3, color="tab:blue", label="success (95 % CI)")
    ax.set_xlabel("theta_fp")
    ax.set_ylabel("success rate", color="tab:blue")
    ax.set_ylim(0, 1.05)
    ax.grid(alpha=0.3)
    if all("projected_speedup_vs_fp" in r for _, r in rows):
        ax2 = ax.twinx()
        ax2.plot(x, [r["projected_speedup_vs_fp"] for _, r in rows], marker="s", color="tab:red")
        ax2.set_ylabel("projected speed-up vs fp", color="tab:red")
    ax.set_title("dyq: theta_fp sweep")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
