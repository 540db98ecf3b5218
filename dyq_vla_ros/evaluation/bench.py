"""Per-step latency and resident weight bytes of a policy in each precision mode, from one run.

A policy step is one full action-chunk inference with its processor (resize, tokenise, normalise),
as the node runs it. Scale presets are PI0 configurations with random weights, so the cost at
realistic sizes is visible without downloading a checkpoint.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import PI0Config

from dyq_vla_ros.contract import KEEP_FLOAT_DEFAULT
from dyq_vla_ros.dyq.allocation import SPEED_MARGIN
from dyq_vla_ros.params import NodeParams
from dyq_vla_ros.policy import EMBEDDED_MODEL_DIR, Pi0Policy, Pi0PolicyConfig, resolve_device
from dyq_vla_ros.policy.configuration_pi0 import TinyPi0Architecture
from dyq_vla_ros.quant import resident_bytes_estimate
from dyq_vla_ros.quant.kernels import cpu_description, kernel_path
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
    "pi0-3b": TinyPi0Architecture(
        vocab_size=257152,
        image_size=224,
        patch_size=14,
        hidden_size=2048,
        intermediate_size=16384,
        num_layers=18,
        num_heads=8,
        head_dim=256,
        expert_hidden_size=1024,
        expert_intermediate_size=4096,
        vision_hidden_size=1152,
        vision_intermediate_size=4304,
        vision_layers=27,
        vision_num_heads=16,
        chunk_size=50,
        max_state_dim=32,
        max_action_dim=32,
        num_inference_steps=10,
    ),
}
"""PI0 shapes of about 100M and 400M parameters (224 px images, 50-action chunks, 10 flow steps), and
pi0's own (PaliGemma: Gemma 2B and SigLIP so400m; a Gemma 300M action expert): 3.5B parameters in
transformers' PI0, whose expert keeps a word embedding of its own. Build that one on CUDA only."""

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
    obs = policy.random_observation(*image_hw, seed=0)
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
            "kernel": _kernel(runner[mode], mode),
        }
    fp = results.get(PrecisionMode.FP.value)
    for record in results.values():
        record["speedup_vs_fp"] = fp["latency_ms_p50"] / record["latency_ms_p50"] if fp else None
    verdict = not_faster_than(results)
    for mode, record in results.items():
        record["not_faster_than"] = verdict.get(mode, "")
    return results


def _kernel(policy: Pi0Policy, mode: PrecisionMode) -> str:
    """What computed the linear layers in this mode (the 2- and 4-bit widths name the int8 path they share)."""
    report = policy.quant_report
    if not mode.quantized_weights or report is None:
        return f"float linear ({str(policy.dtype).removeprefix('torch.')})"
    return ", ".join(kernel_path(backend, mode.static_bits or 16) for backend in sorted(report.backends))


def estimated_weight_bytes(
    config: PI0Config,
    *,
    dtype: torch.dtype = torch.bfloat16,
    group_size: int = 64,
    keep_float: Sequence[str] = KEEP_FLOAT_DEFAULT,
    backend: str = "triton",
) -> dict[str, int]:
    """Resident weight bytes in fp and in the W4AX modes for a PI0 of this configuration, built on the meta device."""
    from transformers import PI0ForConditionalGeneration

    with torch.device("meta"):
        model = PI0ForConditionalGeneration(config)
    options = {"group_size": group_size, "keep_float": keep_float, "backend": backend}
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "fp": resident_bytes_estimate(model, dtype=dtype, quantized=False),
        "w4ax": resident_bytes_estimate(model, dtype=dtype, quantized=True, **options),
    }


def create_preset_checkpoint(
    directory: Path, architecture: TinyPi0Architecture, *, device: torch.device, dtype: torch.dtype = torch.float32
) -> Path:
    """A random checkpoint of these sizes, initialised on `device` in `dtype` (on CUDA bfloat16: no float32 copy)."""
    from dyq_vla_ros.policy.embedded import create_random_checkpoint

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with device:
            return create_random_checkpoint(directory, architecture=architecture, calibration_chunks=0)
    finally:
        torch.set_default_dtype(previous)


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
    from dyq_vla_ros.control import make_control_loop

    loop = make_control_loop(policy.calibration, NodeParams.from_mapping(precision_mode="dyq"))
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
    peers: bool = False,
    progress: Callable[[dict], None] | None = None,
) -> dict:
    """Benchmark 'embedded', a scale preset or a checkpoint directory; the JSON report.

    With `peers`, also every PI0 layer shape at 1, 51 and 288 tokens beside its peers (quant.peers:
    fp32, fbgemm W8A8, onnxruntime MatMulNBits where installed), reported to `progress` as each finishes.
    """
    with tempfile.TemporaryDirectory(prefix="dyq_bench_") as tmp:
        if model == "embedded":
            path = EMBEDDED_MODEL_DIR
        elif model in SCALE_PRESETS:
            target = resolve_device(device)
            dtype = torch.bfloat16 if target.type == "cuda" else torch.float32
            path = create_preset_checkpoint(Path(tmp) / model, SCALE_PRESETS[model], device=target, dtype=dtype)
        else:
            path = Path(model)
        # the node's configuration (layers kept in float included), so the figures are what it runs
        params = NodeParams.from_mapping(device=device, quant_backend=backend)
        policy = Pi0Policy(path, Pi0PolicyConfig.from_params(params))
        results = bench_policy(policy, modes, steps=steps, warmup=warmup, image_hw=image_hw)
        switch = switch_cost(policy)
        tick = control_tick_cost(policy)
        report = policy.quant_report
        layers = None
        if peers:
            from dyq_vla_ros.quant.peers import bench_peers

            layers = bench_peers(backend=backend, progress=progress)
        return {
            "model": model,
            "parameters": policy.parameter_count,
            "device": str(policy.device),
            "cpu": cpu_description(),
            "cpu_threads": torch.get_num_threads(),
            "backend": ", ".join(sorted(report.backends)) if report else "none",
            "bf16_weight_bytes": int(policy.bf16_weight_bytes),
            "image_hw": list(image_hw),
            "steps": steps,
            "results": results,
            "switch_ms": switch,
            "proxies_controller_ms": tick,
            **({"peers": layers} if layers is not None else {}),
        }
