"""Simulator figures: scripted-expert success rate and environment steps per second."""

from __future__ import annotations

import time

import numpy as np

from dyq_vla_ros.sim.env import PegInHoleEnv, SimConfig
from dyq_vla_ros.sim.expert import run_expert_episode
from dyq_vla_ros.sim.seeds import eval_seeds


def sim_benchmark(episodes: int = 200, *, image_size: int = 128, speed_episodes: int = 20) -> dict:
    """Expert success over held-out seeds (no rendering) and steps/s with and without rendering."""
    env = PegInHoleEnv(SimConfig(image_width=image_size, image_height=image_size))
    outcomes = [run_expert_episode(env, seed) for seed in eval_seeds(episodes)]
    speed = {}
    for render in (True, False):
        steps = 0
        start = time.perf_counter()
        for seed in eval_seeds(speed_episodes):
            steps += run_expert_episode(env, seed, render=render)[1]
        speed[render] = steps / (time.perf_counter() - start)
    return {
        "episodes": episodes,
        "seeds": [eval_seeds(1)[0], eval_seeds(episodes)[-1]],
        "expert_success_rate": float(np.mean([ok for ok, _ in outcomes])),
        "expert_mean_steps": float(np.mean([n for _, n in outcomes])),
        "image": [image_size, image_size],
        "steps_per_s_with_render": round(speed[True], 1),
        "steps_per_s_without_render": round(speed[False], 1),
    }
