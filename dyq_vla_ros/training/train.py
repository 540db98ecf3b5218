"""Flow-matching training of a tiny PI0ForConditionalGeneration on a demonstration dataset (CPU-sized)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import PI0ForConditionalGeneration

from dyq_vla_ros.policy.action_space import (
    TARGET_SPACES,
)
from dyq_vla_ros.policy.checkpoint import save_checkpoint
from dyq_vla_ros.policy.configuration_pi0 import TinyPi0Architecture
from dyq_vla_ros.policy.embedded import INSTRUCTION_WORDS
from dyq_vla_ros.policy.format_dyq import ProcessorConfig, build_word_tokenizer
from dyq_vla_ros.policy.processor_pi0 import WRIST_CAMERA, Pi0Processor
from dyq_vla_ros.quant.qat import Int4WeightGrid
from dyq_vla_ros.sim.seeds import calibration_seeds, train_seeds
from dyq_vla_ros.training.batches import Batches, Frames, pixels_from_uint8
from dyq_vla_ros.training.config import TrainConfig, lr_at
from dyq_vla_ros.training.data import load_datasets
from dyq_vla_ros.training.errors import DatasetError
from dyq_vla_ros.training.labels import auxiliary_targets, dataset_calibration, label_chunks, processor_config
from dyq_vla_ros.training.objectives import AuxiliaryLocaliser, flow_matching_loss
from dyq_vla_ros.training.start_frames import record_start_frames
from dyq_vla_ros.training.vision import pretrain_vision, render_layouts

STATE_FILE = "training_state.pt"
LOG_FILE = "training_log.json"
LOSS_PLOT = "loss_curve.png"

START_FRAME_SEEDS = 500_000
"""First training seed of the start frames' layouts: clear of gen-data episodes and of calibration seeds."""
VISION_HELD_OUT = 200
"""Layouts (calibration seeds, never trained on) on which the pretrained tower's error is reported."""


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
    processor = Pi0Processor(proc_cfg.spec(model.config, tokenizer), tokenizer)
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
    sources = [Frames(data, labels if targets else data.action_chunks(chunk), processor, aux_targets)]
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
        sources.append(Frames(start.frames, labels, processor, start_aux))
        shares = [1.0 - config.start_share, config.start_share]
    batches = Batches(sources, shares, processor, config.seed + start_step, config.shift_px)
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
