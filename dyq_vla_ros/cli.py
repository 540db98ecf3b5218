"""The `dyq-vla` command."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from dyq_vla_ros.contract import KEEP_FLOAT_DEFAULT
from dyq_vla_ros.types import PrecisionMode


def _parse_modes(text: str) -> list[PrecisionMode]:
    """Precision modes from a comma-separated list."""
    return [PrecisionMode.parse(m) for m in text.split(",") if m]


def _emit_json(report: dict, path: str) -> None:
    """Print a report as JSON, and also write it to path when one is given."""
    text = json.dumps(report, indent=2)
    if path:
        Path(path).write_text(text + "\n")
    print(text)


def _cmd_demo(args: argparse.Namespace) -> int:
    from dyq_vla_ros.ros.demo import run_demo

    policy_params = {
        "precision_mode": args.precision_mode,
        "proxy_source": args.proxy_source,
        "control_rate_hz": args.rate,
    }
    if args.model_path:
        policy_params["model_path"] = args.model_path
    bag = Path(args.bag) if args.bag else None
    summary = run_demo(episodes=args.episodes, policy_params=policy_params, bag=bag)
    print()
    print(f"policy: {args.model_path or 'embedded tiny PI0'}, mode {args.precision_mode}; robot: built-in simulator")
    print(summary.table())
    if bag:
        print(f"bag: {bag}")
    return 0 if summary.results else 1


def _cmd_sim_bench(args: argparse.Namespace) -> int:
    import cv2

    from dyq_vla_ros.sim.benchmark import sim_benchmark

    cv2.setNumThreads(1)
    if args.one_core and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    result = sim_benchmark(args.episodes, image_size=args.image_size)
    result["cores"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    print(json.dumps(result, indent=2))
    return 0


def _cmd_load_test(args: argparse.Namespace) -> int:
    from dyq_vla_ros.ros.load_test import run_load_test

    height, width = (int(v) for v in args.image_size.split("x"))
    result = run_load_test(
        duration_s=args.duration,
        camera_hz=args.camera_hz,
        joint_hz=args.joint_hz,
        image_size=(height, width),
        policy_params={"control_rate_hz": args.rate, "precision_mode": args.precision_mode},
    )
    print(json.dumps(result, indent=2))
    return 0 if result["node_alive"] else 1


def _cmd_replay(args: argparse.Namespace) -> int:
    from dyq_vla_ros.bags.replay import BagReplayer

    params = {"precision_mode": args.precision_mode, "proxy_source": args.proxy_source, "control_rate_hz": args.rate}
    if args.model_path:
        params["model_path"] = args.model_path
    replayer = BagReplayer(
        params, instruction=args.instruction, image_topic=args.image_topic, joint_topic=args.joint_topic
    )
    summary = replayer.run(Path(args.in_bag), Path(args.out_bag))
    shares = {b: summary.bits.count(b) / max(1, len(summary.bits)) for b in (2, 4, 8, 16)}
    print(json.dumps({"ticks": summary.ticks, "actions": summary.actions, "inferences": summary.inferences,
                      "bits_share": shares, "out_bag": args.out_bag}, indent=2))  # fmt: skip
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    from dyq_vla_ros.bags.plot import plot_bag

    print(plot_bag(Path(args.bag), Path(args.out), theta_fp=args.theta_fp))
    return 0


def _cmd_play(args: argparse.Namespace) -> int:
    import rclpy
    from rclpy.executors import ExternalShutdownException

    from dyq_vla_ros.ros.player import DEFAULT_TOPICS, BagPlayer

    rclpy.init()
    player = BagPlayer(Path(args.bag), args.topics or DEFAULT_TOPICS, rate=args.rate)

    def spin(timeout: float) -> None:
        rclpy.spin_once(player, timeout_sec=timeout)

    try:
        if not player.wait_for_subscribers(args.wait, spin):
            print(f"no subscriber appeared within {args.wait} s; playing anyway", file=sys.stderr)
        count = player.play(spin)
        print(f"published {count} messages from {args.bag}")
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        player.destroy_node()
        rclpy.try_shutdown()
    return 0


def _cmd_init_model(args: argparse.Namespace) -> int:
    from dyq_vla_ros.policy import create_random_checkpoint

    out = Path(args.out)
    create_random_checkpoint(out, seed=args.seed)
    print(f"wrote a randomly initialised tiny PI0 checkpoint to {out}")
    return 0


def _cmd_gen_data(args: argparse.Namespace) -> int:
    from dyq_vla_ros.training import DataConfig, generate_dataset

    config = DataConfig(
        episodes=args.episodes,
        start_seed=args.start_seed,
        noise_std=args.noise_std,
        image_size=args.image_size,
        shard_episodes=args.shard_episodes,
        policy=args.policy,
        expert_share=args.expert_share,
        actions_per_chunk=args.actions_per_chunk,
        wrist_camera=args.wrist_camera,
    )
    manifest = generate_dataset(Path(args.out), config)
    frames = sum(s["frames"] for s in manifest["shards"])
    wins = sum(e["success"] for e in manifest["episodes"])
    print(json.dumps({"out": args.out, "episodes": len(manifest["episodes"]), "frames": frames,
                      "expert_success": wins / max(1, len(manifest["episodes"]))}, indent=2))  # fmt: skip
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from dyq_vla_ros.training import TrainConfig, train

    config = TrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        threads=args.threads,
        checkpoint_every=args.checkpoint_every,
        time_limit_s=args.time_limit_min * 60.0,
        aux_weight=args.aux_weight,
        shift_px=args.augment_shift,
        vision_layouts=args.vision_layouts,
        vision_steps=args.vision_steps,
        state_features=args.state_features,
        action_space=args.action_space,
        offset_scale=args.offset_scale,
        start_frames=args.start_frames,
        start_share=args.start_share,
        start_holding=args.start_holding,
        start_near=args.start_near,
        init_from=args.init_from,
        qat_group_size=args.qat_group_size,
        qat_keep_float=[p for p in args.qat_keep_float.split(",") if p],
    )
    result = train([Path(d) for d in args.data], Path(args.out), config)
    print(json.dumps({"out": str(result.out_dir), "steps": result.steps, "final_loss": result.final_loss,
                      "seconds": round(result.seconds, 1)}, indent=2))  # fmt: skip
    return 0


def _set_threads(threads: int) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def _evaluator(args: argparse.Namespace):
    """The closed-loop evaluator of a command's --model-path, --device, --actions-per-chunk, --max-steps."""
    from dyq_vla_ros.evaluation import ClosedLoopEvaluator
    from dyq_vla_ros.sim import SimConfig

    _set_threads(args.threads)
    params: dict[str, object] = {"device": args.device}
    if args.model_path:
        params["model_path"] = args.model_path
    if args.actions_per_chunk is not None:
        params["actions_per_chunk"] = args.actions_per_chunk
    sim_config = SimConfig(max_steps=args.max_steps)
    return ClosedLoopEvaluator(params, sim_config=sim_config, workers=getattr(args, "workers", 1))


