"""The policy node's inputs: latest-message slots per camera, joint state and instruction.

Subscription callbacks only validate and store (the newest message wins; what cannot be used is
rejected, counted and logged); the inference worker takes a snapshot of the newest inputs, and the
control tick asks whether they are fresh enough to command from.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import String

from dyq_vla_ros.control.session import stale_reason
from dyq_vla_ros.params import NodeParams
from dyq_vla_ros.ros.conversions import ConversionError, check_image, image_to_rgb, joint_positions, stamp_to_seconds
from dyq_vla_ros.sensors import compressed_to_rgb

MAX_INSTRUCTION_CHARS = 512

COUNTERS = (
    "dropped_frames",
    "rejected_images",
    "rejected_joint_states",
    "rejected_instructions",
    "clipped_actions",
    "inferences",
    "inference_errors",
    "starved_ticks",
    "published_actions",
)
"""The node's counters, reported beside the contract's diagnostic keys."""


@dataclass
class CameraSlot:
    """The newest usable frame of one camera."""

    name: str
    topic: str = ""
    msg: Image | CompressedImage | None = None
    stamp: float = 0.0
    """Newest header stamp accepted (frames stamped earlier are out of order)."""
    seq: int = 0
    used_seq: int = 0
    received: float | None = None
    """Monotonic time the frame arrived; None when none has, or the last one could not be decoded."""

    @property
    def what(self) -> str:
        """How diagnostics name this camera's frames."""
        return f"image from camera '{self.name}' ({self.topic})"


@dataclass(frozen=True)
class InputSnapshot:
    """What one inference runs on."""

    frames: dict[str, Image | CompressedImage]
    state: np.ndarray
    instruction: str


@dataclass
class _Joint:
    q: np.ndarray | None = None
    stamp: float = 0.0
    received: float | None = None


