"""transformers-native PI0 directories: `save_pretrained` of the model and of its PI0Processor.

The processor's files are read as saved (processor_config.json with the statistics, the chunk size
and the image processor's settings; tokenizer.json and tokenizer_config.json) rather than through
`PI0Processor.from_pretrained`, whose image processor needs torchvision.
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer

from dyq_vla_ros.policy.action_space import JOINT_POSITION
from dyq_vla_ros.policy.errors import CheckpointError
from dyq_vla_ros.policy.format_dyq import read_extras, read_json
from dyq_vla_ros.policy.images import ImageSpec, Resize
from dyq_vla_ros.policy.normalization import Normalizer, NormMode
from dyq_vla_ros.policy.processor_pi0 import SCENE_CAMERA, ProcessorSpec, TextSpec
from dyq_vla_ros.policy.state_features import JOINTS

PROCESSOR_CONFIG_FILE = "processor_config.json"
PREPROCESSOR_CONFIG_FILE = "preprocessor_config.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
TOKENIZER_FILE = "tokenizer.json"
PROMPT_LENGTH = 48
"""PI0Processor's text default: the whole prompt right-padded to 48 tokens (not saved with it)."""
EPS = 1e-8
"""PI0Processor's: state = (x - mean) / (std + 1e-8)."""


def _token_text(value: object) -> str | None:
    if isinstance(value, dict):  # older tokenizer configs store AddedToken dicts
        value = value.get("content")
    return value if isinstance(value, str) else None


def load_tokenizer_files(directory: Path) -> tuple[Tokenizer, str, str]:
    """(tokenizer, bos token, pad token) of a directory holding tokenizer.json and tokenizer_config.json."""
    directory = Path(directory)
    path = directory / TOKENIZER_FILE
    if not path.is_file():
        raise CheckpointError(f"{directory} has no {TOKENIZER_FILE}")
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception for unreadable files
        raise CheckpointError(f"cannot read {path}: {exc}") from exc
    config = read_json(directory / TOKENIZER_CONFIG_FILE) if (directory / TOKENIZER_CONFIG_FILE).is_file() else {}
    bos = _token_text(config.get("bos_token")) or "<bos>"
    pad = _token_text(config.get("pad_token")) or "<pad>"
    for name, token in (("bos_token", bos), ("pad_token", pad)):
        if tokenizer.token_to_id(token) is None:
            raise CheckpointError(f"{path}: the tokenizer has no {name} {token!r}")
    return tokenizer, bos, pad


def _stats(data: dict, key: str, path: Path) -> list[float]:
    values = data.get(key)
    if not isinstance(values, list) or not values:
        raise CheckpointError(
            f"{path}: {key} is missing or empty; save the PI0Processor with the dataset's statistics "
            "(PI0Processor(..., state_mean=..., state_std=..., actions_mean=..., actions_std=...))"
        )
    return [float(v) for v in values]


def transformers_spec(directory: Path, model_config: object) -> tuple[ProcessorSpec, Tokenizer]:
    """The processor spec and tokenizer of a transformers-native PI0 directory (dyq_processor.json extras applied)."""
    directory = Path(directory)
    path = directory / PROCESSOR_CONFIG_FILE
    data = read_json(path)
    image = data.get("image_processor")
    if image is None and (directory / PREPROCESSOR_CONFIG_FILE).is_file():  # the pre-v5 layout
        image = read_json(directory / PREPROCESSOR_CONFIG_FILE)
    if not isinstance(image, dict):
        raise CheckpointError(f"{path} has no image_processor settings (nor {PREPROCESSOR_CONFIG_FILE})")
    vision = model_config.vlm_config.vision_config  # type: ignore[attr-defined]
    size = int((image.get("pad_size") or {}).get("height") or (image.get("size") or {}).get("max_height") or 0)
    if size != vision.image_size:
        raise CheckpointError(
            f"{path}: the image processor makes {size} px images, the model takes {vision.image_size}"
        )
    tokens = int(image.get("image_seq_length") or (vision.image_size // vision.patch_size) ** 2)
    chunk = data.get("chunk_size")
    if chunk is not None and int(chunk) != model_config.chunk_size:  # type: ignore[attr-defined]
        raise CheckpointError(f"{path}: chunk_size {chunk} differs from config.json's {model_config.chunk_size}")  # type: ignore[attr-defined]
    tokenizer, bos, pad = load_tokenizer_files(directory)
    extras = read_extras(directory)
    state_mean, state_std = _stats(data, "state_mean", path), _stats(data, "state_std", path)
    action_mean, action_std = _stats(data, "actions_mean", path), _stats(data, "actions_std", path)
    mean = tuple(float(v) for v in image.get("image_mean", (0.5, 0.5, 0.5)))
    std = tuple(float(v) for v in image.get("image_std", (0.5, 0.5, 0.5)))
    return (
        ProcessorSpec(
            cameras=tuple(extras.get("cameras", (SCENE_CAMERA,))),  # type: ignore[arg-type]
            image=ImageSpec(size, Resize.PAD_BOTTOM_RIGHT, mean, std),  # type: ignore[arg-type]
            image_tokens=tokens,
            image_token_id=model_config.vlm_config.image_token_id,  # type: ignore[attr-defined]
            text=TextSpec(
                bos_id=int(tokenizer.token_to_id(bos)),
                pad_id=int(tokenizer.token_to_id(pad)),
                suffix="\n",
                pad_total=PROMPT_LENGTH,
            ),
            state_dim=len(state_mean),
            state_norm=Normalizer.from_stats(
                NormMode.MEAN_STD, {"mean": state_mean, "std": state_std}, eps=EPS, what=str(path)
            ),
            action_dim=len(action_mean),
            action_norm=Normalizer.from_stats(
                NormMode.MEAN_STD, {"mean": action_mean, "std": action_std}, eps=EPS, what=str(path)
            ),
            max_state_dim=model_config.max_state_dim,  # type: ignore[attr-defined]
            max_action_dim=model_config.max_action_dim,  # type: ignore[attr-defined]
            state_features=str(extras.get("state_features", JOINTS)),
            action_space=str(extras.get("action_space", JOINT_POSITION)),
            joint_names=tuple(extras.get("joint_names", ())),  # type: ignore[arg-type]
            max_translation=float(extras.get("max_translation", 0.02)),  # type: ignore[arg-type]
            max_rotation=float(extras.get("max_rotation", 0.1)),  # type: ignore[arg-type]
            offset_scale=float(extras.get("offset_scale", 0.0)),  # type: ignore[arg-type]
            source=str(path),
        ),
        tokenizer,
    )
