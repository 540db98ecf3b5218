"""Localisation pretraining of the vision tower on many rendered layouts, before flow matching.

Trained from scratch on a few hundred demonstration layouts, the tiny vision tower memorises
them instead of learning where things are (docs/TRAINING_LOG.md, vision probe: 1.8 mm on training
scenes, 11 mm on new ones); on 20k layouts, read out per patch, it locates pegs and holes in
new scenes to about 3 mm in ten CPU minutes. Layouts are cheap: one rendered first frame each.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from transformers import PI0ForConditionalGeneration

from dyq_vla_ros.sim.env import MAX_ROTATION, MAX_TRANSLATION, PegInHoleEnv
from dyq_vla_ros.sim.scene import COLOURS
from dyq_vla_ros.training.data import resize_image

COLOUR_NAMES = tuple(COLOURS)
OBJECT_TARGETS = 4 * len(COLOUR_NAMES)
"""Per colour: the peg's xy and the hole block's xy (metres, table frame)."""
TOOL_TARGETS = 3
YAW_TARGETS = 4 * len(COLOUR_NAMES)
"""Per colour: (cos 4y, sin 4y) of the peg's and of the hole block's yaw (a square looks the same every 90°)."""
LOCALISATION_TARGETS = OBJECT_TARGETS + TOOL_TARGETS + YAW_TARGETS
"""The objects' positions, the tool tip's xyz (present when the arm was moved away from home), the objects' yaws."""
WORKSPACE = ((0.30, 0.52), (-0.32, 0.32), (0.03, 0.30))
"""(x, y, z) ranges from which tool-tip targets of the arm poses are drawn."""


@dataclass(frozen=True)
class Layouts:
    """First frames of simulator layouts and where every peg and hole block stands."""

    images: np.ndarray
    """[N, S, S, 3] uint8, resized as the dataset's frames."""
    targets: np.ndarray
    """[N, 35] float32: peg x, peg y, hole x, hole y per colour in COLOUR_NAMES order, then tool x, y, z, then
    per colour the peg's and the hole's (cos 4 yaw, sin 4 yaw)."""
    mask: np.ndarray
    """[N, 35] float32: 1 where that colour's object is in the scene (and where the tool was moved)."""


def move_tool(
    env: PegInHoleEnv,
    rng: np.random.Generator,
    steps: int = 15,
    *,
    gripper: float = -1.0,
    goal: np.ndarray | None = None,
    turn: float | None = None,
) -> None:
    """Drive the gripper (open, or closed with gripper=1) toward a point (default: random in the workspace).

    It turns by `turn` radians about the vertical (default: random within 0.6 rad), in at most `steps` steps.
    """
    goal = np.array([rng.uniform(*axis) for axis in WORKSPACE]) if goal is None else np.asarray(goal, float)
    yaw = rng.uniform(-0.6, 0.6) if turn is None else float(turn)
    for _ in range(steps):
        delta = goal - env.tool_pose[:3, 3]
        turn = np.clip(yaw, -MAX_ROTATION, MAX_ROTATION)
        env.advance(np.array([*np.clip(delta, -MAX_TRANSLATION, MAX_TRANSLATION), 0.0, 0.0, turn, gripper]))
        yaw -= turn


def render_layouts(seeds: list[int], image_size: int, *, arm_poses: bool = False) -> Layouts:
    """A frame of each seed's scene and where things stand (arm at home, or with arm_poses moved at random)."""
    env = PegInHoleEnv()
    images = np.empty((len(seeds), image_size, image_size, 3), np.uint8)
    targets = np.zeros((len(seeds), LOCALISATION_TARGETS), np.float32)
    mask = np.zeros_like(targets)
    for n, seed in enumerate(seeds):
        obs = env.reset(seed)
        if arm_poses:
            move_tool(env, np.random.default_rng([seed, 7]))
            obs = env.observe()
            tool_at = slice(OBJECT_TARGETS, OBJECT_TARGETS + TOOL_TARGETS)
            targets[n, tool_at], mask[n, tool_at] = env.tool_pose[:3, 3], 1.0
        images[n] = resize_image(obs.image, image_size)
        yaws = OBJECT_TARGETS + TOOL_TARGETS
        for c, name in enumerate(COLOUR_NAMES):
            for peg in env.scene.pegs:
                if peg.colour == name:
                    targets[n, 4 * c : 4 * c + 2], mask[n, 4 * c : 4 * c + 2] = peg.pos[:2], 1.0
                    at = yaws + 4 * c
                    targets[n, at : at + 2], mask[n, at : at + 2] = four_fold(peg.yaw), 1.0
            for block in env.scene.blocks:
                if block.colour == name:
                    targets[n, 4 * c + 2 : 4 * c + 4], mask[n, 4 * c + 2 : 4 * c + 4] = block.xy, 1.0
                    at = yaws + 4 * c + 2
                    targets[n, at : at + 2], mask[n, at : at + 2] = four_fold(block.yaw), 1.0
    return Layouts(images, targets, mask)


def four_fold(yaw: np.ndarray | float) -> np.ndarray:
    """[..., 2] (cos 4y, sin 4y) of yaws: the same for a square turned by any multiple of 90 degrees."""
    y = np.asarray(yaw, dtype=np.float64)
    return np.stack([np.cos(4 * y), np.sin(4 * y)], -1)


