"""LeRobot pi0 policy directories, read from their files (LeRobot itself is not a dependency).

A directory holds config.json (`"type": "pi0"`, a draccus-encoded PI0Config), model.safetensors with
LeRobot's key names (transformers' PI0 loading renames them; of LeRobot's three vocabulary matrices
transformers keeps `paligemma.lm_head` as the language model's embedding and drops
`language_model.embed_tokens`; `gemma_expert.lm_head` is loaded but unused), and
policy_preprocessor.json / policy_postprocessor.json whose normaliser steps name the safetensors
files of their statistics (tensors keyed "{feature}.{stat}"). The model sizes come from LeRobot's
variants (gemma_2b / gemma_300m, SigLIP so400m).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from safetensors.numpy import load_file
from tokenizers import Tokenizer
from transformers import PI0Config

from dyq_vla_ros.policy.action_space import JOINT_POSITION
from dyq_vla_ros.policy.errors import CheckpointError
from dyq_vla_ros.policy.format_dyq import read_extras, read_json
from dyq_vla_ros.policy.format_transformers import load_tokenizer_files
from dyq_vla_ros.policy.images import ImageSpec, Resize
from dyq_vla_ros.policy.normalization import Normalizer, NormMode
from dyq_vla_ros.policy.processor_pi0 import ProcessorSpec, TextSpec
from dyq_vla_ros.policy.state_features import JOINTS

PREPROCESSOR_FILE = "policy_preprocessor.json"
POSTPROCESSOR_FILE = "policy_postprocessor.json"
STATE_KEY = "observation.state"
ACTION_KEY = "action"
IMAGE_PREFIX = "observation.images."
VOCAB_SIZE = 257152
"""PaliGemma's vocabulary; the image token is the id just past it."""


@dataclass(frozen=True)
class GemmaSize:
    """One Gemma variant's sizes."""

    width: int
    depth: int
    mlp_dim: int
    num_heads: int
    num_kv_heads: int
    head_dim: int


@dataclass(frozen=True)
class VisionSize:
    """The SigLIP tower's sizes."""

    width: int = 1152
    depth: int = 27
    mlp_dim: int = 4304
    num_heads: int = 16
    patch_size: int = 14


VARIANTS: dict[str, GemmaSize] = {
    "gemma_300m": GemmaSize(1024, 18, 4096, 8, 1, 256),
    "gemma_2b": GemmaSize(2048, 18, 16384, 8, 1, 256),
}
"""LeRobot's pi0 variants (lerobot/policies/pi0/modeling_pi0.py)."""


@dataclass(frozen=True)
class LeRobotSizes:
    """The sizes a LeRobot config's variant names stand for.

    Test-only override: tests pass smaller sizes under the same variant names so that a LeRobot-layout
    directory fits in a unit test; real checkpoints always use the defaults.
    """

    variants: Mapping[str, GemmaSize] = None  # type: ignore[assignment]
    vision: VisionSize = VisionSize()
    vocab_size: int = VOCAB_SIZE

    def __post_init__(self) -> None:
        if self.variants is None:
            object.__setattr__(self, "variants", dict(VARIANTS))


def is_lerobot(directory: Path) -> bool:
    """Whether config.json is a LeRobot policy config."""
    path = Path(directory) / "config.json"
    return path.is_file() and read_json(path).get("type") is not None


def model_config(directory: Path, sizes: LeRobotSizes | None = None) -> PI0Config:
    """Transformers' PI0Config for a LeRobot pi0 config.json."""
    path = Path(directory) / "config.json"
    data = read_json(path)
    if data.get("type") != "pi0":
        raise CheckpointError(f"{path}: policy type {data.get('type')!r} is not supported; only LeRobot's pi0 is")
    sizes = sizes or LeRobotSizes()
    gemma = {}
    for key in ("paligemma_variant", "action_expert_variant"):
        name = data.get(key, "gemma_2b" if key == "paligemma_variant" else "gemma_300m")
        if name not in sizes.variants:
            raise CheckpointError(f"{path}: {key} {name!r} is not one of {', '.join(sizes.variants)}")
        gemma[key] = sizes.variants[name]
    resolution = data.get("image_resolution", [224, 224])
    if len(resolution) != 2 or resolution[0] != resolution[1]:
        raise CheckpointError(f"{path}: image_resolution must be square, got {resolution}")
    vlm, dit, vision = gemma["paligemma_variant"], gemma["action_expert_variant"], sizes.vision

    def text(g: GemmaSize) -> dict:
        return {
            "model_type": "gemma",
            "hidden_size": g.width,
            "num_hidden_layers": g.depth,
            "intermediate_size": g.mlp_dim,
            "num_attention_heads": g.num_heads,
            "num_key_value_heads": g.num_kv_heads,
            "head_dim": g.head_dim,
            "hidden_activation": "gelu_pytorch_tanh",
        }

    keys = ("chunk_size", "max_state_dim", "max_action_dim", "num_inference_steps", "min_period", "max_period")
    keys += tuple(k for k in data if k.startswith("time_sampling_"))
    return PI0Config(
        vlm_config={
            "model_type": "paligemma",
            "text_config": {**text(vlm), "vocab_size": sizes.vocab_size},
            "vision_config": {
                "model_type": "siglip_vision_model",
                "hidden_size": vision.width,
                "intermediate_size": vision.mlp_dim,
                "num_hidden_layers": vision.depth,
                "num_attention_heads": vision.num_heads,
                "patch_size": vision.patch_size,
                "image_size": int(resolution[0]),
                "vision_use_head": False,
            },
            "projection_dim": vlm.width,
            "image_token_id": sizes.vocab_size,
            "vocab_size": sizes.vocab_size,
        },
        dit_config=text(dit),
        **{k: data[k] for k in keys if k in data},
    )


