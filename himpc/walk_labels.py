"""Walk-aware pseudo labels (not in the paper; the combined methods ``hi-mpc+`` and ``hi-mpc++``).

A training clip comes from one recorded walk (a tracklet): which clips share a walk is known
from the recording itself, with no identity label, so every clip of a walk gets the same pseudo
class.  Walks of one person are then merged across the training set without labels:

* :func:`walk_means`: the walk-level feature of every level, the mean of the walk's L2-normalised
  clip features, normalised again (a cosine centroid);
* :func:`mutual_nearest_pairs`: two walks are merged when each is the other's nearest walk
  (cosine, itself excluded).  The rule has no threshold to tune (the mutual-nearest-neighbour
  graph's components are pairs or single walks), so nothing is chosen on probe/gallery data or
  on the training set's identities;
* :func:`walk_merge_labels`: per level, the class of every clip [L, N], recomputed from the
  current features at every re-clustering (Alg. 1's place for DBSCAN).  ``fused=True``
  (``Config.walk_merge_on="fused"``) merges once on the levels' walk features concatenated
  (each unit length, as the fused test feature of :mod:`himpc.posthoc`), and every level gets
  those classes.

Cost: O(W^2 h) per level for W walks (331 on a KGBD split: negligible beside the clip clustering).
"""

from __future__ import annotations

import numpy as np
import torch


def walk_index(walk: np.ndarray) -> tuple[np.ndarray, int]:
    """Walk ids [N] (any hashable values) -> walk numbers 0..W-1 [N] and W."""
    keys, inv = np.unique(np.asarray(walk), return_inverse=True)
    return inv.astype(np.int64).reshape(-1), len(keys)


def walk_means(features: torch.Tensor, index: torch.Tensor, num_walks: int) -> torch.Tensor:
    """Clip features [L, N, h] and walk numbers [N] -> unit walk features [L, W, h] (float32)."""
    f = torch.nn.functional.normalize(features.float(), dim=-1)
    L, _, h = f.shape
    sums = torch.zeros(L, num_walks, h, dtype=f.dtype, device=f.device)
    sums.index_add_(1, index.to(f.device), f)
    return torch.nn.functional.normalize(sums, dim=-1)


def mutual_nearest_pairs(walk_feats: torch.Tensor) -> torch.Tensor:
    """Unit features [L, W, h] -> walk classes [L, W] (0..C-1 per level): mutual nearest walks share
    a class, every other walk is a class of its own.  Ties go to the lower walk number."""
    L, W, _ = walk_feats.shape
    if W < 2:
        return torch.zeros(L, W, dtype=torch.long)
    sim = walk_feats @ walk_feats.transpose(1, 2)                          # [L, W, W] cosine
    sim.diagonal(dim1=1, dim2=2).fill_(-float("inf"))
    nearest = sim.argmax(dim=2).cpu()                                       # [L, W]
    own = torch.arange(W).expand(L, W)
    mutual = nearest.gather(1, nearest) == own                              # nearest of my nearest is me
    root = torch.where(mutual, torch.minimum(own, nearest), own)           # a pair's lower walk number
    return torch.stack([torch.unique(r, return_inverse=True)[1] for r in root])   # 0..C-1 per level


def walk_merge_labels(features: torch.Tensor, walk: np.ndarray, fused: bool = False) -> torch.Tensor:
    """Pseudo labels [L, N] of clips with features [L, N, h] from walks ``walk`` [N]: the merged
    walk class of each clip's walk (no outliers); ``fused``: one merge on all levels together."""
    index, num_walks = walk_index(walk)
    if len(index) != features.shape[1]:
        raise ValueError(f"{features.shape[1]} clip features but {len(index)} walk ids")
    idx = torch.from_numpy(index)
    walks = walk_means(features, idx, num_walks)                           # [L, W, h], unit rows
    if fused:
        L, W, h = walks.shape
        joint = torch.nn.functional.normalize(walks.transpose(0, 1).reshape(1, W, L * h), dim=-1)
        classes = mutual_nearest_pairs(joint).expand(L, W)                 # [L, W], one merge for all
    else:
        classes = mutual_nearest_pairs(walks)                              # [L, W]
    return classes[:, idx].contiguous()
