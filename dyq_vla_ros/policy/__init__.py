"""Policy interface and the PI0 policy (transformers), its processor and checkpoint loading."""

from dyq_vla_ros.policy.base import Observation, Policy
from dyq_vla_ros.policy.checkpoint import (
    EMBEDDED_MODEL_DIR,
    CheckpointFormat,
    check_checkpoint,
    detect_format,
    resolve_model_path,
    save_checkpoint,
)
from dyq_vla_ros.policy.configuration_pi0 import Pi0PolicyConfig, TinyPi0Architecture
from dyq_vla_ros.policy.embedded import DEFAULT_JOINT_NAMES, create_random_checkpoint
from dyq_vla_ros.policy.errors import CheckpointError, ObservationError, PolicyError
from dyq_vla_ros.policy.format_dyq import ProcessorConfig, build_word_tokenizer
from dyq_vla_ros.policy.modeling_pi0 import Pi0Policy, resolve_device
from dyq_vla_ros.policy.processor_pi0 import Pi0Processor, ProcessorSpec

__all__ = [
    "DEFAULT_JOINT_NAMES",
    "EMBEDDED_MODEL_DIR",
    "CheckpointError",
    "CheckpointFormat",
    "Observation",
    "ObservationError",
    "Pi0Policy",
    "Pi0PolicyConfig",
    "Pi0Processor",
    "Policy",
    "PolicyError",
    "ProcessorConfig",
    "ProcessorSpec",
    "TinyPi0Architecture",
    "build_word_tokenizer",
    "check_checkpoint",
    "create_random_checkpoint",
    "detect_format",
    "resolve_device",
    "resolve_model_path",
    "save_checkpoint",
]
