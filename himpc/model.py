"""Per-level encoders, meta-transformation heads and the multi-level representation.

* Encoder psi^l (Eq. 1): an MLP with one hidden layer applied to every frame,
  ``z = W2 relu(W1 s + b1) + b2``, then temporal average pooling ``v = mean_j z_j``.
* Meta-transformation heads (Eq. 3-4, homogeneous H1 = H2): ``v_hat^m = v H^{l,m}``.
* MSMR (Eq. 10): ``V = [mean_m v_hat^{1,m}; ...]``.

All levels run in one batched matmul: level inputs are zero-padded to the widest level
(see :func:`himpc.hierarchy.flatten_levels`), so the weights are stacked [L, ...] tensors.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn


class HiMPCModel(nn.Module):
    """Encoders for L levels (input widths ``in_dims``) and M heads per level."""

    def __init__(self, in_dims: Sequence[int], hidden: int = 256, heads: int = 8,
                 meta_heads: bool = True, head_init: str = "normal") -> None:
        super().__init__()
        self.in_dims = tuple(int(d) for d in in_dims)
        self.num_levels = len(self.in_dims)
        self.hidden = hidden
        self.num_heads = heads if meta_heads else 1
        self.meta_heads = meta_heads
        L, D, h = self.num_levels, max(self.in_dims), hidden
        self.w1 = nn.Parameter(torch.zeros(L, D, h))
        self.b1 = nn.Parameter(torch.zeros(L, h))
        self.w2 = nn.Parameter(torch.zeros(L, h, h))
        self.b2 = nn.Parameter(torch.zeros(L, h))
        with torch.no_grad():
            for lv, d in enumerate(self.in_dims):       # Glorot uniform with each level's true fan-in
                a1 = math.sqrt(6.0 / (d + h))
                self.w1[lv, :d].uniform_(-a1, a1)
                a2 = math.sqrt(6.0 / (h + h))
                self.w2[lv].uniform_(-a2, a2)
        if meta_heads:
            w = torch.empty(L, self.num_heads, h, h)
            if head_init == "normal":                   # the authors' code: N(0, 1) entries
                w.normal_(0.0, 1.0)
            elif head_init == "orthogonal":
                for lv in range(L):
                    for m in range(self.num_heads):
                        nn.init.orthogonal_(w[lv, m])
            else:
                raise ValueError(f"unknown head_init {head_init!r}")
            self.heads = nn.Parameter(w)
        else:                                           # DPC: contrast in the original space
            self.register_buffer("heads", torch.eye(h).expand(L, 1, h, h).clone())

    # ------------------------------------------------------------------ encoders (Eq. 1)
    def encode_frames(self, x: torch.Tensor) -> torch.Tensor:
        """x [L, B, F, D] (padded level inputs) -> frame features z [L, B, F, h]."""
        L, B, Fr, D = x.shape
        flat = x.reshape(L, B * Fr, D)
        hid = torch.relu(torch.baddbmm(self.b1[:, None, :], flat, self.w1))
        z = torch.baddbmm(self.b2[:, None, :], hid, self.w2)
        return z.view(L, B, Fr, self.hidden)

    @staticmethod
    def pool(z: torch.Tensor) -> torch.Tensor:
        """Temporal average pooling (Eq. 1): [L, B, F, h] -> instances v [L, B, h]."""
        return z.mean(dim=2)

    # ------------------------------------------------------------------ heads (Eq. 3-4)
    def transform(self, feats: torch.Tensor) -> torch.Tensor:
        """Apply every head: [L, B, (F,) h] -> [L, M, B, (F,) h]."""
        if feats.dim() == 4:
            return torch.einsum("lbfh,lmhk->lmbfk", feats, self.heads)
        return torch.einsum("lbh,lmhk->lmbk", feats, self.heads)

    def transform_prototypes(self, protos: torch.Tensor) -> torch.Tensor:
        """Meta-prototypes (Eq. 4, same heads as Eq. 3): [L, C, h] -> [L, M, C, h]."""
        return torch.einsum("lch,lmhk->lmck", protos, self.heads)

    def contrast_keys(self, protos: torch.Tensor) -> torch.Tensor:
        """Keys K = p_hat H^T [L, M, C, h] with ``z . K_c = (z H) . (p_c H)`` (Eq. 3-4, reassociated).

        Contrasting the untransformed frame features z with K gives the meta-instance /
        meta-prototype similarities of Eq. 5 and 9 without transforming the B*F frames by
        every head (see :func:`himpc.losses.contrast_logits`).
        """
        gram = torch.einsum("lmhk,lmjk->lmhj", self.heads, self.heads)      # H H^T [L, M, h, h]
        return torch.einsum("lch,lmhj->lmcj", protos, gram)                 # p H H^T = p_hat H^T

    # ------------------------------------------------------------------ MSMR (Eq. 10)
    @torch.no_grad()
    def level_features(self, x: torch.Tensor, kind: str = "meta") -> torch.Tensor:
        """Per-level evaluation features [L, B, h]: V^l = mean_m v_hat^{l,m} or encoder v^l."""
        v = self.pool(self.encode_frames(x))
        if kind == "encoder":
            return v
        return torch.einsum("lbh,lhk->lbk", v, self.heads.mean(dim=1))

    @staticmethod
    def msmr(level_feats: torch.Tensor) -> torch.Tensor:
        """Concatenate the levels: [L, B, h] -> [B, L*h] (Eq. 10)."""
        return level_feats.permute(1, 0, 2).reshape(level_feats.shape[1], -1)


class Prototypes(nn.Module):
    """Cluster-mean prototypes p_c (Eq. 2) for every level, padded to the largest level.

    Recomputed each epoch under ``no_grad`` from all training instances; ``mask`` [L, C]
    marks real prototypes.  A level with fewer than two clusters is marked ``active=False``.
    """

    def __init__(self, num_levels: int, hidden: int) -> None:
        super().__init__()
        self.register_buffer("protos", torch.zeros(num_levels, 1, hidden))
        self.register_buffer("mask", torch.zeros(num_levels, 1, dtype=torch.bool))
        self.register_buffer("active", torch.zeros(num_levels, dtype=torch.bool))

    @torch.no_grad()
    def update(self, instances: torch.Tensor, labels: torch.Tensor) -> None:
        """instances [L, N, h], labels [L, N] with -1 for outliers -> cluster means (Eq. 2)."""
        L, N, h = instances.shape
        counts = [int(labels[lv].max().item()) + 1 if (labels[lv] >= 0).any() else 0 for lv in range(L)]
        C = max(max(counts), 1)
        protos = torch.zeros(L, C, h, dtype=instances.dtype, device=instances.device)
        sizes = torch.zeros(L, C, dtype=instances.dtype, device=instances.device)
        for lv in range(L):                              # L <= 3: a scatter per level
            keep = labels[lv] >= 0
            idx = labels[lv][keep]
            protos[lv].index_add_(0, idx, instances[lv][keep])
            sizes[lv].index_add_(0, idx, torch.ones_like(idx, dtype=instances.dtype))
        self.mask = sizes > 0
        self.protos = protos / sizes.clamp(min=1.0)[..., None]
        self.active = torch.tensor([c >= 2 for c in counts], device=instances.device)

    @torch.no_grad()
    def momentum_update(self, instances: torch.Tensor, labels: torch.Tensor, momentum: float) -> None:
        """Cluster memory (not in the paper; Cluster Contrast): every cluster c present in the batch
        moves to ``m p_c + (1 - m) mean_c``, mean_c the batch mean of its instances [L, B, h];
        labels [L, B], -1 skipped.  All levels in one scatter."""
        L, C, h = self.protos.shape
        keep = (labels >= 0) & (labels < C)
        lv = torch.arange(L, device=labels.device)[:, None].expand_as(labels)
        flat = (lv * C + labels)[keep]
        sums = torch.zeros(L * C, h, dtype=self.protos.dtype, device=self.protos.device)
        sums.index_add_(0, flat, instances[keep].to(self.protos.dtype))
        counts = torch.bincount(flat, minlength=L * C).to(self.protos.dtype)
        hit = counts > 0
        protos = self.protos.reshape(L * C, h)
        protos[hit] = momentum * protos[hit] + (1.0 - momentum) * sums[hit] / counts[hit, None]

    def load_buffers(self, buffers: dict) -> None:
        """Restore saved ``protos`` / ``mask`` / ``active`` (their shapes vary with the cluster count)."""
        device = self.protos.device
        for k, v in buffers.items():
            setattr(self, k, v.to(device))

    @property
    def num_prototypes(self) -> list[int]:
        return [int(m.sum().item()) for m in self.mask]
