"""Checkpoint directories: the embedded model, validation with file-naming errors, load and save."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from tokenizers import Tokenizer
from transformers import PI0ForConditionalGeneration

from dyq_vla_ros.dyq.calibration import CALIBRATION_FILE, Calibration
from dyq_vla_ros.dyq.errors import CalibrationError
from dyq_vla_ros.policy.errors import CheckpointError
from dyq_vla_ros.policy.processor_pi0 import PROCESSOR_FILE, TOKENIZER_FILE, ProcessorConfig

EMBEDDED_MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "dyq_tiny_pi0"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX_FILE = "model.safetensors.index.json"
PICKLE_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json", "model.pt", "model.pth")
REQUIRED_FILES = (CONFIG_FILE, TOKENIZER_FILE, PROCESSOR_FILE)

_log = logging.getLogger(__name__)


def resolve_model_path(model_path: str | Path | None) -> Path:
    """The checkpoint directory to load: model_path, or the embedded model when empty."""
    if model_path is None or str(model_path).strip() == "":
        return EMBEDDED_MODEL_DIR
    return Path(model_path).expanduser().resolve()


def check_checkpoint(directory: Path, *, allow_pickle: bool = False) -> None:
    """Raise CheckpointError naming the first missing or unusable file of a checkpoint directory."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"model_path {directory} is not a directory")
    for name in REQUIRED_FILES:
        if not (directory / name).is_file():
            raise CheckpointError(f"checkpoint {directory} is missing {name}")
    if not (directory / WEIGHTS_FILE).is_file() and not (directory / WEIGHTS_INDEX_FILE).is_file():
        pickles = [name for name in PICKLE_FILES if (directory / name).exists()]
        if pickles and allow_pickle:
            _log.warning("loading pickle weights %s from %s as explicitly allowed", pickles, directory)
            return
        if pickles:
            raise CheckpointError(
                f"checkpoint {directory} holds only pickle weights ({', '.join(pickles)}); they can run code when "
                f"loaded and are refused. Convert them to {WEIGHTS_FILE} (safetensors) with save_pretrained(), "
                "or allow them explicitly (allow_pickle_weights)."
            )
        raise CheckpointError(f"checkpoint {directory} is missing {WEIGHTS_FILE}")


def load_pi0_model(
    directory: Path, device: torch.device, *, allow_pickle: bool = False, dtype: torch.dtype = torch.float32
) -> PI0ForConditionalGeneration:
    """Load the PI0 model of a checkpoint directory (safetensors unless pickle is allowed), offline, in eval mode."""
    check_checkpoint(directory, allow_pickle=allow_pickle)
    safetensors = (directory / WEIGHTS_FILE).is_file() or (directory / WEIGHTS_INDEX_FILE).is_file()
    try:
        model = PI0ForConditionalGeneration.from_pretrained(
            str(directory), local_files_only=True, use_safetensors=safetensors, dtype=dtype
        )
    except Exception as exc:  # transformers raises many types for corrupt or mismatched files
        raise CheckpointError(f"cannot load PI0 weights from {directory}: {type(exc).__name__}: {exc}") from exc
    return model.to(device).eval()


def load_tokenizer(directory: Path) -> Tokenizer:
    """The checkpoint's tokenizer.json."""
    path = Path(directory) / TOKENIZER_FILE
    try:
        return Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception for unreadable files
        raise CheckpointError(f"cannot read {path}: {exc}") from exc


def load_calibration(directory: Path) -> Calibration:
    """The checkpoint's dyq_calibration.json, or defaults (logged) when it has none."""
    path = Path(directory) / CALIBRATION_FILE
    if not path.is_file():
        _log.warning("checkpoint %s has no %s; using default P95 priors and thresholds", directory, CALIBRATION_FILE)
        return Calibration()
    try:
        return Calibration.load(path)
    except CalibrationError as exc:
        raise CheckpointError(str(exc)) from exc


def save_checkpoint(
    directory: Path,
    model: PI0ForConditionalGeneration,
    processor_config: ProcessorConfig,
    tokenizer: Tokenizer,
    calibration: Calibration | None = None,
) -> None:
    """Write a complete checkpoint directory (transformers files, tokenizer, processor, calibration)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(directory), safe_serialization=True)
    tokenizer.save(str(directory / TOKENIZER_FILE))
    processor_config.save(directory)
    (calibration or Calibration()).save(directory / CALIBRATION_FILE)
