"""Flow-matching training of a tiny PI0ForConditionalGeneration on a demonstration dataset (CPU-sized)."""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from transformers import PI0ForConditionalGeneration

from dyq_vla_ros.contract import KEEP_FLOAT_DEFAULT
from dyq_vla_ros.dyq.calibration import Calibration, action_magnitudes, joint_magnitudes, p95_priors
from dyq_vla_ros.policy.action_space import (
    TARGET_SPACES,
    TOOL_OFFSET,
    TOOL_TARGET,
    check_action_space,
    targets_to_offsets,
)
from dyq_vla_ros.policy.checkpoint import save_checkpoint
from dyq_vla_ros.policy.configuration_pi0 import TinyPi0Architecture
from dyq_vla_ros.policy.embedded import INSTRUCTION_WORDS
from dyq_vla_ros.policy.processor_pi0 import (
    SCENE_CAMERA,
    WRIST_CAMERA,
    Pi0Processor,
    ProcessorConfig,
    build_word_tokenizer,
)
from dyq_vla_ros.policy.state_features import JOINTS_AND_TOOL, state_features
from dyq_vla_ros.quant.qat import Int4WeightGrid
from dyq_vla_ros.sim.env import MAX_ROTATION, MAX_TRANSLATION
from dyq_vla_ros.sim.scene import sample_scene
from dyq_vla_ros.sim.seeds import calibration_seeds, train_seeds
from dyq_vla_ros.training.data import Dataset, DatasetError, load_datasets
from dyq_vla_ros.training.start_frames import record_start_frames
from dyq_vla_ros.training.vision import four_fold, pretrain_vision, render_layouts

STATE_FILE = "training_state.pt"
LOG_FILE = "training_log.json"
LOSS_PLOT = "loss_curve.png"
SIM_CONTROL_PERIOD_S = 0.1
"""The simulator's step, used for the joint-state normalisers (demonstrations step at 10 Hz)."""

TRAINED_ARCHITECTURE = TinyPi0Architecture(
    image_size=96,
    patch_size=12,
    hidden_size=96,
    intermediate_size=256,
    num_layers=3,
    num_heads=2,
    head_dim=48,
    vision_hidden_size=96,
    vision_layers=3,
    chunk_size=10,
    max_state_dim=16,
    num_inference_steps=5,
)
"""The architecture of the shipped embedded model."""


@dataclass
class TrainConfig:
    """Optimisation settings."""

    steps: int = 6000
    batch_size: int = 32
    lr: float = 5e-4
    warmup_steps: int = 200
    weight_decay: float = 1e-4
    seed: int = 0
    threads: int = 0
    """torch intra-op threads; 0 keeps torch's default."""
    checkpoint_every: int = 500
    time_limit_s: float = 0.0
    """Stop (with a checkpoint) after this many seconds; 0 means no limit. The learning-rate decay
    follows whichever of steps and time runs out first, so a time-limited run still ends annealed."""
    shift_px: int = 0
    """Random-shift image augmentation of up to this many pixels (0: off)."""
    aux_weight: float = 1.0
    """Weight of the auxiliary localisation loss (named peg and hole from the action tokens); 0 disables it."""
    vision_layouts: int = 20000
    """Rendered layouts (first frames of training seeds) for localisation pretraining of the vision tower."""
    vision_steps: int = 0
    """Steps of that pretraining, run once before flow matching; 0 disables it."""
    vision_arm_poses: bool = True
    """Pretrain on frames with the arm moved to random workspace points (its tool tip located too)."""
    state_features: str = JOINTS_AND_TOOL
    """The model's state (policy.state_features): "joints", "joints+tool" or "height+gripper"."""
    action_space: str = TOOL_TARGET
    """What the model learns (policy.action_space): "tool_target" (expert targets), "tool_offset" or "delta"."""
    offset_scale: float = 0.01
    """With tool_offset: scale (m) of the logarithmic compander of position offsets (policy.action_space); 0: linear."""
    start_frames: int = 0
    """First-move frames from this many new layouts (training.start_frames), mixed into flow matching; 0: none."""
    start_share: float = 0.25
    """Share of each batch drawn from those start frames."""
    start_holding: float = 0.5
    """Share of the start frames that carry the named peg (first moves of a transport)."""
    start_near: float = 0.0
    """Share of the start frames placed within 3 cm of the next target (the last centimetres of a grasp or insert)."""
    init_from: str = ""
    """Start from this checkpoint's weights and normalisation (fine-tuning, e.g. on DAgger data); "" for scratch."""
    qat_group_size: int = 0
    """Quantization-aware training: the layers the policy quantizes compute on the 4-bit grid of this group
    size (the policy's group_size, 64) and the checkpoint is saved on it; 0: float training."""
    qat_keep_float: list[str] = field(default_factory=lambda: list(KEEP_FLOAT_DEFAULT))
    """Globs of linear layers QAT leaves in float: the node's keep_float_modules."""
    architecture: dict = field(default_factory=lambda: asdict(TRAINED_ARCHITECTURE))


