"""Many cheap first-move frames: the arm at a random pose in a new layout, labelled by the expert's next chunk.

In the demonstrations only the first steps of each episode (and of its transport) ask where the
*named* object is; every later frame can be solved by following the gripper in the image. With
1,400 episodes the policy memorises those few decisions instead of learning to find a colour
(docs/TRAINING_LOG.md). The same holds for the transport: after the grasp, only a
few frames ask where the *named* hole is. A start frame costs one render plus a chunk of unrendered
expert steps, so tens of thousands of layouts fit in minutes, as for the vision pretraining; a
share of them first lets the expert grasp the named peg (unrendered), then carries it to the
random pose, so that the label is the first move of a transport. A further share starts *near* the
target instead (tool within 3 cm of the named peg, or the held peg within 3 cm of the named hole,
at a random height and a yaw up to 20 degrees off): the last centimetres before a grasp or an
insertion, which the expert's own paths cross in one or two frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dyq_vla_ros.sim import PegInHoleEnv, ScriptedExpert, SimConfig
from dyq_vla_ros.sim.env import tool_yaw
from dyq_vla_ros.sim.scene import BLOCK_HEIGHT, yaw_error
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


GRASP_STEPS = 200
"""Expert steps allowed to grasp the named peg before a holding start frame falls back to an open one."""


def grasp_named_peg(env: PegInHoleEnv) -> bool:
    """Run the expert unrendered until it holds the named peg; whether it does."""
    expert, target = ScriptedExpert(env), env.scene.peg(env.task.peg_colour)
    for _ in range(GRASP_STEPS):
        if env.held == target:
            return True
        env.advance(expert.act())
    return False


NEAR_RADIUS = 0.03
"""Largest horizontal distance (m) of a near start frame from its target."""
NEAR_HEIGHT = (0.005, 0.06)
"""Height range (m) of a near start frame above the peg's top, or of the held peg's bottom above the block."""
NEAR_YAW = np.deg2rad(20.0)


def carry_to_random_pose(env: PegInHoleEnv, rng: np.random.Generator, carry: bool, near: bool = False) -> bool:
    """Move the gripper to a random pose, first grasping the named peg if `carry`; whether it holds it.

    The pose is anywhere in the workspace, or with `near` within NEAR_RADIUS of the next target (the
    named peg, or with the peg held the named hole), NEAR_HEIGHT above it and up to NEAR_YAW off its yaw.
    """
    carried = carry and grasp_named_peg(env)
    gripper = 1.0 if carried else -1.0
    if not near:
        move_tool(env, rng, gripper=gripper)
        return carried
    angle, radius = rng.uniform(0, 2 * np.pi), NEAR_RADIUS * np.sqrt(rng.uniform())
    shift = radius * np.array([np.cos(angle), np.sin(angle)])
    tip, yaw = env.tool_pose[:3, 3], tool_yaw(env.tool_pose)
    peg = env.target_peg
    if carried:
        block = env.target_block
        xy = tip[:2] + block.xy - peg.pos[:2] + shift
        z = BLOCK_HEIGHT + env.grip_depth() + rng.uniform(*NEAR_HEIGHT)
        turn = yaw_error(block.yaw, peg.yaw)
    else:
        xy, z = peg.pos[:2] + shift, peg.top + rng.uniform(*NEAR_HEIGHT)
        turn = yaw_error(peg.yaw, yaw)
    move_tool(env, rng, 30, gripper=gripper, goal=np.array([*xy, z]), turn=turn + rng.uniform(-NEAR_YAW, NEAR_YAW))
    return carried


def record_start_frames(
    seeds: list[int],
    image_size: int,
    chunk: int,
    *,
    holding: float = 0.0,
    near: float = 0.0,
    wrist: bool = False,
    progress: bool = False,
) -> StartFrames:
    """A frame of each seed's layout with the gripper moved to a random workspace point, and the expert's chunk.

    A `holding` share of the frames (drawn per seed) carry the named peg there, so that they start a transport;
    a `near` share start close to the next target instead (carry_to_random_pose). With `wrist` the frames also
    hold the wrist camera's image.
    """
    from tqdm import tqdm

    env = PegInHoleEnv(SimConfig(wrist_camera=wrist))
    n = len(seeds)
    images = np.empty((n, image_size, image_size, 3), np.uint8)
    wrists = np.empty((n, image_size, image_size, 3), np.uint8) if wrist else None
    states = np.empty((n, 7), np.float32)
    targets = np.empty((n, 4), np.float32)
    goals = np.empty((n, chunk, 7), np.float32)
    actions = np.empty((n, chunk, 7), np.float32)
    instructions = {}
    for i, seed in enumerate(tqdm(seeds, desc="start frames", unit="frame", disable=not progress)):
        env.reset(seed)
        rng = np.random.default_rng([seed, 11])
        carry = rng.random() < holding
        carry_to_random_pose(env, rng, carry, near=near > 0 and rng.random() < near)
        obs = env.observe()
        images[i] = resize_image(obs.image, image_size)
        if wrists is not None:
            wrists[i] = resize_image(obs.wrist_image, image_size)
        states[i] = obs.joint_positions
        targets[i] = task_targets(env)
        instructions[seed] = env.instruction
        expert = ScriptedExpert(env)
        for k in range(chunk):
            actions[i, k] = expert.act()
            goals[i, k] = expert.goal
            env.advance(actions[i, k])
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
        wrist=wrists,
    )
    return StartFrames(frames, goals, actions)
