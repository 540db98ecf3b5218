"""A scripted expert that solves peg-in-hole from privileged state, with optional action noise."""

from __future__ import annotations

import numpy as np

from dyq_vla_ros.kinematics import matrix_to_rotvec
from dyq_vla_ros.sim.env import MAX_ROTATION, MAX_TRANSLATION, PegInHoleEnv, tool_yaw
from dyq_vla_ros.sim.scene import BLOCK_HEIGHT, yaw_error

GRIP_HEIGHT = 0.035
"""Tool-tip height above a peg's bottom at which the expert closes the gripper."""
TRANSPORT_Z = 0.16
FINE_STEP = 0.004
FINE_RADIUS = 0.02
GRASP_FUNNEL = (0.008, np.deg2rad(8.0))
"""Tool-tip xy and yaw errors to the peg at which the descent funnel is at its top (the gripper
straddles a peg within 10 mm and 11.5 degrees)."""
GRASP_CLOSE = 0.75
"""Normalised grasp-funnel error (6 mm, 6 degrees) within which the gripper may close once the tip is down."""
INSERT_FUNNEL = (0.004, np.deg2rad(5.0))
"""Peg xy and yaw errors to the hole at which the insertion funnel is at its top: the task's tolerance."""


def funnel(error: float, floor: float = 0.4) -> float:
    """Height fraction of a descent funnel: 1 at or beyond the normalised error 1, 0 at or below floor."""
    return float(np.clip((error - floor) / (1.0 - floor), 0.0, 1.0))


def down_rotation(yaw: float) -> np.ndarray:
    """Tool orientation pointing straight down with its x axis at yaw."""
    x = np.array([np.cos(yaw), np.sin(yaw), 0.0])
    z = np.array([0.0, 0.0, -1.0])
    return np.stack([x, np.cross(z, x), z], axis=1)


