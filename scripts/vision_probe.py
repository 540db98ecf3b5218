"""Probe: does the tiny PI0 vision tower learn to locate pegs and holes in scenes it has not seen.

A diagnostic for issue 4 (the trained policy's vision memorised its training layouts): trains
only a SigLIP vision tower of the policy's shape, plus a linear read-out over its patch tokens,
to regress the table position of every peg and hole block by colour, on a chosen number of
distinct simulator layouts, and reports the error on held-out evaluation seeds over time.

    python scripts/vision_probe.py --patch 12 --layouts 400 --minutes 10 --json out.json

Prints one JSON line per evaluation; the last one is the result.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from transformers import SiglipVisionConfig, SiglipVisionModel

from dyq_vla_ros.sim.seeds import eval_seeds, train_seeds
from dyq_vla_ros.training.vision import OBJECT_TARGETS, PatchLocaliser, localisation_error_mm, render_layouts

IMAGE_MEAN, IMAGE_STD = 0.5, 0.5


def tower(image_size: int, patch: int, hidden: int, layers: int) -> SiglipVisionModel:
    """A SigLIP vision tower of the policy's kind."""
    config = SiglipVisionConfig(
        image_size=image_size,
        patch_size=patch,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
    )
    return SiglipVisionModel(config)


def pixels(images: np.ndarray) -> torch.Tensor:
    """Normalised [B,3,S,S] float tensor from uint8 [B,S,S,3]."""
    return (torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0 - IMAGE_MEAN) / IMAGE_STD


def main() -> None:
    """Train the probe for the given minutes and print held-out errors."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patch", type=int, default=12)
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--hidden", type=int, default=96)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--layouts", type=int, default=400, help="distinct training layouts")
    parser.add_argument("--eval", type=int, default=200, help="held-out layouts")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    start = time.monotonic()
    train = render_layouts(train_seeds(args.layouts), args.image_size)
    test = render_layouts(eval_seeds(args.eval), args.image_size)
    vision = tower(args.image_size, args.patch, args.hidden, args.layers)
    localiser = PatchLocaliser((args.image_size // args.patch) ** 2, args.hidden, train)
    opt = torch.optim.AdamW([*vision.parameters(), *localiser.parameters()], lr=args.lr, weight_decay=1e-4)
    rng = np.random.default_rng(0)
    render_s = time.monotonic() - start

    def features(images: np.ndarray) -> torch.Tensor:
        return vision(pixel_values=pixels(images)).last_hidden_state

    def error_mm(idx: np.ndarray | None, layouts) -> dict[str, float]:
        sub = layouts if idx is None else type(layouts)(layouts.images[idx], layouts.targets[idx], layouts.mask[idx])
        vision.eval()
        with torch.no_grad():
            result = localisation_error_mm(features(sub.images), localiser, sub)
        vision.train()
        return result

    record: dict = {}
    step, next_eval, deadline = 0, time.monotonic(), time.monotonic() + 60.0 * args.minutes
    while True:
        now = time.monotonic()
        if now >= next_eval or now >= deadline:
            record = {
                "patch": args.patch,
                "layouts": args.layouts,
                "steps": step,
                "minutes": round((now - start - render_s) / 60.0, 2),
                "train": error_mm(
                    rng.choice(len(train.images), size=min(200, len(train.images)), replace=False), train
                ),
                "held_out": error_mm(None, test),
                "spread_mm": float(np.median(np.hypot(*localiser.std[:OBJECT_TARGETS].reshape(-1, 2).T)) * 1000.0),
            }
            print(json.dumps(record), flush=True)
            next_eval = now + 120.0
            if now >= deadline:
                break
        idx = rng.integers(0, len(train.images), args.batch)
        loss = localiser.loss(features(train.images[idx]), train.targets[idx], train.mask[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
    if args.json:
        with open(args.json, "w") as f:
            json.dump(record, f, indent=2)


if __name__ == "__main__":
    main()
