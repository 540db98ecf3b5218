"""Training labels and statistics from a dataset: normalisation, action-space labels, priors, auxiliary targets."""

from __future__ import annotations

import numpy as np

from dyq_vla_ros.dyq.calibration import Calibration, action_magnitudes, joint_magnitudes, p95_priors
from dyq_vla_ros.policy.action_space import (
    TARGET_SPACES,
    TOOL_OFFSET,
    TOOL_TARGET,
    check_action_space,
    targets_to_offsets,
)
from dyq_vla_ros.policy.format_dyq import ProcessorConfig
from dyq_vla_ros.policy.state_features import JOINTS_AND_TOOL, state_features
from dyq_vla_ros.sim.env import MAX_ROTATION, MAX_TRANSLATION
from dyq_vla_ros.sim.scene import sample_scene
from dyq_vla_ros.training.data import Dataset
from dyq_vla_ros.training.errors import DatasetError
from dyq_vla_ros.training.vision import four_fold
from dyq_vla_ros.types import SCENE_CAMERA, WRIST_CAMERA

SIM_CONTROL_PERIOD_S = 0.1
"""The simulator's step, used for the joint-state normalisers (demonstrations step at 10 Hz)."""


def processor_config(
    data: Dataset, features: str = JOINTS_AND_TOOL, action_space: str = TOOL_TARGET, offset_scale: float = 0.0
) -> ProcessorConfig:
    """Normalisation statistics of a dataset's (featurised) states and its labels in the chosen action space."""

    def stats(x: np.ndarray) -> tuple[list[float], list[float]]:
        return x.mean(0).astype(float).tolist(), np.maximum(x.std(0), 1e-3).astype(float).tolist()

    state_mean, state_std = stats(state_features(features, data.state))
    scale = offset_scale if action_space == TOOL_OFFSET else 0.0
    action_mean, action_std = stats(action_labels(data, action_space, scale))
    return ProcessorConfig(
        state_dim=data.state.shape[1],
        action_dim=data.action.shape[1],
        state_mean=state_mean,
        state_std=state_std,
        action_mean=action_mean,
        action_std=action_std,
        joint_names=list(data.manifest["joint_names"]),
        state_features=features,
        action_space=action_space,
        max_translation=MAX_TRANSLATION,
        max_rotation=MAX_ROTATION,
        cameras=[SCENE_CAMERA, WRIST_CAMERA] if data.wrist is not None else [SCENE_CAMERA],
        offset_scale=scale,
    )


def action_labels(data: Dataset, action_space: str, offset_scale: float = 0.0) -> np.ndarray:
    """Per-frame labels [N, 7]: the expert's deltas, its tool targets, or those relative to the tool."""
    check_action_space(action_space)
    if action_space not in TARGET_SPACES:
        return data.action
    if data.goal is None:
        raise DatasetError("tool-target training needs a dataset with goals (format 3); regenerate it with gen-data")
    return label_chunks(data.goal[:, None], data.state, action_space, offset_scale)[:, 0]


def label_chunks(goal_chunks: np.ndarray, states: np.ndarray, action_space: str, offset_scale: float) -> np.ndarray:
    """[N, K, 7] tool-target chunks in the model's action space (offsets are relative to each frame's tool)."""
    if action_space != TOOL_OFFSET:
        return goal_chunks
    return targets_to_offsets(goal_chunks, states, offset_scale)


def dataset_calibration(data: Dataset) -> Calibration:
    """P95 priors of both proxy sources from the demonstrations (thresholds stay at their defaults)."""
    episodes = [idx for idx in data.episodes() if len(idx) >= 4]
    if not episodes:
        raise DatasetError("no episode of 4 or more frames to calibrate from")
    return Calibration(
        action=p95_priors(action_magnitudes(data.action[idx]) for idx in episodes),
        joint_state=p95_priors(
            joint_magnitudes(data.state[idx], np.arange(len(idx)) * SIM_CONTROL_PERIOD_S) for idx in episodes
        ),
    )


def auxiliary_targets(data: Dataset) -> np.ndarray | None:
    """Per frame: named peg and hole xy, hole yaw and (NaN once moved) peg yaw; yaws as (cos 4y, sin 4y)."""
    if data.target is None:
        return None
    start = {}
    for seed in data.instructions:
        scene, task = sample_scene(np.random.default_rng(seed))
        peg = scene.pegs[scene.peg(task.peg_colour)]
        start[seed] = (peg.pos[0], peg.pos[1], peg.yaw, scene.blocks[scene.block(task.hole_colour)].yaw)
    first = np.array([start[int(e)] for e in data.episode])
    unmoved = np.all(np.abs(data.target[:, :2] - first[:, :2]) < 1e-6, axis=1)
    peg_yaw = np.where(unmoved, first[:, 2], np.nan)
    four = np.concatenate([four_fold(first[:, 3]), four_fold(peg_yaw)], 1)
    return np.concatenate([data.target, four], 1).astype(np.float32)
