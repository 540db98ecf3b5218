"""Checkpoint directories in any accepted layout: detection, validation with file-naming errors, load and save."""

from __future__ import annotations

import enum
import logging
from pathlib import Path

import torch
from tokenizers import Tokenizer
from transformers import PI0Config, PI0ForConditionalGeneration

from dyq_vla_ros.dyq.calibration import CALIBRATION_FILE, Calibration
from dyq_vla_ros.dyq.errors import CalibrationError
from dyq_vla_ros.policy.errors import CheckpointError
from dyq_vla_ros.policy.format_dyq import PROCESSOR_FILE, TOKENIZER_FILE, ProcessorConfig
from dyq_vla_ros.policy.format_lerobot import (
    POSTPROCESSOR_FILE,
    PREPROCESSOR_FILE,
    LeRobotSizes,
    is_lerobot,
    lerobot_spec,
)
from dyq_vla_ros.policy.format_lerobot import model_config as lerobot_model_config
from dyq_vla_ros.policy.format_transformers import PROCESSOR_CONFIG_FILE, transformers_spec
from dyq_vla_ros.policy.processor_pi0 import Pi0Processor

EMBEDDED_MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "dyq_tiny_pi0"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX_FILE = "model.safetensors.index.json"
PICKLE_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json", "model.pt", "model.pth")


class CheckpointFormat(str, enum.Enum):
    """The checkpoint directory layouts model_path accepts."""

    DYQ = "dyq"
    """The project's own: config.json, model.safetensors, tokenizer.json, dyq_processor.json."""
    TRANSFORMERS = "transformers"
    """PI0ForConditionalGeneration.save_pretrained + PI0Processor.save_pretrained."""
    LEROBOT = "lerobot"
    """A LeRobot pi0 policy directory (config.json with "type": "pi0")."""


REQUIRED_FILES = {
    CheckpointFormat.DYQ: (CONFIG_FILE, TOKENIZER_FILE, PROCESSOR_FILE),
    CheckpointFormat.TRANSFORMERS: (CONFIG_FILE, PROCESSOR_CONFIG_FILE, TOKENIZER_FILE),
    CheckpointFormat.LEROBOT: (CONFIG_FILE, PREPROCESSOR_FILE, POSTPROCESSOR_FILE),
}

_log = logging.getLogger(__name__)


def detect_format(directory: Path) -> CheckpointFormat:
    """Which layout a checkpoint directory has, from its files; CheckpointError when none fits."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"model_path {directory} is not a directory")
    if not (directory / CONFIG_FILE).is_file():
        raise CheckpointError(f"checkpoint {directory} is missing {CONFIG_FILE}")
    if is_lerobot(directory):
        return CheckpointFormat.LEROBOT
    if (directory / PROCESSOR_CONFIG_FILE).is_file():
        return CheckpointFormat.TRANSFORMERS
    if (directory / PROCESSOR_FILE).is_file():
        return CheckpointFormat.DYQ
    raise CheckpointError(
        f"checkpoint {directory} has a {CONFIG_FILE} but no processor files: expected {PROCESSOR_CONFIG_FILE} "
        f"(transformers' PI0Processor.save_pretrained), {PREPROCESSOR_FILE} (a LeRobot pi0 policy) or "
        f"{PROCESSOR_FILE} (this project's layout)"
    )


def resolve_model_path(model_path: str | Path | None) -> Path:
    """The checkpoint directory to load: model_path, or the embedded model when empty."""
    if model_path is None or str(model_path).strip() == "":
        return EMBEDDED_MODEL_DIR
    return Path(model_path).expanduser().resolve()


def check_checkpoint(directory: Path, *, allow_pickle: bool = False) -> CheckpointFormat:
    """The directory's layout; CheckpointError naming the first missing or unusable file."""
    directory = Path(directory)
    fmt = detect_format(directory)
    for name in REQUIRED_FILES[fmt]:
        if not (directory / name).is_file():
            raise CheckpointError(f"checkpoint {directory} ({fmt.value} layout) is missing {name}")
    if not (directory / WEIGHTS_FILE).is_file() and not (directory / WEIGHTS_INDEX_FILE).is_file():
        pickles = [name for name in PICKLE_FILES if (directory / name).exists()]
        if pickles and allow_pickle:
            _log.warning("loading pickle weights %s from %s as explicitly allowed", pickles, directory)
            return fmt
        if pickles:
            raise CheckpointError(
                f"checkpoint {directory} holds only pickle weights ({', '.join(pickles)}); they can run code when "
                f"loaded and are refused. Convert them to {WEIGHTS_FILE} (safetensors) with save_pretrained(), "
                "or allow them explicitly (allow_pickle_weights)."
            )
        raise CheckpointError(f"checkpoint {directory} is missing {WEIGHTS_FILE}")
    return fmt


def load_model_config(directory: Path, fmt: CheckpointFormat, sizes: LeRobotSizes | None = None) -> PI0Config:
    """The PI0Config of a checkpoint (from LeRobot's variants for a LeRobot directory)."""
    if fmt is CheckpointFormat.LEROBOT:
        return lerobot_model_config(directory, sizes)
    try:
        return PI0Config.from_pretrained(str(directory), local_files_only=True)
    except Exception as exc:  # transformers raises many types for broken configs
        raise CheckpointError(f"cannot read {Path(directory) / CONFIG_FILE}: {type(exc).__name__}: {exc}") from exc


def load_processor(
    directory: Path, fmt: CheckpointFormat, model_config: PI0Config, *, tokenizer_path: str = ""
) -> Pi0Processor:
    """The checkpoint's processor: its statistics, tokenizer, cameras and what its state and actions mean."""
    if fmt is CheckpointFormat.LEROBOT:
        spec, tokenizer = lerobot_spec(directory, model_config, tokenizer_path=tokenizer_path)
    elif fmt is CheckpointFormat.TRANSFORMERS:
        spec, tokenizer = transformers_spec(directory, model_config)
    else:
        tokenizer = load_tokenizer(directory)
        spec = ProcessorConfig.load(directory).spec(model_config, tokenizer)
    return Pi0Processor(spec, tokenizer)


def load_pi0_model(
    directory: Path,
    device: torch.device,
    *,
    allow_pickle: bool = False,
    dtype: torch.dtype = torch.float32,
    config: PI0Config | None = None,
) -> PI0ForConditionalGeneration:
    """Load the PI0 model of a checkpoint directory (safetensors unless pickle is allowed), offline, in eval mode."""
    check_checkpoint(directory, allow_pickle=allow_pickle)
    safetensors = (directory / WEIGHTS_FILE).is_file() or (directory / WEIGHTS_INDEX_FILE).is_file()
    extra = {} if config is None else {"config": config}
    try:
        model = PI0ForConditionalGeneration.from_pretrained(
            str(directory), local_files_only=True, use_safetensors=safetensors, dtype=dtype, **extra
        )
    except Exception as exc:  # transformers raises many types for corrupt or mismatched files
        raise CheckpointError(f"cannot load PI0 weights from {directory}: {type(exc).__name__}: {exc}") from exc
    return model.to(device).eval()


def load_tokenizer(directory: Path) -> Tokenizer:
    """The tokenizer.json of a checkpoint in the project's layout."""
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
