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
    [L, M, B, C] (fp32 when ``frames=True``), padded prototypes masked in both (the frame logits
    with their dtype's lowest value, the instance logits, their mean, with -inf).  Two exact
    shortcuts, both linear algebra:

    * ``z_hat . p_hat = (z H)(p H)^T = z . (p H H^T)``: the heads move to the prototype side,
      so the [L, M, B, F, h] transformed frames are never formed (C << B F).
    * ``v = mean_j z_j`` (Eq. 1) and the heads are linear, so the instance logit is the mean
      over frames of the frame logits: no fourth matmul.

    The frame logits are a permuted *view* of one [L, B F, M C] matmul output (no copy of the
    largest tensor of the step, :func:`frame_cross_entropy` reads that layout back), and their
    padded columns are filled in place outside autograd (their gradient is zero either way).
    """
    L, B, Fr, h = z.shape
    M, C = keys.shape[1], keys.shape[2]
    if not frames:
        inst = torch.einsum("lbh,lmch->lmbc", z.mean(dim=2) / tau, keys)
        return None, inst.masked_fill(~proto_mask[:, None, None, :], torch.finfo(inst.dtype).min)
    flat = torch.bmm((z / tau).reshape(L, B * Fr, h), keys.reshape(L, M * C, h).transpose(1, 2))
    _fill_padded_(flat.detach().view(L, B * Fr, M, C), proto_mask)
    # in the logits' dtype (an fp32 accumulator inside; dtype=float32 would first copy all of them
    # to fp32), and 4-D (torch reduces the 5-D view ~6x slower); padded columns sum to -inf
    inst = flat.view(L, B, Fr, M * C).sum(dim=2).float().div_(Fr)
    inst = inst.view(L, B, M, C).permute(0, 2, 1, 3)                              # [L, M, B, C], fp32
    logits = flat.view(L, B, Fr, M, C).permute(0, 3, 1, 2, 4)                     # [L, M, B, F, C], a view
    return logits, inst


def _fill_padded_(rows: torch.Tensor, proto_mask: torch.Tensor) -> None:
    """Set the columns of padded prototypes of rows [L, ..., C] to the dtype's lowest value, in place.
    A level whose real prototypes are its first ``n`` columns (DBSCAN's labels 0..n-1, the usual
    case) has only its padded columns written; any other mask is applied to the whole level."""
    if bool(proto_mask.all()):
        return
    low = torch.finfo(rows.dtype).min
    for lv, n in enumerate(proto_mask.sum(1).tolist()):
        if bool(proto_mask[lv, :n].all()):
            rows[lv, ..., n:] = low
        else:
            rows[lv].masked_fill_(~proto_mask[lv], low)


_CE_CHUNK = 1 << 22          # logits per fp32 chunk of the forward (16 MB)


class _FrameCE(torch.autograd.Function):
    """Cross-entropy of every row of [L, M, B, F, C] logits against ``target`` [L, M, B, F], in fp32
    whatever the logits' dtype.

    The logits are read in the [L, B F, M, C] layout that :func:`contrast_logits` produces (a copy
    is made only for another layout).  Forward: chunk by chunk (``_CE_CHUNK`` logits) through
    torch's fused log-softmax with an fp32 result, so no fp32 copy of more than one chunk is ever
    held.  Backward: one softmax of all logits in their own dtype (fp32 accumulation inside, rounded
    once), scaled by the incoming gradient, with the target column ``(p_t - 1) g`` computed in fp32
    from the forward's ``p_t = exp(-CE)`` (a bf16 ``p_t`` near 1 would round ``p_t - 1`` away): the
    gradient comes in the logits' dtype and layout, with no fp32 copy.
    """

    @staticmethod
    def forward(ctx, logits, target):
        L, M, B, Fr, C = logits.shape
        rows = logits.permute(0, 2, 3, 1, 4).reshape(L, B * Fr, M, C)     # a view for contrast_logits' layout
        tgt = target.permute(0, 2, 3, 1).reshape(L, B * Fr, M, 1)
        ce = torch.empty(L, B * Fr, M, dtype=torch.float32, device=logits.device)
        acc = torch.promote_types(logits.dtype, torch.float32)           # fp32, or the logits' if wider
        step = max(1, _CE_CHUNK // (M * C))                                # frames per chunk
        for lv in range(L):
            for i in range(0, B * Fr, step):
                logp = torch.log_softmax(rows[lv, i:i + step], dim=-1, dtype=acc)
                ce[lv, i:i + step] = logp.gather(-1, tgt[lv, i:i + step]).squeeze(-1).neg_()
        ctx.save_for_backward(rows, tgt)
        ctx.ce, ctx.shape = ce, logits.shape
        return ce.view(L, B, Fr, M).permute(0, 3, 1, 2)

    @staticmethod
    def backward(ctx, grad_ce):
        rows, tgt = ctx.saved_tensors
        L, M, B, Fr, C = ctx.shape
        g = grad_ce.permute(0, 2, 3, 1).reshape(L, B * Fr, M, 1).float()
        grad = torch.softmax(rows, dim=-1).mul_(g.to(rows.dtype))         # p g, in the logits' dtype
        target_grad = torch.expm1(ctx.ce.neg()[..., None]).mul_(g)         # (p_t - 1) g, fp32
        # at the target columns, by flat index (on this CPU 0.1 ms; scatter_ along the last dim: 15 ms)
        flat_target = torch.arange(tgt.numel(), device=tgt.device) * C + tgt.reshape(-1)
        grad.view(-1).index_put_((flat_target,), target_grad.reshape(-1).to(grad.dtype))
        return grad.view(L, B, Fr, M, C).permute(0, 3, 1, 2, 4), None


def frame_cross_entropy(frame_logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-frame cross-entropy [L, M, B, F] (fp32) of frame logits [L, M, B, F, C] (padded
    prototypes already masked, as :func:`contrast_logits` returns them) against target cluster ids
    [L, M, B, F]."""
    return _FrameCE.apply(frame_logits, target)


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
    (paper silent; the authors' code lets them flow).  The frame logits may be bf16, their padded
    prototypes masked (:func:`contrast_logits`); the cross-entropy and the importance are fp32.
    """
    L, M, B, Fr, _ = frame_logits.shape
    pred = predicted_prototype(inst_logits.detach())
    sims = frame_logits.gather(-1, pred[..., None, None].expand(L, M, B, Fr, 1)).squeeze(-1).float()
    if not scale_sims_by_tau:
        sims = sims * tau
    if not grad_through_importance:
        sims = sims.detach()
    delta = hsm_importance(sims, pred, labels.clamp(min=0))
    safe = labels.clamp(min=0)
    ce = frame_cross_entropy(frame_logits, safe[:, None, :, None].expand(L, M, B, Fr))
    per_inst = (delta * ce).sum(-1).sum(1)          # over frames and heads -> [L, B]
    w = valid.to(ce.dtype)
    per_level = (per_inst * w).sum(1) / w.sum(1).clamp(min=1.0)
    loss = _level_mean(per_level, level_weights)
    return (loss, delta) if return_importance else loss
