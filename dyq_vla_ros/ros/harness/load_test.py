"""Load benchmark: the policy node under high-rate camera and joint-state streams.

The node and the synthetic robot run as separate processes (as a driver would), so the load
generator does not share a GIL with the listener that measures the node's output.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from std_msgs.msg import Float32MultiArray

from dyq_vla_ros import contract
from dyq_vla_ros.ros.harness.processes import start_module, start_node, stop
from dyq_vla_ros.ros.qos import COMMAND_QOS


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def run_load_test(
    *,
    duration_s: float = 60.0,
    camera_hz: float = 60.0,
    joint_hz: float = 500.0,
    image_size: tuple[int, int] = (480, 640),
    policy_params: dict[str, object] | None = None,
) -> dict:
    """Drive dyq_vla_node (own process) with a high-rate synthetic robot (own process); report what held."""
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    params = {"control_rate_hz": 20.0, **(policy_params or {})}
    context = rclpy.Context()
    rclpy.init(context=context)
    listener = rclpy.create_node("dyq_vla_load_listener", context=context)
    actions: list[float] = []
    diag: dict[str, str] = {}
    window_p99: list[tuple[float, float]] = []  # (time, p99 over the node's last inferences)

    def on_diag(msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name == contract.DIAGNOSTIC_STATUS_NAME:
                diag.clear()
                diag.update({kv.key: kv.value for kv in status.values})
                window_p99.append((time.monotonic(), float(diag.get("latency_ms_p99", "nan"))))

    listener.create_subscription(
        Float32MultiArray, contract.TOPIC_ACTION, lambda _m: actions.append(time.monotonic()), COMMAND_QOS
    )
    listener.create_subscription(DiagnosticArray, contract.TOPIC_DIAGNOSTICS, on_diag, 10)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(listener)
    node = start_node("dyq_vla_ros.ros.dyq_vla_node", params)
    source = None
    try:
        deadline = time.monotonic() + 120.0
        while not diag:  # the node is up once it reports
            if time.monotonic() > deadline or node.poll() is not None:
                raise RuntimeError("dyq_vla_node did not come up")
            executor.spin_once(timeout_sec=0.05)
        warmup_s = 10.0
        source = start_module(
            "dyq_vla_ros.ros.harness.synthetic_source",
            ["--image-hz", str(camera_hz), "--joint-hz", str(joint_hz),
             "--image-size", f"{image_size[0]}x{image_size[1]}", "--duration", str(duration_s + warmup_s)],
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        while not actions:
            if time.monotonic() > deadline or node.poll() is not None:
                raise RuntimeError("dyq_vla_node did not start commanding")
            executor.spin_once(timeout_sec=0.05)
        start = time.monotonic()
        first_actions = len(actions)
        rss = [_rss_mb(node.pid)]
        next_sample = start + 5.0
        while (now := time.monotonic()) < start + duration_s:
            executor.spin_once(timeout_sec=0.01)
            if now >= next_sample:
                rss.append(_rss_mb(node.pid))
                next_sample += 5.0
        elapsed = time.monotonic() - start
        count = len([t for t in actions[first_actions:] if t <= start + duration_s])
        final = dict(diag)
        # The node's p99 covers only its latest inferences; the worst one seen covers the whole run.
        during = [p for t, p in window_p99 if start <= t <= start + duration_s and p == p]
        published = json.loads(source.communicate(timeout=60)[0].strip().splitlines()[-1])
        return {
            "duration_s": round(elapsed, 1),
            "control_rate_hz": params["control_rate_hz"],
            "action_rate_hz": round(count / elapsed, 2),
            "camera_hz_published": published["images"],
            "joint_hz_published": published["joint_states"],
            "image_size": list(image_size),
            "dropped_frames": int(final.get("dropped_frames", -1)),
            "latency_ms_p50": float(final.get("latency_ms_p50", "nan")),
            "latency_ms_p99": float(final.get("latency_ms_p99", "nan")),
            "latency_ms_p99_worst_window": max(during) if during else float("nan"),
            "latency_budget_ms": 200.0,
            "starved_ticks": int(final.get("starved_ticks", -1)),
            "rss_mb": [round(v, 1) for v in rss],
            "node_alive": node.poll() is None,
        }
    finally:
        if source is not None:
            stop(source)
        stop(node)
        executor.shutdown()
        listener.destroy_node()
        rclpy.try_shutdown(context=context)
