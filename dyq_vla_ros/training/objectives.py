"""The training losses: flow matching on the real action dims, and the auxiliary localisation head."""

from __future__ import annotations

import numpy as np
import torch
from transformers import PI0ForConditionalGeneration


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
