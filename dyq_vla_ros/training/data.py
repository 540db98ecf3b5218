"""Demonstration datasets from the scripted expert: safetensors shards plus a JSON manifest.

Layout of a dataset directory (documented in docs/DATASET.md):

    manifest.json              format version, image size, joint and action names, episodes
    shard_00000.safetensors    image [N,S,S,3] uint8, state [N,D] f32, action [N,7] f32,
                               goal [N,7] f32, target [N,4] f32, episode [N] int32, frame [N] int32,
                               wrist [N,S,S,3] uint8 (format 4, only with --wrist-camera)

Each frame pairs the observation with the expert's clean action in that state; the executed
action carried the injected noise (DART-style), so the data shows how to correct deviations.
`goal` is the tool target the expert's action moves toward (policy.action_space.TOOL_TARGET), the
label of policies that predict targets instead of deltas. `target` holds privileged simulator
state (the instruction's peg and hole positions) that only training uses, as an auxiliary
localisation label.
A shard is written only when complete, so an interrupted run resumes at the first missing shard.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

from dyq_vla_ros.control import PolicySession
from dyq_vla_ros.params import NodeParams
from dyq_vla_ros.policy.base import Observation as PolicyObservation
from dyq_vla_ros.policy.processor_pi0 import resize_square
from dyq_vla_ros.sim import JOINT_NAMES, Observation, PegInHoleEnv, ScriptedExpert, SimConfig, train_seeds
from dyq_vla_ros.training.errors import DatasetError
from dyq_vla_ros.types import ACTION_NAMES

MANIFEST = "manifest.json"
FORMAT_VERSION = 4
READ_VERSIONS = (1, 2, 3, 4)
"""Version 1 datasets have no `target` tensor, versions 1 and 2 no `goal`; version 4 may hold `wrist`."""


@dataclass(frozen=True)
class DataConfig:
    """What to generate: episodes, their seeds, the injected noise and the stored image size."""

    episodes: int = 400
    """Episodes to record."""
    start_seed: int = 0
    """First training seed."""
    noise_std: float = 0.3
    """Action noise injected into the executed actions, relative to the phase's step size."""
    image_size: int = 96
    """Stored (policy input) image size in pixels."""
    shard_episodes: int = 25
    """Episodes per shard file."""
    policy: str = ""
    """DAgger: a checkpoint whose actions are executed (the expert still labels every frame); "" for none."""
    expert_share: float = 0.3
    """With a policy: the chance that the noisy expert drives a chunk's worth of steps instead."""
    actions_per_chunk: int = 5
    """With a policy: actions executed from each of its chunks before it is asked again."""
    wrist_camera: bool = False
    """Also record the wrist camera's image of every frame (the `wrist` tensor)."""

    def __post_init__(self) -> None:
        if self.episodes < 1 or self.shard_episodes < 1:
            raise ValueError("episodes and shard_episodes must be >= 1")
        if self.noise_std < 0:
            raise ValueError("noise_std must be >= 0")
        if self.image_size < 8:
            raise ValueError("image_size must be >= 8")
        if not 0.0 <= self.expert_share <= 1.0 or self.actions_per_chunk < 1:
            raise ValueError("expert_share must be in [0, 1] and actions_per_chunk >= 1")
        train_seeds(self.episodes, self.start_seed)  # raises if the range reaches evaluation seeds


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """Square uint8 RGB image resized the way the policy's processor resizes (bilinear, antialiased)."""
    if image.shape[:2] == (size, size):
        return image
    t = resize_square(torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).to(torch.float32), size)
    return np.ascontiguousarray(t.permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy())


