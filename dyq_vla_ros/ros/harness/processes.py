"""Child processes for the demo and benchmarks: nodes started as `ros2 run` would, never outliving us."""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
from collections.abc import Sequence


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the parent dies, so no node outlives a killed demo (Linux)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def start_module(module: str, args: Sequence[str] = (), **popen_kwargs: object) -> subprocess.Popen:
    """Run `python -m module args...` as a child that ends when this process ends."""
    preexec = _die_with_parent if sys.platform == "linux" else None
    return subprocess.Popen([sys.executable, "-m", module, *args], preexec_fn=preexec, **popen_kwargs)  # type: ignore[call-overload]


def start_node(module: str, params: dict[str, object]) -> subprocess.Popen:
    """Start a node module with `--ros-args -p name:=value` for each parameter."""
    args = ["--ros-args"]
    for key, value in params.items():
        args += ["-p", f"{key}:={value}"]
    return start_module(module, args)


def stop(proc: subprocess.Popen) -> None:
    """SIGINT (a clean ROS shutdown), then SIGKILL if it has not exited within 15 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
