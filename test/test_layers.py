"""The package's layering: lower layers never import higher ones, no import cycles, rclpy only in ros/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "dyq_vla_ros"

LAYERS: dict[str, int] = {
    "types": 0,
    "errors": 0,
    "contract": 1,
    "kinematics": 1,
    "dyq": 2,
    "sim": 2,
    "quant": 2,
    "sensors": 2,
    "params": 3,
    "control": 4,
    "policy": 4,
    "bags": 5,
    "training": 5,
    "evaluation": 6,
    "ros": 7,
    "cli": 8,
    "models": 0,
}
"""Rank of each top-level part: a module may import its own part and parts of lower rank only."""

ROS_MODULES = (
    "rclpy",
    "rcl_interfaces",
    "sensor_msgs",
    "std_msgs",
    "geometry_msgs",
    "diagnostic_msgs",
    "visualization_msgs",
    "trajectory_msgs",
    "rosgraph_msgs",
    "builtin_interfaces",
    "lifecycle_msgs",
)


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(path: Path, module: str) -> set[str]:
    """Every module this file imports at run time, at any depth (function-level imports included).

    Imports under `if TYPE_CHECKING:` only name types for the type checker and are left out.
    """
    found = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            node.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
    return found


MODULES = _modules()
GRAPH = {m: {i for i in _imports(p, m) if i in MODULES and i != m} for m, p in MODULES.items()}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_part_has_a_layer():
    assert {_part(m) for m in MODULES} - {"__init__"} <= set(LAYERS)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_reaches_a_higher_layer(module):
    if _part(module) == "__init__":
        return
    rank = LAYERS[_part(module)]
    upward = sorted(i for i in GRAPH[module] if _part(i) != "__init__" and LAYERS[_part(i)] > rank)
    assert not upward, f"{module} (layer {rank}) imports higher layers: {upward}"


def test_no_import_cycles():
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(GRAPH[m]):
            # a package's __init__ re-exporting its own modules is not a cycle of behaviour
            if n.startswith(m + ".") or m.startswith(n + "."):
                continue
            if state.get(n) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*stack[stack.index(n) :], n]))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(GRAPH):
        if m not in state:
            visit(m)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_ros_imports_ros(module):
    if _part(module) == "ros":
        return
    ros = sorted(i for i in _imports(MODULES[module], module) if i.split(".")[0] in ROS_MODULES)
    assert not ros, f"{module} imports ROS modules {ros}; only dyq_vla_ros.ros may"


@pytest.mark.parametrize("part", ["dyq", "control", "sim", "params", "contract", "types", "kinematics"])
def test_the_core_imports_no_torch(part):
    offenders = sorted(
        m
        for m, p in MODULES.items()
        if _part(m) == part and any(i.split(".")[0] in ("torch", "transformers") for i in _imports(p, m))
    )
    assert not offenders, f"{offenders} import torch or transformers"


def test_no_source_file_is_over_400_lines():
    sources = [p for p in PACKAGE.rglob("*") if p.suffix in (".py", ".cpp", ".h", ".inc")]
    assert len(sources) > 50
    long = {str(p.relative_to(PACKAGE)): n for p in sources if (n := len(p.read_text().splitlines())) > 400}
    assert not long, f"split these by job: {long}"