def _quantized_twin(evaluator):
    """A second policy from the evaluator's checkpoint, kept on the 4-bit weights beside the fp one."""
    from dyq_vla_ros.policy import Pi0Policy

    fp = evaluator.policy
    return Pi0Policy(fp.path, fp.config)


def _cmd_eval(args: argparse.Namespace) -> int:
    from dyq_vla_ros.evaluation.ablation import against_fp

    table = _bench_table(args.bench) if args.bench else None
    with _evaluator(args) as evaluator:
        report = evaluator.evaluate(_parse_modes(args.precision_modes), args.episodes, seed_start=args.seed_start)
    against_fp(report["results"], table)
    report["latency_table"] = args.bench
    _emit_json(report, args.json)
    return 0


def _bench_table(path: str) -> dict:
    """The per-mode results of a `dyq-vla bench --json` report."""
    return json.loads(Path(path).read_text())["results"]


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from dyq_vla_ros.dyq import CALIBRATION_FILE
    from dyq_vla_ros.evaluation.bench import bits_latency_table
    from dyq_vla_ros.evaluation.calibrate import CalibrateConfig, calibrate

    evaluator = _evaluator(args)
    quantized = _quantized_twin(evaluator)
    latency = bits_latency_table(_bench_table(args.bench)) if args.bench else None
    config = CalibrateConfig(
        episodes=args.episodes, seed_start=args.seed_start, eta=args.eta, theta_fp_max=args.theta_fp_max,
        d_acc=args.d_acc, successful_only=not args.include_failures,
    )  # fmt: skip
    calibration, report = calibrate(evaluator, quantized, config, latency_ms=latency, latency_source=args.bench)
    out = Path(args.out) if args.out else Path(evaluator.policy.path) / CALIBRATION_FILE
    calibration.save(out)
    _emit_json({"calibration_file": str(out), **report}, args.json)
    return 0


