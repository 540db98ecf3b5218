"""Commands that measure a policy: closed-loop eval, calibration, the sensitivity study, ablation, bench."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from dyq_vla_ros.cli.options import add_config_options, config_from_args, emit_json, parse_modes, set_threads
from dyq_vla_ros.contract import DEVICES, PROXY_SOURCES, QUANT_BACKENDS

if TYPE_CHECKING:
    from dyq_vla_ros.evaluation import ClosedLoopEvaluator
    from dyq_vla_ros.policy import Pi0Policy


def closed_loop_options(cmd: argparse.ArgumentParser, episodes: int | None, seeds: str) -> None:
    """The options every closed-loop command shares (episodes and seeds unless its config has them)."""
    if episodes is not None:
        cmd.add_argument("--episodes", type=int, default=episodes)
        cmd.add_argument("--seed-start", type=int, default=0, help=f"offset into the {seeds} seeds")
    cmd.add_argument("--model-path", default="", help="checkpoint directory (default: embedded)")
    cmd.add_argument("--device", default="auto", choices=DEVICES)
    cmd.add_argument("--tokenizer-path", default="", help="a local tokenizer for checkpoints that name a hub one")
    cmd.add_argument("--actions-per-chunk", type=int, default=None, help="default: the node parameter's")
    cmd.add_argument("--max-steps", type=int, default=200, help="episode time-out in simulator steps")
    cmd.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    cmd.add_argument("--json", default="", help="also write the report here")
    cmd.add_argument(
        "--workers", type=int, default=1, help="episode processes, one torch thread each (latency is per worker)"
    )
    cmd.add_argument(
        "--ray",
        default="",
        metavar="ADDRESS",
        help="run episodes as Ray tasks on this cluster ('local' starts one here; `pip install dyq_vla_ros[ray]`); "
        "--workers actors, the same results as --workers",
    )


def evaluator(args: argparse.Namespace) -> ClosedLoopEvaluator:
    """The closed-loop evaluator of a command's --model-path, --device, --actions-per-chunk, --max-steps."""
    from dyq_vla_ros.evaluation import ClosedLoopEvaluator
    from dyq_vla_ros.sim import SimConfig

    set_threads(args.threads)
    params: dict[str, object] = {
        "device": args.device,
        "model_path": args.model_path,
        "tokenizer_path": args.tokenizer_path,
    }
    if args.actions_per_chunk is not None:
        params["actions_per_chunk"] = args.actions_per_chunk
    return ClosedLoopEvaluator(
        params, sim_config=SimConfig(max_steps=args.max_steps), workers=args.workers, ray_address=args.ray
    )


def quantized_twin(ev: ClosedLoopEvaluator) -> Pi0Policy:
    """A second policy from the evaluator's checkpoint, kept on the 4-bit weights beside the fp one."""
    from dyq_vla_ros.policy import Pi0Policy

    return Pi0Policy(ev.policy.path, ev.policy.config)


def bench_table(path: str) -> dict:
    """The per-mode results of a `dyq-vla bench --json` report."""
    return json.loads(Path(path).read_text())["results"]


