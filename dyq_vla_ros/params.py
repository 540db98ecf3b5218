"""Typed, validated records of the nodes' parameters, built from the contract's specs (no ROS).

The policy node, bag replay, closed-loop evaluation, the benchmark and the CLI all read their
settings from one `NodeParams` record instead of string-keyed mappings; every value is checked
against its contract spec (type, range, choices) and the cross-field rules once, when the record
is made.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar, get_type_hints

from dyq_vla_ros.contract import PARAMETERS, SIM_PARAMETERS, ParameterSpec, parse_camera_topics
from dyq_vla_ros.dyq.controller import Thresholds
from dyq_vla_ros.errors import DyqVlaError
from dyq_vla_ros.types import PrecisionMode


class ParameterError(DyqVlaError, ValueError):
    """A parameter value of the wrong type, outside its range or inconsistent with the others."""


R = TypeVar("R", bound="ParameterRecord")


def _coerce(spec: ParameterSpec, hint: object, value: object) -> object:
    """The value as the record's field type, or ParameterError naming the parameter."""
    name = spec.name
    if hint is bool:
        if not isinstance(value, bool):
            raise ParameterError(f"{name} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParameterError(f"{name} must be an integer, got {value!r}")
        return int(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ParameterError(f"{name} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ParameterError(f"{name} must be a string, got {value!r}")
        return value
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise ParameterError(f"{name} must be a list, got {value!r}")
    items = list(value)
    if hint == tuple[float, ...]:
        if any(isinstance(v, bool) or not isinstance(v, int | float) for v in items):
            raise ParameterError(f"{name} must be a list of numbers, got {items!r}")
        return tuple(float(v) for v in items)
    if any(not isinstance(v, str) for v in items):
        raise ParameterError(f"{name} must be a list of strings, got {items!r}")
    return tuple(items)


def _check_spec(spec: ParameterSpec, value: object) -> None:
    if spec.choices and value not in spec.choices:
        raise ParameterError(f"{spec.name}={value!r} is not one of: {', '.join(spec.choices)}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if spec.min_value is not None and value < spec.min_value:
            raise ParameterError(f"{spec.name}={value} is below its minimum {spec.min_value:g}")
        if spec.max_value is not None and value > spec.max_value:
            raise ParameterError(f"{spec.name}={value} is above its maximum {spec.max_value:g}")


class ParameterRecord:
    """Shared construction and validation of a record whose fields are a spec tuple's parameters."""

    SPECS: ClassVar[tuple[ParameterSpec, ...]] = ()

    @classmethod
    def from_mapping(cls: type[R], values: Mapping[str, object] | None = None, **overrides: object) -> R:
        """A record from contract defaults updated by values and overrides; ParameterError when invalid."""
        merged: dict[str, object] = {spec.name: spec.default for spec in cls.SPECS}
        for source in (values or {}, overrides):
            for name, value in source.items():
                if name not in merged:
                    known = ", ".join(sorted(merged))
                    raise ParameterError(f"unknown parameter {name!r}; known parameters: {known}")
                merged[name] = value
        hints = get_type_hints(cls)
        fields: dict[str, Any] = {}
        for spec in cls.SPECS:
            value = _coerce(spec, hints[spec.name], merged[spec.name])
            _check_spec(spec, value)
            fields[spec.name] = value
        record = cls(**fields)
        problem = record.problem()
        if problem:
            raise ParameterError(problem)
        return record

    @classmethod
    def defaults(cls: type[R]) -> R:
        """The record of every contract default."""
        return cls.from_mapping()

    @classmethod
    def problem_of(cls, values: Mapping[str, object]) -> str:
        """Why this set of values would be refused, or an empty string (for set-parameter callbacks)."""
        try:
            cls.from_mapping(values)
        except ParameterError as exc:
            return str(exc)
        return ""

    def replace(self: R, **changes: object) -> R:
        """A validated copy with some values changed."""
        return type(self).from_mapping(self.as_dict(), **changes)

    def as_dict(self) -> dict[str, object]:
        """Name -> value of every parameter (lists as lists, as ROS and JSON take them)."""
        out: dict[str, object] = {}
        for spec in self.SPECS:
            value = getattr(self, spec.name)
            out[spec.name] = list(value) if isinstance(value, tuple) else value
        return out

    def problem(self) -> str:
        """Cross-field inconsistencies of this record, or an empty string."""
        return ""


@dataclass(frozen=True)
class NodeParams(ParameterRecord):
    """The policy node's parameters (contract.PARAMETERS), typed."""

    SPECS: ClassVar[tuple[ParameterSpec, ...]] = PARAMETERS

    model_path: str
    device: str
    tokenizer_path: str
    camera_topics: tuple[str, ...]
    action_interface: str
    command_joint_names: tuple[str, ...]
    joint_position_min: tuple[float, ...]
    joint_position_max: tuple[float, ...]
    precision_mode: str
    proxy_source: str
    control_rate_hz: float
    actions_per_chunk: int
    gripper_latch: bool
    calibrated_thresholds: bool
    theta_fp: float
    theta_2_4: float
    theta_4_8: float
    sensitivity_lambda: float
    flow_steps: int
    flow_steps_reduced: int
    theta_flow: float
    downgrade_steps: int
    motion_window: int
    jerk_window: int
    p95_history: int
    joint_names: tuple[str, ...]
    instruction: str
    stale_timeout_s: float
    latency_budget_ms: float
    diagnostics_period_s: float
    noise_seed: int
    twist_frame_id: str
    marker_frame_id: str
    autostart: bool
    action_min: tuple[float, ...]
    action_max: tuple[float, ...]
    dry_run: bool
    max_image_pixels: int
    max_future_stamp_s: float
    inference_threads: int
    quant_backend: str
    keep_float_modules: tuple[str, ...]
    allow_pickle_weights: bool

    def problem(self) -> str:
        """Bounds of unequal lengths or crossed, malformed camera topics, or thresholds out of order."""
        for lo, hi, name in (
            (self.action_min, self.action_max, "action"),
            (self.joint_position_min, self.joint_position_max, "joint_position"),
        ):
            if len(lo) != len(hi):
                return f"{name}_min has {len(lo)} values but {name}_max has {len(hi)}"
            if any(a >= b for a, b in zip(lo, hi, strict=True)):
                return f"every {name}_min value must be below the matching {name}_max value"
        try:
            parse_camera_topics(self.camera_topics)
        except ValueError as exc:
            return f"camera_topics: {exc}"
        return Thresholds.problem_of(self.theta_2_4, self.theta_4_8, self.theta_fp)

    @property
    def camera_topic_map(self) -> dict[str, str]:
        """camera_topics as NAME -> topic."""
        return parse_camera_topics(self.camera_topics)

    @property
    def mode(self) -> PrecisionMode:
        """The precision mode."""
        return PrecisionMode.parse(self.precision_mode)

    @property
    def thresholds(self) -> Thresholds:
        """The theta_* as a threshold table."""
        return Thresholds(self.theta_2_4, self.theta_4_8, self.theta_fp)

    @property
    def control_period_s(self) -> float:
        """Seconds between control ticks."""
        return 1.0 / self.control_rate_hz

    @property
    def selected_joints(self) -> tuple[str, ...]:
        """The joint names given ([''] stands for none: the checkpoint's names apply)."""
        return tuple(n for n in self.joint_names if n)

    @property
    def keep_float(self) -> tuple[str, ...]:
        """The keep-float globs given ([''] stands for none: every linear layer is quantized)."""
        return tuple(p for p in self.keep_float_modules if p)


@dataclass(frozen=True)
class SimParams(ParameterRecord):
    """The simulated robot node's parameters (contract.SIM_PARAMETERS), typed."""

    SPECS: ClassVar[tuple[ParameterSpec, ...]] = SIM_PARAMETERS

    episodes: int
    first_seed: int
    max_steps: int
    episode_timeout_s: float
    camera_rate_hz: float
    joint_rate_hz: float
    image_width: int
    image_height: int
    wrist_camera: bool
    reset_pause_s: float
    min_instruction_subscribers: int
    exit_when_done: bool


def record_fields(record_type: type[ParameterRecord]) -> tuple[str, ...]:
    """Field names of a record type, in declaration order (tests compare them with the contract)."""
    return tuple(f.name for f in dataclasses.fields(record_type))  # type: ignore[arg-type]