def _cmd_study(args: argparse.Namespace) -> int:
    from dyq_vla_ros.evaluation.study import SensitivityStudy, StudyConfig, plot_study, summarise_study

    evaluator = _evaluator(args)
    config = StudyConfig(episodes=args.episodes, seed_start=args.seed_start, perturb_bits=args.bits, stride=args.stride)
    studies = SensitivityStudy(evaluator, _quantized_twin(evaluator), config).run()
    report = summarise_study(studies, config)
    if args.plot and studies:
        shown = max(studies, key=lambda st: max(st.deviation_mm, default=0.0))
        plot_study(shown, Path(args.plot))
        report["plot"] = {"file": args.plot, "seed": shown.seed}
    _emit_json(report, args.json)
    return 0


def _cmd_ablate(args: argparse.Namespace) -> int:
    from dyq_vla_ros.evaluation.ablation import ablation_variants, plot_sweep, run_variants, sweep_variants

    evaluator = _evaluator(args)
    calibration = evaluator.policy.calibration
    table = _bench_table(args.bench) if args.bench else None
    variants = ablation_variants(calibration, [m for m in args.static.split(",") if m], table)
    sweep = [float(v) for v in args.theta_fp.split(",") if v]
    variants += sweep_variants(variants[-1].calibration or calibration, sweep)
    with evaluator:
        results = run_variants(evaluator, variants, args.episodes, seed_start=args.seed_start, table=table)
    if args.plot and sweep:
        plot_sweep(results, Path(args.plot))
    report = {"model": str(evaluator.policy.path), "episodes": args.episodes, "latency_table": args.bench,
              "results": results}  # fmt: skip
    _emit_json(report, args.json)
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from dyq_vla_ros.evaluation import run_bench

    _set_threads(args.threads)
    height, width = (int(v) for v in args.image_size.split("x"))
    modes = _parse_modes(args.precision_modes)
    report = run_bench(
        args.model,
        modes,
        device=args.device,
        backend=args.backend,
        steps=args.steps,
        warmup=args.warmup,
        image_hw=(height, width),
    )
    _emit_json(report, args.json)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(prog="dyq-vla", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="closed loop over ROS 2: simulated robot + policy node, summary and bag")
    demo.add_argument("--episodes", type=int, default=3, help="episodes to run")
    demo.add_argument("--precision-mode", default="dyq", choices=[m.value for m in PrecisionMode])
    demo.add_argument("--proxy-source", default="action", choices=["action", "joint_state"])
    demo.add_argument("--rate", type=float, default=20.0, help="control rate in Hz (one simulator step per action)")
    demo.add_argument("--model-path", default="", help="checkpoint directory (default: embedded)")
    demo.add_argument("--bag", default="", help="record the run to this MCAP bag directory")
    demo.set_defaults(func=_cmd_demo)

    sim = sub.add_parser("sim-bench", help="scripted-expert success rate and simulator steps/s (JSON)")
    sim.add_argument("--episodes", type=int, default=200, help="held-out episodes for the success rate")
    sim.add_argument("--image-size", type=int, default=128)
    sim.add_argument("--all-cores", dest="one_core", action="store_false", help="do not pin to one core")
    sim.set_defaults(func=_cmd_sim_bench)

    load = sub.add_parser("load-test", help="policy node under high-rate camera and joint states (JSON)")
    load.add_argument("--duration", type=float, default=60.0)
    load.add_argument("--camera-hz", type=float, default=60.0)
    load.add_argument("--joint-hz", type=float, default=500.0)
    load.add_argument("--image-size", default="480x640", help="HEIGHTxWIDTH")
    load.add_argument("--rate", type=float, default=20.0, help="control rate in Hz")
    load.add_argument("--precision-mode", default="dyq", choices=[m.value for m in PrecisionMode])
    load.set_defaults(func=_cmd_load_test)

    replay = sub.add_parser("replay", help="bag in -> bag out with the policy's actions and bit widths")
    replay.add_argument("in_bag")
    replay.add_argument("out_bag")
    replay.add_argument("--precision-mode", default="dyq", choices=[m.value for m in PrecisionMode])
    replay.add_argument("--proxy-source", default="action", choices=["action", "joint_state"])
    replay.add_argument("--rate", type=float, default=10.0, help="control rate in Hz")
    replay.add_argument("--model-path", default="")
    replay.add_argument("--image-topic", default="")
    replay.add_argument("--joint-topic", default="")
    replay.add_argument("--instruction", default="", help="use this instead of the bag's instruction topic")
    replay.set_defaults(func=_cmd_replay)

    plot = sub.add_parser("plot", help="bag -> PNG of sensitivity, bit width and action magnitude")
    plot.add_argument("bag")
    plot.add_argument("--out", required=True)
    plot.add_argument("--theta-fp", type=float, default=None, help="draw this threshold")
    plot.set_defaults(func=_cmd_plot)

    play = sub.add_parser("play", help="publish a bag's camera, joint states and instruction at recorded pace")
    play.add_argument("bag")
    play.add_argument("--topics", nargs="*", default=None, help="topics to publish (default: the policy's inputs)")
    play.add_argument("--rate", type=float, default=1.0, help="playback speed factor")
    play.add_argument("--wait", type=float, default=60.0, help="seconds to wait for subscribers first")
    play.set_defaults(func=_cmd_play)

    gen = sub.add_parser("gen-data", help="demonstrations from the noisy scripted expert (resumable)")
    gen.add_argument("--out", required=True, help="dataset directory")
    gen.add_argument("--episodes", type=int, default=400)
    gen.add_argument("--start-seed", type=int, default=0, help="first training seed")
    gen.add_argument("--noise-std", type=float, default=0.3, help="action noise, relative to the phase's step size")
    gen.add_argument("--image-size", type=int, default=96, help="stored (policy input) image size")
    gen.add_argument("--shard-episodes", type=int, default=25)
    gen.add_argument(
        "--policy", default="", help="DAgger: execute this checkpoint's actions (the expert still labels every frame)"
    )
    gen.add_argument("--expert-share", type=float, default=0.3, help="with --policy: share of chunks the expert drives")
    gen.add_argument("--actions-per-chunk", type=int, default=5, help="with --policy: actions executed per chunk")
    gen.add_argument("--wrist-camera", action="store_true", help="also record the wrist camera's image of every frame")
    gen.set_defaults(func=_cmd_gen_data)

    tr = sub.add_parser("train", help="train the tiny PI0 on a gen-data dataset (resumes from OUT)")
    tr.add_argument("--data", required=True, nargs="+", help="dataset directories (trained on together)")
    tr.add_argument("--init-from", default="", help="start from this checkpoint (fine-tuning, e.g. on DAgger data)")
    tr.add_argument("--out", required=True, help="checkpoint directory")
    tr.add_argument("--steps", type=int, default=6000)
    tr.add_argument("--batch-size", type=int, default=32)
    tr.add_argument("--lr", type=float, default=5e-4)
    tr.add_argument("--augment-shift", type=int, default=0, help="random image shifts of up to N pixels (0: off)")
    tr.add_argument(
        "--aux-weight", type=float, default=1.0, help="weight of the auxiliary peg/hole localisation loss (0: off)"
    )
    tr.add_argument(
        "--vision-layouts",
        type=int,
        default=20000,
        help="rendered layouts for the vision tower's localisation pretraining",
    )
    tr.add_argument(
        "--vision-steps", type=int, default=0, help="steps of that pretraining before flow matching (0: off)"
    )
    tr.add_argument(
        "--state-features",
        choices=("joints", "joints+tool", "height+gripper"),  # policy.state_features.STATE_FEATURES, torch-free here
        default="joints+tool",
        help="model state: joint positions; them plus the built-in arm's tool pose by forward kinematics (default); "
        "or only the tool's height and the gripper gap (docs/BENCHMARKS.md, eighth attempt)",
    )
    tr.add_argument(
        "--action-space",
        choices=("tool_target", "tool_offset", "delta"),  # policy.action_space.ACTION_SPACES, torch-free here
        default="tool_target",
        help="what the model outputs: the expert's tool targets, converted to deltas by the processor (default); "
        "those targets relative to the tool's pose (for wrist-camera data); or the deltas themselves "
        "(docs/BENCHMARKS.md, attempts one to eight)",
    )
    tr.add_argument(
        "--offset-scale",
        type=float,
        default=0.01,
        help="with tool_offset: scale (m) of the logarithmic compander of position offsets, fine near the target "
        "(0: linear)",
    )
    tr.add_argument(
        "--start-frames",
        type=int,
        default=0,
        help="first-move frames from this many new layouts (arm at a random pose, the expert's next chunk as label), "
        "mixed into flow matching (0: none)",
    )
    tr.add_argument("--start-share", type=float, default=0.25, help="share of each batch from the start frames")
    tr.add_argument(
        "--start-holding", type=float, default=0.5, help="share of the start frames that carry the named peg"
    )
    tr.add_argument(
        "--start-near",
        type=float,
        default=0.0,
        help="share of the start frames placed within 3 cm of the next target (peg, or hole when carrying)",
    )
    tr.add_argument(
        "--qat-group-size",
        type=int,
        default=0,
        help="quantization-aware training: the layers the policy quantizes train on the 4-bit grid of this group "
        "size (64, the policy's) and the checkpoint is saved on it (0: float training)",
    )
    tr.add_argument(
        "--qat-keep-float",
        default=",".join(KEEP_FLOAT_DEFAULT),
        help="comma-separated globs of linear layers QAT leaves in float (default: the node's keep_float_modules)",
    )
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    tr.add_argument("--checkpoint-every", type=int, default=500)
    tr.add_argument(
        "--time-limit-min",
        type=float,
        default=0.0,
        help="stop with a checkpoint after this long; the learning rate decays to its floor by then",
    )
    tr.set_defaults(func=_cmd_train)

    def closed_loop_options(cmd: argparse.ArgumentParser, episodes: int, seeds: str, parallel: bool = False) -> None:
        cmd.add_argument("--episodes", type=int, default=episodes)
        cmd.add_argument("--model-path", default="", help="checkpoint directory (default: embedded)")
        cmd.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
        cmd.add_argument("--seed-start", type=int, default=0, help=f"offset into the {seeds} seeds")
        cmd.add_argument("--actions-per-chunk", type=int, default=None, help="default: the node parameter's")
        cmd.add_argument("--max-steps", type=int, default=200, help="episode time-out in simulator steps")
        cmd.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
        cmd.add_argument("--json", default="", help="also write the report here")
        if parallel:
            cmd.add_argument(
                "--workers",
                type=int,
                default=1,
                help="episode processes, one torch thread each (latency is per worker)",
            )

    ev = sub.add_parser("eval", help="closed-loop success per precision mode on held-out seeds (JSON)")
    closed_loop_options(ev, 100, "held-out", parallel=True)
    ev.add_argument("--precision-modes", default="fp", help="comma-separated modes")
    ev.add_argument(
        "--bench",
        default="",
        help="`dyq-vla bench --json` report: add each mode's latency projected from its width shares onto it",
    )
    ev.set_defaults(func=_cmd_eval)

    cal = sub.add_parser("calibrate", help="thresholds and usable widths from per-width action errors (JSON)")
    closed_loop_options(cal, 20, "calibration")
    cal.add_argument("--eta", type=float, default=0.1, help="eta of the budget D_acc / (S + eta)")
    cal.add_argument("--theta-fp-max", type=float, default=0.5, help="upper bound of theta_fp")
    cal.add_argument("--d-acc", type=float, default=0.0, help="error budget D_acc (0: from the fp noise floor)")
    cal.add_argument(
        "--bench",
        default="",
        help="`dyq-vla bench --json` report of the target device: only widths faster than every more precise "
        "one are allowed (default: all widths)",
    )
    cal.add_argument(
        "--include-failures", action="store_true", help="also pool failed fp rollouts (default: successful only)"
    )
    cal.add_argument("--out", default="", help="calibration file (default: the model's dyq_calibration.json)")
    cal.set_defaults(func=_cmd_calibrate)

    study = sub.add_parser("study", help="step-wise perturbation: true step sensitivity vs the proxies (JSON, PNG)")
    closed_loop_options(study, 10, "study")
    study.add_argument("--bits", type=int, default=2, choices=[2, 4, 8], help="activation bits of the perturbation")
    study.add_argument("--stride", type=int, default=1, help="perturb every STRIDE-th inference")
    study.add_argument("--plot", default="", help="PNG of the most sensitive episode")
    study.set_defaults(func=_cmd_study)

    abl = sub.add_parser("ablate", help="ablation ladder and theta_fp sweep of dyq on held-out seeds (JSON, PNG)")
    closed_loop_options(abl, 100, "held-out", parallel=True)
    abl.add_argument("--static", default="w4a4,w4a2", help="static low-bit baselines")
    abl.add_argument("--theta-fp", default="0.1,0.3,0.5,0.7,0.9", help="theta_fp values to sweep ('' skips)")
    abl.add_argument("--bench", default="", help="`dyq-vla bench --json` report to project latencies on")
    abl.add_argument("--plot", default="", help="PNG of the sweep")
    abl.set_defaults(func=_cmd_ablate)

    bench = sub.add_parser("bench", help="per-step latency and weight bytes per precision mode (JSON)")
    bench.add_argument("--model", default="embedded", help="embedded, scale-100m, scale-400m or a checkpoint directory")
    bench.add_argument("--precision-modes", default="fp,w4a16,w4a8,w4a4,w4a2", help="comma-separated modes")
    bench.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    bench.add_argument("--backend", default="auto", choices=["auto", "avx2", "torch", "reference"])
    bench.add_argument("--steps", type=int, default=20, help="timed policy steps per mode")
    bench.add_argument("--warmup", type=int, default=3)
    bench.add_argument("--image-size", default="480x640", help="camera frame HEIGHTxWIDTH fed to the processor")
    bench.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    bench.add_argument("--json", default="", help="also write the report here")
    bench.set_defaults(func=_cmd_bench)

    init = sub.add_parser("init-model", help="write a randomly initialised tiny PI0 checkpoint")
    init.add_argument("--out", required=True, help="checkpoint directory to write")
    init.add_argument("--seed", type=int, default=0)
    init.set_defaults(func=_cmd_init_model)
    return parser


_USER_ERRORS = (
    ("dyq_vla_ros.bags.errors", "BagError"),
    ("dyq_vla_ros.dyq.errors", "DyqError"),
    ("dyq_vla_ros.policy.errors", "PolicyError"),
    ("dyq_vla_ros.quant.errors", "QuantizationError"),
    ("dyq_vla_ros.sim.env", "SimError"),
    ("dyq_vla_ros.training.data", "DatasetError"),
)
"""Errors that describe bad input or settings: reported in one line, without a traceback."""


def _user_errors() -> tuple[type[Exception], ...]:
    # only modules already imported can have raised; importing the rest would load torch for nothing
    return tuple(getattr(sys.modules[m], name) for m, name in _USER_ERRORS if m in sys.modules)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `dyq-vla`."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except Exception as exc:
        if not isinstance(exc, _user_errors()):
            raise
        parser.exit(2, f"dyq-vla {args.command}: error: {exc}\n")


if __name__ == "__main__":
    sys.exit(main())
