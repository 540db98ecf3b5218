"""Commands that make data and models: demonstrations, training, random checkpoints."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dyq_vla_ros.cli.options import add_config_options, config_from_args


def add_gen_data(cmd: argparse.ArgumentParser) -> None:
    """Options of `gen-data` (from DataConfig)."""
    from dyq_vla_ros.training import DataConfig

    cmd.add_argument("--out", required=True, help="dataset directory")
    add_config_options(cmd, DataConfig)
    cmd.set_defaults(func=gen_data)


def gen_data(args: argparse.Namespace) -> int:
    """Demonstrations from the noisy scripted expert (or DAgger rollouts), resumable."""
    from dyq_vla_ros.training import DataConfig, generate_dataset

    manifest = generate_dataset(Path(args.out), config_from_args(DataConfig, args))
    frames = sum(s["frames"] for s in manifest["shards"])
    wins = sum(e["success"] for e in manifest["episodes"])
    report = {
        "out": args.out,
        "episodes": len(manifest["episodes"]),
        "frames": frames,
        "expert_success": wins / max(1, len(manifest["episodes"])),
    }
    print(json.dumps(report, indent=2))
    return 0


def add_train(cmd: argparse.ArgumentParser) -> None:
    """Options of `train` (from TrainConfig)."""
    from dyq_vla_ros.policy.action_space import ACTION_SPACES
    from dyq_vla_ros.policy.state_features import STATE_FEATURES
    from dyq_vla_ros.training import TrainConfig

    cmd.add_argument("--data", required=True, nargs="+", help="dataset directories (trained on together)")
    cmd.add_argument("--out", required=True, help="checkpoint directory (a run resumes from it)")
    cmd.add_argument(
        "--time-limit-min",
        type=float,
        default=0.0,
        help="stop with a checkpoint after this long; the learning rate decays to its floor by then (0: no limit)",
    )
    add_config_options(
        cmd,
        TrainConfig,
        exclude=("architecture", "time_limit_s"),
        flags={"shift_px": "--augment-shift"},
        choices={"state_features": STATE_FEATURES, "action_space": ACTION_SPACES},
    )
    cmd.set_defaults(func=train)


def train(args: argparse.Namespace) -> int:
    """Flow-matching training of the tiny PI0 on gen-data datasets."""
    from dyq_vla_ros.training import TrainConfig
    from dyq_vla_ros.training import train as run_training

    config = config_from_args(TrainConfig, args, time_limit_s=args.time_limit_min * 60.0)
    result = run_training([Path(d) for d in args.data], Path(args.out), config)
    report = {
        "out": str(result.out_dir),
        "steps": result.steps,
        "final_loss": result.final_loss,
        "seconds": round(result.seconds, 1),
    }
    print(json.dumps(report, indent=2))
    return 0


def add_init_model(cmd: argparse.ArgumentParser) -> None:
    """Options of `init-model`."""
    cmd.add_argument("--out", required=True, help="checkpoint directory to write")
    cmd.add_argument("--seed", type=int, default=0)
    cmd.set_defaults(func=init_model)


def init_model(args: argparse.Namespace) -> int:
    """A randomly initialised tiny PI0 checkpoint in the project's layout."""
    from dyq_vla_ros.policy import create_random_checkpoint

    out = Path(args.out)
    create_random_checkpoint(out, seed=args.seed)
    print(f"wrote a randomly initialised tiny PI0 checkpoint to {out}")
    return 0


COMMANDS = {
    "gen-data": ("demonstrations from the noisy scripted expert (resumable)", add_gen_data),
    "train": ("train the tiny PI0 on a gen-data dataset (resumes from OUT)", add_train),
    "init-model": ("write a randomly initialised tiny PI0 checkpoint", add_init_model),
}
