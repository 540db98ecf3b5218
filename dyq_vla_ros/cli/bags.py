"""Commands on recorded bags: offline replay through the policy, and plots."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dyq_vla_ros.cli.options import MODE_NAMES, camera_map
from dyq_vla_ros.contract import PROXY_SOURCES
from dyq_vla_ros.types import BIT_WIDTHS


def add_replay(cmd: argparse.ArgumentParser) -> None:
    """Options of `replay`."""
    cmd.add_argument("in_bag")
    cmd.add_argument("out_bag")
    cmd.add_argument("--precision-mode", default="dyq", choices=MODE_NAMES)
    cmd.add_argument("--proxy-source", default="action", choices=PROXY_SOURCES)
    cmd.add_argument("--rate", type=float, default=10.0, help="control rate in Hz")
    cmd.add_argument("--model-path", default="")
    cmd.add_argument("--image-topic", default="", help="the scene camera's topic (as --camera scene=TOPIC)")
    cmd.add_argument(
        "--camera", action="append", default=[], metavar="NAME=TOPIC", help="the bag topic of a checkpoint camera"
    )
    cmd.add_argument("--joint-topic", default="")
    cmd.add_argument("--tokenizer-path", default="", help="a local tokenizer for checkpoints that name a hub one")
    cmd.add_argument("--instruction", default="", help="use this instead of the bag's instruction topic")
    cmd.set_defaults(func=replay)


def replay(args: argparse.Namespace) -> int:
    """Bag in, bag out with the policy's actions, bit widths, sensitivity and diagnostics."""
    from dyq_vla_ros.bags.replay import BagReplayer

    params: dict[str, object] = {
        "precision_mode": args.precision_mode,
        "proxy_source": args.proxy_source,
        "control_rate_hz": args.rate,
        "model_path": args.model_path,
        "tokenizer_path": args.tokenizer_path,
    }
    replayer = BagReplayer(
        params,
        instruction=args.instruction,
        image_topic=args.image_topic,
        joint_topic=args.joint_topic,
        cameras=camera_map(args.camera),
    )
    summary = replayer.run(Path(args.in_bag), Path(args.out_bag))
    shares = {b: summary.bits.count(b) / max(1, len(summary.bits)) for b in BIT_WIDTHS}
    report = {
        "ticks": summary.ticks,
        "actions": summary.actions,
        "inferences": summary.inferences,
        "bits_share": shares,
        "out_bag": args.out_bag,
        "cameras": summary.cameras,
    }
    print(json.dumps(report, indent=2))
    return 0


def add_plot(cmd: argparse.ArgumentParser) -> None:
    """Options of `plot`."""
    cmd.add_argument("bag")
    cmd.add_argument("--out", required=True)
    cmd.add_argument("--theta-fp", type=float, default=None, help="draw this threshold")
    cmd.set_defaults(func=plot)


def plot(args: argparse.Namespace) -> int:
    """PNG of a bag's sensitivity, bit width and action magnitude over time."""
    from dyq_vla_ros.bags.plot import plot_bag

    print(plot_bag(Path(args.bag), Path(args.out), theta_fp=args.theta_fp))
    return 0


COMMANDS = {
    "replay": ("bag in -> bag out with the policy's actions and bit widths", add_replay),
    "plot": ("bag -> PNG of sensitivity, bit width and action magnitude", add_plot),
}
