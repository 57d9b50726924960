"""Hierarchical skeleton representations (paper Sec. 3.1).

The component and limb levels are centroids of joint groups.  All three levels are
computed with one matrix product per level: ``S_hat^l = S @ A_l`` where ``A_l`` is the
[J, n_l] averaging matrix of the partition (identity for the joint level).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .layouts import Layout

LEVEL_NAMES = {"J": "joint", "C": "component", "L": "limb"}


def averaging_matrix(num_joints: int, groups: Sequence[Sequence[int]]) -> np.ndarray:
    """[J, n] matrix whose column g averages the joints of group g."""
    a = np.zeros((num_joints, len(groups)), dtype=np.float32)
    for g, joints in enumerate(groups):
        a[list(joints), g] = 1.0 / len(joints)
    return a


def level_matrices(layout: Layout, levels: str = "JCL") -> list[np.ndarray]:
    """Averaging matrices for the requested levels, in the order given (``J``, ``C``, ``L``)."""
    out = []
    for lv in levels:
        if lv == "J":
            out.append(np.eye(layout.num_joints, dtype=np.float32))
        elif lv == "C":
            out.append(averaging_matrix(layout.num_joints, layout.components))
        elif lv == "L":
            out.append(averaging_matrix(layout.num_joints, layout.limbs))
        else:
            raise ValueError(f"unknown level {lv!r}; levels are J (joint), C (component), L (limb)")
    return out


def build_hierarchy(clips: torch.Tensor | np.ndarray, layout: Layout, levels: str = "JCL") -> list[torch.Tensor]:
    """Split clips [..., J, 3] into per-level body-part positions [..., n_l, 3] (Sec. 3.1)."""
    x = torch.as_tensor(clips)
    mats = level_matrices(layout, levels)
    return [torch.einsum("...jd,jn->...nd", x, torch.as_tensor(a, dtype=x.dtype, device=x.device)) for a in mats]


def with_motion(parts: Sequence[torch.Tensor], scale: float) -> list[torch.Tensor]:
    """Append each frame's motion to its positions (not in the paper; ``Config.motion_scale``).

    Per-level positions [..., F, n, 3] -> [..., F, n, 6]: the position and the displacement from
    the previous frame times ``scale``, ``scale (s_t - s_{t-1})``; frame 0 repeats frame 1's (one
    frame: zero).  The paper's encoder (Eq. 1) pools per-frame features, so it sees the poses of a
    clip but not their order; the displacement gives every frame its direction of motion.
    """
    out = []
    for p in parts:
        d = torch.zeros_like(p)
        if p.shape[-3] > 1:
            d[..., 1:, :, :] = p[..., 1:, :, :] - p[..., :-1, :, :]
            d[..., 0, :, :] = d[..., 1, :, :]
        out.append(torch.cat([p, scale * d], dim=-1))
    return out


def flatten_levels(parts: Sequence[torch.Tensor]) -> torch.Tensor:
    """Concatenate per-level inputs [..., n_l, 3] into one zero-padded tensor [L, ..., 3 * max n_l].

    Zero padding lets one batched matmul run every level's encoder at once
    (padded input columns meet weight rows that never receive a gradient).
    """
    flat = [p.flatten(-2) for p in parts]
    width = max(f.shape[-1] for f in flat)
    return torch.stack([torch.nn.functional.pad(f, (0, width - f.shape[-1])) for f in flat])
