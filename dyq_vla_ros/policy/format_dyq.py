"""The project's own checkpoint layout: dyq_processor.json beside a transformers PI0 and a word-level tokenizer.

`dyq_processor.json` is also read, as optional extras, beside transformers and LeRobot checkpoints:
there it may say what the state and the actions mean for this robot (`state_features`,
`action_space` with its step limits, `joint_names`, `cameras`), while the normalisation statistics
stay those the checkpoint itself ships.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

from dyq_vla_ros.policy.action_space import DELTA
from dyq_vla_ros.policy.errors import CheckpointError
from dyq_vla_ros.policy.images import ImageSpec
from dyq_vla_ros.policy.normalization import Normalizer, NormMode
from dyq_vla_ros.policy.processor_pi0 import SCENE_CAMERA, ProcessorSpec, TextSpec, check_semantics
from dyq_vla_ros.policy.state_features import JOINTS, feature_dim

PROCESSOR_FILE = "dyq_processor.json"
TOKENIZER_FILE = "tokenizer.json"
SPECIAL_TOKENS = ("<pad>", "<unk>", "<bos>")
EXTRA_FIELDS = (
    "state_features",
    "action_space",
    "max_translation",
    "max_rotation",
    "offset_scale",
    "joint_names",
    "cameras",
)
"""The dyq_processor.json fields that apply beside a transformers or LeRobot checkpoint."""


def build_word_tokenizer(words: list[str] | tuple[str, ...]) -> Tokenizer:
    """A lower-casing word-level tokenizer over SPECIAL_TOKENS + words (ids in that order)."""
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for word in words:
        vocab.setdefault(word.lower(), len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return tok


@dataclass
class ProcessorConfig:
    """Normalisation statistics and sizes stored beside a checkpoint as dyq_processor.json."""

    state_dim: int
    action_dim: int
    state_mean: list[float]
    state_std: list[float]
    action_mean: list[float]
    action_std: list[float]
    max_text_tokens: int = 16
    image_mean: list[float] = field(default_factory=lambda: [0.5, 0.5, 0.5])
    image_std: list[float] = field(default_factory=lambda: [0.5, 0.5, 0.5])
    joint_names: list[str] = field(default_factory=list)
    state_features: str = JOINTS
    """What the model's state holds, derived from the joint positions (one of state_features.STATE_FEATURES)."""
    action_space: str = DELTA
    """What the model's actions are (policy.action_space): deltas, tool targets or offsets, joint positions."""
    max_translation: float = 0.02
    """With tool targets: the most the tool moves per step (m, norm)."""
    max_rotation: float = 0.1
    """With tool targets: the most the tool turns per step and axis (rad)."""
    cameras: list[str] = field(default_factory=lambda: [SCENE_CAMERA])
    """The images the model takes, by camera name, in order."""
    offset_scale: float = 0.0
    """With tool offsets: the compander's scale in metres (policy.action_space.compand); 0 keeps them linear."""

    def __post_init__(self) -> None:
        check_semantics(
            self.state_features, self.state_dim, self.action_space, self.action_dim,
            self.max_translation, self.max_rotation, where=PROCESSOR_FILE,
        )  # fmt: skip
        if not self.cameras or len(set(self.cameras)) != len(self.cameras):
            raise CheckpointError(f"{PROCESSOR_FILE}: cameras must be distinct names, at least one, got {self.cameras}")
        if not self.offset_scale >= 0:
            raise CheckpointError(f"{PROCESSOR_FILE}: offset_scale must be >= 0, got {self.offset_scale}")
        for name, dim in (("state", self.model_state_dim), ("action", self.action_dim)):
            for stat in ("mean", "std"):
                values = getattr(self, f"{name}_{stat}")
                if len(values) != dim:
                    raise CheckpointError(f"{PROCESSOR_FILE}: {name}_{stat} has {len(values)} values, expected {dim}")
            if any(s <= 0 for s in getattr(self, f"{name}_std")):
                raise CheckpointError(f"{PROCESSOR_FILE}: {name}_std must be positive")
        if self.max_text_tokens < 1:
            raise CheckpointError(f"{PROCESSOR_FILE}: max_text_tokens must be >= 1")

    @property
    def model_state_dim(self) -> int:
        """Length of the state vector the model sees (state_dim joints, plus the tool pose if configured)."""
        return feature_dim(self.state_features, self.state_dim)

    @classmethod
    def identity(cls, state_dim: int, action_dim: int, **kwargs: object) -> ProcessorConfig:
        """Zero-mean unit-std statistics (for untrained models)."""
        n = feature_dim(str(kwargs.get("state_features", JOINTS)), state_dim)
        return cls(
            state_dim=state_dim,
            action_dim=action_dim,
            state_mean=[0.0] * n,
            state_std=[1.0] * n,
            action_mean=[0.0] * action_dim,
            action_std=[1.0] * action_dim,
            **kwargs,  # type: ignore[arg-type]
        )

    def save(self, directory: Path) -> None:
        """Write dyq_processor.json into directory."""
        (Path(directory) / PROCESSOR_FILE).write_text(json.dumps({"version": 1, **asdict(self)}, indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path) -> ProcessorConfig:
        """Read dyq_processor.json from directory."""
        data = read_json(Path(directory) / PROCESSOR_FILE)
        data.pop("version", None)
        try:
            return cls(**data)
        except TypeError as exc:
            raise CheckpointError(f"{Path(directory) / PROCESSOR_FILE}: bad fields: {exc}") from exc

    def spec(self, model_config: object, tokenizer: Tokenizer) -> ProcessorSpec:
        """The processor spec of this file for a transformers PI0Config."""
        vlm = model_config.vlm_config  # type: ignore[attr-defined]
        vision = vlm.vision_config
        return ProcessorSpec(
            cameras=tuple(self.cameras),
            image=ImageSpec(vision.image_size, mean=tuple(self.image_mean), std=tuple(self.image_std)),  # type: ignore[arg-type]
            image_tokens=(vision.image_size // vision.patch_size) ** 2,
            image_token_id=vlm.image_token_id,
            text=TextSpec(
                bos_id=_token(tokenizer, "<bos>"), pad_id=_token(tokenizer, "<pad>"), length=self.max_text_tokens + 1
            ),
            state_dim=self.state_dim,
            state_norm=Normalizer.from_stats(
                NormMode.MEAN_STD, {"mean": self.state_mean, "std": self.state_std}, eps=0.0, what=PROCESSOR_FILE
            ),
            action_dim=self.action_dim,
            action_norm=Normalizer.from_stats(
                NormMode.MEAN_STD, {"mean": self.action_mean, "std": self.action_std}, eps=0.0, what=PROCESSOR_FILE
            ),
            max_state_dim=model_config.max_state_dim,  # type: ignore[attr-defined]
            max_action_dim=model_config.max_action_dim,  # type: ignore[attr-defined]
            state_features=self.state_features,
            action_space=self.action_space,
            joint_names=tuple(self.joint_names),
            max_translation=self.max_translation,
            max_rotation=self.max_rotation,
            offset_scale=self.offset_scale,
            source=PROCESSOR_FILE,
        )


def read_json(path: Path) -> dict:
    """A JSON object from a checkpoint file; CheckpointError names the file when it is missing or broken."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint is missing {Path(path).name} ({path})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return data


def read_extras(directory: Path) -> dict[str, object]:
    """The optional dyq_processor.json fields beside a transformers or LeRobot checkpoint ({} when absent)."""
    path = Path(directory) / PROCESSOR_FILE
    if not path.is_file():
        return {}
    data = read_json(path)
    unknown = sorted(set(data) - set(EXTRA_FIELDS) - {"version"})
    if unknown:
        raise CheckpointError(
            f"{path}: beside this checkpoint only {', '.join(EXTRA_FIELDS)} apply (its own files hold the "
            f"statistics); unexpected: {', '.join(unknown)}"
        )
    data.pop("version", None)
    return data


def _token(tokenizer: Tokenizer, text: str) -> int:
    token = tokenizer.token_to_id(text)
    if token is None:
        raise CheckpointError(f"the checkpoint's tokenizer has no {text} token")
    return int(token)
