"""The training objective of one batch: Hi-MPC (Eq. 5) or Hi-MPCh (Eq. 9) over all levels."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .config import Config
from .losses import contrast_logits, hi_mpc_loss, hi_mpch_loss
from .precision import autocast
from .model import HiMPCModel, Prototypes


def level_weights(cfg: Config, active: torch.Tensor, num_heads: int) -> torch.Tensor:
    """Weight of each level's loss.

    Paper: every level's loss is averaged over its M heads (Eq. 5 "averaged over all
    meta-instances").  Authors' code (``joint_loss_divide_by_m=False``): the joint-level
    loss is summed over heads and only the other levels are divided by M.  Levels are then
    averaged (the code's ``/3``); inactive levels (fewer than 2 clusters) weigh 0.
    """
    w = torch.full((len(cfg.levels),), 1.0 / num_heads)
    if not cfg.joint_loss_divide_by_m and "J" in cfg.levels:
        w[cfg.levels.index("J")] = 1.0
    w = w.to(active.device) * active.float()
    return w / active.float().sum().clamp(min=1.0)


@dataclass
class BatchOutput:
    loss: torch.Tensor
    importance: torch.Tensor | None = None   # delta [L, M, B, F] when HSM is on
    instances: torch.Tensor | None = None    # detached instance features v [L, B, h] (Eq. 1), for a memory


def batch_loss(model: HiMPCModel, protos: Prototypes, x: torch.Tensor, labels: torch.Tensor,
               cfg: Config, return_importance: bool = False, precision: str = "fp32") -> BatchOutput:
    """Loss of one batch. x [L, B, F, D] padded level inputs, labels [L, B] (-1 = outlier).

    ``precision="bf16"``: the encoder and the prototype contrast run in bfloat16 (autocast);
    the logits are cast back to fp32 before softmax / cross-entropy.  Pass the *effective*
    precision (:func:`himpc.precision.effective_precision`).
    """
    tau = cfg.temperature
    valid = (labels >= 0) & protos.active[:, None]
    weights = level_weights(cfg, protos.active, model.num_heads)
    with autocast(precision, x.device):
        z = model.encode_frames(x)                               # [L, B, F, h], Eq. 1 before pooling
        keys = model.contrast_keys(protos.protos)                # p_hat H^T, Eq. 4
        frame_logits, inst_logits = contrast_logits(z, keys, protos.mask, tau, frames=cfg.hsm)   # Eq. 3, 5, 9
    inst = model.pool(z.detach().float()) if cfg.memory_momentum > 0 else None
    if not cfg.hsm:
        return BatchOutput(hi_mpc_loss(inst_logits.float(), labels, valid, weights), None, inst)
    loss, delta = hi_mpch_loss(frame_logits, inst_logits, labels, valid, weights, tau,
                               scale_sims_by_tau=cfg.hsm_scale_by_tau, grad_through_importance=cfg.hsm_grad,
                               return_importance=True)
    return BatchOutput(loss, delta if return_importance else None, inst)
