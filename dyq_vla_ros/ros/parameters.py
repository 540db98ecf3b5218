"""The contract's parameters on a node: declared with descriptors, read as a typed record, changes applied once."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter

from dyq_vla_ros.contract import PARAMETERS, ParameterSpec
from dyq_vla_ros.params import ParameterError, ParameterRecord

R = TypeVar("R", bound=ParameterRecord)


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


def current_values(node: Node, specs: tuple[ParameterSpec, ...] = PARAMETERS) -> dict[str, object]:
    """Name -> value of every parameter of specs as the node holds them now."""
    return {spec.name: node.get_parameter(spec.name).value for spec in specs}


def read(node: Node, record_type: type[R]) -> R:
    """The node's parameters as a validated record."""
    return record_type.from_mapping(current_values(node, record_type.SPECS))


def watch(node: Node, record_type: type[R], apply: Callable[[R], None]) -> None:
    """Validate every change against the whole record in on-set; apply the new record once it is set.

    Where rclpy has post-set callbacks (Iron and later) the record is applied there; on Humble,
    which has only on-set callbacks, at the end of a successful on-set.
    """
    has_post = hasattr(node, "add_post_set_parameters_callback")

    def on_set(changes: list[Parameter]) -> SetParametersResult:
        values = current_values(node, record_type.SPECS)
        values.update({p.name: p.value for p in changes if p.name in values})
        try:
            record = record_type.from_mapping(values)
        except ParameterError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        if not has_post:
            apply(record)
        return SetParametersResult(successful=True)

    def post_set(_changes: list[Parameter]) -> None:
        apply(read(node, record_type))

    node.add_on_set_parameters_callback(on_set)
    if has_post:
        node.add_post_set_parameters_callback(post_set)