class PatchLocaliser(torch.nn.Module):
    """Training-only read-out: every object's position from all image tokens, kept in patch order.

    Pooling the tokens first would throw away where each patch is, which is what there is to learn.
    """

    def __init__(self, tokens: int, hidden: int, layouts: Layouts) -> None:
        super().__init__()
        self.head = torch.nn.Linear(tokens * hidden, LOCALISATION_TARGETS)
        present = np.maximum(layouts.mask.sum(0), 1.0)
        mean = (layouts.targets * layouts.mask).sum(0) / present
        std = np.sqrt(((layouts.targets - mean) ** 2 * layouts.mask).sum(0) / present) + 1e-3
        self.register_buffer("mean", torch.from_numpy(mean.astype(np.float32)))
        self.register_buffer("std", torch.from_numpy(std.astype(np.float32)))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Targets [B, LOCALISATION_TARGETS] (metres; cos/sin of 4 yaw) from image tokens [B, T, H]."""
        return self.head(features.flatten(1)) * self.std + self.mean

    def loss(self, features: torch.Tensor, targets: np.ndarray, mask: np.ndarray) -> torch.Tensor:
        """Masked MSE in units of each coordinate's spread."""
        m = torch.from_numpy(mask)
        err = (self(features) - torch.from_numpy(targets)) / self.std
        return (err**2 * m).sum() / m.sum().clamp(min=1.0)


def image_features(model: PI0ForConditionalGeneration, pixels: torch.Tensor) -> torch.Tensor:
    """The image tokens [B, T, H] PI0 puts into its prefix, for normalised pixels [B, 3, S, S]."""
    return model.model.vlm.get_image_features(pixels).pooler_output


def localisation_error_mm(features: torch.Tensor, localiser: PatchLocaliser, layouts: Layouts) -> dict[str, float]:
    """Median distance (mm) between predicted and true peg, hole (and tool) positions, and yaw error (degrees)."""
    with torch.no_grad():
        pred = localiser(features).numpy()
    obj, truth = pred[:, :OBJECT_TARGETS], layouts.targets[:, :OBJECT_TARGETS]
    dist = np.hypot(obj[:, 0::2] - truth[:, 0::2], obj[:, 1::2] - truth[:, 1::2]) * 1000.0
    present = layouts.mask[:, :OBJECT_TARGETS:2] > 0
    errors = {
        "peg_mm_median": float(np.median(dist[:, 0::2][present[:, 0::2]])),
        "hole_mm_median": float(np.median(dist[:, 1::2][present[:, 1::2]])),
    }
    yaws = OBJECT_TARGETS + TOOL_TARGETS
    angle = np.arctan2(pred[:, yaws + 1 :: 2], pred[:, yaws::2]) - np.arctan2(
        layouts.targets[:, yaws + 1 :: 2], layouts.targets[:, yaws::2]
    )
    deg = np.abs(np.rad2deg((angle + np.pi) % (2 * np.pi) - np.pi) / 4.0)  # back from 4y to y
    seen = layouts.mask[:, yaws::2] > 0
    errors["peg_yaw_deg_median"] = float(np.median(deg[:, 0::2][seen[:, 0::2]]))
    errors["hole_yaw_deg_median"] = float(np.median(deg[:, 1::2][seen[:, 1::2]]))
    moved = layouts.mask[:, OBJECT_TARGETS] > 0
    if moved.any():
        tool_at = slice(OBJECT_TARGETS, OBJECT_TARGETS + TOOL_TARGETS)
        tool = np.linalg.norm(pred[moved, tool_at] - layouts.targets[moved, tool_at], axis=1)
        errors["tool_mm_median"] = float(np.median(tool) * 1000.0)
    return errors


@dataclass(frozen=True)
class VisionPretrainResult:
    """Losses of a pretraining run and the held-out localisation error at its end."""

    losses: list[float]
    held_out: dict[str, float]


def pretrain_vision(
    model: PI0ForConditionalGeneration,
    to_pixels,
    train_layouts: Layouts,
    held_out: Layouts,
    *,
    steps: int,
    batch_size: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = True,
) -> VisionPretrainResult:
    """Train the model's vision tower (and projector) to locate every object; other weights untouched.

    to_pixels maps uint8 images [B, S, S, 3] to the model's normalised pixels [B, 3, S, S].
    """
    from tqdm import tqdm

    with torch.no_grad():
        tokens, hidden = image_features(model, to_pixels(train_layouts.images[:1])).shape[1:]
    localiser = PatchLocaliser(tokens, hidden, train_layouts)
    vision = [*model.model.vlm.vision_tower.parameters(), *model.model.vlm.multi_modal_projector.parameters()]
    params = [*vision, *localiser.parameters()]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    rng = np.random.default_rng(seed)
    losses: list[float] = []
    model.train()
    for _ in tqdm(range(steps), desc="vision pretrain", unit="step", disable=not progress):
        idx = rng.integers(0, len(train_layouts.images), batch_size)
        features = image_features(model, to_pixels(train_layouts.images[idx]))
        loss = localiser.loss(features, train_layouts.targets[idx], train_layouts.mask[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        losses.append(float(loss.detach()))
    model.eval()
    with torch.no_grad():
        features = torch.cat(
            [image_features(model, to_pixels(held_out.images[i : i + 64])) for i in range(0, len(held_out.images), 64)]
        )
    model.train()
    return VisionPretrainResult(losses, localisation_error_mm(features, localiser, held_out))
