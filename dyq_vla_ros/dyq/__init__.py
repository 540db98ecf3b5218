"""DyQ core: kinematic proxies, the precision controller and calibration (numpy only)."""

from dyq_vla_ros.dyq.calibration import (
    CALIBRATION_FILE,
    Calibration,
    NormaliserPriors,
    action_magnitudes,
    joint_magnitudes,
    p95_priors,
)
from dyq_vla_ros.dyq.controller import FlowStepController, PrecisionController, Thresholds
from dyq_vla_ros.dyq.errors import CalibrationError, DyqError, ProxyInputError
from dyq_vla_ros.dyq.policy_signals import DisagreementSignal, GripperSignal
from dyq_vla_ros.dyq.proxies import (
    ActionProxies,
    JointCommandProxies,
    JointStateProxies,
    ProxySample,
    RunningP95,
    SensitivityEstimator,
)

__all__ = [
    "CALIBRATION_FILE",
    "ActionProxies",
    "Calibration",
    "CalibrationError",
    "DisagreementSignal",
    "DyqError",
    "FlowStepController",
    "GripperSignal",
    "JointCommandProxies",
    "JointStateProxies",
    "NormaliserPriors",
    "PrecisionController",
    "ProxyInputError",
    "ProxySample",
    "RunningP95",
    "SensitivityEstimator",
    "Thresholds",
    "action_magnitudes",
    "joint_magnitudes",
    "p95_priors",
]
