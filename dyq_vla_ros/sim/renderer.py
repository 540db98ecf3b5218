"""Pinhole cameras and an OpenCV painter's-algorithm renderer of the tabletop."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from dyq_vla_ros.sim.scene import BLOCK_HEIGHT, BLOCK_SIDE, COLOURS, PEG_HEIGHT, PEG_SIDE, HoleBlock, Scene

_BACKGROUND = (70, 80, 95)
_TABLE = (150, 130, 105)
_ARM = (185, 185, 190)
_FINGER = (60, 60, 65)
_HOLE = (25, 20, 15)
_TABLE_CORNERS = np.array([[0.1, -0.55, 0.0], [0.75, -0.55, 0.0], [0.75, 0.55, 0.0], [0.1, 0.55, 0.0]])
# unit-cube corners (x, y, z in {-1/2, 1/2}) and faces with outward normals
_CUBE = np.array([[x, y, z] for z in (-0.5, 0.5) for y in (-0.5, 0.5) for x in (-0.5, 0.5)])
_FACES = (
    ((4, 5, 7, 6), (0, 0, 1)),
    ((0, 1, 5, 4), (0, -1, 0)),
    ((2, 6, 7, 3), (0, 1, 0)),
    ((0, 4, 6, 2), (-1, 0, 0)),
    ((1, 3, 7, 5), (1, 0, 0)),
)
_SHADE = {(0, 0, 1): 1.0, (0, -1, 0): 0.8, (0, 1, 0): 0.8, (-1, 0, 0): 0.65, (1, 0, 0): 0.72}
_FACE_LIST = tuple((idx, np.asarray(normal, float), _SHADE[normal]) for idx, normal in _FACES)


@dataclass(frozen=True)
class Camera:
    """A pinhole camera: world pose (x right, y down, z forward), image size and field of view."""

    pose: np.ndarray
    width: int = 128
    height: int = 128
    fov_deg: float = 50.0

    @classmethod
    def look_at(cls, eye: np.ndarray, target: np.ndarray, **kwargs: object) -> Camera:
        """A camera at eye looking at target with the world z axis up."""
        eye, target = np.asarray(eye, float), np.asarray(target, float)
        z = target - eye
        z /= np.linalg.norm(z)
        x = np.cross(z, [0.0, 0.0, 1.0])
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        pose = np.eye(4)
        pose[:3, :3] = np.stack([x, y, z], axis=1)
        pose[:3, 3] = eye
        return cls(pose, **kwargs)  # type: ignore[arg-type]

    @property
    def focal(self) -> float:
        """Focal length in pixels."""
        return (self.width / 2.0) / np.tan(np.deg2rad(self.fov_deg) / 2.0)

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points (N x 3) in the camera frame."""
        r, t = self.pose[:3, :3], self.pose[:3, 3]
        return (np.asarray(points, float) - t) @ r

    def project(self, points: np.ndarray) -> np.ndarray:
        """Pixel coordinates (N x 2, float) of world points in front of the camera."""
        pc = self.to_camera(points)
        z = np.maximum(pc[:, 2], 1e-6)
        f = self.focal
        return np.stack([f * pc[:, 0] / z + self.width / 2.0, f * pc[:, 1] / z + self.height / 2.0], axis=1)


def scene_camera(width: int = 128, height: int = 128) -> Camera:
    """The fixed front camera looking over the workspace."""
    return Camera.look_at(
        np.array([0.80, 0.0, 0.50]), np.array([0.41, 0.0, 0.0]), width=width, height=height, fov_deg=66.0
    )


def wrist_camera(tool_pose: np.ndarray, width: int = 96, height: int = 96) -> Camera:
    """A camera on the wrist, 10 cm behind the tool tip, looking along the tool axis."""
    pose = np.array(tool_pose, float)
    pose[:3, 3] = pose[:3, 3] - 0.10 * pose[:3, 2]
    return Camera(pose, width=width, height=height, fov_deg=70.0)


