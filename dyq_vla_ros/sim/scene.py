"""Tabletop scene: coloured square pegs, hole blocks, and the peg-in-hole task drawn from a seed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (210, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 210),
    "yellow": (225, 200, 40),
}
PEG_SIDE = 0.03
PEG_HEIGHT = 0.06
BLOCK_SIDE = 0.08
BLOCK_HEIGHT = 0.03

PEG_REGION = ((0.32, 0.50), (0.14, 0.30))
"""(x range, y range) where pegs stand."""
HOLE_REGION = ((0.32, 0.50), (-0.30, -0.14))
"""(x range, y range) where hole blocks stand; at least 28 cm from any peg."""
MIN_SPACING = 0.085


@dataclass
class Peg:
    """A square peg: colour, bottom-centre position, yaw; held or inserted."""

    colour: str
    pos: np.ndarray
    yaw: float
    inserted_in: int | None = None

    @property
    def top(self) -> float:
        """Height of the peg's top face."""
        return float(self.pos[2]) + PEG_HEIGHT


@dataclass(frozen=True)
class HoleBlock:
    """A block with a square hole through it, standing on the table."""

    colour: str
    xy: np.ndarray
    yaw: float

    def local(self, xy: np.ndarray) -> np.ndarray:
        """A world xy point in the block's frame."""
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        d = np.asarray(xy, float) - self.xy
        return np.array([c * d[0] + s * d[1], -s * d[0] + c * d[1]])

    def covers(self, xy: np.ndarray, margin: float = 0.0) -> bool:
        """Whether a world xy point lies over the block's footprint."""
        return bool(np.all(np.abs(self.local(xy)) <= BLOCK_SIDE / 2 + margin))


def yaw_error(a: float, b: float) -> float:
    """Smallest yaw difference between two square outlines (modulo 90 degrees), in radians."""
    return float((a - b + np.pi / 4) % (np.pi / 2) - np.pi / 4)


@dataclass(frozen=True)
class Task:
    """Which peg goes into which hole, and how precisely."""

    peg_colour: str
    hole_colour: str
    pos_tolerance: float = 0.004
    yaw_tolerance: float = np.deg2rad(5.0)
    insert_depth: float = 0.02

    @property
    def instruction(self) -> str:
        """The language instruction of the task."""
        return f"put the {self.peg_colour} peg into the {self.hole_colour} hole"


@dataclass
class Scene:
    """Pegs and hole blocks on the table."""

    pegs: list[Peg]
    blocks: list[HoleBlock]

    def peg(self, colour: str) -> int:
        """Index of the peg of a colour."""
        return next(i for i, p in enumerate(self.pegs) if p.colour == colour)

    def block(self, colour: str) -> int:
        """Index of the hole block of a colour."""
        return next(i for i, b in enumerate(self.blocks) if b.colour == colour)


def _place(rng: np.random.Generator, region: tuple[tuple[float, float], tuple[float, float]], n: int) -> list:
    points: list[np.ndarray] = []
    while len(points) < n:
        p = np.array([rng.uniform(*region[0]), rng.uniform(*region[1])])
        if all(np.linalg.norm(p - q) >= MIN_SPACING for q in points):
            points.append(p)
    return points


def sample_scene(
    rng: np.random.Generator, *, n_pegs: int = 3, n_blocks: int = 3, max_yaw: float = np.deg2rad(30)
) -> tuple[Scene, Task]:
    """A random scene and a task whose peg and hole are both in it."""
    names = list(COLOURS)
    peg_colours = list(rng.choice(names, size=n_pegs, replace=False))
    block_colours = list(rng.choice(names, size=n_blocks, replace=False))
    pegs = [
        Peg(str(c), np.array([*xy, 0.0]), float(rng.uniform(-max_yaw, max_yaw)))
        for c, xy in zip(peg_colours, _place(rng, PEG_REGION, n_pegs), strict=True)
    ]
    blocks = [
        HoleBlock(str(c), xy, float(rng.uniform(-max_yaw, max_yaw)))
        for c, xy in zip(block_colours, _place(rng, HOLE_REGION, n_blocks), strict=True)
    ]
    task = Task(str(rng.choice(peg_colours)), str(rng.choice(block_colours)))
    return Scene(pegs, blocks), task
