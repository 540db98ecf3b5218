"""A full-size LeRobot pi0 (gemma_2b + gemma_300m, SigLIP so400m) with random weights: load, quantize, step.

Not part of the test suite (it writes 8.9 GB and needs about 12 GB of memory). Writes the checkpoint in
LeRobot's layout (bfloat16 weights, as `"dtype": "bfloat16"` policies are saved), then, each mode in
its own process so that no float copy lies beside the 4-bit one, loads it through `Pi0Policy`,
quantizes (W4AX modes) and runs policy steps; prints one JSON line per mode: load seconds, peak and
resident memory, resident weight bytes, per-step latency.

    python scripts/full_size_lerobot.py --out /tmp/pi0_full --modes w4a8,w4a16,fp --steps 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "test"))


def write_checkpoint(out: Path) -> None:
    """The LeRobot-layout directory at full size, random bfloat16 weights (the test factory, real sizes)."""
    from factories import _lerobot_key, make_lerobot_checkpoint  # the layout the tests check
    from safetensors.torch import save_file
    from transformers import PI0ForConditionalGeneration

    from dyq_vla_ros.policy.format_lerobot import LeRobotSizes
    from dyq_vla_ros.policy.format_lerobot import model_config as lerobot_model_config

    make_lerobot_checkpoint(out, cameras=("base_0_rgb", "left_wrist_0_rgb"), state_dim=14, action_dim=14)
    config = json.loads((out / "config.json").read_text())
    full_size = {"dtype": "bfloat16", "image_resolution": [224, 224], "chunk_size": 50, "n_action_steps": 50}
    full_size.update({"max_state_dim": 32, "max_action_dim": 32, "num_inference_steps": 10, "tokenizer_max_length": 48})
    config.update(full_size)
    (out / "config.json").write_text(json.dumps(config, indent=4))
    with torch.device("meta"):
        model = PI0ForConditionalGeneration(lerobot_model_config(out, LeRobotSizes()))
    weights = {}
    gen = torch.Generator().manual_seed(0)
    for name, param in model.state_dict().items():
        weights[_lerobot_key(name)] = (torch.randn(param.shape, generator=gen) * 0.02).to(torch.bfloat16)
    lm = "model.paligemma_with_expert.paligemma.model.language_model.embed_tokens.weight"
    weights["model.paligemma_with_expert.paligemma.lm_head.weight"] = weights.pop(lm)
    expert = "model.paligemma_with_expert.gemma_expert.model.embed_tokens.weight"
    weights["model.paligemma_with_expert.gemma_expert.lm_head.weight"] = weights.pop(expert)
    save_file(weights, str(out / "model.safetensors"))


def _rss_mb(field: str = "VmRSS") -> float:
    """This process's resident memory (VmRSS), or its anonymous / file-backed part (RssAnon, RssFile), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def _bytes_outside(model: torch.nn.Module) -> int:
    """Bytes of large tensors alive outside the model (a float copy held beside the 4-bit one would show)."""
    import gc

    gc.collect()
    inside = {t.data_ptr() for t in [*model.parameters(), *model.buffers()]}
    alive = [o for o in gc.get_objects() if isinstance(o, torch.Tensor) and o.numel() > 1_000_000]
    return sum(o.numel() * o.element_size() for o in alive if o.data_ptr() not in inside)


def run_mode(out: Path, mode_name: str, steps: int) -> dict:
    """Load, quantize and step the checkpoint in one mode; the figures."""
    from dyq_vla_ros.policy import Pi0Policy, Pi0PolicyConfig
    from dyq_vla_ros.types import PrecisionMode

    mode = PrecisionMode.parse(mode_name)
    start = time.perf_counter()
    policy = Pi0Policy(out, Pi0PolicyConfig(dtype="bfloat16"))
    loaded = time.perf_counter() - start
    policy.set_precision(mode, mode.static_bits or 16)
    ready = time.perf_counter() - start
    outside = _bytes_outside(policy.model)
    obs = policy.random_observation(480, 640)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        chunk = policy.predict_action_chunk(obs)
        times.append(time.perf_counter() - t0)
    return {
        "mode": mode.value,
        "parameters": policy.parameter_count,
        "load_s": round(loaded, 1),
        "load_and_quantize_s": round(ready, 1),
        "step_s": [round(t, 2) for t in times],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "rss_mb": round(_rss_mb(), 1),
        # file-backed pages are the mmapped checkpoint the loader read, reclaimable; anonymous ones are held
        "rss_anon_mb": round(_rss_mb("RssAnon"), 1),
        "rss_file_mb": round(_rss_mb("RssFile"), 1),
        "weight_bytes": policy.weight_bytes(),
        "outside_model_bytes": outside,
        "bf16_weight_bytes": policy.bf16_weight_bytes,
        "chunk_shape": list(chunk.shape),
        "backend": sorted(policy.quant_report.backends) if policy.quant_report else [],
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    """Write (unless present) and measure the full-size checkpoint, one process per mode."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    parser.add_argument("--modes", default="w4a8,w4a16,fp")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--mode", default="", help=argparse.SUPPRESS)  # one mode, in a child process
    args = parser.parse_args()
    out = Path(args.out)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.mode:
        print(json.dumps(run_mode(out, args.mode, args.steps)), flush=True)
        return
    if not (out / "model.safetensors").is_file():
        t0 = time.perf_counter()
        write_checkpoint(out)
        size = (out / "model.safetensors").stat().st_size
        print(json.dumps({"written_gb": round(size / 1e9, 2), "write_s": round(time.perf_counter() - t0, 1)}))
    for mode in args.modes.split(","):
        command = [sys.executable, __file__, "--out", str(out), "--mode", mode, "--steps", str(args.steps)]
        subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