class ScriptedExpert:
    """Decides each action afresh from the simulator state, so it also corrects injected noise.

    Coarse phases (approach, transport) move at up to MAX_TRANSLATION per step; fine phases
    (alignment, insertion) move at most FINE_STEP per step with millimetre targets. The last
    centimetres are funnels: the target height falls continuously as the xy and yaw errors shrink,
    so the label is a continuous function of the state (a threshold that sends the tool back up
    for a millimetre more error is a label no imitation learner can fit near the threshold).
    """

    def __init__(self, env: PegInHoleEnv) -> None:
        self.env = env
        self.phase = "approach"
        self.step_scale = MAX_TRANSLATION
        """Largest translation the last action allowed; injected noise scales with it."""
        self.goal = np.zeros(7)
        """The tool target behind the last action: [x, y, z, rotation vector from pointing down, gripper]."""

    def _toward(self, target: np.ndarray, yaw: float, max_step: float, gripper: float) -> np.ndarray:
        self.step_scale = max_step
        self.goal = np.array([*target, 0.0, 0.0, yaw, gripper])
        tool = self.env.tool_pose
        err = target - tool[:3, 3]
        norm = np.linalg.norm(err)
        d_pos = err if norm <= max_step else err * (max_step / norm)
        d_rot = np.clip(matrix_to_rotvec(down_rotation(yaw) @ tool[:3, :3].T), -MAX_ROTATION, MAX_ROTATION)
        return np.concatenate([np.clip(d_pos, -MAX_TRANSLATION, MAX_TRANSLATION), d_rot, [gripper]])

    def perturb(self, action: np.ndarray, noise_std: float, rng: np.random.Generator) -> np.ndarray:
        """A copy of action with Gaussian noise of noise_std times the last action's step size (none at 0)."""
        noisy = np.array(action, dtype=float, copy=True)
        if noise_std > 0.0:
            scale = self.step_scale / MAX_TRANSLATION
            noisy[:3] += rng.normal(0.0, noise_std * self.step_scale, 3)
            noisy[3:6] += rng.normal(0.0, noise_std * scale * MAX_ROTATION, 3)
        return noisy

    def act(self) -> np.ndarray:
        """The expert's action in the current state."""
        env = self.env
        scene, task = env.scene, env.task
        tool = env.tool_pose
        tip, yaw = tool[:3, 3], tool_yaw(tool)
        peg_i = scene.peg(task.peg_colour)
        peg = scene.pegs[peg_i]
        if env.success:
            self.phase = "release"
            self.goal = np.array([*tip, 0.0, 0.0, yaw, -1.0])
            return np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0])
        if env.held != peg_i:
            if env.closed:  # holding nothing useful: open and back off upward
                self.phase = "open"
                return self._toward(tip + np.array([0.0, 0.0, 0.02]), yaw, MAX_TRANSLATION, -1.0)
            want_yaw = yaw + yaw_error(peg.yaw, yaw)
            grasp = np.array([peg.pos[0], peg.pos[1], peg.pos[2] + GRIP_HEIGHT])
            xy_err = np.linalg.norm(tip[:2] - grasp[:2])
            hover = max(peg.top + 0.04, 0.12 if xy_err > 0.05 else 0.0)
            error = max(xy_err / GRASP_FUNNEL[0], abs(yaw - want_yaw) / GRASP_FUNNEL[1])
            if error >= 1.0:
                self.phase = "approach"
                z = hover if tip[2] < hover - 0.01 and xy_err > 0.02 else max(hover, grasp[2])
                return self._toward(np.array([grasp[0], grasp[1], z]), want_yaw, MAX_TRANSLATION, -1.0)
            z = grasp[2] + funnel(error) * (hover - grasp[2])
            if error > GRASP_CLOSE or tip[2] > grasp[2] + 0.003:
                self.phase = "descend"
                return self._toward(np.array([grasp[0], grasp[1], z]), want_yaw, MAX_TRANSLATION / 2, -1.0)
            self.phase = "grasp"
            return self._toward(grasp, want_yaw, FINE_STEP, 1.0)
        block = scene.blocks[scene.block(task.hole_colour)]
        want_yaw = yaw + yaw_error(block.yaw, peg.yaw)
        depth = env.grip_depth()
        xy_err = np.linalg.norm(block.xy - peg.pos[:2])
        # tool-tip target that puts the peg's centre over the hole's centre
        tip_xy = tip[:2] + (block.xy - peg.pos[:2])
        if xy_err > FINE_RADIUS:
            self.phase = "transport"
            z = TRANSPORT_Z if tip[2] < TRANSPORT_Z - 0.01 and xy_err > 0.05 else max(TRANSPORT_Z, tip[2])
            return self._toward(np.array([*tip_xy, z]), want_yaw, MAX_TRANSLATION, 1.0)
        error = max(xy_err / INSERT_FUNNEL[0], abs(yaw_error(block.yaw, peg.yaw)) / INSERT_FUNNEL[1])
        above = BLOCK_HEIGHT + 0.01 + depth
        # the peg bottom (height x 4 cm above the hole's floor) meets the block's top at error 0.825
        # (3.3 mm), inside the tolerance
        height = funnel(error, floor=0.3)
        self.phase = "insert" if height == 0.0 else "align"
        return self._toward(np.array([*tip_xy, depth + height * (above - depth)]), want_yaw, FINE_STEP, 1.0)


def run_expert_episode(
    env: PegInHoleEnv,
    seed: int,
    *,
    noise_std: float = 0.0,
    noise_rng: np.random.Generator | None = None,
    render: bool = False,
) -> tuple[bool, int]:
    """Roll out the expert on a seed; returns (success, steps).

    With noise_std > 0 the executed action gets Gaussian noise of noise_std times the current
    phase's step size (so fine phases get millimetre noise), while the expert keeps correcting.
    """
    env.reset(seed)
    expert = ScriptedExpert(env)
    rng = noise_rng or np.random.default_rng(seed)
    while not env.done:
        action = expert.perturb(expert.act(), noise_std, rng)
        if render:
            env.step(action)
        else:
            env.advance(action)
    return env.success, env.steps
