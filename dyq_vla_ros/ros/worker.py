"""The inference worker: a consumer thread that runs each requested inference on the newest inputs.

The control tick submits a request and, at a later tick, takes the outcome (a chunk, or None
when the inputs were incomplete or the inference failed) from a one-slot mailbox, so the executor
never waits for the model.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from dyq_vla_ros.control.session import Chunk, InferenceRequest, PolicySession
from dyq_vla_ros.ros.inputs import InputSlots
from dyq_vla_ros.types import Observation


@dataclass(frozen=True)
class Outcome:
    """A finished request: its chunk, or None."""

    request: InferenceRequest
    chunk: Chunk | None


class InferenceWorker:
    """Runs the session's inferences in its own thread, one at a time."""

    def __init__(self, session: PolicySession, inputs: InputSlots, *, on_error: Callable[[Exception], None]) -> None:
        self.session = session
        self.inputs = inputs
        self.failed = False
        """Whether the last inference raised (the node reports ERROR and holds until one succeeds)."""
        self._on_error = on_error
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._request: InferenceRequest | None = None
        self._outcome: Outcome | None = None
        self._thread = threading.Thread(target=self._run, name="dyq_vla_inference", daemon=True)
        self._thread.start()

    def submit(self, request: InferenceRequest) -> None:
        """Run this request next (the session allows one in flight)."""
        with self._lock:
            self._request = request
        self._wake.set()

    def take(self) -> Outcome | None:
        """The outcome of the last request, once it is done."""
        with self._lock:
            outcome, self._outcome = self._outcome, None
        return outcome

    def stop(self, timeout_s: float = 30.0) -> None:
        """End the thread after the inference in progress."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._wake.wait(timeout=0.2):
                continue
            self._wake.clear()
            with self._lock:
                request, self._request = self._request, None
            if request is None or self._stop.is_set():
                continue
            chunk = None
            try:
                chunk = self._infer(request)
            except Exception as exc:  # an inference failure must not kill the node
                self.inputs.count("inference_errors")
                self.failed = True
                self._on_error(exc)
            with self._lock:
                self._outcome = Outcome(request, chunk)

    def _infer(self, request: InferenceRequest) -> Chunk | None:
        snapshot = self.inputs.snapshot()
        if snapshot is None:
            return None
        images = self.inputs.decode(snapshot)
        if images is None:
            return None
        observation = Observation(images, snapshot.state, snapshot.instruction)
        chunk = self.session.infer(request, observation)
        self.inputs.count("inferences")
        self.failed = False
        return chunk
