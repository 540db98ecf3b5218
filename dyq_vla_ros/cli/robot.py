"""Commands that run nodes over ROS 2: demo, play, load-test; and the simulator's own benchmark."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from dyq_vla_ros.cli.options import MODE_NAMES, camera_map
from dyq_vla_ros.contract import PROXY_SOURCES


def add_demo(cmd: argparse.ArgumentParser) -> None:
    """Options of `demo`."""
    cmd.add_argument("--episodes", type=int, default=3, help="episodes to run")
    cmd.add_argument("--precision-mode", default="dyq", choices=MODE_NAMES)
    cmd.add_argument("--proxy-source", default="action", choices=PROXY_SOURCES)
    cmd.add_argument("--rate", type=float, default=20.0, help="control rate in Hz (one simulator step per action)")
    cmd.add_argument("--model-path", default="", help="checkpoint directory (default: embedded)")
    cmd.add_argument("--bag", default="", help="record the run to this MCAP bag directory")
    cmd.set_defaults(func=demo)


def demo(args: argparse.Namespace) -> int:
    """Closed loop over DDS: the simulated robot and the policy node as processes; prints a summary."""
    from dyq_vla_ros.ros.harness.demo import run_demo

    policy_params: dict[str, object] = {
        "precision_mode": args.precision_mode,
        "proxy_source": args.proxy_source,
        "control_rate_hz": args.rate,
    }
    if args.model_path:
        policy_params["model_path"] = args.model_path
    bag = Path(args.bag) if args.bag else None
    summary = run_demo(episodes=args.episodes, policy_params=policy_params, bag=bag)
    print()
    print(f"policy: {args.model_path or 'embedded tiny PI0'}, mode {args.precision_mode}; robot: built-in simulator")
    print(summary.table())
    if bag:
        print(f"bag: {bag}")
    return 0 if summary.results else 1


def add_sim_bench(cmd: argparse.ArgumentParser) -> None:
    """Options of `sim-bench`."""
    cmd.add_argument("--episodes", type=int, default=200, help="held-out episodes for the success rate")
    cmd.add_argument("--image-size", type=int, default=128)
    cmd.add_argument("--all-cores", dest="one_core", action="store_false", help="do not pin to one core")
    cmd.set_defaults(func=sim_bench)


def sim_bench(args: argparse.Namespace) -> int:
    """The scripted expert's success rate and the simulator's steps per second, as JSON."""
    import cv2

    from dyq_vla_ros.sim.benchmark import sim_benchmark

    cv2.setNumThreads(1)
    if args.one_core and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    result = sim_benchmark(args.episodes, image_size=args.image_size)
    result["cores"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    print(json.dumps(result, indent=2))
    return 0


def add_load_test(cmd: argparse.ArgumentParser) -> None:
    """Options of `load-test`."""
    cmd.add_argument("--duration", type=float, default=60.0)
    cmd.add_argument("--camera-hz", type=float, default=60.0)
    cmd.add_argument("--joint-hz", type=float, default=500.0)
    cmd.add_argument("--image-size", default="480x640", help="HEIGHTxWIDTH")
    cmd.add_argument("--rate", type=float, default=20.0, help="control rate in Hz")
    cmd.add_argument("--precision-mode", default="dyq", choices=MODE_NAMES)
    cmd.set_defaults(func=load_test)


def load_test(args: argparse.Namespace) -> int:
    """The policy node under high-rate camera and joint-state streams, as JSON."""
    from dyq_vla_ros.ros.harness.load_test import run_load_test

    height, width = (int(v) for v in args.image_size.split("x"))
    result = run_load_test(
        duration_s=args.duration,
        camera_hz=args.camera_hz,
        joint_hz=args.joint_hz,
        image_size=(height, width),
        policy_params={"control_rate_hz": args.rate, "precision_mode": args.precision_mode},
    )
    print(json.dumps(result, indent=2))
    return 0 if result["node_alive"] else 1


def add_play(cmd: argparse.ArgumentParser) -> None:
    """Options of `play`."""
    cmd.add_argument("bag")
    cmd.add_argument("--topics", nargs="*", default=None, help="topics to publish (default: the policy's inputs)")
    cmd.add_argument("--rate", type=float, default=1.0, help="playback speed factor")
    cmd.add_argument("--wait", type=float, default=60.0, help="seconds to wait for subscribers first")
    cmd.add_argument(
        "--camera",
        action="append",
        default=[],
        metavar="NAME=TOPIC",
        help="publish the bag's TOPIC as camera NAME's topic (/camera/NAME/image_raw; scene and wrist: the defaults)",
    )
    cmd.add_argument("--image-topic", default="", help="the bag topic of the scene camera (as --camera scene=TOPIC)")
    cmd.add_argument("--clock", action="store_true", help="also publish /clock from the bag's timeline (use_sim_time)")
    cmd.set_defaults(func=play)


def play(args: argparse.Namespace) -> int:
    """Publish a bag's recorded inputs at their recorded pace."""
    from dyq_vla_ros.ros.player import DEFAULT_TOPICS, play_bag

    cameras = camera_map(args.camera)
    if args.image_topic:
        cameras["scene"] = args.image_topic
    topics = args.topics or DEFAULT_TOPICS
    count = play_bag(Path(args.bag), topics, rate=args.rate, wait_s=args.wait, cameras=cameras, clock=args.clock)
    print(f"published {count} messages from {args.bag}")
    return 0


COMMANDS = {
    "demo": ("closed loop over ROS 2: simulated robot + policy node, summary and bag", add_demo),
    "sim-bench": ("scripted-expert success rate and simulator steps/s (JSON)", add_sim_bench),
    "load-test": ("policy node under high-rate camera and joint states (JSON)", add_load_test),
    "play": ("publish a bag's camera, joint states and instruction at recorded pace", add_play),
}