class Renderer:
    """Draws table, hole blocks, pegs and arm with filled polygons, far to near.

    Table and hole blocks never move within an episode, so they are drawn once per scene into a
    cached layer; pegs and the arm are painted over it. Pegs stand on the other side of the
    workspace from the blocks, so a block never hides a standing peg in this camera's view.
    """

    def __init__(self, camera: Camera, *, supersample: int = 2) -> None:
        self.camera = camera
        self.scale = supersample
        self._shift = 4  # fixed-point bits for sub-pixel polygon edges
        self._static_key: tuple | None = None
        self._static: np.ndarray | None = None

    def _poly(self, img: np.ndarray, pixels: np.ndarray, colour: tuple[int, ...]) -> None:
        pts = np.round(pixels * self.scale * (1 << self._shift)).astype(np.int32)
        cv2.fillConvexPoly(img, pts, colour, lineType=cv2.LINE_AA, shift=self._shift)

    def _static_layer(self, scene: Scene) -> np.ndarray:
        key = tuple((b.colour, float(b.xy[0]), float(b.xy[1]), b.yaw) for b in scene.blocks)
        if key != self._static_key:
            cam = self.camera
            img = np.empty((cam.height * self.scale, cam.width * self.scale, 3), np.uint8)
            img[:] = _BACKGROUND
            self._poly(img, cam.project(_TABLE_CORNERS), _TABLE)
            eye = cam.pose[:3, 3]
            for block in sorted(scene.blocks, key=lambda b: -np.linalg.norm(np.array([*b.xy, 0.0]) - eye)):
                self._draw_block(img, block)
            self._static_key, self._static = key, img
        return self._static

    def render(
        self,
        scene: Scene,
        joint_points: np.ndarray,
        tool_pose: np.ndarray,
        gripper_opening: float,
        held: int | None = None,
    ) -> np.ndarray:
        """H x W x 3 uint8 RGB image of the scene and the arm."""
        cam = self.camera
        img = self._static_layer(scene).copy()
        eye = cam.pose[:3, 3]
        items: list[tuple[float, int]] = [
            (float(np.linalg.norm(peg.pos - eye)) - (0.05 if i == held else 0.0), i) for i, peg in enumerate(scene.pegs)
        ]
        items.append((float(np.linalg.norm(tool_pose[:3, 3] - eye)) + 0.02, -1))
        for _, index in sorted(items, reverse=True):
            if index < 0:
                self._draw_arm(img, joint_points, tool_pose, gripper_opening)
            else:
                peg = scene.pegs[index]
                centre = peg.pos + np.array([0.0, 0.0, PEG_HEIGHT / 2])
                self._draw_box(img, centre, (PEG_SIDE, PEG_SIDE, PEG_HEIGHT), peg.yaw, COLOURS[peg.colour])
        if self.scale != 1:
            img = cv2.resize(img, (cam.width, cam.height), interpolation=cv2.INTER_AREA)
        return img

    def _draw_box(self, img: np.ndarray, centre: np.ndarray, size: tuple, yaw: float, colour: tuple) -> None:
        c, s = np.cos(yaw), np.sin(yaw)
        rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        corners = centre + (_CUBE * size) @ rot.T
        pixels = self.camera.project(corners)
        to_eye = self.camera.pose[:3, 3] - centre
        for idx, normal, shade in _FACE_LIST:
            n = rot @ normal
            if np.dot(n, to_eye - n * (np.asarray(size) @ np.abs(normal)) / 2) <= 0:
                continue
            self._poly(img, pixels[list(idx)], tuple(int(v * shade) for v in colour))

    def _draw_block(self, img: np.ndarray, block: HoleBlock) -> None:
        centre = np.array([*block.xy, BLOCK_HEIGHT / 2])
        self._draw_box(img, centre, (BLOCK_SIDE, BLOCK_SIDE, BLOCK_HEIGHT), block.yaw, COLOURS[block.colour])
        c, s = np.cos(block.yaw), np.sin(block.yaw)
        half = PEG_SIDE / 2 + 0.002
        square = np.array([[-half, -half], [half, -half], [half, half], [-half, half]])
        xy = square @ np.array([[c, s], [-s, c]]) + block.xy
        self._poly(img, self.camera.project(np.column_stack([xy, np.full(4, BLOCK_HEIGHT + 1e-4)])), _HOLE)

    def _draw_arm(self, img: np.ndarray, joints: np.ndarray, tool: np.ndarray, opening: float) -> None:
        thick = max(1, round(img.shape[1] / 40))
        pts = np.round(self.camera.project(joints) * self.scale).astype(np.int32)
        cv2.polylines(img, [pts], False, _ARM, thick, cv2.LINE_AA)
        # two fingers either side of the tool tip along the tool y axis
        y_axis, z_axis, tip = tool[:3, 1], tool[:3, 2], tool[:3, 3]
        half = 0.5 * (PEG_SIDE + 0.01) * (0.55 + 0.45 * opening)
        ends = []
        for side in (-1.0, 1.0):
            base = tip + side * half * y_axis - 0.045 * z_axis
            ends += [base, base + 0.05 * z_axis]
        seg = np.round(self.camera.project(np.array(ends)) * self.scale).astype(np.int32)
        cv2.polylines(img, [seg[:2], seg[2:]], False, _FINGER, max(1, thick // 2), cv2.LINE_AA)
