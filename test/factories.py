"""Checkpoint directories as users have them, written by the tests: transformers' own save_pretrained, LeRobot's layout.

Both use random weights and small sizes. The LeRobot directory follows LeRobot's file layout (config.json
with "type": "pi0", LeRobot key names, pre/post-processor JSON with normaliser state files); its
variant names keep LeRobot's ("gemma_2b", "gemma_300m") and the sizes they stand for are shrunk through
the documented test-only override `LeRobotSizes` (policy.format_lerobot).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import save_file
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PI0ForConditionalGeneration, PI0Processor, PreTrainedTokenizerFast
from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

from dyq_vla_ros.policy.configuration_pi0 import TinyPi0Architecture
from dyq_vla_ros.policy.format_lerobot import GemmaSize, LeRobotSizes, VisionSize
from dyq_vla_ros.policy.format_lerobot import model_config as lerobot_model_config

WORDS = ("pick", "up", "the", "red", "cube", "put", "peg", "into", "blue", "hole", "\n")
SPECIALS = ("<pad>", "<eos>", "<bos>", "<unk>")
VOCAB = len(SPECIALS) + len(WORDS)
"""Base vocabulary; PI0Processor adds <image> right after it (the model's image token id)."""


def word_tokenizer() -> PreTrainedTokenizerFast:
    """A small tokenizers-backed tokenizer with Gemma's special tokens and a newline token."""
    vocab = {tok: i for i, tok in enumerate((*SPECIALS, *WORDS))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(" ", "removed"), pre_tokenizers.Split("\n", "isolated")]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>"
    )


def tiny_architecture(**overrides: object) -> TinyPi0Architecture:
    """Tiny PI0 sizes whose image token is the id PI0Processor gives <image> (just past the base vocabulary)."""
    sizes = {
        "vocab_size": VOCAB + 1,
        "image_size": 32,
        "patch_size": 8,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_layers": 1,
        "num_heads": 2,
        "head_dim": 16,
        "vision_hidden_size": 32,
        "vision_layers": 1,
        "chunk_size": 6,
        "max_state_dim": 12,
        "max_action_dim": 8,
        "num_inference_steps": 3,
        **overrides,
    }
    return TinyPi0Architecture(**sizes)  # type: ignore[arg-type]