def processor_config(
    data: Dataset, features: str = JOINTS_AND_TOOL, action_space: str = TOOL_TARGET, offset_scale: float = 0.0
) -> ProcessorConfig:
    """Normalisation statistics of a dataset's (featurised) states and its labels in the chosen action space."""

    def stats(x: np.ndarray) -> tuple[list[float], list[float]]:
        return x.mean(0).astype(float).tolist(), np.maximum(x.std(0), 1e-3).astype(float).tolist()

    state_mean, state_std = stats(state_features(features, data.state))
    scale = offset_scale if action_space == TOOL_OFFSET else 0.0
    action_mean, action_std = stats(action_labels(data, action_space, scale))
    return ProcessorConfig(
        state_dim=data.state.shape[1],
        action_dim=data.action.shape[1],
        state_mean=state_mean,
        state_std=state_std,
        action_mean=action_mean,
        action_std=action_std,
        joint_names=list(data.manifest["joint_names"]),
        state_features=features,
        action_space=action_space,
        max_translation=MAX_TRANSLATION,
        max_rotation=MAX_ROTATION,
        cameras=[SCENE_CAMERA, WRIST_CAMERA] if data.wrist is not None else [SCENE_CAMERA],
        offset_scale=scale,
    )


def action_labels(data: Dataset, action_space: str, offset_scale: float = 0.0) -> np.ndarray:
    """Per-frame labels [N, 7]: the expert's deltas, its tool targets, or those relative to the tool."""
    check_action_space(action_space)
    if action_space not in TARGET_SPACES:
        return data.action
    if data.goal is None:
        raise DatasetError("tool-target training needs a dataset with goals (format 3); regenerate it with gen-data")
    return label_chunks(data.goal[:, None], data.state, action_space, offset_scale)[:, 0]


def label_chunks(goal_chunks: np.ndarray, states: np.ndarray, action_space: str, offset_scale: float) -> np.ndarray:
    """[N, K, 7] tool-target chunks in the model's action space (offsets are relative to each frame's tool)."""
    if action_space != TOOL_OFFSET:
        return goal_chunks
    return targets_to_offsets(goal_chunks, states, offset_scale)


def dataset_calibration(data: Dataset) -> Calibration:
    """P95 priors of both proxy sources from the demonstrations (thresholds stay at their defaults)."""
    episodes = [idx for idx in data.episodes() if len(idx) >= 4]
    if not episodes:
        raise DatasetError("no episode of 4 or more frames to calibrate from")
    return Calibration(
        action=p95_priors(action_magnitudes(data.action[idx]) for idx in episodes),
        joint_state=p95_priors(
            joint_magnitudes(data.state[idx], np.arange(len(idx)) * SIM_CONTROL_PERIOD_S) for idx in episodes
        ),
    )


START_FRAME_SEEDS = 500_000
"""First training seed of the start frames' layouts: clear of gen-data episodes and of calibration seeds."""
VISION_HELD_OUT = 200
"""Layouts (calibration seeds, never trained on) on which the pretrained tower's error is reported."""