@dataclass
class InputSlots:
    """Validated latest inputs, shared by the executor's callbacks, the control tick and the worker."""

    reject: Callable[[str, str], None]
    """Logs one rejection: (what, why)."""
    ros_now: Callable[[], float]
    """The node's clock (seconds), for future-stamp checks."""
    now: Callable[[], float] = time.monotonic
    """The clock of receipt times and staleness: monotonic, or the node's when it runs on sim time."""
    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    cameras: dict[str, CameraSlot] = field(default_factory=dict)
    instruction: str = ""
    state_joints: tuple[str, ...] = ()
    """The joints the last accepted state was read from, in order."""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._joint = _Joint()
        self._joint_problem = ""
        self._joints: tuple[str, ...] = ()
        self._state_dim = 0
        self._params: NodeParams = NodeParams.defaults()

    def reset(self, cameras: Mapping[str, str], params: NodeParams, *, joints: Sequence[str], state_dim: int) -> None:
        """Forget the sensor inputs and count from zero (a new activation); the task given so far stays.

        cameras: name -> topic. The instruction received last (else the `instruction` parameter) is kept:
        a node deactivated and activated again resumes the task it was given, as a new episode.
        """
        with self._lock:
            self.cameras = {name: CameraSlot(name, topic) for name, topic in cameras.items()}
            self._joint = _Joint()
            self._joint_problem = ""
            self.instruction = self.instruction or params.instruction.strip()
            self.counters = dict.fromkeys(COUNTERS, 0)
        self.configure(params, joints=joints, state_dim=state_dim)

    def configure(self, params: NodeParams, *, joints: Sequence[str], state_dim: int) -> None:
        """Apply changed parameters and the joints forming the state ([] = message order)."""
        self._params, self._joints, self._state_dim = params, tuple(joints), state_dim

    def count(self, counter: str, what: str = "", reason: str = "") -> None:
        """Count one event; with a reason, also log it as a rejection of what."""
        self.counters[counter] += 1
        if reason:
            self.reject(what, reason)

    # ------------------------------------------------------------------ callbacks
    def on_image(self, camera: str) -> Callable[[Image], None]:
        """The callback storing one camera's raw frames."""

        def store(msg: Image) -> None:
            slot = self.cameras[camera]
            try:
                check_image(msg, max_pixels=self._params.max_image_pixels)
            except ConversionError as exc:
                self.count("rejected_images", slot.what, str(exc))
                return
            self._store(slot, msg)

        return store

    def on_compressed_image(self, camera: str) -> Callable[[CompressedImage], None]:
        """The callback storing one camera's compressed frames (decoded by the worker)."""

        def store(msg: CompressedImage) -> None:
            slot = self.cameras[camera]
            if not msg.data:
                self.count("rejected_images", f"compressed {slot.what}", "no data")
                return
            self._store(slot, msg)

        return store

    def _store(self, slot: CameraSlot, msg: Image | CompressedImage) -> None:
        stamp = stamp_to_seconds(msg.header.stamp)
        problem = self._stamp_problem(stamp, slot.stamp)
        if problem:
            self.count("rejected_images", slot.what, problem)
            return
        with self._lock:
            slot.stamp = max(stamp, slot.stamp)
            slot.msg = msg
            slot.seq += 1
            slot.received = self.now()

    def on_joint_state(self, msg: JointState) -> None:
        """Store the state's joint positions."""
        try:
            q, used = joint_positions(msg, self._joints, self._state_dim)
        except ConversionError as exc:
            self._joint_problem = str(exc)
            self.count("rejected_joint_states", "joint state", str(exc))
            return
        header_stamp = stamp_to_seconds(msg.header.stamp)
        problem = self._stamp_problem(header_stamp, self._joint.stamp)
        if problem:
            self.count("rejected_joint_states", "joint state", problem)
            return
        with self._lock:
            self._joint = _Joint(q, header_stamp or self.ros_now(), self.now())
            self._joint_problem = ""
            self.state_joints = tuple(used)

    def on_instruction(self, msg: String) -> bool:
        """Take a new instruction; False when it is rejected."""
        text = msg.data.strip()
        if not text or len(text) > MAX_INSTRUCTION_CHARS:
            reason = "empty" if not text else f"longer than {MAX_INSTRUCTION_CHARS} characters"
            self.count("rejected_instructions", "instruction", reason)
            return False
        with self._lock:
            self.instruction = text
        return True

    def _stamp_problem(self, stamp_s: float, previous_s: float) -> str:
        """Why a header stamp is unusable (future or out of order), or ''; zero stamps are accepted."""
        if stamp_s == 0.0:
            return ""
        ahead = stamp_s - self.ros_now()
        if ahead > self._params.max_future_stamp_s:
            return f"stamp {ahead:.3f} s in the future"
        if stamp_s < previous_s:
            return f"stamp {previous_s - stamp_s:.3f} s older than the previous message (out of order)"
        return ""

    # ------------------------------------------------------------------ readers
    def staleness(self) -> str:
        """Why the node must not command now (see control.session.stale_reason), or ''."""
        with self._lock:
            inputs = [(slot.what, slot.received) for slot in self.cameras.values()]
            inputs.append(("joint state", self._joint.received))
            instruction = self.instruction
        reason = stale_reason(
            self.now(), instruction=instruction, inputs=inputs, timeout_s=self._params.stale_timeout_s
        )
        if reason.startswith(("no joint state received", "joint state stale")) and self._joint_problem:
            reason += f"; the states arriving are rejected: {self._joint_problem}"
        return reason

    def joint_sample(self) -> tuple[np.ndarray, float] | None:
        """The newest (positions, stamp), for the joint-state proxies."""
        with self._lock:
            joint = self._joint
        return None if joint.q is None else (joint.q, joint.stamp)

    def input_age_ms(self) -> float:
        """Age of the oldest of the newest inputs (ms); -1 before any arrived."""
        now = self.now()
        with self._lock:
            times = [s.received for s in self.cameras.values()] + [self._joint.received]
        ages = [now - t for t in times if t is not None]
        return 1000.0 * max(ages) if ages else -1.0

    def snapshot(self) -> InputSnapshot | None:
        """The newest frames, state and instruction for an inference; None while any is missing."""
        with self._lock:
            for slot in self.cameras.values():  # frames superseded before an inference used them
                if slot.msg is not None and slot.seq > slot.used_seq:
                    self.counters["dropped_frames"] += max(0, slot.seq - slot.used_seq - 1)
                    slot.used_seq = slot.seq
            frames = {name: slot.msg for name, slot in self.cameras.items() if slot.msg is not None}
            q, instruction = self._joint.q, self.instruction
        if q is None or not instruction or len(frames) < len(self.cameras):
            return None
        return InputSnapshot(frames, q.astype(np.float32), instruction)

    def decode(self, snapshot: InputSnapshot) -> dict[str, np.ndarray] | None:
        """RGB arrays of a snapshot's frames; None (frame rejected and dropped, so the watchdog holds) if one fails."""
        images = {}
        for name, msg in snapshot.frames.items():
            slot = self.cameras[name]
            try:
                if isinstance(msg, CompressedImage):
                    images[name] = compressed_to_rgb(msg, max_pixels=self._params.max_image_pixels)
                else:
                    images[name] = image_to_rgb(msg, max_pixels=self._params.max_image_pixels)
            except ConversionError as exc:
                self.count("rejected_images", slot.what, str(exc))
                with self._lock:
                    if slot.msg is msg:
                        slot.msg, slot.received = None, None
                return None
        return images
