"""Probe: how well does a trained checkpoint predict the expert's actions, per action dimension.

A diagnostic for issue 4: samples frames of a demonstration dataset (or of fresh rollouts of
the noisy expert on calibration seeds, which no training run uses) and compares the policy's
chunk with the expert's labels: the error per dimension and chunk step in units of the dataset's
action standard deviation, and the correlation of the first predicted action with the label.

    python scripts/action_probe.py --model-path CKPT --data DATASET --frames 200 --json out.json
    python scripts/action_probe.py --model-path CKPT --held-out-episodes 8 --frames 200
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from dyq_vla_ros.policy import Observation, Pi0Policy
from dyq_vla_ros.sim import PegInHoleEnv, SimConfig
from dyq_vla_ros.sim.seeds import calibration_seeds
from dyq_vla_ros.training.data import Dataset, frame_arrays, load_dataset, record_episode
from dyq_vla_ros.types import ACTION_NAMES


def held_out(episodes: int, image_size: int, wrist: bool) -> Dataset:
    """Noisy-expert episodes on calibration seeds, as a dataset (with wrist images if asked)."""
    env = PegInHoleEnv(SimConfig(wrist_camera=wrist))
    records = [record_episode(env, seed, 0.3, image_size) for seed in calibration_seeds(episodes)]
    return Dataset(**frame_arrays(records), instructions={r["seed"]: r["instruction"] for r in records}, manifest={})


def probe(policy: Pi0Policy, data: Dataset, frames: int, seed: int) -> dict:
    """Per-dimension error and first-step correlation of the policy's chunks against the labels."""
    chunk = policy.chunk_size
    labels = data.action_chunks(chunk)
    std = np.asarray(policy.processor.action_scale)
    idx = np.random.default_rng(seed).choice(len(data), min(frames, len(data)), replace=False)
    text = [data.instructions[int(e)] for e in data.episode[idx]]
    wrist = data.wrist if policy.processor.wrist else None
    observations = [
        Observation.scene_and_wrist(data.image[i], data.state[i], t, None if wrist is None else wrist[i])
        for i, t in zip(idx, text, strict=True)
    ]
    pred = np.stack([policy.predict_action_chunk(obs) for obs in observations])
    err = ((pred - labels[idx]) / std) ** 2
    first, truth = pred[:, 0], labels[idx, 0]
    corr = [float(np.corrcoef(first[:, d], truth[:, d])[0, 1]) if truth[:, d].std() > 0 else None for d in range(7)]
    return {
        "frames": len(idx),
        "sq_error_per_dim": dict(zip(ACTION_NAMES, err.mean((0, 1)).round(4).tolist(), strict=True)),
        "sq_error_per_chunk_step": err.mean((0, 2)).round(4).tolist(),
        "first_action_corr": dict(zip(ACTION_NAMES, corr, strict=True)),
        "first_action_abs_error_mm": (np.abs(first[:, :3] - truth[:, :3]).mean(0) * 1e3).round(2).tolist(),
    }


def main() -> None:
    """Command line: probe a checkpoint and print (and optionally write) the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-path", required=True)
    parser.add_argument("--data", help="dataset directory (default: fresh held-out rollouts)")
    parser.add_argument("--held-out-episodes", type=int, default=8)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    policy = Pi0Policy(args.model_path)
    size = policy.processor.image_size
    data = (
        load_dataset(Path(args.data)) if args.data else held_out(args.held_out_episodes, size, policy.processor.wrist)
    )
    result = {"model": args.model_path, "data": args.data or f"held-out ({args.held_out_episodes} episodes)"}
    result |= probe(policy, data, args.frames, args.seed)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