def make_transformers_checkpoint(
    directory: Path,
    *,
    state_dim: int = 7,
    action_dim: int = 6,
    seed: int = 0,
    extras: dict | None = None,
) -> tuple[Path, PI0Processor]:
    """model.save_pretrained + PI0Processor.save_pretrained (PIL image processor: torchvision is not importable)."""
    arch = tiny_architecture()
    torch.manual_seed(seed)
    model = PI0ForConditionalGeneration(arch.to_pi0_config()).eval()
    model.save_pretrained(str(directory))

    class PI0ImageProcessorPil(SiglipImageProcessorPil):
        image_seq_length = (arch.image_size // arch.patch_size) ** 2
        size: ClassVar[dict] = {"max_height": arch.image_size, "max_width": arch.image_size}
        pad_size: ClassVar[dict] = {"height": arch.image_size, "width": arch.image_size}
        do_pad = True

    rng = np.random.default_rng(seed)
    processor = PI0Processor(
        image_processor=PI0ImageProcessorPil(),
        tokenizer=word_tokenizer(),
        state_mean=rng.normal(size=state_dim).round(3).tolist(),
        state_std=(0.5 + rng.random(state_dim)).round(3).tolist(),
        actions_mean=rng.normal(size=action_dim).round(3).tolist(),
        actions_std=(0.5 + rng.random(action_dim)).round(3).tolist(),
        max_state_dim=arch.max_state_dim,
        chunk_size=arch.chunk_size,
    )
    processor.save_pretrained(str(directory))
    if extras:
        (Path(directory) / "dyq_processor.json").write_text(json.dumps(extras))
    return Path(directory), processor


TINY_LEROBOT = LeRobotSizes(
    variants={"gemma_2b": GemmaSize(32, 1, 64, 2, 1, 16), "gemma_300m": GemmaSize(16, 1, 32, 2, 1, 16)},
    vision=VisionSize(width=32, depth=1, mlp_dim=64, num_heads=2, patch_size=8),
    vocab_size=VOCAB,
)
"""Test-only sizes for LeRobot's variant names (policy.format_lerobot.LeRobotSizes)."""


def _lerobot_key(name: str) -> str:
    """A transformers PI0 parameter name as LeRobot's pi0 saves it."""
    p = "model.paligemma_with_expert."
    if name.startswith("embed_action_time."):
        return "model." + name[len("embed_action_time.") :]
    if name.startswith("action_out_proj"):
        return "model." + name
    for ours, theirs in (
        ("model.vlm.vision_tower.", "paligemma.model.vision_tower.vision_model."),
        ("model.vlm.multi_modal_projector.", "paligemma.model.multi_modal_projector."),
        ("model.vlm.language_model.", "paligemma.model.language_model."),
        ("model.dit.", "gemma_expert.model."),
    ):
        if name.startswith(ours):
            return p + theirs + name[len(ours) :]
    raise KeyError(name)


def make_lerobot_checkpoint(
    directory: Path,
    *,
    cameras: tuple[str, ...] = ("top", "left_wrist"),
    state_dim: int = 7,
    action_dim: int = 6,
    state_mode: str = "MEAN_STD",
    action_mode: str = "MEAN_STD",
    tokenizer_dir: bool = True,
    seed: int = 0,
) -> tuple[Path, dict[str, np.ndarray]]:
    """A LeRobot pi0 directory; returns it and the statistics written (keys "{feature}.{stat}")."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    image_keys = [f"observation.images.{c}" for c in cameras]
    config = {
        "type": "pi0",
        "n_obs_steps": 1,
        "input_features": {
            **{k: {"type": "VISUAL", "shape": [3, 48, 64]} for k in image_keys},
            "observation.state": {"type": "STATE", "shape": [state_dim]},
        },
        "output_features": {"action": {"type": "ACTION", "shape": [action_dim]}},
        "paligemma_variant": "gemma_2b",
        "action_expert_variant": "gemma_300m",
        "dtype": "float32",
        "chunk_size": 6,
        "n_action_steps": 6,
        "max_state_dim": 12,
        "max_action_dim": 8,
        "num_inference_steps": 3,
        "image_resolution": [32, 32],
        "empty_cameras": 0,
        "normalization_mapping": {"VISUAL": "IDENTITY", "STATE": state_mode, "ACTION": action_mode},
        "tokenizer_max_length": 12,
    }
    (directory / "config.json").write_text(json.dumps(config, indent=4))
    torch.manual_seed(seed)
    model = PI0ForConditionalGeneration(lerobot_model_config(directory, TINY_LEROBOT)).eval()
    weights = {_lerobot_key(k): v.contiguous().clone() for k, v in model.state_dict().items()}
    # LeRobot saves PaliGemma's tied vocabulary as lm_head only, and the expert's lm_head beside it
    lm = "model.paligemma_with_expert.paligemma.model.language_model.embed_tokens.weight"
    weights["model.paligemma_with_expert.paligemma.lm_head.weight"] = weights.pop(lm)
    expert = "model.paligemma_with_expert.gemma_expert.model.embed_tokens.weight"
    weights["model.paligemma_with_expert.gemma_expert.lm_head.weight"] = weights.pop(expert)
    save_file(weights, str(directory / "model.safetensors"))
    rng = np.random.default_rng(seed)
    stats: dict[str, np.ndarray] = {}
    for feature, dim in (("observation.state", state_dim), ("action", action_dim)):
        low = rng.normal(size=dim).astype(np.float32) - 1.0
        stats[f"{feature}.mean"] = rng.normal(size=dim).astype(np.float32)
        stats[f"{feature}.std"] = (0.5 + rng.random(dim)).astype(np.float32)
        stats[f"{feature}.min"], stats[f"{feature}.max"] = low, low + 2.0 + rng.random(dim).astype(np.float32)
        stats[f"{feature}.q01"], stats[f"{feature}.q99"] = low + 0.1, low + 1.5
        stats[f"{feature}.count"] = np.array([1000.0], np.float32)
    for key in image_keys:
        stats[f"{key}.mean"] = np.full((3, 1, 1), 0.5, np.float32)
    norm_map = config["normalization_mapping"]
    features = {**config["input_features"], **config["output_features"]}
    save_numpy(stats, str(directory / "policy_preprocessor_step_6_normalizer_processor.safetensors"))
    save_numpy(stats, str(directory / "policy_postprocessor_step_0_unnormalizer_processor.safetensors"))
    tokenizer_name = "tokenizer" if tokenizer_dir else "google/paligemma-3b-pt-224"
    pre = {
        "name": "policy_preprocessor",
        "steps": [
            {"registry_name": "rename_observations_processor", "config": {"rename_map": {}}},
            {"registry_name": "to_batch_processor", "config": {}},
            {"registry_name": "pi0_new_line_processor", "config": {}},
            {
                "registry_name": "tokenizer_processor",
                "config": {
                    "max_length": 12,
                    "task_key": "task",
                    "padding_side": "right",
                    "padding": "max_length",
                    "truncation": True,
                    "tokenizer_name": tokenizer_name,
                },
            },
            {"registry_name": "device_processor", "config": {"device": "cpu", "float_dtype": None}},
            {"registry_name": "relative_actions_processor", "config": {"enabled": False}},
            {
                "registry_name": "normalizer_processor",
                "config": {"eps": 1e-08, "features": features, "norm_map": norm_map},
                "state_file": "policy_preprocessor_step_6_normalizer_processor.safetensors",
            },
        ],
    }
    post = {
        "name": "policy_postprocessor",
        "steps": [
            {
                "registry_name": "unnormalizer_processor",
                "config": {"eps": 1e-08, "features": config["output_features"], "norm_map": norm_map},
                "state_file": "policy_postprocessor_step_0_unnormalizer_processor.safetensors",
            },
            {"registry_name": "device_processor", "config": {"device": "cpu", "float_dtype": None}},
        ],
    }
    (directory / "policy_preprocessor.json").write_text(json.dumps(pre, indent=2))
    (directory / "policy_postprocessor.json").write_text(json.dumps(post, indent=2))
    if tokenizer_dir:
        word_tokenizer().save_pretrained(str(directory / "tokenizer"))
    return directory, stats
