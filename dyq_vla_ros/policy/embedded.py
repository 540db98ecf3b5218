"""Random-weight tiny PI0 checkpoints (`dyq-vla init-model`, tests, a training run's start point)."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import PI0ForConditionalGeneration

from dyq_vla_ros.dyq.calibration import Calibration, NormaliserPriors, action_magnitudes, p95_priors
from dyq_vla_ros.policy.checkpoint import save_checkpoint
from dyq_vla_ros.policy.configuration_pi0 import TinyPi0Architecture
from dyq_vla_ros.policy.format_dyq import ProcessorConfig, build_word_tokenizer
from dyq_vla_ros.types import ACTION_DIM, SIM_JOINT_NAMES

INSTRUCTION_WORDS: tuple[str, ...] = (
    "put",
    "pick",
    "place",
    "push",
    "insert",
    "move",
    "lift",
    "open",
    "close",
    "grasp",
    "release",
    "stack",
    "the",
    "a",
    "an",
    "and",
    "then",
    "into",
    "onto",
    "in",
    "on",
    "to",
    "of",
    "from",
    "at",
    "with",
    "peg",
    "hole",
    "block",
    "cube",
    "cup",
    "bowl",
    "plate",
    "drawer",
    "box",
    "slot",
    "red",
    "green",
    "blue",
    "yellow",
    "white",
    "black",
    "orange",
    "purple",
    "left",
    "right",
    "front",
    "back",
    "top",
    "bottom",
    "middle",
    "center",
    "up",
    "down",
)

DEFAULT_JOINT_NAMES = SIM_JOINT_NAMES
"""The embedded model is for the built-in simulated arm."""


def create_random_checkpoint(
    directory: Path,
    *,
    architecture: TinyPi0Architecture | None = None,
    state_dim: int = len(DEFAULT_JOINT_NAMES),
    action_dim: int = ACTION_DIM,
    joint_names: tuple[str, ...] = DEFAULT_JOINT_NAMES,
    seed: int = 0,
    calibration_chunks: int = 16,
    cameras: tuple[str, ...] = ("scene",),
) -> Path:
    """Write a randomly initialised PI0 checkpoint whose P95 priors come from its own outputs."""
    from dyq_vla_ros.policy.modeling_pi0 import Pi0Policy  # late: the policy loads what this writes

    arch = architecture or TinyPi0Architecture()
    torch.manual_seed(seed)
    model = PI0ForConditionalGeneration(arch.to_pi0_config()).eval()
    tokenizer = build_word_tokenizer(INSTRUCTION_WORDS)
    processor = ProcessorConfig.identity(
        state_dim,
        action_dim,
        joint_names=list(joint_names) if len(joint_names) == state_dim else [],
        cameras=list(cameras),
    )
    save_checkpoint(directory, model, processor, tokenizer)
    if calibration_chunks == 0:
        return Path(directory)

    policy = Pi0Policy(directory)
    chunks = [
        policy.predict_action_chunk(policy.random_observation(arch.image_size, arch.image_size, seed=seed + i))
        for i in range(calibration_chunks)
    ]
    calibration = Calibration(
        action=p95_priors(action_magnitudes(c) for c in chunks),
        joint_state=NormaliserPriors(speed_p95=1.0, change_p95=1.0),
    )
    calibration.save(Path(directory) / "dyq_calibration.json")
    return Path(directory)
