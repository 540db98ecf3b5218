"""Many cheap first-move frames: the arm at a random pose in a new layout, labelled by the expert's next chunk.

In the demonstrations only the first steps of each episode (and of its transport) ask where the
*named* object is; every later frame can be solved by following the gripper in the image. With
1,400 episodes the policy memorises those few decisions instead of learning to find a colour
(docs/BENCHMARKS.md, ninth attempt). A start frame costs one render plus a chunk of unrendered
expert steps, so tens of thousands of layouts fit in minutes, as for the vision pretraining.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dyq_vla_ros.sim import PegInHoleEnv, ScriptedExpert
from dyq_vla_ros.training.data import Dataset, resize_image, task_targets
from dyq_vla_ros.training.vision import move_tool


@dataclass
class StartFrames:
    """One frame per layout with its label chunks; `frames` holds the frame and its first labels."""

    frames: Dataset
    goal_chunks: np.ndarray
    """[N, chunk, 7] the expert's tool targets over the chunk from that frame."""
    action_chunks: np.ndarray
    """[N, chunk, 7] the expert's deltas over the same steps."""


def record_start_frames(seeds: list[int], image_size: int, chunk: int, *, progress: bool = False) -> StartFrames:
    """A frame of each seed's layout with the open gripper moved to a random workspace point, and the expert's chunk."""
    from tqdm import tqdm

    env = PegInHoleEnv()
    n = len(seeds)
    images = np.empty((n, image_size, image_size, 3), np.uint8)
    states = np.empty((n, 7), np.float32)
    targets = np.empty((n, 4), np.float32)
    goals = np.empty((n, chunk, 7), np.float32)
    actions = np.empty((n, chunk, 7), np.float32)
    instructions = {}
    for i, seed in enumerate(tqdm(seeds, desc="start frames", unit="frame", disable=not progress)):
        env.reset(seed)
        move_tool(env, np.random.default_rng([seed, 11]))
        obs = env.observe()
        images[i] = resize_image(obs.image, image_size)
        states[i] = obs.joint_positions
        targets[i] = task_targets(env)
        instructions[seed] = env.instruction
        expert = ScriptedExpert(env)
        for k in range(chunk):
            actions[i, k] = expert.act()
            goals[i, k] = expert.goal
            env.step(actions[i, k], render=False)
    frames = Dataset(
        image=images,
        state=states,
        action=actions[:, 0].copy(),
        episode=np.asarray(seeds, np.int32),
        frame=np.zeros(n, np.int32),
        instructions=instructions,
        manifest={"generator": "start frames"},
        target=targets,
        goal=goals[:, 0].copy(),
    )
    return StartFrames(frames, goals, actions)
