"""The `dyq-vla` command: one sub-command per job, each command's options beside its handler."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from dyq_vla_ros.cli import bags, evaluation, robot, training
from dyq_vla_ros.errors import DyqVlaError

COMMAND_MODULES = (robot, bags, training, evaluation)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every sub-command; with command, only that one's options are built (they import torch)."""
    parser = argparse.ArgumentParser(prog="dyq-vla", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        for name, (text, add_options) in module.COMMANDS.items():
            cmd = sub.add_parser(name, help=text, description=text)
            if command is None or command == name:
                add_options(cmd)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    names = {name for module in COMMAND_MODULES for name in module.COMMANDS}
    return next((a for a in argv if a in names), None)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `dyq-vla`."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args_list = sys.argv[1:] if argv is None else argv
    parser = build_parser(_command_of(args_list))
    args = parser.parse_args(args_list)
    try:
        return int(args.func(args))
    except DyqVlaError as exc:
        parser.exit(2, f"dyq-vla {args.command}: error: {exc}\n")


__all__ = ["build_parser", "main"]
