"""The closed-loop demo: sim_robot_node and dyq_vla_node as separate processes talking over DDS."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from std_msgs.msg import String, UInt8
from tqdm import tqdm

from dyq_vla_ros import contract
from dyq_vla_ros.bags import BagRecorder
from dyq_vla_ros.ros.bag_recorder import TopicRecorder
from dyq_vla_ros.ros.harness.processes import start_node, stop
from dyq_vla_ros.ros.qos import COMMAND_QOS
from dyq_vla_ros.ros.sim_robot_node import RESULT_QOS
from dyq_vla_ros.types import BIT_WIDTHS


@dataclass
class DemoSummary:
    """What the demo observed on the nodes' topics."""

    results: list[dict] = field(default_factory=list)
    bits: Counter = field(default_factory=Counter)
    diagnostics: dict[str, str] = field(default_factory=dict)
    model_note: str = ""

    @property
    def success_rate(self) -> float:
        """Share of successful episodes."""
        return float(np.mean([r["success"] for r in self.results])) if self.results else 0.0

    def table(self) -> str:
        """Human-readable summary."""
        n = len(self.results)
        total = sum(self.bits.values()) or 1
        d = self.diagnostics
        rows = [
            ("episodes", str(n)),
            ("success rate", f"{100 * self.success_rate:.1f} % ({sum(r['success'] for r in self.results)}/{n})"),
            ("mean episode length", f"{np.mean([r['steps'] for r in self.results]):.1f} steps" if n else "-"),
            ("policy latency", f"mean {d.get('latency_ms_mean', '?')} ms, p99 {d.get('latency_ms_p99', '?')} ms"),
            ("bit-width share", "  ".join(f"{b}-bit {100 * self.bits[b] / total:.1f} %" for b in BIT_WIDTHS)),
            ("precision switches", d.get("switch_count", "?")),
        ]
        lines = [f"{name:<22}{value}" for name, value in rows]
        if self.model_note:
            lines.append(self.model_note)
        return "\n".join(lines)


def run_demo(
    *,
    episodes: int = 3,
    policy_params: dict[str, object] | None = None,
    sim_params: dict[str, object] | None = None,
    bag: Path | None = None,
    timeout_s: float | None = None,
) -> DemoSummary:
    """Run `episodes` closed-loop episodes and summarise them; optionally record a bag."""
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    # the simulator starts once the policy, the recorder and this listener all hear the instruction
    observers = 1 + (bag is not None)
    sim_args = {"episodes": episodes, "min_instruction_subscribers": 1 + observers, **(sim_params or {})}
    procs = [
        start_node("dyq_vla_ros.ros.sim_robot_node", sim_args),
        start_node("dyq_vla_ros.ros.dyq_vla_node", dict(policy_params or {})),
    ]
    context = rclpy.Context()  # private, so the demo also runs inside programs that use rclpy themselves
    rclpy.init(context=context)
    summary = DemoSummary()
    running = [False]
    listener = rclpy.create_node("dyq_vla_demo_listener", context=context)

    def on_result(msg: String) -> None:
        summary.results.append(json.loads(msg.data))
        running[0] = False

    def on_instruction(_msg: String) -> None:
        running[0] = True

    def on_bits(msg: UInt8) -> None:
        if running[0]:
            summary.bits[msg.data] += 1

    def on_diag(msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name == contract.DIAGNOSTIC_STATUS_NAME:
                summary.diagnostics = {kv.key: kv.value for kv in status.values}

    listener.create_subscription(String, contract.TOPIC_EPISODE_RESULT, on_result, RESULT_QOS)
    listener.create_subscription(UInt8, contract.TOPIC_BIT_WIDTH, on_bits, COMMAND_QOS)
    listener.create_subscription(DiagnosticArray, contract.TOPIC_DIAGNOSTICS, on_diag, 10)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(listener)
    recorder = None
    if bag is not None:
        recorder = TopicRecorder(BagRecorder(bag), context=context)
        executor.add_node(recorder)
    deadline = time.monotonic() + (timeout_s or 120.0 + 60.0 * episodes)
    try:
        # subscribe to the instruction (which lets the simulator start) only once the policy's bit
        # widths reach this listener, so a slow discovery cannot hide the first episodes from it
        while listener.count_publishers(contract.TOPIC_BIT_WIDTH) == 0:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError("the policy node did not come up; see its log above")
            executor.spin_once(timeout_sec=0.05)
        listener.create_subscription(String, contract.TOPIC_INSTRUCTION, on_instruction, COMMAND_QOS)
        with tqdm(total=episodes, desc="episodes", unit="ep") as bar:
            while len(summary.results) < episodes:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"demo timed out with {len(summary.results)}/{episodes} episodes")
                if any(p.poll() is not None for p in procs):
                    raise RuntimeError("a demo node exited early; see its log above")
                executor.spin_once(timeout_sec=0.05)
                if bar.n < len(summary.results):
                    bar.update(len(summary.results) - bar.n)
                    bar.set_postfix(success=f"{100 * summary.success_rate:.0f}%")
        if recorder is not None:  # let the recorder receive what the listener already has
            drain = time.monotonic() + 2.0
            while recorder.bag.counts.get(contract.TOPIC_EPISODE_RESULT, 0) < episodes and time.monotonic() < drain:
                executor.spin_once(timeout_sec=0.05)
    finally:
        for proc in reversed(procs):
            stop(proc)
        executor.shutdown()
        if recorder is not None:
            recorder.destroy_node()
            recorder.bag.close()
        listener.destroy_node()
        rclpy.try_shutdown(context=context)
    return summary
