"""Option helpers shared by the commands: options generated from config dataclasses, JSON output."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import itertools
import json
import textwrap
import typing
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, TypeVar

from dyq_vla_ros.contract import parse_camera_topics
from dyq_vla_ros.params import ParameterError
from dyq_vla_ros.types import PrecisionMode

C = TypeVar("C")

MODE_NAMES = [m.value for m in PrecisionMode]


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """The attribute docstrings of a dataclass (the string literal under each field), by field name."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, after in itertools.pairwise(body):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def add_config_options(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    exclude: Collection[str] = (),
    flags: Mapping[str, str] | None = None,
    choices: Mapping[str, Collection[Any]] | None = None,
) -> None:
    """One option per field of a config dataclass, its default, type and help (the field's docstring).

    A bool field defaulting to False becomes `--name`, one defaulting to True `--no-name` (or the flag
    given, which then turns it off); a list of strings is given comma-separated.
    """
    docs = field_docs(cls)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in exclude:
            continue
        explicit = f.name in (flags or {})
        flag = (flags or {}).get(f.name, "--" + f.name.replace("_", "-"))
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[operator]
        text = docs.get(f.name, f.name.replace("_", " "))
        hint = hints[f.name]
        if hint is bool:
            if default:
                negative = flag if explicit else "--no-" + flag[2:]
                parser.add_argument(negative, dest=f.name, action="store_false", help=f"turns off: {text}")
            else:
                parser.add_argument(flag, dest=f.name, action="store_true", help=text)
        elif typing.get_origin(hint) is list:
            parser.add_argument(
                flag,
                dest=f.name,
                type=lambda s: [p for p in s.split(",") if p],
                default=list(default),
                help=f"{text} (comma-separated; default: {','.join(default) or 'none'})",
            )
        else:
            kind = hint if hint in (int, float, str) else str
            parser.add_argument(
                flag,
                dest=f.name,
                type=kind,
                default=default,
                choices=sorted((choices or {}).get(f.name, ())) or None,
                help=f"{text} (default: {default!r})",
            )


def config_from_args(cls: type[C], args: argparse.Namespace, **values: Any) -> C:
    """The config dataclass built from the options add_config_options made (and explicit values)."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    given = {name: getattr(args, name) for name in names if hasattr(args, name)}
    return cls(**{**given, **values})


def camera_map(entries: list[str]) -> dict[str, str]:
    """--camera NAME=TOPIC options as a mapping; a malformed one is a user error."""
    try:
        return parse_camera_topics(entries)
    except ValueError as exc:
        raise ParameterError(f"--camera: {exc}") from exc


def parse_modes(text: str) -> list[PrecisionMode]:
    """Precision modes from a comma-separated list."""
    return [PrecisionMode.parse(m) for m in text.split(",") if m]


def emit_json(report: Mapping[str, object], path: str = "") -> None:
    """Print a report as JSON, and also write it to path when one is given."""
    text = json.dumps(report, indent=2)
    if path:
        Path(path).write_text(text + "\n")
    print(text)


def set_threads(threads: int) -> None:
    """Set torch's intra-op threads (0 keeps its default)."""
    if threads:
        import torch

        torch.set_num_threads(threads)
