"""Per-step latency and resident weight bytes of a policy in each precision mode, from one run.

A policy step is one full action-chunk inference with its processor (resize, tokenise, normalise),
as the node runs it. Scale presets are PI0 configurations with random weights, so the cost at
realistic sizes is visible without downloading a checkpoint.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from dyq_vla_ros.dyq.allocation import SPEED_MARGIN
from dyq_vla_ros.policy import EMBEDDED_MODEL_DIR, Observation, Pi0Policy, Pi0PolicyConfig
from dyq_vla_ros.policy.configuration_pi0 import TinyPi0Architecture
from dyq_vla_ros.types import PrecisionMode

SCALE_PRESETS: dict[str, TinyPi0Architecture] = {
    "scale-100m": TinyPi0Architecture(
        image_size=224,
        patch_size=14,
        hidden_size=512,
        intermediate_size=2048,
        num_layers=10,
        num_heads=8,
        head_dim=64,
        vision_hidden_size=512,
        vision_layers=10,
        chunk_size=50,
        max_state_dim=32,
        max_action_dim=32,
        num_inference_steps=10,
    ),
    "scale-400m": TinyPi0Architecture(
        image_size=224,
        patch_size=14,
        hidden_size=1024,
        intermediate_size=4096,
        num_layers=12,
        num_heads=8,
        head_dim=128,
        vision_hidden_size=768,
        vision_layers=12,
        chunk_size=50,
        max_state_dim=32,
        max_action_dim=32,
        num_inference_steps=10,
    ),
}
"""PI0 shapes of about 100M and 400M parameters (224 px images, 50-action chunks, 10 flow steps)."""

PRECISION_ORDER = ("fp", "w4a16", "w4a8", "w4a4", "w4a2")
"""Static modes from most to least precise."""


def bits_latency_table(results: Mapping[str, Mapping[str, float]]) -> dict[int, float]:
    """p50 latency (ms) per activation width of the W4AX modes in a bench report's results."""
    table = {}
    for name, record in results.items():
        mode = PrecisionMode.parse(name)
        if mode.quantized_weights and mode.static_bits is not None:
            table[mode.static_bits] = float(record["latency_ms_p50"])
    return table


def projected_latency_ms(bits_share: Mapping[str, float], table: Mapping[int, float]) -> float:
    """Mean per-inference latency when inferences run at these width shares on a latency table."""
    return float(sum(float(share) * table[int(bits)] for bits, share in bits_share.items() if float(share) > 0.0))


def not_faster_than(results: dict[str, dict], margin: float = SPEED_MARGIN) -> dict[str, str]:
    """For each mode, the first more precise mode it is not clearly faster than (absent when it is)."""
    verdict: dict[str, str] = {}
    ordered = [m for m in PRECISION_ORDER if m in results]
    for i, mode in enumerate(ordered):
        for better in ordered[:i]:
            if results[mode]["latency_ms_p50"] > (1.0 - margin) * results[better]["latency_ms_p50"]:
                verdict[mode] = better
                break
    return verdict


def _observation(policy: Pi0Policy, height: int, width: int, seed: int) -> Observation:
    rng = np.random.default_rng(seed)
    return Observation(
        image=rng.integers(0, 256, (height, width, 3), dtype=np.uint8),
        state=rng.normal(size=policy.state_dim).astype(np.float32),
        instruction="put the red peg into the blue hole",
        wrist_image=rng.integers(0, 256, (height, width, 3), dtype=np.uint8) if policy.processor.wrist else None,
    )


