"""Pure loss functions of Hi-MPC (Eq. 5) and Hi-MPCh with hard skeleton mining (Eq. 6-9).

Shapes use L levels, M heads, B instances, F frames, C prototypes (padded to the largest
level; ``proto_mask`` marks real prototypes).  Every function is batched over levels and
heads: no Python loop over either.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

NEG_INF = torch.finfo(torch.float32).min


def prototype_logits(queries: torch.Tensor, protos: torch.Tensor, proto_mask: torch.Tensor,
                     tau: float) -> torch.Tensor:
    """Dot-product similarities q . p / tau for every head (Eq. 5 / 9 inner terms).

    queries [L, M, B, (F,) h], protos [L, M, C, h], proto_mask [L, C] -> [L, M, B, (F,) C];
    padded prototypes get -inf-like logits.
    """
    queries = queries / tau                      # scale the [.., h] side: cheaper than [.., C]
    if queries.dim() == 5:
        logits = torch.einsum("lmbfh,lmch->lmbfc", queries, protos)
        mask = proto_mask[:, None, None, None, :]
    else:
        logits = torch.einsum("lmbh,lmch->lmbc", queries, protos)
        mask = proto_mask[:, None, None, :]
    if bool(proto_mask.all()):
        return logits
    return logits.masked_fill_(~mask, NEG_INF)   # in place: the einsum backward does not need its output


def contrast_logits(z: torch.Tensor, keys: torch.Tensor, proto_mask: torch.Tensor, tau: float,
                    frames: bool = True) -> tuple[Optional[torch.Tensor], torch.Tensor]:
    """Frame logits (Eq. 9) and instance logits (Eq. 5) of every head in one matmul.

    z [L, B, F, h] encoder frame features, keys [L, M, C, h] from
    :meth:`himpc.model.HiMPCModel.contrast_keys` (``p_hat H^T``), proto_mask [L, C].
    Returns frame logits [L, M, B, F, C] (None when ``frames=False``) and instance logits
    [L, M, B, C].  Two exact shortcuts, both linear algebra, no approximation:

    * ``z_hat . p_hat = (z H)(p H)^T = z . (p H H^T)``: the heads move to the prototype side,
      so the [L, M, B, F, h] transformed frames are never formed (C << B F).
    * ``v = mean_j z_j`` (Eq. 1) and the heads are linear, so the instance logit is the mean
      over frames of the frame logits: no fourth matmul.
    """
    if frames:
        logits = torch.einsum("lbfh,lmch->lmbfc", z / tau, keys)
        inst = logits.mean(dim=3)
        mask = proto_mask[:, None, None, None, :]
    else:
        logits = None
        inst = torch.einsum("lbh,lmch->lmbc", z.mean(dim=2) / tau, keys)
    if bool(proto_mask.all()):
        return logits, inst
    if logits is not None:
        logits = logits.masked_fill(~mask, torch.finfo(logits.dtype).min)
    return logits, inst.masked_fill(~proto_mask[:, None, None, :], torch.finfo(inst.dtype).min)


def _level_mean(per_level: torch.Tensor, level_weights: torch.Tensor) -> torch.Tensor:
    return (per_level * level_weights).sum()


def hi_mpc_loss(inst_logits: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor,
                level_weights: torch.Tensor) -> torch.Tensor:
    """Hi-MPC loss (Eq. 5): cross-entropy of meta-instances against meta-prototypes.

    inst_logits [L, M, B, C] (already divided by tau), labels [L, B] cluster ids,
    valid [L, B] (False for outliers at that level).  Per level the loss is summed over
    heads and averaged over that level's valid instances; ``level_weights`` [L] scales each
    level (1/M for the paper's head average, see ``Config.joint_loss_divide_by_m``).
    """
    L, M, B, C = inst_logits.shape
    safe = labels.clamp(min=0)
    ce = F.cross_entropy(inst_logits.reshape(L * M * B, C), safe[:, None, :].expand(L, M, B).reshape(-1),
                         reduction="none").view(L, M, B)
    w = valid.to(ce.dtype)
    per_level = (ce.sum(1) * w).sum(1) / w.sum(1).clamp(min=1.0)
    return _level_mean(per_level, level_weights)


def predicted_prototype(inst_logits: torch.Tensor) -> torch.Tensor:
    """Eq. 6: the label of the most similar meta-prototype per head, [L, M, B]."""
    return inst_logits.argmax(-1)


def hsm_importance(frame_sims: torch.Tensor, predicted: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Eq. 7-8: informative importance delta of every frame, softmax over the F frames.

    frame_sims [L, M, B, F]: similarity of each transformed frame to the meta-prototype of
    the predicted cluster; predicted [L, M, B] (Eq. 6); labels [L, B] (DBSCAN label c_hat).
    I = -1 when the prediction is right (hardest positive = least certain frame),
    +1 when wrong (hardest negative = most certain frame).
    """
    sign = torch.where(predicted == labels[:, None, :], -1.0, 1.0).to(frame_sims.dtype)
    return torch.softmax(sign[..., None] * frame_sims, dim=-1)


def hi_mpch_loss(frame_logits: torch.Tensor, inst_logits: torch.Tensor, labels: torch.Tensor,
                 valid: torch.Tensor, level_weights: torch.Tensor, tau: float,
                 scale_sims_by_tau: bool = False, grad_through_importance: bool = False,
                 return_importance: bool = False):
    """Hi-MPCh loss (Eq. 9): importance-weighted frame-level meta-prototype contrast.

    frame_logits [L, M, B, F, C] (z_hat_j . p_hat_c / tau), inst_logits [L, M, B, C]
    (v_hat . p_hat_c / tau, only used for the prediction of Eq. 6).  For each level the loss
    sums delta_j * CE_j over frames and heads and averages over valid instances.
    ``scale_sims_by_tau``: Eq. 7-8 use the raw dot products; the authors' code uses them
    divided by tau.  ``grad_through_importance``: whether gradients flow through delta
    (paper silent; the authors' code lets them flow).
    """
    L, M, B, Fr, C = frame_logits.shape
    pred = predicted_prototype(inst_logits.detach())
    sims = frame_logits.gather(-1, pred[..., None, None].expand(L, M, B, Fr, 1)).squeeze(-1)
    if not scale_sims_by_tau:
        sims = sims * tau
    if not grad_through_importance:
        sims = sims.detach()
    delta = hsm_importance(sims, pred, labels.clamp(min=0))
    safe = labels.clamp(min=0)
    target = safe[:, None, :, None].expand(L, M, B, Fr).reshape(-1)
    ce = F.cross_entropy(frame_logits.reshape(-1, C), target, reduction="none").view(L, M, B, Fr)
    per_inst = (delta * ce).sum(-1).sum(1)          # over frames and heads -> [L, B]
    w = valid.to(ce.dtype)
    per_level = (per_inst * w).sum(1) / w.sum(1).clamp(min=1.0)
    loss = _level_mean(per_level, level_weights)
    return (loss, delta) if return_importance else loss
