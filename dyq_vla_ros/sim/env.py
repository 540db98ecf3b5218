"""The peg-in-hole environment: 7-D end-effector delta actions in, camera image and joint states out.

Actions follow the OpenVLA/LIBERO convention [dx, dy, dz, droll, dpitch, dyaw, gripper] in the
base frame, in metres and radians per control step; gripper > 0 closes, <= 0 opens. A peg can
only enter a hole when it is aligned within the task's position and yaw tolerance; otherwise it
rests on the block. Success: the named peg at least `insert_depth` deep in the named hole.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dyq_vla_ros.kinematics import ARM_JOINT_NAMES, GRIPPER_JOINT_NAME, ArmModel
from dyq_vla_ros.sim.errors import SimError
from dyq_vla_ros.sim.renderer import Renderer, scene_camera, wrist_camera
from dyq_vla_ros.sim.scene import (
    BLOCK_HEIGHT,
    PEG_SIDE,
    HoleBlock,
    Peg,
    Scene,
    Task,
    sample_scene,
    yaw_error,
)

JOINT_NAMES: tuple[str, ...] = (*ARM_JOINT_NAMES, GRIPPER_JOINT_NAME)
MAX_TRANSLATION = 0.02
"""Largest tool translation per step and axis (m)."""
MAX_ROTATION = 0.1
"""Largest tool rotation per step and axis (rad)."""
GRIPPER_MAX_GAP = 0.045


@dataclass(frozen=True)
class SimConfig:
    """Episode length and camera resolutions."""

    max_steps: int = 200
    image_width: int = 128
    image_height: int = 128
    wrist_camera: bool = False
    wrist_width: int = 96
    wrist_height: int = 96


@dataclass(frozen=True)
class Observation:
    """What the robot senses after a step."""

    image: np.ndarray
    joint_positions: np.ndarray
    tool_pose: np.ndarray
    wrist_image: np.ndarray | None = None


def tool_yaw(pose: np.ndarray) -> float:
    """Yaw of the tool's x axis in the base frame."""
    return float(np.arctan2(pose[1, 0], pose[0, 0]))


def peg_pose(peg: Peg) -> np.ndarray:
    """World transform of a peg's bottom centre."""
    t = np.eye(4)
    c, s = np.cos(peg.yaw), np.sin(peg.yaw)
    t[:2, :2] = [[c, -s], [s, c]]
    t[:3, 3] = peg.pos
    return t


