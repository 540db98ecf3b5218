"""Small types shared by every sub-package: precision modes, bit widths, the action layout."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

ACTION_NAMES: tuple[str, ...] = ("dx", "dy", "dz", "droll", "dpitch", "dyaw", "gripper")
"""The 7-D end-effector action layout (OpenVLA/LIBERO convention)."""

ACTION_DIM = len(ACTION_NAMES)
GRIPPER_INDEX = ACTION_NAMES.index("gripper")
"""Index of the gripper command (> 0 closes) in an end-effector action."""

BIT_WIDTHS: tuple[int, ...] = (2, 4, 8, 16)
"""Activation bit widths the controller can choose; 16 means unquantized activations."""

WEIGHT_BITS = 4

SIM_JOINT_NAMES: tuple[str, ...] = (
    "shoulder_pan_joint",
    "shoulder_lift_joint",
    "elbow_joint",
    "wrist_1_joint",
    "wrist_2_joint",
    "wrist_3_joint",
    "gripper_joint",
)
"""Joints of the built-in simulated arm (six revolute joints, then the gripper), the embedded model's state."""


class PrecisionMode(str, enum.Enum):
    """How the policy runs: full precision, a static W4AX mode, or dynamic switching."""

    FP = "fp"
    W4A16 = "w4a16"
    W4A8 = "w4a8"
    W4A4 = "w4a4"
    W4A2 = "w4a2"
    DYQ = "dyq"

    @property
    def quantized_weights(self) -> bool:
        """Whether this mode runs on the 4-bit weight copy."""
        return self is not PrecisionMode.FP

    @property
    def static_bits(self) -> int | None:
        """Activation bits of a static mode; None for the dynamic mode."""
        return _STATIC_BITS.get(self)

    @classmethod
    def parse(cls, value: str) -> PrecisionMode:
        """Return the mode named by value, or raise ValueError listing the valid names."""
        try:
            return cls(value.strip().lower())
        except ValueError:
            names = ", ".join(m.value for m in cls)
            raise ValueError(f"unknown precision mode {value!r}; expected one of: {names}") from None


_STATIC_BITS = {
    PrecisionMode.FP: 16,
    PrecisionMode.W4A16: 16,
    PrecisionMode.W4A8: 8,
    PrecisionMode.W4A4: 4,
    PrecisionMode.W4A2: 2,
}


SCENE_CAMERA = "scene"
WRIST_CAMERA = "wrist"
"""The built-in robot's cameras (and the embedded model's names for them)."""


@dataclass(frozen=True)
class Observation:
    """One policy input: an RGB image (H x W x 3 uint8) per camera name, the robot state, the instruction."""

    images: Mapping[str, np.ndarray]
    state: np.ndarray
    instruction: str

    @classmethod
    def scene_and_wrist(
        cls, image: np.ndarray, state: np.ndarray, instruction: str, wrist_image: np.ndarray | None = None
    ) -> Observation:
        """An observation of the built-in robot's scene camera and, when given, its wrist camera."""
        images = {SCENE_CAMERA: image}
        if wrist_image is not None:
            images[WRIST_CAMERA] = wrist_image
        return cls(images, state, instruction)
