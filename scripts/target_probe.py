"""Probe: tool-target policies, without a model (the expert's noisy targets) and with one (its first target).

A diagnostic for issue 4. `oracle` drives the simulator with the scripted expert's own tool
targets, perturbed by fresh Gaussian noise at every replanning and converted to deltas as the
processor converts them, to show how precise a target-predicting policy must be. `first` asks a checkpoint for the first
target of held-out episodes (arm at home) and compares it with the expert's: can the policy find
the named peg before it has moved? With --holding the expert first grasps the named peg and the arm
carries it to a random pose: can the policy find the named hole?

    python scripts/target_probe.py oracle --mm 3 --deg 3 --replan-every 1 --episodes 60
    python scripts/target_probe.py first --model-path CKPT --episodes 30 [--holding]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from dyq_vla_ros.policy.action_space import targets_to_deltas
from dyq_vla_ros.sim import PegInHoleEnv, ScriptedExpert, SimConfig
from dyq_vla_ros.sim.env import MAX_ROTATION, MAX_TRANSLATION
from dyq_vla_ros.sim.scene import yaw_error
from dyq_vla_ros.sim.seeds import eval_seeds


def oracle_episode(seed: int, mm: float, deg: float, replan_every: int, rng: np.random.Generator) -> bool:
    """One held-out episode driven by the expert's target plus fresh noise, replanned every few steps; success."""
    env = PegInHoleEnv()
    env.reset(seed)
    expert = ScriptedExpert(env)
    queue: list[np.ndarray] = []
    while not env.done:
        if not queue:
            expert.act()
            noise = np.r_[rng.normal(0, mm * 1e-3, 3), 0, 0, rng.normal(0, np.deg2rad(deg)), 0]
            chunk = np.repeat((expert.goal + noise)[None], replan_every, 0)
            limits = {"max_translation": MAX_TRANSLATION, "max_rotation": MAX_ROTATION}
            queue = list(targets_to_deltas(chunk, env.joint_positions(), **limits))
        env.advance(queue.pop(0))
    return env.success


def first_targets(model_path: str, episodes: int, holding: bool = False) -> dict:
    """Error of the checkpoint's first predicted target against the expert's, over held-out seeds."""
    from dyq_vla_ros.policy import Observation, Pi0Policy
    from dyq_vla_ros.training.start_frames import carry_to_random_pose

    policy = Pi0Policy(model_path)
    errors = []
    for seed in eval_seeds(episodes):
        env = PegInHoleEnv(SimConfig(wrist_camera=policy.processor.wrist))
        obs = env.reset(seed)
        if holding:
            if not carry_to_random_pose(env, np.random.default_rng([seed, 11]), True):
                continue
            obs = env.observe()
        expert = ScriptedExpert(env)
        expert.act()
        state = obs.joint_positions.astype(np.float32)
        observation = Observation.scene_and_wrist(obs.image, state, env.instruction, obs.wrist_image)
        target = policy.processor.tool_targets(policy.predict_model_actions(observation)[:1], state)[0]
        xy = np.linalg.norm(target[:2] - expert.goal[:2]) * 1e3
        errors.append((xy, abs(np.rad2deg(yaw_error(target[5], expert.goal[5])))))
    e = np.array(errors)
    return {
        "episodes": len(e),
        "xy_error_mm_median": round(float(np.median(e[:, 0])), 1),
        "xy_error_mm_p90": round(float(np.percentile(e[:, 0], 90)), 1),
        "yaw_error_deg_median": round(float(np.median(e[:, 1])), 1),
    }


def main() -> None:
    """Command line: print the probe's JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="probe", required=True)
    oracle = sub.add_parser("oracle")
    oracle.add_argument("--mm", type=float, default=0.0, help="target position noise per axis (mm)")
    oracle.add_argument("--deg", type=float, default=0.0, help="target yaw noise (degrees)")
    oracle.add_argument("--replan-every", type=int, default=1, help="steps between targets (and noise draws)")
    oracle.add_argument("--episodes", type=int, default=30)
    first = sub.add_parser("first")
    first.add_argument("--model-path", required=True)
    first.add_argument("--episodes", type=int, default=30)
    first.add_argument("--holding", action="store_true", help="the named peg grasped and carried to a random pose")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.probe == "oracle":
        rng = np.random.default_rng(0)
        wins = [oracle_episode(s, args.mm, args.deg, args.replan_every, rng) for s in eval_seeds(args.episodes)]
        result = vars(args) | {"successes": int(sum(wins)), "success_rate": float(np.mean(wins))}
    else:
        result = vars(args) | first_targets(args.model_path, args.episodes, args.holding)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
