"""`dyq-vla sim-bench` run as the command (demo, play and load-test start nodes: test/ros/test_cli_ros.py)."""

import json
import subprocess
import sys

import numpy as np

from dyq_vla_ros.sim import PegInHoleEnv, SimConfig, eval_seeds
from dyq_vla_ros.sim.expert import run_expert_episode


def test_sim_bench_reports_the_experts_episodes_on_one_core():
    command = [sys.executable, "-m", "dyq_vla_ros.cli", "sim-bench", "--episodes", "3", "--image-size", "32"]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    report = json.loads(result.stdout)
    seeds = eval_seeds(3)
    env = PegInHoleEnv(SimConfig(image_width=32, image_height=32))
    outcomes = [run_expert_episode(env, seed) for seed in seeds]
    assert report["episodes"] == 3 and report["seeds"] == [seeds[0], seeds[-1]] and report["image"] == [32, 32]
    assert report["expert_success_rate"] == 1.0 == np.mean([ok for ok, _ in outcomes])  # the expert solves them
    assert report["expert_mean_steps"] == np.mean([steps for _, steps in outcomes])
    assert report["cores"] == 1  # pinned by default, so steps/s mean one core's
    assert report["steps_per_s_with_render"] > 0 and report["steps_per_s_without_render"] > 0
