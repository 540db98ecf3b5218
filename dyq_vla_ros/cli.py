"""The `dyq-vla` command."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dyq_vla_ros.types import PrecisionMode


def _cmd_demo(args: argparse.Namespace) -> int:
    from dyq_vla_ros.ros.demo import run_demo

    params = {
        "precision_mode": args.precision_mode,
        "proxy_source": args.proxy_source,
        "control_rate_hz": args.rate,
        "model_path": args.model_path,
    }
    summary = run_demo(duration_s=args.duration, params={k: v for k, v in params.items() if v != ""})
    print()
    print("robot: synthetic (scripted coarse/fine joint motion, moving-square camera); simulator pending")
    print(f"policy: {args.model_path or 'embedded tiny PI0'} - the shipped model has RANDOM weights until the")
    print("        trained checkpoint lands, so its actions are not meaningful; precision switching is.")
    print(summary.table())
    return 0 if summary.actions > 0 else 1


def _cmd_init_model(args: argparse.Namespace) -> int:
    from dyq_vla_ros.policy import EMBEDDED_MODEL_DIR, create_random_checkpoint

    out = Path(args.out) if args.out else EMBEDDED_MODEL_DIR
    create_random_checkpoint(out, seed=args.seed)
    print(f"wrote a randomly initialised tiny PI0 checkpoint to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(prog="dyq-vla", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the policy node against a synthetic robot over ROS 2 and summarise")
    demo.add_argument("--duration", type=float, default=18.0, help="seconds to run once commanding starts")
    demo.add_argument("--precision-mode", default="dyq", choices=[m.value for m in PrecisionMode])
    demo.add_argument("--proxy-source", default="joint_state", choices=["action", "joint_state"])
    demo.add_argument("--rate", type=float, default=10.0, help="control rate in Hz")
    demo.add_argument("--model-path", default="", help="checkpoint directory (default: embedded)")
    demo.set_defaults(func=_cmd_demo)

    init = sub.add_parser("init-model", help="write a randomly initialised tiny PI0 checkpoint")
    init.add_argument("--out", default="", help="directory (default: the embedded model directory)")
    init.add_argument("--seed", type=int, default=0)
    init.set_defaults(func=_cmd_init_model)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of `dyq-vla`."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
