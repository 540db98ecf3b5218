"""The closed-loop demo: dyq_vla_node in its own process, driven by the synthetic robot over DDS."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from std_msgs.msg import Float32MultiArray, UInt8
from tqdm import tqdm

from dyq_vla_ros import contract
from dyq_vla_ros.ros.qos import COMMAND_QOS
from dyq_vla_ros.ros.synthetic_source import SyntheticSource


@dataclass
class DemoSummary:
    """What the demo observed on the node's topics."""

    actions: int = 0
    bits_by_phase: dict[str, Counter] = field(default_factory=dict)
    diagnostics: dict[str, str] = field(default_factory=dict)
    level: int = -1
    message: str = ""

    def table(self) -> str:
        """Human-readable summary."""
        lines = [f"{'phase':<10}{'ticks':>7}" + "".join(f"{f'{b}-bit':>9}" for b in contract_bits())]
        for phase, counts in self.bits_by_phase.items():
            total = sum(counts.values())
            shares = "".join(f"{100.0 * counts[b] / total:>8.1f}%" for b in contract_bits())
            lines.append(f"{phase:<10}{total:>7}{shares}")
        d = self.diagnostics
        lines += [
            f"actions published: {self.actions}",
            f"policy latency: p50 {d.get('latency_ms_p50', '?')} ms, p99 {d.get('latency_ms_p99', '?')} ms; "
            f"switches {d.get('switch_count', '?')}; dropped frames {d.get('dropped_frames', '?')}",
            f"diagnostics: level {self.level} '{self.message}'",
        ]
        return "\n".join(lines)


def contract_bits() -> tuple[int, ...]:
    """Bit widths in table order."""
    return (2, 4, 8, 16)


def run_demo(
    *, duration_s: float = 20.0, params: dict[str, object] | None = None, startup_s: float = 120.0
) -> DemoSummary:
    """Start the node, play the synthetic robot for duration_s once commanding starts, and summarise."""
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    args = [sys.executable, "-m", "dyq_vla_ros.ros.dyq_vla_node", "--ros-args"]
    for key, value in (params or {}).items():
        args += ["-p", f"{key}:={value}"]
    node_proc = subprocess.Popen(args)
    rclpy.init()
    summary = DemoSummary()
    source = SyntheticSource()
    listener = rclpy.create_node("dyq_vla_demo_listener")

    def on_bits(msg: UInt8) -> None:
        summary.bits_by_phase.setdefault(source.current_phase().name, Counter())[msg.data] += 1

    def on_action(_msg: Float32MultiArray) -> None:
        summary.actions += 1

    def on_diag(msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name == contract.DIAGNOSTIC_STATUS_NAME:
                summary.diagnostics = {kv.key: kv.value for kv in status.values}
                summary.level, summary.message = int.from_bytes(status.level, "little"), status.message

    listener.create_subscription(UInt8, contract.TOPIC_BIT_WIDTH, on_bits, COMMAND_QOS)
    listener.create_subscription(Float32MultiArray, contract.TOPIC_ACTION, on_action, COMMAND_QOS)
    listener.create_subscription(DiagnosticArray, contract.TOPIC_DIAGNOSTICS, on_diag, 10)
    executor = SingleThreadedExecutor()
    executor.add_node(source)
    executor.add_node(listener)
    try:
        deadline = time.monotonic() + startup_s
        print("starting dyq_vla_node (loading and quantizing the model) ...", flush=True)
        while summary.actions == 0:
            if time.monotonic() > deadline or node_proc.poll() is not None:
                raise RuntimeError("dyq_vla_node did not start commanding; see its log above")
            executor.spin_once(timeout_sec=0.05)
        source.restart_script()
        summary.bits_by_phase.clear()
        end = time.monotonic() + duration_s
        with tqdm(total=int(duration_s), desc="demo", unit="s", mininterval=1.0) as bar:
            while (now := time.monotonic()) < end:
                executor.spin_once(timeout_sec=0.05)
                done = int(duration_s - (end - now))
                if done > bar.n:
                    bar.set_postfix(phase=source.current_phase().name, bits=summary.diagnostics.get("activation_bits"))
                    bar.update(done - bar.n)
    finally:
        executor.shutdown()
        source.destroy_node()
        listener.destroy_node()
        rclpy.try_shutdown()
        node_proc.send_signal(signal.SIGINT)
        try:
            node_proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            node_proc.kill()
    return summary
