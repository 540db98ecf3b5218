"""The diagnostics record (the contract's keys), built the same way by the node and by replay."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dyq_vla_ros.control.loop import ControlLoop


def diagnostic_record(
    loop: ControlLoop | None,
    *,
    precision_mode: str,
    weight_bits: int,
    model: str,
    latencies_ms: Sequence[float],
    dropped_frames: int,
    input_age_ms: float,
) -> dict[str, object]:
    """Values of every contract diagnostic key; zeros where nothing is configured yet."""
    controller = loop.controller if loop else None
    sample = loop.sample if loop else None
    lat = np.asarray(latencies_ms, dtype=float)
    return {
        "activation_bits": controller.bits if controller else 0,
        "weight_bits": weight_bits,
        "precision_mode": precision_mode,
        "sensitivity": loop.sensitivity if loop else 0.0,
        "motion_fineness": sample.motion_fineness if sample else 0.0,
        "angular_jerk": sample.angular_jerk if sample else 0.0,
        "switch_count": controller.switch_count if controller else 0,
        "latency_ms_p50": float(np.percentile(lat, 50)) if lat.size else 0.0,
        "latency_ms_p99": float(np.percentile(lat, 99)) if lat.size else 0.0,
        "dropped_frames": dropped_frames,
        "input_age_ms": input_age_ms,
        "model": model,
        "flow_steps": loop.flow.steps if loop else 0,
    }
