"""Training settings and the architecture of the shipped tiny PI0."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from dyq_vla_ros.contract import KEEP_FLOAT_DEFAULT
from dyq_vla_ros.policy.action_space import TOOL_TARGET
from dyq_vla_ros.policy.configuration_pi0 import TinyPi0Architecture
from dyq_vla_ros.policy.state_features import JOINTS_AND_TOOL

TRAINED_ARCHITECTURE = TinyPi0Architecture(
    image_size=96,
    patch_size=12,
    hidden_size=96,
    intermediate_size=256,
    num_layers=3,
    num_heads=2,
    head_dim=48,
    vision_hidden_size=96,
    vision_layers=3,
    chunk_size=10,
    max_state_dim=16,
    num_inference_steps=5,
)
"""The architecture of the shipped embedded model."""


@dataclass
class TrainConfig:
    """Optimisation settings."""

    steps: int = 6000
    """Optimiser steps."""
    batch_size: int = 32
    """Frames per batch."""
    lr: float = 5e-4
    """Peak learning rate (cosine decay after the warm-up)."""
    warmup_steps: int = 200
    """Steps of linear learning-rate warm-up."""
    weight_decay: float = 1e-4
    """AdamW weight decay."""
    seed: int = 0
    """Seed of initialisation, batches and augmentation."""
    threads: int = 0
    """torch intra-op threads; 0 keeps torch's default."""
    checkpoint_every: int = 500
    """Steps between checkpoints (a run resumes from the last one)."""
    time_limit_s: float = 0.0
    """Stop (with a checkpoint) after this many seconds; 0 means no limit. The learning-rate decay
    follows whichever of steps and time runs out first, so a time-limited run still ends annealed."""
    shift_px: int = 0
    """Random-shift image augmentation of up to this many pixels (0: off)."""
    aux_weight: float = 1.0
    """Weight of the auxiliary localisation loss (named peg and hole from the action tokens); 0 disables it."""
    vision_layouts: int = 20000
    """Rendered layouts (first frames of training seeds) for localisation pretraining of the vision tower."""
    vision_steps: int = 0
    """Steps of that pretraining, run once before flow matching; 0 disables it."""
    vision_arm_poses: bool = True
    """Pretrain on frames with the arm moved to random workspace points (its tool tip located too)."""
    state_features: str = JOINTS_AND_TOOL
    """The model's state (policy.state_features): "joints", "joints+tool" or "height+gripper"."""
    action_space: str = TOOL_TARGET
    """What the model learns (policy.action_space): "tool_target" (expert targets), "tool_offset" or "delta"."""
    offset_scale: float = 0.01
    """With tool_offset: scale (m) of the logarithmic compander of position offsets (policy.action_space); 0: linear."""
    start_frames: int = 0
    """First-move frames from this many new layouts (training.start_frames), mixed into flow matching; 0: none."""
    start_share: float = 0.25
    """Share of each batch drawn from those start frames."""
    start_holding: float = 0.5
    """Share of the start frames that carry the named peg (first moves of a transport)."""
    start_near: float = 0.0
    """Share of the start frames placed within 3 cm of the next target (the last centimetres of a grasp or insert)."""
    init_from: str = ""
    """Start from this checkpoint's weights and normalisation (fine-tuning, e.g. on DAgger data); "" for scratch."""
    qat_group_size: int = 0
    """Quantization-aware training: the layers the policy quantizes compute on the 4-bit grid of this group
    size (the policy's group_size, 64) and the checkpoint is saved on it; 0: float training."""
    qat_keep_float: list[str] = field(default_factory=lambda: list(KEEP_FLOAT_DEFAULT))
    """Globs of linear layers QAT leaves in float: the node's keep_float_modules."""
    architecture: dict = field(default_factory=lambda: asdict(TRAINED_ARCHITECTURE))


def lr_at(step: int, config: TrainConfig, elapsed_s: float = 0.0) -> float:
    """Learning rate: linear warm-up, then cosine decay to 5 % over the steps or the time limit."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    if config.time_limit_s > 0:
        progress = max(progress, elapsed_s / config.time_limit_s)
    return config.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))
