"""Evaluations of a trained model beyond the paper's protocol, needing no training (issue 10).

* :func:`rerank_distances`: k-reciprocal re-ranking of probe/gallery distances (Zhong et al.
  2017), ``d* = (1 - lam) * d_J + lam * d``, on L2-normalised features (the usual re-ID practice):
  ``d`` the squared Euclidean distance divided, per gallery column, by its maximum over the probes
  (Zhong et al. divide by the maximum over all items); ``d_J`` the Jaccard distance of
  k-reciprocal encodings over probe and gallery together, from the sparse code the clustering uses
  (:func:`himpc.clustering.jaccard_graph`; pairs that share nothing have ``d_J = 1``).  No labels,
  but **transductive**: it uses gallery-to-gallery and probe-to-probe neighbours, so its row is
  labelled "+ re-ranking".
* fused levels (the test-time half of ``hi-mpc+``): each level's V^l L2-normalised, then
  concatenated (:func:`fused_features`), so every level weighs the same; with and without re-ranking.
* :func:`walk_features`: walk-level retrieval, one feature per walk (the mean of its clips'
  features); 164 probe walks on KGBD, a protocol of its own, not comparable with clip-level numbers.

:func:`beyond_protocol` evaluates all of them on a run's split, with the protocol's clip-level
Euclidean row and the cosine row (the distance re-ranking starts from) beside them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .clustering import jaccard_graph
from .metrics import evaluate_features, evaluate_rank, pairwise_distance, result_row

RERANK = {"k1": 20, "k2": 6, "lam": 0.3}
EVALUATIONS = {     # key -> the row name a reader sees
    "protocol": "clip-level, Euclidean (the protocol)",
    "cosine": "clip-level, cosine",
    "rerank": "clip-level, cosine + k-reciprocal re-ranking (transductive)",
    "walk": "walk-level, Euclidean (mean clip feature per walk; another protocol)",
    "fused": "clip-level, fused levels (each level L2-normalised, concatenated)",
    "fused-rerank": "clip-level, fused levels + k-reciprocal re-ranking (transductive)",
    "fused-walk": "walk-level, fused levels (mean clip feature per walk; another protocol)",
}


def rerank_distances(probe: np.ndarray | torch.Tensor, gallery: np.ndarray | torch.Tensor, k1: int = 20,
                     k2: int = 6, lam: float = 0.3) -> np.ndarray:
    """[P, G] re-ranked distances (float32; memory: one dense [P, G] array plus O((P + G) k))."""
    q = torch.nn.functional.normalize(torch.as_tensor(np.asarray(probe), dtype=torch.float32), dim=1)
    g = torch.nn.functional.normalize(torch.as_tensor(np.asarray(gallery), dtype=torch.float32), dim=1)
    p = q.shape[0]
    dist = pairwise_distance(q, g, metric="sqeuclidean")
    dist /= np.maximum(dist.max(axis=0, keepdims=True), 1e-12)
    dist *= lam
    dist += 1.0 - lam                                  # d_J = 1 where nothing is shared
    jac = jaccard_graph(torch.cat([q, g]), k1=k1, k2=k2, normalize=False, max_distance=1.0)[:p, p:].tocoo()
    dist[jac.row, jac.col] -= (1.0 - lam) * (1.0 - jac.data.astype(np.float32))
    return dist


def walk_features(features: np.ndarray | torch.Tensor, walk: np.ndarray, person: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Mean feature of every walk (in order of first appearance) and its person."""
    f = torch.as_tensor(np.asarray(features), dtype=torch.float64)
    keys, first, inv = np.unique(np.asarray(walk), return_index=True, return_inverse=True)
    order = np.argsort(first)                          # walks in order of appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    idx = torch.from_numpy(rank[inv])
    sums = torch.zeros(len(keys), f.shape[1], dtype=torch.float64).index_add_(0, idx, f)
    counts = torch.bincount(idx, minlength=len(keys)).to(torch.float64)[:, None]
    return (sums / counts).numpy().astype(np.float32), np.asarray(person)[first[order]]


def fused_features(level_feats: torch.Tensor) -> np.ndarray:
    """[L, N, h] per-level features -> [N, L h]: each level L2-normalised, then concatenated."""
    from .model import HiMPCModel
    return HiMPCModel.msmr(torch.nn.functional.normalize(level_feats.float(), dim=-1)).numpy()



def beyond_protocol(run: Any, device: str = "cpu") -> dict:
    """MSMR and fused features of ``run`` (:func:`himpc.trained.load_run`) on its probe/gallery,
    evaluated as the protocol does and beyond it; every entry says what it is."""
    from .engine import config_inputs, encode
    from .model import HiMPCModel
    cfg, split = run.cfg, run.split
    dev = torch.device(device)
    vg = encode(run.model, config_inputs(split.gallery, cfg), dev, "meta")
    vp = encode(run.model, config_inputs(split.probe, cfg), dev, "meta")
    pid, gid = split.probe.person, split.gallery.person
    e, out = EVALUATIONS, {}
    for (cos, rr, wk), fg, fp in ((("cosine", "rerank", "walk"), HiMPCModel.msmr(vg).numpy(), HiMPCModel.msmr(vp).numpy()),
                                  (("fused", "fused-rerank", "fused-walk"), fused_features(vg), fused_features(vp))):
        wp, wpid = walk_features(fp, split.probe.walk, pid)
        wg, wgid = walk_features(fg, split.gallery.walk, gid)
        clips, walks = {"probes": len(fp), "gallery": len(fg)}, {"probes": len(wp), "gallery": len(wg)}
        if cos == "cosine":
            out[e["protocol"]] = {"metrics": result_row(evaluate_features(fp, fg, pid, gid)), **clips}
        out[e[cos]] = {"metrics": result_row(evaluate_features(fp, fg, pid, gid, metric="cosine")), **clips}
        out[e[rr]] = {"metrics": result_row(evaluate_rank(rerank_distances(fp, fg, **RERANK), pid, gid)),
                      **clips, "rerank": RERANK}
        out[e[wk]] = {"metrics": result_row(evaluate_features(wp, wg, wpid, wgid)), **walks}
    return out