def add_eval(cmd: argparse.ArgumentParser) -> None:
    """Options of `eval`."""
    closed_loop_options(cmd, 100, "held-out")
    cmd.add_argument("--precision-modes", default="fp", help="comma-separated modes")
    cmd.add_argument(
        "--bench", default="", help="`dyq-vla bench --json` report: add each mode's latency projected from its widths"
    )
    cmd.set_defaults(func=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    """Closed-loop success per precision mode on held-out seeds."""
    from dyq_vla_ros.evaluation.ablation import against_fp

    table = bench_table(args.bench) if args.bench else None
    with evaluator(args) as ev:
        report = ev.evaluate(parse_modes(args.precision_modes), args.episodes, seed_start=args.seed_start)
    against_fp(report["results"], table)
    report["latency_table"] = args.bench
    emit_json(report, args.json)
    return 0


def add_calibrate(cmd: argparse.ArgumentParser) -> None:
    """Options of `calibrate` (from CalibrateConfig)."""
    from dyq_vla_ros.evaluation.calibrate import CalibrateConfig

    closed_loop_options(cmd, None, "calibration")
    add_config_options(cmd, CalibrateConfig, exclude=("margin",), flags={"successful_only": "--include-failures"})
    cmd.add_argument(
        "--bench",
        default="",
        help="`dyq-vla bench --json` report of the target device: only widths faster than every more precise "
        "one are allowed (default: all widths)",
    )
    cmd.add_argument("--out", default="", help="calibration file (default: the model's dyq_calibration.json)")
    cmd.set_defaults(func=calibrate)


def calibrate(args: argparse.Namespace) -> int:
    """Thresholds and usable widths from per-width action errors on fp rollouts."""
    from dyq_vla_ros.dyq import CALIBRATION_FILE
    from dyq_vla_ros.evaluation.bench import bits_latency_table
    from dyq_vla_ros.evaluation.calibrate import CalibrateConfig
    from dyq_vla_ros.evaluation.calibrate import calibrate as run_calibration

    ev = evaluator(args)
    latency = bits_latency_table(bench_table(args.bench)) if args.bench else None
    config = config_from_args(CalibrateConfig, args)
    calibration, report = run_calibration(ev, quantized_twin(ev), config, latency_ms=latency, latency_source=args.bench)
    out = Path(args.out) if args.out else Path(ev.policy.path) / CALIBRATION_FILE
    calibration.save(out)
    emit_json({"calibration_file": str(out), **report}, args.json)
    return 0


def add_study(cmd: argparse.ArgumentParser) -> None:
    """Options of `study` (from StudyConfig)."""
    from dyq_vla_ros.evaluation.study import StudyConfig

    closed_loop_options(cmd, None, "study")
    add_config_options(cmd, StudyConfig, flags={"perturb_bits": "--bits"}, choices={"perturb_bits": (2, 4, 8)})
    cmd.add_argument("--plot", default="", help="PNG of the most sensitive episode")
    cmd.set_defaults(func=study)


def study(args: argparse.Namespace) -> int:
    """Step-wise perturbation: the true step sensitivity against the proxies."""
    from dyq_vla_ros.evaluation.study import SensitivityStudy, StudyConfig, plot_study, study_workers, summarise_study

    ev = evaluator(args)
    config = config_from_args(StudyConfig, args)
    study_run = SensitivityStudy(ev, quantized_twin(ev), config)
    workers = study_workers(ev, config) if args.workers > 1 or args.ray else None
    try:
        studies = study_run.run(workers=workers)
    finally:
        if workers is not None:
            workers.close()
    report = summarise_study(studies, config)
    if args.plot and studies:
        shown = max(studies, key=lambda st: max((s.sensitivity for s in st.steps), default=0.0))
        plot_study(shown, Path(args.plot))
        report["plot"] = {"file": args.plot, "seed": shown.seed}
    emit_json(report, args.json)
    return 0


def add_ablate(cmd: argparse.ArgumentParser) -> None:
    """Options of `ablate`."""
    closed_loop_options(cmd, 100, "held-out")
    cmd.add_argument("--static", default="w4a4,w4a2", help="static low-bit baselines")
    cmd.add_argument("--theta-fp", default="0.1,0.3,0.5,0.7,0.9", help="theta_fp values to sweep ('' skips)")
    cmd.add_argument("--bench", default="", help="`dyq-vla bench --json` report to project latencies on")
    cmd.add_argument("--plot", default="", help="PNG of the sweep (with --compute: of the success-vs-compute front)")
    cmd.add_argument(
        "--compute",
        action="store_true",
        help="compare compute allocation instead: fp, static w4a8 at full and reduced flow steps, dyq, dyq "
        "with flow steps chosen from S_t; success and compute per episode",
    )
    cmd.add_argument("--flow-steps", default="1,2", help="with --compute: reduced flow-step counts")
    cmd.add_argument("--theta-flow", default="0.3,0.5", help="with --compute: theta_flow values")
    cmd.add_argument(
        "--proxy-source", default="action", choices=PROXY_SOURCES, help="with --compute: what dyq's S_t follows"
    )
    cmd.set_defaults(func=ablate)


def ablate(args: argparse.Namespace) -> int:
    """The ablation ladder and theta_fp sweep of dyq on held-out seeds."""
    from dyq_vla_ros.evaluation.ablation import ablation_variants, plot_sweep, run_variants, sweep_variants

    ev = evaluator(args)
    if args.compute:
        return ablate_compute(args, ev)
    calibration = ev.policy.calibration
    table = bench_table(args.bench) if args.bench else None
    variants = ablation_variants(calibration, [m for m in args.static.split(",") if m], table)
    sweep = [float(v) for v in args.theta_fp.split(",") if v]
    variants += sweep_variants(variants[-1].calibration or calibration, sweep)
    with ev:
        results = run_variants(ev, variants, args.episodes, seed_start=args.seed_start, table=table)
    if args.plot and sweep:
        plot_sweep(results, Path(args.plot))
    report = {"model": str(ev.policy.path), "episodes": args.episodes, "latency_table": args.bench, "results": results}
    emit_json(report, args.json)
    return 0


def ablate_compute(args: argparse.Namespace, ev: ClosedLoopEvaluator) -> int:
    """`ablate --compute`: flow-step allocation against static settings on success and compute per episode."""
    from dyq_vla_ros.evaluation.compute import (
        compute_variants,
        flow_cost,
        pareto_front,
        plot_front,
        run_compute_variants,
    )
    from dyq_vla_ros.types import PrecisionMode

    cost = flow_cost(ev.policy, [PrecisionMode.FP, PrecisionMode.W4A8, PrecisionMode.W4A16])
    steps = [int(v) for v in args.flow_steps.split(",") if v]
    thetas = [float(v) for v in args.theta_flow.split(",") if v]
    variants = compute_variants(ev.policy.calibration, steps, thetas, proxy_source=args.proxy_source)
    with ev:
        results = run_compute_variants(ev, variants, args.episodes, cost, seed_start=args.seed_start)
    if args.plot:
        plot_front(results, Path(args.plot))
    report = {
        "model": str(ev.policy.path),
        "episodes": args.episodes,
        "flow_cost": cost,
        "front": pareto_front(results),
        "results": results,
    }
    emit_json(report, args.json)
    return 0


def add_bench(cmd: argparse.ArgumentParser) -> None:
    """Options of `bench`."""
    cmd.add_argument("--model", default="embedded", help="embedded, scale-100m, scale-400m or a checkpoint directory")
    cmd.add_argument("--precision-modes", default="fp,w4a16,w4a8,w4a4,w4a2", help="comma-separated modes")
    cmd.add_argument("--device", default="auto", choices=DEVICES)
    cmd.add_argument("--backend", default="auto", choices=QUANT_BACKENDS)
    cmd.add_argument("--steps", type=int, default=20, help="timed policy steps per mode")
    cmd.add_argument("--warmup", type=int, default=3)
    cmd.add_argument("--image-size", default="480x640", help="camera frame HEIGHTxWIDTH fed to the processor")
    cmd.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    cmd.add_argument(
        "--peers",
        action="store_true",
        help="also time each PI0 layer shape at 1, 51 and 288 tokens beside fp32, fbgemm W8A8 and onnxruntime "
        "MatMulNBits (where installed), interleaved",
    )
    cmd.add_argument("--json", default="", help="also write the report here")
    cmd.set_defaults(func=bench)


def bench(args: argparse.Namespace) -> int:
    """Per-step latency and resident weight bytes per precision mode."""
    from dyq_vla_ros.evaluation import run_bench

    set_threads(args.threads)
    height, width = (int(v) for v in args.image_size.split("x"))
    report = run_bench(
        args.model,
        parse_modes(args.precision_modes),
        device=args.device,
        backend=args.backend,
        steps=args.steps,
        warmup=args.warmup,
        image_hw=(height, width),
        peers=args.peers,
        progress=_print_layer if args.peers else None,
    )
    emit_json(report, args.json)
    return 0


def _print_layer(record: dict) -> None:
    """One line per peers record on stderr while the run goes on: median ms of each contender."""
    import sys

    shape = record["shape"]
    times = "  ".join(f"{name} {ms:.3f}" for name, ms in record["ms"].items())
    print(f"{shape['tokens']:>4} x {shape['in']:>5} -> {shape['out']:>5}  ms: {times}", file=sys.stderr)


COMMANDS = {
    "eval": ("closed-loop success per precision mode on held-out seeds (JSON)", add_eval),
    "calibrate": ("thresholds and usable widths from per-width action errors (JSON)", add_calibrate),
    "study": ("step-wise perturbation: true step sensitivity vs the proxies (JSON, PNG)", add_study),
    "ablate": ("ablation ladder and theta_fp sweep of dyq on held-out seeds (JSON, PNG)", add_ablate),
    "bench": ("per-step latency and weight bytes per precision mode (JSON)", add_bench),
}
