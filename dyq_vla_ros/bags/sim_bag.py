"""Bags recorded from the built-in simulator's scripted expert (test fixtures, replay examples)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dyq_vla_ros import contract
from dyq_vla_ros.bags.record import TYPESTORE, BagRecorder, ros_time
from dyq_vla_ros.sim import JOINT_NAMES, PegInHoleEnv, ScriptedExpert, SimConfig

TOPIC_EXPERT_PHASE = "/sim/expert_phase"
"""std_msgs/String: the scripted expert's phase at each step (approach, transport, align, ...)."""
_T = TYPESTORE.types


def record_sim_bag(
    path: Path,
    seeds: Sequence[int],
    *,
    image_size: int = 64,
    rate_hz: float = 10.0,
    storage: str = "mcap",
    wrist: bool = True,
) -> Path:
    """Record expert episodes: cameras (rgb8), joint states, instruction and expert phase, one step per period."""
    env = PegInHoleEnv(SimConfig(image_width=image_size, image_height=image_size, wrist_camera=wrist))
    period = int(1e9 / rate_hz)
    t = 1_000_000_000
    with BagRecorder(path, storage=storage) as bag:
        for seed in seeds:
            obs = env.reset(seed)
            expert = ScriptedExpert(env)
            bag.write_message(contract.TOPIC_INSTRUCTION, _T["std_msgs/msg/String"](data=env.instruction), t)
            while True:
                joints = _T["sensor_msgs/msg/JointState"](
                    header=_T["std_msgs/msg/Header"](stamp=ros_time(t), frame_id=""),
                    name=list(JOINT_NAMES),
                    position=np.asarray(obs.joint_positions, np.float64),
                    velocity=np.zeros(0),
                    effort=np.zeros(0),
                )
                bag.write_message(contract.TOPIC_IMAGE, _image_msg(obs.image, t, "scene_camera"), t)
                if obs.wrist_image is not None:
                    bag.write_message(contract.TOPIC_WRIST_IMAGE, _image_msg(obs.wrist_image, t, "wrist_camera"), t)
                bag.write_message(contract.TOPIC_JOINT_STATES, joints, t)
                if env.done:
                    break
                action = expert.act()
                bag.write_message(TOPIC_EXPERT_PHASE, _T["std_msgs/msg/String"](data=expert.phase), t)
                obs = env.step(action)
                t += period
            t += 5 * period
    return Path(path)


def _image_msg(rgb: np.ndarray, t: int, frame_id: str) -> object:
    header = _T["std_msgs/msg/Header"](stamp=ros_time(t), frame_id=frame_id)
    h, w = rgb.shape[:2]
    return _T["sensor_msgs/msg/Image"](
        header=header, height=h, width=w, encoding="rgb8", is_bigendian=0, step=w * 3,
        data=np.ascontiguousarray(rgb).reshape(-1),
    )  # fmt: skip