class PegInHoleEnv:
    """Language-conditioned peg-in-hole on a tabletop with a 6-DoF arm and a parallel gripper."""

    def __init__(self, config: SimConfig | None = None, arm: ArmModel | None = None) -> None:
        self.config = config or SimConfig()
        self.arm = arm or ArmModel()
        self.renderer = Renderer(scene_camera(self.config.image_width, self.config.image_height))
        self.scene: Scene | None = None
        self.task: Task | None = None
        self.seed: int | None = None
        self.q = np.array(self.arm.home, float)
        self.closed = False
        self.opening = 1.0
        self.held: int | None = None
        self._grasp_offset = np.eye(4)
        self.steps = 0
        self.success = False

    # ------------------------------------------------------------------ episode
    def reset(self, seed: int) -> Observation:
        """Start the episode of a seed: a new scene and task, the arm at home, gripper open."""
        self.seed = seed
        self.scene, self.task = sample_scene(np.random.default_rng(seed))
        self.q = np.array(self.arm.home, float)
        self.closed, self.opening, self.held = False, 1.0, None
        self.steps, self.success = 0, False
        return self.observe()

    @property
    def instruction(self) -> str:
        """The instruction of the current task."""
        return self.task.instruction

    @property
    def done(self) -> bool:
        """Whether the episode has ended (success or time out)."""
        return self.success or self.steps >= self.config.max_steps

    @property
    def tool_pose(self) -> np.ndarray:
        """World transform of the tool tip."""
        return self.arm.tool_pose(self.q)

    def joint_positions(self) -> np.ndarray:
        """Arm joint angles and the gripper gap (m), in JOINT_NAMES order."""
        return np.append(self.q, self.opening * GRIPPER_MAX_GAP)

    def observe(self) -> Observation:
        """Render the cameras and read the joints."""
        frames = self.arm.frames(self.q)
        tool = frames[-1]
        joints = np.array([f[:3, 3] for f in frames])
        image = self.renderer.render(self.scene, joints, tool, self.opening, self.held)
        wrist = None
        if self.config.wrist_camera:
            cam = wrist_camera(tool, self.config.wrist_width, self.config.wrist_height)
            wrist = Renderer(cam).render(self.scene, joints, tool, self.opening, self.held)
        return Observation(image, self.joint_positions(), tool, wrist)

    # ------------------------------------------------------------------ stepping
    def step(self, action: np.ndarray) -> Observation:
        """Apply one action and observe the result."""
        self.advance(action)
        return self.observe()

    def advance(self, action: np.ndarray) -> None:
        """Apply one action without rendering (a robot whose camera runs on its own clock)."""
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape[0] != 7 or not np.all(np.isfinite(a)):
            raise SimError(f"action must be 7 finite values, got {a.tolist()}")
        if self.scene is None:
            raise SimError("call reset(seed) before stepping")
        d_pos = np.clip(a[:3], -MAX_TRANSLATION, MAX_TRANSLATION)
        d_rot = np.clip(a[3:6], -MAX_ROTATION, MAX_ROTATION)
        self._move(d_pos, d_rot)
        self._finish_step(a[6] > 0.0)

    def advance_joints(self, targets: np.ndarray) -> None:
        """Move toward joint-position targets (six arm joints, then the gripper gap in metres), rate-limited.

        Each arm joint moves at most the arm's max_joint_step toward its target; the gripper closes
        when its target gap is below half the open gap. A move that would push the tool or a held peg
        into the table or a block is refused, as for delta actions.
        """
        q = np.asarray(targets, dtype=np.float64).reshape(-1)
        if q.shape[0] != 7 or not np.all(np.isfinite(q)):
            raise SimError(f"joint targets must be 7 finite values, got {q.tolist()}")
        if self.scene is None:
            raise SimError("call reset(seed) before stepping")
        step = np.clip(q[:6] - self.q, -self.arm.max_joint_step, self.arm.max_joint_step)
        q_new = np.clip(self.q + step, self.arm.lower, self.arm.upper)
        low, floor, stuck = self._lowest_allowed(q_new)
        if not stuck and low >= floor - 1e-3:
            self.q = q_new
            if self.held is not None:
                self._carry()
        self._finish_step(q[6] < GRIPPER_MAX_GAP / 2)

    def _finish_step(self, want_closed: bool) -> None:
        if want_closed and not self.closed:
            self._grasp()
        elif not want_closed and self.closed:
            self._release()
        self.closed = want_closed
        target = (PEG_SIDE / GRIPPER_MAX_GAP if self.held is not None else 0.0) if self.closed else 1.0
        self.opening += float(np.clip(target - self.opening, -0.5, 0.5))
        self.steps += 1
        self.success = self.success or self._target_inserted()

    def _lowest_allowed(self, q: np.ndarray) -> tuple[float, float, bool]:
        """(lowest point of tool or held peg, floor under it, whether a held peg would leave a hole sideways)."""
        tool = self.arm.tool_pose(q)
        if self.held is not None:
            peg = self.scene.pegs[self.held]
            t = tool @ self._grasp_offset
            moved = Peg(peg.colour, t[:3, 3], float(np.arctan2(t[1, 0], t[0, 0])))
            floor = 0.0
            for block in self.scene.blocks:
                if block.covers(moved.pos[:2], margin=PEG_SIDE / 2):
                    if self._aligned(moved, block):
                        continue
                    floor = max(floor, BLOCK_HEIGHT)
            # only a peg in a hole (_carry keeps inserted_in: aligned, below the top) is held by its walls;
            # a peg pressed onto a block's top sinks up to a millimetre (the floor correction is one IK
            # step) and must still be lifted or slid
            hole = peg.inserted_in
            stuck = (
                hole is not None
                and peg.pos[2] < BLOCK_HEIGHT - 1e-4
                and not self._aligned(moved, self.scene.blocks[hole])
            )
            return float(moved.pos[2]), floor, stuck
        tip = tool[:3, 3]
        floor = 0.0
        for block in self.scene.blocks:
            if block.covers(tip[:2], margin=0.005):
                floor = max(floor, BLOCK_HEIGHT)
        for peg in self.scene.pegs:
            if peg.inserted_in is not None or np.linalg.norm(tip[:2] - peg.pos[:2]) > PEG_SIDE:
                continue
            fits = np.linalg.norm(tip[:2] - peg.pos[:2]) < 0.01 and abs(yaw_error(peg.yaw, tool_yaw(tool))) < 0.2
            floor = max(floor, peg.pos[2] + 0.01 if fits else peg.top)
        return float(tip[2]), floor, False

    def _move(self, d_pos: np.ndarray, d_rot: np.ndarray) -> None:
        q_new = self.arm.ik_step(self.q, d_pos, d_rot)
        low, floor, stuck = self._lowest_allowed(q_new)
        if stuck:
            return  # a peg inside a hole cannot be dragged sideways out of alignment
        if low < floor - 1e-4:
            q_new = self.arm.ik_step(self.q, d_pos + np.array([0.0, 0.0, floor - low]), d_rot)
            low, floor, stuck = self._lowest_allowed(q_new)
            if stuck or low < floor - 1e-3:
                return
        self.q = q_new
        if self.held is not None:
            self._carry()

    def _carry(self) -> None:
        peg = self.scene.pegs[self.held]
        t = self.tool_pose @ self._grasp_offset
        peg.pos = t[:3, 3].copy()
        peg.yaw = float(np.arctan2(t[1, 0], t[0, 0]))
        peg.inserted_in = next(
            (
                j
                for j, b in enumerate(self.scene.blocks)
                if b.covers(peg.pos[:2]) and peg.pos[2] < BLOCK_HEIGHT and self._aligned(peg, b)
            ),
            None,
        )

    def _grasp(self) -> None:
        tool = self.tool_pose
        tip = tool[:3, 3]
        for i, peg in enumerate(self.scene.pegs):
            near = np.linalg.norm(tip[:2] - peg.pos[:2]) < 0.01
            height = peg.pos[2] + 0.015 <= tip[2] <= peg.top - 0.005
            if near and height and abs(yaw_error(peg.yaw, tool_yaw(tool))) < np.deg2rad(10):
                self.held = i
                self._grasp_offset = np.linalg.inv(tool) @ peg_pose(peg)
                return

    def _release(self) -> None:
        if self.held is None:
            return
        peg = self.scene.pegs[self.held]
        self.held = None
        for j, block in enumerate(self.scene.blocks):
            if block.covers(peg.pos[:2], margin=PEG_SIDE / 2):
                if self._aligned(peg, block):
                    peg.pos[2], peg.inserted_in = 0.0, j
                else:
                    peg.pos[2] = BLOCK_HEIGHT
                return
        peg.pos[2] = 0.0

    def _aligned(self, peg: Peg, block: HoleBlock) -> bool:
        offset = block.local(peg.pos[:2])
        return bool(
            np.all(np.abs(offset) <= self.task.pos_tolerance)
            and abs(yaw_error(peg.yaw, block.yaw)) <= self.task.yaw_tolerance
        )

    @property
    def target_peg(self) -> Peg:
        """The peg the instruction names."""
        return self.scene.pegs[self.scene.peg(self.task.peg_colour)]

    @property
    def target_block(self) -> HoleBlock:
        """The hole block the instruction names."""
        return self.scene.blocks[self.scene.block(self.task.hole_colour)]

    def _target_inserted(self) -> bool:
        peg, block = self.target_peg, self.target_block
        deep = peg.pos[2] <= BLOCK_HEIGHT - self.task.insert_depth + 1e-6
        return deep and block.covers(peg.pos[:2]) and self._aligned(peg, block)

    def grip_depth(self) -> float:
        """Distance along the tool axis from the tip to the held peg's bottom (0 when nothing is held)."""
        return float(self._grasp_offset[2, 3]) if self.held is not None else 0.0
