"""Declaring the contract's parameters with descriptors, and validating changes."""

from __future__ import annotations

from collections.abc import Mapping

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node

from dyq_vla_ros.contract import PARAMETERS, ParameterSpec
from dyq_vla_ros.dyq import Thresholds


def descriptor(spec: ParameterSpec) -> ParameterDescriptor:
    """ParameterDescriptor with description, range and read-only flag of a spec."""
    text = spec.description
    if spec.choices:
        text += f" One of: {', '.join(spec.choices)}."
    desc = ParameterDescriptor(description=text, read_only=spec.read_only)
    if spec.min_value is not None and spec.max_value is not None:
        if isinstance(spec.default, bool):
            pass
        elif isinstance(spec.default, int):
            desc.integer_range = [IntegerRange(from_value=int(spec.min_value), to_value=int(spec.max_value), step=1)]
        else:
            desc.floating_point_range = [
                FloatingPointRange(from_value=float(spec.min_value), to_value=float(spec.max_value), step=0.0)
            ]
    return desc


def declare_all(node: Node, specs: tuple[ParameterSpec, ...] = PARAMETERS) -> None:
    """Declare every parameter of specs (default: the policy node's) on node."""
    for spec in specs:
        node.declare_parameter(spec.name, spec.default, descriptor(spec))


def validate(values: Mapping[str, object]) -> str:
    """Why this full set of parameter values is inconsistent, or an empty string."""
    for spec in PARAMETERS:
        if spec.choices and values.get(spec.name) not in spec.choices:
            return f"{spec.name}={values.get(spec.name)!r} is not one of: {', '.join(spec.choices)}"
    lo, hi = list(values["action_min"]), list(values["action_max"])
    if len(lo) != len(hi):
        return f"action_min has {len(lo)} values but action_max has {len(hi)}"
    if any(a >= b for a, b in zip(lo, hi, strict=True)):
        return "every action_min value must be below the matching action_max value"
    thetas = (float(values["theta_2_4"]), float(values["theta_4_8"]), float(values["theta_fp"]))
    return Thresholds.problem_of(*thetas)
