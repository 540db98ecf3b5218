"""PI0 policy on transformers.PI0ForConditionalGeneration with switchable W4AX precision."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from dyq_vla_ros.dyq.calibration import Calibration
from dyq_vla_ros.policy.action_space import JOINT_POSITION
from dyq_vla_ros.policy.base import Observation, Policy
from dyq_vla_ros.policy.checkpoint import (
    CheckpointFormat,
    check_checkpoint,
    load_calibration,
    load_model_config,
    load_pi0_model,
    load_processor,
    resolve_model_path,
)
from dyq_vla_ros.policy.configuration_pi0 import Pi0PolicyConfig
from dyq_vla_ros.policy.errors import PolicyError
from dyq_vla_ros.quant import ActivationPrecision, QuantReport, quantize_model, resident_weight_bytes
from dyq_vla_ros.types import PrecisionMode

_log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """torch.device for 'auto' (CUDA when present), 'cpu' or 'cuda'."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise PolicyError("device 'cuda' was requested but torch sees no CUDA device")
    return torch.device(name)


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """Float dtype of the model: 'auto' is bfloat16 on CUDA and float32 on CPUs."""
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16}[name]


class Pi0Policy(Policy):
    """A PI0 checkpoint behind the Policy interface.

    Weights are held either in float (mode `fp`) or as one packed 4-bit copy (every other mode).
    Switching among the 4-bit modes only sets the shared activation bit width; switching to or
    from `fp` reloads the weights from the checkpoint directory, since only one copy is resident.
    """

    def __init__(self, model_path: str | Path | None = None, config: Pi0PolicyConfig | None = None) -> None:
        self.config = config or Pi0PolicyConfig()
        self.path = resolve_model_path(model_path)
        self.device = resolve_device(self.config.device)
        self.dtype = resolve_dtype(self.config.dtype, self.device)
        self.format = check_checkpoint(self.path, allow_pickle=self.config.allow_pickle)
        self.calibration: Calibration = load_calibration(self.path)
        # the project's and transformers' directories carry a transformers config.json; LeRobot's is built
        self._config = (
            load_model_config(self.path, self.format, self.config.lerobot_sizes)
            if self.format is CheckpointFormat.LEROBOT
            else None
        )
        self._model = self._load_model()
        self.processor = load_processor(
            self.path, self.format, self._model.config, tokenizer_path=self.config.tokenizer_path
        )
        self.parameter_count = sum(p.numel() for p in self._model.parameters())
        self.bf16_weight_bytes = self.parameter_count * 2
        self._precision: ActivationPrecision | None = None
        self.quant_report: QuantReport | None = None
        self.mode = PrecisionMode.FP
        self._inference_index = 0
        self._flow_steps: int | None = None

    def _load_model(self) -> torch.nn.Module:
        return load_pi0_model(
            self.path, self.device, allow_pickle=self.config.allow_pickle, dtype=self.dtype, config=self._config
        )

    @property
    def chunk_size(self) -> int:
        """Actions per predicted chunk."""
        return int(self._model.config.chunk_size)

    @property
    def action_dim(self) -> int:
        """Values per action."""
        return self.processor.config.action_dim

    @property
    def flow_steps(self) -> int:
        """The checkpoint's flow-matching integration steps per inference (or Pi0PolicyConfig's)."""
        return int(self.config.num_inference_steps or self._model.config.num_inference_steps)

    def set_flow_steps(self, steps: int | None) -> None:
        """Integrate the next inferences in this many steps (None: the full count)."""
        if steps is not None and steps < 1:
            raise ValueError(f"flow steps must be >= 1, got {steps}")
        self._flow_steps = steps

    @property
    def predicts_joint_positions(self) -> bool:
        """Whether the checkpoint's actions are joint positions (executed as they are)."""
        return self.processor.spec.action_space == JOINT_POSITION

    @property
    def state_dim(self) -> int:
        """Values per robot state."""
        return self.processor.config.state_dim

    @property
    def model(self) -> torch.nn.Module:
        """The underlying transformers model (float or W4AX)."""
        return self._model

    @property
    def activation_bits(self) -> int:
        """Activation bits of the next inference."""
        return 16 if self._precision is None else self._precision.bits

    @property
    def weight_bits(self) -> int:
        """Bits per linear-layer weight: 4 when quantized, else 32."""
        return 32 if self._precision is None else 4

    def weight_bytes(self) -> int:
        """Resident bytes of all parameters and buffers of the model."""
        return resident_weight_bytes(self._model)

    def reset(self) -> None:
        """Start a new episode: the noise sequence restarts."""
        self._inference_index = 0

    @property
    def inference_index(self) -> int:
        """Index in the episode's noise sequence of the next inference (seed noise_seed + index)."""
        return self._inference_index

    @inference_index.setter
    def inference_index(self, index: int) -> None:
        if int(index) < 0:
            raise ValueError(f"inference index must be >= 0, got {index}")
        self._inference_index = int(index)

    def set_precision(self, mode: PrecisionMode, bits: int) -> None:
        """Run the next inference in this mode with these activation bits."""
        if mode.quantized_weights and self._precision is None:
            self._precision, self.quant_report = quantize_model(
                self._model,
                group_size=self.config.group_size,
                keep_float=self.config.keep_float,
                backend=self.config.backend,
            )
            _log.info("quantized %s: %s", self.path.name, self.quant_report.summary())
        elif not mode.quantized_weights and self._precision is not None:
            self._model = self._load_model()
            self._precision, self.quant_report = None, None
            _log.info("reloaded float weights of %s for mode fp", self.path.name)
        if self._precision is not None:
            self._precision.bits = bits
        self.mode = mode

    def _noise(self, batch: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(self.config.noise_seed + self._inference_index)
        cfg = self._model.config
        return torch.randn(batch, cfg.chunk_size, cfg.max_action_dim, generator=gen).to(self.device, self.dtype)

    @torch.inference_mode()
    def _sample(self, observation: Observation) -> torch.Tensor:
        inputs = self.processor.batch([observation])
        inputs = {
            k: v.to(self.device, self.dtype) if v.is_floating_point() else v.to(self.device) for k, v in inputs.items()
        }
        chunk = self._model.sample_actions(
            noise=self._noise(1), num_steps=self._flow_steps or self.flow_steps, **inputs
        )
        self._inference_index += 1
        return chunk[0]

    def random_observation(self, height: int, width: int, seed: int = 0) -> Observation:
        """Random frames of every checkpoint camera and a random state (benchmarks, priors of untrained models)."""
        rng = np.random.default_rng(seed)
        images = {name: rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for name in self.processor.cameras}
        state = rng.normal(size=self.state_dim).astype(np.float32)
        return Observation(images, state, "put the red peg into the blue hole")

    def predict_action_chunk(self, observation: Observation) -> np.ndarray:
        """Predict a [chunk_size, action_dim] chunk of actions in robot units."""
        return self.processor.robot_actions(self._sample(observation), observation.state)

    def predict_model_actions(self, observation: Observation) -> np.ndarray:
        """The model's [chunk_size, action_dim] chunk in its own action space (tool targets or deltas), unconverted."""
        return self.processor.unnormalize_actions(self._sample(observation))