class PolicyDriver:
    """Executes a trained policy through the node's policy session, handing some chunks to the noisy expert (DAgger)."""

    def __init__(self, checkpoint: str, expert_share: float, actions_per_chunk: int) -> None:
        from dyq_vla_ros.policy import Pi0Policy

        # rollouts run as parallel processes, one per core: two torch threads each oversubscribe the
        # cores and made an episode 12x slower (19 s against 1.5 s, measured on 2 cores)
        torch.set_num_threads(1)
        policy = Pi0Policy(checkpoint)
        params = NodeParams.from_mapping(precision_mode="fp", actions_per_chunk=actions_per_chunk)
        self.session = PolicySession.from_params(policy, policy.calibration, params)
        self.expert_share = expert_share
        self.actions_per_chunk = actions_per_chunk
        self._expert_steps = 0

    def reset(self) -> None:
        """Forget the chunk in progress (a new episode)."""
        self.session.new_episode()
        self._expert_steps = 0

    def act(
        self, obs: Observation, instruction: str, expert_action: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """The action to execute now: the policy's next queued action, or the expert's for an expert chunk."""
        if self._expert_steps == 0 and self.session.loop.queued == 0 and rng.random() < self.expert_share:
            self._expert_steps = self.actions_per_chunk
        if self._expert_steps:
            self._expert_steps -= 1
            self.session.executed(expert_action)
            return expert_action

        def observe() -> PolicyObservation:
            return PolicyObservation.scene_and_wrist(
                obs.image, obs.joint_positions.astype(np.float32), instruction, obs.wrist_image
            )

        tick, _ = self.session.step(observe)
        assert tick.action is not None  # a chunk was just requested when the queue ran out
        return tick.action


def record_episode(
    env: PegInHoleEnv, seed: int, noise_std: float, image_size: int, driver: PolicyDriver | None = None
) -> dict:
    """Roll out the noisy expert (or the driver's policy) on one seed; frames carry the clean expert action as label."""
    obs = env.reset(seed)
    expert = ScriptedExpert(env)
    rng = np.random.default_rng([seed, 1])
    if driver is not None:
        driver.reset()
    images, wrists, states, actions, goals, targets = [], [], [], [], [], []
    while not env.done:
        clean = expert.act()
        images.append(resize_image(obs.image, image_size))
        if obs.wrist_image is not None:
            wrists.append(resize_image(obs.wrist_image, image_size))
        states.append(obs.joint_positions.astype(np.float32))
        actions.append(clean.astype(np.float32))
        goals.append(expert.goal.astype(np.float32))
        targets.append(task_targets(env))
        executed = expert.perturb(clean, noise_std, rng)
        if driver is not None:
            executed = driver.act(obs, env.instruction, executed, rng)
        obs = env.step(executed)
    record = {
        "seed": seed,
        "instruction": env.instruction,
        "success": bool(env.success),
        "length": len(actions),
        "image": np.stack(images),
        "state": np.stack(states),
        "action": np.stack(actions),
        "goal": np.stack(goals),
        "target": np.stack(targets),
    }
    if wrists:
        record["wrist"] = np.stack(wrists)
    return record


def task_targets(env: PegInHoleEnv) -> np.ndarray:
    """[peg x, peg y, hole x, hole y] (m) of the instruction's peg and hole, now."""
    peg, block = env.target_peg, env.target_block
    return np.array([peg.pos[0], peg.pos[1], block.xy[0], block.xy[1]], dtype=np.float32)


def frame_arrays(records: Sequence[dict]) -> dict[str, np.ndarray]:
    """The tensors of a shard (image, state, action, goal, target, episode, frame, wrist) from recorded episodes."""
    keys = ("image", "state", "action", "goal", "target", *(("wrist",) if "wrist" in records[0] else ()))
    # safetensors writes the raw buffer whatever the strides: every array must be C-contiguous
    arrays = {key: np.ascontiguousarray(np.concatenate([r[key] for r in records])) for key in keys}
    arrays["episode"] = np.concatenate([np.full(r["length"], r["seed"], np.int32) for r in records])
    arrays["frame"] = np.concatenate([np.arange(r["length"], dtype=np.int32) for r in records])
    return arrays


def _shard_path(directory: Path, index: int) -> Path:
    return directory / f"shard_{index:05d}.safetensors"


def generate_dataset(directory: Path, config: DataConfig, *, progress: bool = True) -> dict:
    """Write (or complete) a dataset; returns the manifest."""
    from tqdm import tqdm

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    manifest_path = directory / MANIFEST
    manifest = {
        "format_version": FORMAT_VERSION,
        "generator": "dyq-vla gen-data (scripted expert, peg-in-hole)"
        + (f"; DAgger rollouts of {config.policy}" if config.policy else ""),
        "config": asdict(config),
        "joint_names": list(JOINT_NAMES),
        "action_names": list(ACTION_NAMES),
        "image_size": config.image_size,
        "shards": [],
        "episodes": [],
    }
    if manifest_path.exists():
        old = json.loads(manifest_path.read_text())
        if old.get("config") != asdict(config):
            raise DatasetError(f"{directory} holds a dataset made with other settings: {old.get('config')}")
        manifest = old
    seeds = train_seeds(config.episodes, config.start_seed)
    groups = [seeds[i : i + config.shard_episodes] for i in range(0, len(seeds), config.shard_episodes)]
    done = {s["file"] for s in manifest["shards"]}
    env = PegInHoleEnv(SimConfig(wrist_camera=config.wrist_camera))
    driver = PolicyDriver(config.policy, config.expert_share, config.actions_per_chunk) if config.policy else None
    bar = tqdm(total=len(seeds), desc="episodes", unit="ep", disable=not progress)
    for index, group in enumerate(groups):
        path = _shard_path(directory, index)
        if path.name in done and path.exists():
            bar.update(len(group))
            continue
        records = []
        for seed in group:
            records.append(record_episode(env, seed, config.noise_std, config.image_size, driver))
            bar.update(1)
        arrays = frame_arrays(records)
        tmp = path.with_suffix(".tmp")
        save_file(arrays, str(tmp))
        tmp.replace(path)
        manifest["shards"].append({"file": path.name, "frames": int(arrays["frame"].shape[0])})
        manifest["episodes"].extend(
            {k: r[k] for k in ("seed", "instruction", "success", "length")} | {"shard": path.name} for r in records
        )
        manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    bar.close()
    return manifest


@dataclass
class Dataset:
    """A loaded dataset: frames concatenated over shards, and per-episode instructions."""

    image: np.ndarray
    state: np.ndarray
    action: np.ndarray
    episode: np.ndarray
    frame: np.ndarray
    instructions: dict[int, str]
    manifest: dict
    target: np.ndarray | None = None
    """[N, 4] peg and hole positions of the instruction (privileged, training only); None in version 1."""
    goal: np.ndarray | None = None
    """[N, 7] the expert's tool targets (policy.action_space); None before version 3."""
    wrist: np.ndarray | None = None
    """[N, S, S, 3] wrist-camera images; None unless generated with the wrist camera."""

    def __len__(self) -> int:
        return int(self.frame.shape[0])

    def action_chunks(self, chunk: int) -> np.ndarray:
        """[N, chunk, 7] labels: each frame's next `chunk` expert actions; after its episode ends, stand still."""
        chunks, same, last_valid = self._chunks(self.action, chunk)
        hold = np.zeros_like(chunks)
        hold[..., 6] = self.action[last_valid, 6][:, None]
        return np.where(same[..., None], chunks, hold)

    def goal_chunks(self, chunk: int) -> np.ndarray:
        """[N, chunk, 7] labels: each frame's next `chunk` tool targets; after its episode ends, the last one."""
        if self.goal is None:
            raise DatasetError("this dataset has no tool targets (format < 3); regenerate it with `dyq-vla gen-data`")
        chunks, same, last_valid = self._chunks(self.goal, chunk)
        return np.where(same[..., None], chunks, self.goal[last_valid][:, None, :])

    def _chunks(self, values: np.ndarray, chunk: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = len(self)
        raw = np.arange(n)[:, None] + np.arange(chunk)[None, :]
        idx = np.minimum(raw, n - 1)
        same = (raw < n) & (self.episode[idx] == self.episode[:, None])
        return values[idx], same, np.where(same, idx, -1).max(axis=1)

    def episodes(self) -> Iterator[np.ndarray]:
        """Frame indices of each episode."""
        starts = np.flatnonzero(np.r_[True, self.episode[1:] != self.episode[:-1]])
        for a, b in zip(starts, [*starts[1:], len(self)], strict=True):
            yield np.arange(a, b)


def _manifest(directory: Path) -> dict:
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except FileNotFoundError:
        raise DatasetError(f"{directory} has no {MANIFEST}; create it with `dyq-vla gen-data`") from None
    if manifest.get("format_version") not in READ_VERSIONS:
        raise DatasetError(f"{directory}: unsupported format version {manifest.get('format_version')}")
    if not manifest["shards"]:
        raise DatasetError(f"{directory} holds no complete shard")
    for shard in manifest["shards"]:
        if not (directory / shard["file"]).exists():
            raise DatasetError(f"{directory}: shard {shard['file']} listed in {MANIFEST} is missing")
    return manifest


def load_dataset(directory: Path) -> Dataset:
    """Read a dataset written by generate_dataset."""
    return load_datasets([directory])


def load_datasets(directories: Sequence[Path]) -> Dataset:
    """Read one or more datasets as one (their seeds must not repeat); the first one's manifest is kept.

    Shards are copied one at a time into arrays sized from the manifests, so reading needs the
    dataset's size plus one shard of memory, not twice the dataset's size.
    """
    directories = [Path(d) for d in directories]
    manifests = [_manifest(d) for d in directories]
    seeds = [int(e["seed"]) for m in manifests for e in m["episodes"]]
    if len(seeds) != len(set(seeds)):
        raise DatasetError("the datasets share episode seeds; give each its own --start-seed")
    total = sum(shard["frames"] for m in manifests for shard in m["shards"])
    arrays: dict[str, np.ndarray] = {}
    at = 0
    for directory, manifest in zip(directories, manifests, strict=True):
        for shard in manifest["shards"]:
            part = load_file(str(directory / shard["file"]))
            n = len(part["frame"])
            if not arrays:
                arrays = {k: np.empty((total, *v.shape[1:]), v.dtype) for k, v in part.items()}
            if set(part) != set(arrays) or part["image"].shape[1:] != arrays["image"].shape[1:]:
                raise DatasetError(
                    f"{directory}/{shard['file']}: tensors or image size differ from the other shards"
                    " (datasets trained together must all have, or all lack, wrist images)"
                )
            for key, value in part.items():
                arrays[key][at : at + n] = value
            at += n
    if at != total:
        raise DatasetError(f"the shards hold {at} frames, their manifests say {total}")
    return Dataset(
        image=arrays["image"],
        state=arrays["state"],
        action=arrays["action"],
        episode=arrays["episode"],
        frame=arrays["frame"],
        instructions={int(e["seed"]): e["instruction"] for m in manifests for e in m["episodes"]},
        manifest=manifests[0],
        target=arrays.get("target"),
        goal=arrays.get("goal"),
        wrist=arrays.get("wrist"),
    )