def _step(path: Path, registry_name: str) -> dict:
    steps = read_json(path).get("steps", [])
    found = [s for s in steps if isinstance(s, dict) and s.get("registry_name") == registry_name]
    if not found:
        raise CheckpointError(f"{path} has no {registry_name} step")
    return found[0]


def _stats(directory: Path, pipeline: str, registry_name: str) -> tuple[dict[str, dict], dict]:
    """{feature: {stat: values}} and the step's config, from the state file the step names."""
    step = _step(directory / pipeline, registry_name)
    state_file = step.get("state_file")
    if not state_file:
        return {}, step.get("config", {})
    path = directory / state_file
    if not path.is_file():
        raise CheckpointError(f"{directory / pipeline} names {state_file}, which is missing")
    stats: dict[str, dict] = {}
    for key, value in load_file(str(path)).items():
        feature, _, stat = key.rpartition(".")
        stats.setdefault(feature, {})[stat] = value
    return stats, step.get("config", {})


def _normalizer(
    stats: Mapping[str, dict], feature: str, kind: str, norm_map: Mapping[str, str], eps: float, what: str
) -> Normalizer:
    mode = NormMode(norm_map.get(kind, "IDENTITY"))
    if mode is NormMode.IDENTITY:
        return Normalizer.identity()
    if feature not in stats:
        raise CheckpointError(f"{what} holds no statistics for {feature} (needed for {mode.value})")
    return Normalizer.from_stats(mode, stats[feature], eps=eps, what=f"{what} ({feature})")


def _tokenizer(directory: Path, tokenizer_path: str) -> tuple[Tokenizer, str, str, dict]:
    step = _step(directory / PREPROCESSOR_FILE, "tokenizer_processor")
    config = step.get("config", {})
    name = str((step.get("artifacts") or {}).get("tokenizer_name") or config.get("tokenizer_name") or "")
    if name and (directory / name / "tokenizer.json").is_file():
        return (*load_tokenizer_files(directory / name), config)
    if not tokenizer_path:
        raise CheckpointError(
            f"{directory}: the tokenizer is {name or 'not named'} (a hub id, not in the checkpoint); give a local "
            "copy of it with the tokenizer_path parameter (dyq-vla --tokenizer-path)"
        )
    return (*load_tokenizer_files(Path(tokenizer_path).expanduser()), config)


def lerobot_spec(directory: Path, model_cfg: PI0Config, *, tokenizer_path: str = "") -> tuple[ProcessorSpec, Tokenizer]:
    """The processor spec and tokenizer of a LeRobot pi0 directory (dyq_processor.json extras applied)."""
    directory = Path(directory)
    config = read_json(directory / "config.json")
    inputs = config.get("input_features") or {}
    outputs = config.get("output_features") or {}
    if STATE_KEY not in inputs or ACTION_KEY not in outputs:
        raise CheckpointError(
            f"{directory / 'config.json'}: input_features needs {STATE_KEY}, output_features {ACTION_KEY}"
        )
    cameras = tuple(
        k for k, v in inputs.items() if v.get("type") == "VISUAL" and not k.startswith(IMAGE_PREFIX + "empty_camera")
    )
    norm_map = config.get("normalization_mapping") or {"VISUAL": "IDENTITY", "STATE": "MEAN_STD", "ACTION": "MEAN_STD"}
    if norm_map.get("VISUAL", "IDENTITY") != "IDENTITY":
        raise CheckpointError(f"{directory / 'config.json'}: only IDENTITY normalisation of images is supported")
    pre_stats, pre_cfg = _stats(directory, PREPROCESSOR_FILE, "normalizer_processor")
    post_stats, post_cfg = _stats(directory, POSTPROCESSOR_FILE, "unnormalizer_processor")
    tokenizer, bos, pad, text_cfg = _tokenizer(directory, tokenizer_path)
    extras = read_extras(directory)
    vision = model_cfg.vlm_config.vision_config
    spec = ProcessorSpec(
        cameras=cameras,
        image=ImageSpec(vision.image_size, Resize.PAD_CENTER),
        image_tokens=(vision.image_size // vision.patch_size) ** 2,
        image_token_id=model_cfg.vlm_config.image_token_id,
        text=TextSpec(
            bos_id=int(tokenizer.token_to_id(bos)),
            pad_id=int(tokenizer.token_to_id(pad)),
            length=int(text_cfg.get("max_length", config.get("tokenizer_max_length", 48))),
            suffix="\n",
        ),
        state_dim=int(inputs[STATE_KEY]["shape"][0]),
        state_norm=_normalizer(
            pre_stats,
            STATE_KEY,
            "STATE",
            pre_cfg.get("norm_map", norm_map),
            float(pre_cfg.get("eps", 1e-8)),
            str(directory / PREPROCESSOR_FILE),
        ),
        action_dim=int(outputs[ACTION_KEY]["shape"][0]),
        action_norm=_normalizer(
            post_stats,
            ACTION_KEY,
            "ACTION",
            post_cfg.get("norm_map", norm_map),
            float(post_cfg.get("eps", 1e-8)),
            str(directory / POSTPROCESSOR_FILE),
        ),
        max_state_dim=model_cfg.max_state_dim,
        max_action_dim=model_cfg.max_action_dim,
        state_features=JOINTS,
        action_space=JOINT_POSITION,
        source=str(directory / "config.json"),
    )
    allowed = {k: extras[k] for k in ("state_features", "action_space", "joint_names") if k in extras}
    if "joint_names" in allowed:
        allowed["joint_names"] = tuple(allowed["joint_names"])  # type: ignore[arg-type]
    return (replace(spec, **allowed) if allowed else spec), tokenizer  # type: ignore[arg-type]