def pixels_from_uint8(images: np.ndarray, processor: Pi0Processor) -> torch.Tensor:
    """Normalised [B, 3, S, S] pixels from uint8 [B, S, S, 3] frames already at the model's size."""
    img = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).to(torch.float32) / 255.0
    return (img - processor._img_mean) / processor._img_std


def vision_pretraining(
    model: PI0ForConditionalGeneration, processor: Pi0Processor, config: TrainConfig, image_size: int, *, progress: bool
) -> dict:
    """Localisation pretraining of the vision tower on config.vision_layouts layouts; its record for the log."""
    t0 = time.monotonic()
    layouts = render_layouts(train_seeds(config.vision_layouts), image_size, arm_poses=config.vision_arm_poses)
    held_out = render_layouts(calibration_seeds(VISION_HELD_OUT), image_size, arm_poses=config.vision_arm_poses)
    result = pretrain_vision(
        model,
        lambda images: pixels_from_uint8(images, processor),
        layouts,
        held_out,
        steps=config.vision_steps,
        batch_size=config.batch_size,
        seed=config.seed,
        progress=progress,
    )
    window = max(1, min(50, config.vision_steps // 5))
    return {
        "layouts": config.vision_layouts,
        "steps": config.vision_steps,
        "first_loss": float(np.mean(result.losses[:window])),
        "final_loss": float(np.mean(result.losses[-window:])),
        "held_out": result.held_out,
        "seconds": round(time.monotonic() - t0, 1),
    }


class _Frames:
    """One source of training frames: uint8 images, model-ready states and token ids, normalised label chunks."""

    def __init__(self, data: Dataset, chunks: np.ndarray, processor: Pi0Processor, aux: np.ndarray | None) -> None:
        ids = {ep: processor.token_ids(text) for ep, text in data.instructions.items()}
        if processor.wrist and data.wrist is None:
            raise DatasetError("this model takes wrist images; generate data with `dyq-vla gen-data --wrist-camera`")
        self.images = data.image
        self.wrist = data.wrist if processor.wrist else None
        self.input_ids = torch.stack([ids[int(e)][0] for e in data.episode])
        self.attention = torch.stack([ids[int(e)][1] for e in data.episode])
        self.state = torch.stack([processor.state_tensor(s) for s in data.state])
        self.actions = processor.normalize_actions(chunks)
        self.aux = aux

    def __len__(self) -> int:
        return len(self.images)


class _Batches:
    """Random training batches as PI0 inputs, built from uint8 frames on the fly (a share from start frames)."""

    def __init__(
        self,
        sources: list[_Frames],
        shares: list[float],
        processor: Pi0Processor,
        seed: int,
        shift_px: int = 0,
    ) -> None:
        self.sources = sources
        self.shares = np.asarray(shares, float) / np.sum(shares)
        self.processor = processor
        self.rng = np.random.default_rng(seed)
        self.shift_px = shift_px

    def sample(self, size: int) -> tuple[dict, torch.Tensor, np.ndarray | None]:
        """(model inputs, normalised label chunks, auxiliary targets or None) of `size` random frames."""
        counts = self.rng.multinomial(size, self.shares)
        picks = [(src, self.rng.integers(0, len(src), n)) for src, n in zip(self.sources, counts, strict=True) if n]
        views = [pixels_from_uint8(np.concatenate([src.images[i] for src, i in picks]), self.processor)]
        if self.processor.wrist:
            views.append(pixels_from_uint8(np.concatenate([src.wrist[i] for src, i in picks]), self.processor))
        if self.shift_px:  # replicated edges: shifting normalised pixels equals normalising shifted ones
            views = [random_shift(v, self.shift_px, self.rng) for v in views]
        inputs = {
            "pixel_values": torch.stack(views, 1),
            "pixel_attention_mask": torch.ones(size, len(views), dtype=torch.bool),
            "input_ids": torch.cat([src.input_ids[i] for src, i in picks]),
            "attention_mask": torch.cat([src.attention[i] for src, i in picks]),
            "state": torch.cat([src.state[i] for src, i in picks]),
        }
        actions = torch.cat([src.actions[i] for src, i in picks])
        aux = None if picks[0][0].aux is None else np.concatenate([src.aux[i] for src, i in picks])
        return inputs, actions, aux


def flow_matching_loss(model: PI0ForConditionalGeneration, inputs: dict, actions: torch.Tensor, action_dim: int):
    """PI0's flow-matching loss restricted to the real (unpadded) action dimensions."""
    cfg = model.config
    batch = actions.shape[0]
    beta = torch.distributions.Beta(cfg.time_sampling_beta_alpha, cfg.time_sampling_beta_beta)
    t = beta.sample((batch,)) * cfg.time_sampling_scale + cfg.time_sampling_offset
    noise = torch.randn_like(actions)
    te = t[:, None, None]
    noisy = te * noise + (1 - te) * actions
    out = model(noise=noisy, timestep=t, **inputs)
    target = noise - actions
    return torch.nn.functional.mse_loss(out.logits[..., :action_dim], target[..., :action_dim])


def random_shift(images: torch.Tensor, pad: int, rng: np.random.Generator) -> torch.Tensor:
    """Each [C, H, W] image shifted by up to pad pixels each way, edges replicated (DrQ-style augmentation)."""
    padded = torch.nn.functional.pad(images, (pad, pad, pad, pad), mode="replicate")
    h, w = images.shape[-2:]
    offsets = rng.integers(0, 2 * pad + 1, (images.shape[0], 2))
    return torch.stack([padded[i, :, y : y + h, x : x + w] for i, (y, x) in enumerate(offsets)])


class AuxiliaryLocaliser(torch.nn.Module):
    """Training-only head: the instruction's peg and hole positions from the action expert's last hidden states.

    Flow matching alone let the policy ignore the camera (its actions barely changed with the
    scene). A head on the VLM prefix did not help either: PI0's action expert reads the prefix only
    through each layer's keys and values, never the prefix's final output, so that head trained a
    path the actions never use. Asking the action tokens themselves where the named peg and hole
    are forces the path from the image to the actions. The head is not part of the saved checkpoint.
    """

    def __init__(self, model: PI0ForConditionalGeneration, targets: np.ndarray) -> None:
        super().__init__()
        self.head = torch.nn.Linear(model.config.dit_config.hidden_size, targets.shape[1])
        self.register_buffer("mean", torch.from_numpy(np.nanmean(targets, 0)).float())
        self.register_buffer("std", torch.from_numpy(np.maximum(np.nanstd(targets, 0), 1e-3)).float())
        self._hidden: torch.Tensor | None = None
        model.action_out_proj.register_forward_pre_hook(self._keep_hidden)

    def _keep_hidden(self, module: torch.nn.Module, args: tuple) -> None:
        self._hidden = args[0]

    def loss(self, targets: np.ndarray) -> torch.Tensor:
        """MSE of the normalised targets predicted from the last forward pass's action tokens (NaN: unknown)."""
        pooled = self._hidden.mean(1)
        wanted = (torch.from_numpy(targets).float() - self.mean) / self.std
        known = ~torch.isnan(wanted)
        err = torch.where(known, self.head(pooled) - wanted.nan_to_num(), torch.zeros_like(wanted))
        return (err**2).sum() / known.sum().clamp(min=1)


def auxiliary_targets(data: Dataset) -> np.ndarray | None:
    """Per frame: named peg and hole xy, hole yaw and (NaN once moved) peg yaw; yaws as (cos 4y, sin 4y)."""
    if data.target is None:
        return None
    start = {}
    for seed in data.instructions:
        scene, task = sample_scene(np.random.default_rng(seed))
        peg = scene.pegs[scene.peg(task.peg_colour)]
        start[seed] = (peg.pos[0], peg.pos[1], peg.yaw, scene.blocks[scene.block(task.hole_colour)].yaw)
    first = np.array([start[int(e)] for e in data.episode])
    unmoved = np.all(np.abs(data.target[:, :2] - first[:, :2]) < 1e-6, axis=1)
    peg_yaw = np.where(unmoved, first[:, 2], np.nan)
    four = np.concatenate([four_fold(first[:, 3]), four_fold(peg_yaw)], 1)
    return np.concatenate([data.target, four], 1).astype(np.float32)


def lr_at(step: int, config: TrainConfig, elapsed_s: float = 0.0) -> float:
    """Learning rate: linear warm-up, then cosine decay to 5 % over the steps or the time limit."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    if config.time_limit_s > 0:
        progress = max(progress, elapsed_s / config.time_limit_s)
    return config.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def plot_losses(losses: list[float], path: Path) -> None:
    """Training loss (and its running mean) over steps, as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    steps = np.arange(1, len(losses) + 1)
    ax.plot(steps, losses, lw=0.5, alpha=0.4, label="batch loss")
    if len(losses) >= 50:
        k = 50
        ax.plot(steps[k - 1 :], np.convolve(losses, np.ones(k) / k, mode="valid"), lw=1.5, label="mean of 50")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("flow-matching MSE")
    ax.set_title("dyq-vla train")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


@dataclass
class TrainResult:
    """What a training run produced."""

    out_dir: Path
    steps: int
    final_loss: float
    seconds: float
    losses: list[float]


def train(data_dir: Path | Sequence[Path], out_dir: Path, config: TrainConfig, *, progress: bool = True) -> TrainResult:
    """Train (or resume training) a tiny PI0 on one or more datasets; writes a loadable checkpoint to out_dir."""
    from tqdm import tqdm

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    data_dirs = [Path(data_dir)] if isinstance(data_dir, (str, Path)) else [Path(d) for d in data_dir]
    data = load_datasets(data_dirs)
    if config.init_from:
        model = PI0ForConditionalGeneration.from_pretrained(config.init_from)
        proc_cfg = ProcessorConfig.load(Path(config.init_from))
        wrist_data = data.wrist is not None
        if proc_cfg.action_space != config.action_space or wrist_data != (WRIST_CAMERA in proc_cfg.cameras):
            # the weights carry over (vision tower, language, action expert); the outputs' meaning is relearnt
            proc_cfg = processor_config(data, proc_cfg.state_features, config.action_space, config.offset_scale)
    else:
        model = PI0ForConditionalGeneration(TinyPi0Architecture(**config.architecture).to_pi0_config())
        proc_cfg = processor_config(data, config.state_features, config.action_space, config.offset_scale)
    image_size = model.config.vlm_config.vision_config.image_size
    if data.image.shape[1:3] != (image_size, image_size):
        raise DatasetError(f"dataset images are {data.image.shape[1:3]}, the model takes {image_size} square")
    tokenizer = build_word_tokenizer(INSTRUCTION_WORDS)
    processor = Pi0Processor.for_model(proc_cfg, tokenizer, model.config)
    aux_targets = auxiliary_targets(data) if config.aux_weight > 0 else None
    aux = AuxiliaryLocaliser(model, aux_targets) if aux_targets is not None else None
    earlier = Path(config.init_from) / STATE_FILE if config.init_from else None
    if aux is not None and earlier is not None and earlier.exists():  # keep the head the weights were trained with
        head = torch.load(earlier, weights_only=False)["aux"]
        if head and head["head.weight"].shape == aux.head.weight.shape:
            aux.load_state_dict(head)
    params = [*model.parameters(), *(aux.parameters() if aux else [])]
    grid = Int4WeightGrid(model, config.qat_group_size, config.qat_keep_float) if config.qat_group_size else None
    on_grid = grid.snapped if grid else contextlib.nullcontext
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    losses: list[float] = []
    aux_losses: list[float] = []
    vision: dict | None = None
    start_step = 0
    state_path = out_dir / STATE_FILE
    if state_path.exists():
        state = torch.load(state_path, weights_only=False)
        if state["config"] != asdict(config):
            raise ValueError(f"{state_path} was written with other settings; use a new output directory")
        model.load_state_dict(state["model"])
        if aux is not None:
            aux.load_state_dict(state["aux"])
        optimizer.load_state_dict(state["optimizer"])
        losses, aux_losses, start_step = state["losses"], state.get("aux_losses", []), state["step"]
        vision = state.get("vision")
        torch.set_rng_state(state["torch_rng"])
    elif config.vision_steps > 0 and not config.init_from:
        vision = vision_pretraining(model, processor, config, image_size, progress=progress)
    chunk = model.config.chunk_size
    targets = proc_cfg.action_space in TARGET_SPACES
    scale = proc_cfg.offset_scale
    labels = label_chunks(data.goal_chunks(chunk), data.state, proc_cfg.action_space, scale) if targets else None
    sources = [_Frames(data, labels if targets else data.action_chunks(chunk), processor, aux_targets)]
    shares = [1.0]
    if config.start_frames:
        start = record_start_frames(
            train_seeds(config.start_frames, START_FRAME_SEEDS),
            image_size,
            chunk,
            holding=config.start_holding,
            near=config.start_near,
            wrist=processor.wrist,
            progress=progress,
        )
        start_aux = auxiliary_targets(start.frames) if aux is not None else None
        labels = (
            label_chunks(start.goal_chunks, start.frames.state, proc_cfg.action_space, scale)
            if targets
            else start.action_chunks
        )
        sources.append(_Frames(start.frames, labels, processor, start_aux))
        shares = [1.0 - config.start_share, config.start_share]
    batches = _Batches(sources, shares, processor, config.seed + start_step, config.shift_px)
    calibration = dataset_calibration(data)

    def save(step: int) -> None:
        model.eval()
        with on_grid():  # the float masters stay in the training state below
            save_checkpoint(out_dir, model, proc_cfg, tokenizer, calibration)
        model.train()
        torch.save(
            {
                "config": asdict(config),
                "model": model.state_dict(),
                "aux": aux.state_dict() if aux else None,
                "optimizer": optimizer.state_dict(),
                "losses": losses,
                "aux_losses": aux_losses,
                "vision": vision,
                "step": step,
                "torch_rng": torch.get_rng_state(),
            },
            state_path,
        )
        plot_losses(losses, out_dir / LOSS_PLOT)
        log = {
            "steps": step,
            "final_loss": float(np.mean(losses[-50:])) if losses else None,
            "final_aux_loss": float(np.mean(aux_losses[-50:])) if aux_losses else None,
            "vision_pretraining": vision,
            "frames": len(data),
            "episodes": len(data.instructions),
            "dataset": ", ".join(str(d) for d in data_dirs),
            "train_config": asdict(config),
            "parameters": sum(p.numel() for p in model.parameters()),
        }
        (out_dir / LOG_FILE).write_text(json.dumps(log, indent=2) + "\n")

    model.train()
    t0 = time.monotonic()
    step = start_step
    bar = tqdm(total=config.steps, initial=start_step, desc="train", unit="step", disable=not progress)
    while step < config.steps:
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, config, time.monotonic() - t0)
        inputs, actions, aux_wanted = batches.sample(config.batch_size)
        optimizer.zero_grad(set_to_none=True)
        with on_grid():
            flow = flow_matching_loss(model, inputs, actions, proc_cfg.action_dim)
            loss = flow
            if aux is not None:
                aux_loss = aux.loss(aux_wanted)
                aux_losses.append(float(aux_loss.detach()))
                loss = flow + config.aux_weight * aux_loss
            loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        losses.append(float(flow.detach()))
        step += 1
        bar.update(1)
        shown = {"loss": f"{np.mean(losses[-50:]):.4f}"}
        if aux_losses:
            shown["aux"] = f"{np.mean(aux_losses[-50:]):.3f}"
        bar.set_postfix(shown)
        out_of_time = config.time_limit_s and time.monotonic() - t0 > config.time_limit_s
        if step % config.checkpoint_every == 0 or step == config.steps or out_of_time:
            save(step)
        if out_of_time:
            break
    bar.close()
    if step == start_step:
        save(step)
    return TrainResult(
        out_dir, step, float(np.mean(losses[-50:])) if losses else float("nan"), time.monotonic() - t0, losses
    )