def bench_policy(
    policy: Pi0Policy,
    modes: Sequence[PrecisionMode],
    *,
    steps: int = 20,
    warmup: int = 3,
    image_hw: tuple[int, int] = (480, 640),
) -> dict[str, dict]:
    """Latency p50/p99 (ms) and resident weight bytes per mode.

    The modes take turns step by step (after each one's warm-up), so that a drift in the machine's
    speed during the run (other load, clock changes) reaches every mode alike and `speedup_vs_fp`
    compares like with like. `fp` then runs on a second, float copy of the policy: switching one
    policy between float and 4-bit weights reloads or re-quantizes it.
    """
    obs = _observation(policy, *image_hw, seed=0)
    ordered = sorted(modes, key=lambda m: 0 if m == PrecisionMode.FP else 1)
    runner = {mode: policy for mode in ordered}
    if PrecisionMode.FP in runner and any(mode.quantized_weights for mode in ordered):
        runner[PrecisionMode.FP] = Pi0Policy(policy.path, policy.config)
    times: dict[PrecisionMode, list[float]] = {mode: [] for mode in ordered}
    for mode in ordered:
        runner[mode].set_precision(mode, mode.static_bits or 16)
        for _ in range(warmup):
            runner[mode].predict_action_chunk(obs)
    for _ in range(steps):
        for mode in ordered:
            runner[mode].set_precision(mode, mode.static_bits or 16)
            start = time.perf_counter()
            runner[mode].predict_action_chunk(obs)
            times[mode].append((time.perf_counter() - start) * 1e3)
    results: dict[str, dict] = {}
    for mode in ordered:
        runner[mode].set_precision(mode, mode.static_bits or 16)
        results[mode.value] = {
            "latency_ms_p50": float(np.percentile(times[mode], 50)),
            "latency_ms_p99": float(np.percentile(times[mode], 99)),
            "weight_bytes": int(runner[mode].weight_bytes()),
        }
    fp = results.get(PrecisionMode.FP.value)
    for record in results.values():
        record["speedup_vs_fp"] = fp["latency_ms_p50"] / record["latency_ms_p50"] if fp else None
    verdict = not_faster_than(results)
    for mode, record in results.items():
        record["not_faster_than"] = verdict.get(mode, "")
    return results


def _percentiles_ms(times_s: Sequence[float]) -> dict[str, float]:
    ms = np.asarray(times_s) * 1e3
    return {"p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99))}


def switch_cost(policy: Pi0Policy, repeats: int = 2000) -> dict[str, float]:
    """Time (ms) to change the activation bit width between inferences, among the 4-bit modes."""
    policy.set_precision(PrecisionMode.DYQ, 16)  # quantizes once if the policy was in fp
    bits = (2, 4, 8, 16)
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        policy.set_precision(PrecisionMode.DYQ, bits[i % len(bits)])
        times.append(time.perf_counter() - start)
    return _percentiles_ms(times)


def control_tick_cost(policy: Pi0Policy, ticks: int = 2000, seed: int = 0) -> dict[str, float]:
    """Time (ms) of one control tick: chunk queue, clipping, kinematic proxies and precision controller."""
    from dyq_vla_ros import contract
    from dyq_vla_ros.control import make_control_loop

    loop = make_control_loop(policy.calibration, {**contract.PARAMETER_DEFAULTS, "precision_mode": "dyq"})
    rng = np.random.default_rng(seed)
    chunk = rng.normal(0.0, 0.01, (policy.chunk_size, policy.action_dim)).astype(np.float32)
    times = []
    for _ in range(ticks):
        if loop.queued == 0:
            loop.accept_chunk(chunk + rng.normal(0.0, 0.002, chunk.shape).astype(np.float32))
        start = time.perf_counter()
        loop.tick()
        times.append(time.perf_counter() - start)
    return _percentiles_ms(times)


def run_bench(
    model: str,
    modes: Sequence[PrecisionMode],
    *,
    device: str = "auto",
    backend: str = "auto",
    steps: int = 20,
    warmup: int = 3,
    image_hw: tuple[int, int] = (480, 640),
) -> dict:
    """Benchmark 'embedded', a scale preset or a checkpoint directory; the JSON report."""
    from dyq_vla_ros.policy.embedded import create_random_checkpoint

    with tempfile.TemporaryDirectory(prefix="dyq_bench_") as tmp:
        if model == "embedded":
            path = EMBEDDED_MODEL_DIR
        elif model in SCALE_PRESETS:
            path = create_random_checkpoint(Path(tmp) / model, architecture=SCALE_PRESETS[model], calibration_chunks=0)
        else:
            path = Path(model)
        # the node's configuration (layers kept in float included), so the figures are what it runs
        policy = Pi0Policy(path, Pi0PolicyConfig.from_params({"device": device, "quant_backend": backend}))
        results = bench_policy(policy, modes, steps=steps, warmup=warmup, image_hw=image_hw)
        switch = switch_cost(policy)
        tick = control_tick_cost(policy)
        report = policy.quant_report
        return {
            "model": model,
            "parameters": policy.parameter_count,
            "device": str(policy.device),
            "cpu_threads": torch.get_num_threads(),
            "backend": ", ".join(sorted(report.backends)) if report else "none",
            "bf16_weight_bytes": int(policy.bf16_weight_bytes),
            "image_hw": list(image_hw),
            "steps": steps,
            "results": results,
            "switch_ms": switch,
            "proxies_controller_ms": tick,
        }
