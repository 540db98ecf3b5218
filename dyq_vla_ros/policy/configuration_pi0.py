"""Configuration of the PI0 policy and of the tiny embedded PI0 architecture."""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import PI0Config

from dyq_vla_ros.contract import DEVICES, KEEP_FLOAT_DEFAULT
from dyq_vla_ros.params import NodeParams
from dyq_vla_ros.policy.format_lerobot import LeRobotSizes
from dyq_vla_ros.quant.kernels import BACKENDS


@dataclass
class Pi0PolicyConfig:
    """How a PI0 checkpoint is run: device, quantization grouping, layers kept in float, noise seed."""

    device: str = "auto"
    group_size: int = 64
    keep_float: tuple[str, ...] = KEEP_FLOAT_DEFAULT
    """Globs of linear layers left in float (the node's keep_float_modules default)."""
    noise_seed: int = 0
    num_inference_steps: int | None = None
    allow_pickle: bool = False
    dtype: str = "auto"
    """Float dtype of the model: auto (bfloat16 on CUDA, float32 on CPU), float32 or bfloat16."""
    backend: str = "auto"
    """W4AX kernels: auto, avx2, torch or reference (see dyq_vla_ros.quant.kernels)."""
    tokenizer_path: str = ""
    """A local tokenizer directory for checkpoints that name a hub tokenizer (LeRobot's PaliGemma)."""
    lerobot_sizes: LeRobotSizes | None = None
    """Test-only: smaller sizes for LeRobot's variant names, so that a LeRobot-layout directory fits a test."""

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {self.device!r}")
        if self.group_size < 2 or self.group_size % 2:
            raise ValueError(f"group_size must be an even number >= 2, got {self.group_size}")
        if self.noise_seed < 0:
            raise ValueError(f"noise_seed must be >= 0, got {self.noise_seed}")
        if self.num_inference_steps is not None and self.num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be >= 1, got {self.num_inference_steps}")
        if self.dtype not in ("auto", "float32", "bfloat16"):
            raise ValueError(f"dtype must be auto, float32 or bfloat16, got {self.dtype!r}")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        self.keep_float = tuple(self.keep_float)

    @classmethod
    def from_params(cls, params: NodeParams) -> Pi0PolicyConfig:
        """The configuration the node's parameters ask for."""
        return cls(
            device=params.device,
            noise_seed=params.noise_seed,
            allow_pickle=params.allow_pickle_weights,
            backend=params.quant_backend,
            keep_float=params.keep_float,
            tokenizer_path=params.tokenizer_path,
        )


@dataclass(frozen=True)
class TinyPi0Architecture:
    """Sizes of a small PI0 (SigLIP vision tower, Gemma language model and action expert)."""

    vocab_size: int = 128
    image_size: int = 64
    patch_size: int = 8
    hidden_size: int = 64
    intermediate_size: int = 128
    num_layers: int = 2
    num_heads: int = 2
    head_dim: int = 32
    vision_hidden_size: int = 64
    vision_layers: int = 2
    chunk_size: int = 10
    max_state_dim: int = 8
    max_action_dim: int = 8
    num_inference_steps: int = 5
    extra: dict = field(default_factory=dict)
    expert_hidden_size: int | None = None
    """Width of the action expert; None: the language model's (as are the optional sizes below)."""
    expert_intermediate_size: int | None = None
    vision_intermediate_size: int | None = None
    """None: twice the vision width."""
    vision_num_heads: int | None = None

    def to_pi0_config(self) -> PI0Config:
        """The transformers PI0Config for these sizes; the image token is the last vocabulary id."""
        text = {
            "model_type": "gemma",
            "hidden_size": self.hidden_size,
            "num_hidden_layers": self.num_layers,
            "intermediate_size": self.intermediate_size,
            "num_attention_heads": self.num_heads,
            "num_key_value_heads": 1,
            "head_dim": self.head_dim,
            "vocab_size": self.vocab_size,
        }
        vision = {
            "model_type": "siglip_vision_model",
            "hidden_size": self.vision_hidden_size,
            "intermediate_size": self.vision_intermediate_size or 2 * self.vision_hidden_size,
            "num_hidden_layers": self.vision_layers,
            "num_attention_heads": self.vision_num_heads or self.num_heads,
            "patch_size": self.patch_size,
            "image_size": self.image_size,
            "vision_use_head": False,
        }
        expert = {key: text[key] for key in text if key != "vocab_size"}
        expert["hidden_size"] = self.expert_hidden_size or self.hidden_size
        expert["intermediate_size"] = self.expert_intermediate_size or self.intermediate_size
        return PI0Config(
            vlm_config={
                "model_type": "paligemma",
                "text_config": text,
                "vision_config": vision,
                "projection_dim": self.hidden_size,
                "image_token_id": self.vocab_size - 1,
                "vocab_size": self.vocab_size,
            },
            dit_config=expert,
            chunk_size=self.chunk_size,
            max_state_dim=self.max_state_dim,
            max_action_dim=self.max_action_dim,
            num_inference_steps=self.num_inference_steps,
            **self.extra,
        )
