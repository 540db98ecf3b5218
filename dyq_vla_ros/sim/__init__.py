"""Built-in tabletop simulator: 6-DoF arm, camera, peg-in-hole tasks, scripted expert (numpy/OpenCV)."""

from dyq_vla_ros.kinematics import ArmModel
from dyq_vla_ros.sim.env import (
    JOINT_NAMES,
    MAX_ROTATION,
    MAX_TRANSLATION,
    Observation,
    PegInHoleEnv,
    SimConfig,
)
from dyq_vla_ros.sim.errors import SimError
from dyq_vla_ros.sim.expert import ScriptedExpert, run_expert_episode
from dyq_vla_ros.sim.scene import COLOURS, Task
from dyq_vla_ros.sim.seeds import (
    CALIBRATION_SEED_BASE,
    EVAL_SEED_BASE,
    calibration_seeds,
    eval_seeds,
    is_eval_seed,
    train_seeds,
)

__all__ = [
    "CALIBRATION_SEED_BASE",
    "COLOURS",
    "EVAL_SEED_BASE",
    "JOINT_NAMES",
    "MAX_ROTATION",
    "MAX_TRANSLATION",
    "ArmModel",
    "Observation",
    "PegInHoleEnv",
    "ScriptedExpert",
    "SimConfig",
    "SimError",
    "Task",
    "calibration_seeds",
    "eval_seeds",
    "is_eval_seed",
    "run_expert_episode",
    "train_seeds",
]
