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

from dyq_vla_ros.sim.env import PegInHoleEnv
from dyq_vla_ros.sim.scene import COLOURS
from dyq_vla_ros.sim.seeds import eval_seeds, train_seeds
from dyq_vla_ros.training.data import resize_image

COLOUR_NAMES = list(COLOURS)
IMAGE_MEAN, IMAGE_STD = 0.5, 0.5


def render_layouts(seeds: list[int], image_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images [N,S,S,3] of each seed's first frame, targets [N,16] (peg xy, block xy per colour), mask [N,16]."""
    env = PegInHoleEnv()
    images, targets, masks = [], [], []
    for seed in seeds:
        obs = env.reset(seed)
        images.append(resize_image(obs.image, image_size))
        target, mask = np.zeros(16, np.float32), np.zeros(16, np.float32)
        for c, name in enumerate(COLOUR_NAMES):
            for peg in env.scene.pegs:
                if peg.colour == name:
                    target[4 * c : 4 * c + 2], mask[4 * c : 4 * c + 2] = peg.pos[:2], 1.0
            for block in env.scene.blocks:
                if block.colour == name:
                    target[4 * c + 2 : 4 * c + 4], mask[4 * c + 2 : 4 * c + 4] = block.xy, 1.0
        targets.append(target)
        masks.append(mask)
    return np.stack(images), np.stack(targets), np.stack(masks)


class Probe(torch.nn.Module):
    """A SigLIP vision tower and a linear read-out of all its patch tokens."""

    def __init__(self, image_size: int, patch: int, hidden: int, layers: int) -> None:
        super().__init__()
        config = SiglipVisionConfig(
            image_size=image_size,
            patch_size=patch,
            hidden_size=hidden,
            intermediate_size=2 * hidden,
            num_hidden_layers=layers,
            num_attention_heads=2,
        )
        self.tower = SiglipVisionModel(config)
        tokens = (image_size // patch) ** 2
        self.head = torch.nn.Linear(tokens * hidden, 16)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Normalised positions [B,16] from normalised pixels [B,3,S,S]."""
        states = self.tower(pixel_values=pixels).last_hidden_state
        return self.head(states.flatten(1))


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
    train_x, train_y, train_m = render_layouts(train_seeds(args.layouts), args.image_size)
    test_x, test_y, test_m = render_layouts(eval_seeds(args.eval), args.image_size)
    mean = (train_y * train_m).sum(0) / np.maximum(train_m.sum(0), 1)
    std = np.sqrt(((train_y - mean) ** 2 * train_m).sum(0) / np.maximum(train_m.sum(0), 1)) + 1e-3
    model = Probe(args.image_size, args.patch, args.hidden, args.layers)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    rng = np.random.default_rng(0)
    render_s = time.monotonic() - start

    def error_mm(x: np.ndarray, y: np.ndarray, m: np.ndarray) -> dict[str, float]:
        model.eval()
        with torch.no_grad():
            pred = model(pixels(x)).numpy() * std + mean
        model.train()
        dist = np.hypot(pred[:, 0::2] - y[:, 0::2], pred[:, 1::2] - y[:, 1::2]) * 1000.0  # [N, 8] mm
        present = m[:, 0::2] > 0
        pegs, blocks = dist[:, 0::2][present[:, 0::2]], dist[:, 1::2][present[:, 1::2]]
        return {"peg_mm_median": float(np.median(pegs)), "hole_mm_median": float(np.median(blocks))}

    record: dict = {}
    step, next_eval, deadline = 0, time.monotonic(), time.monotonic() + 60.0 * args.minutes
    while True:
        now = time.monotonic()
        if now >= next_eval or now >= deadline:
            idx = rng.choice(len(train_x), size=min(200, len(train_x)), replace=False)
            record = {
                "patch": args.patch,
                "layouts": args.layouts,
                "steps": step,
                "minutes": round((now - start - render_s) / 60.0, 2),
                "train": error_mm(train_x[idx], train_y[idx], train_m[idx]),
                "held_out": error_mm(test_x, test_y, test_m),
                "spread_mm": float(np.median(np.hypot(std[0::2], std[1::2])) * 1000.0),
            }
            print(json.dumps(record), flush=True)
            next_eval = now + 120.0
            if now >= deadline:
                break
        idx = rng.integers(0, len(train_x), args.batch)
        wanted = torch.from_numpy((train_y[idx] - mean) / std)
        mask = torch.from_numpy(train_m[idx])
        loss = (((model(pixels(train_x[idx])) - wanted) ** 2) * mask).sum() / mask.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
    if args.json:
        with open(args.json, "w") as f:
            json.dump(record, f, indent=2)


if __name__ == "__main__":
    main()
