"""Re-ID evaluation: CMC (Rank-k) and mAP (paper Sec. 4.3).

One metric function with an explicit probe / gallery contract, modelled on
torchreid's ``metrics/rank.py``:

* every probe is evaluated against the whole gallery (no dropped tail batch);
* a probe whose identity is absent from the gallery is an error, unless
  ``skip_unmatched=True``, in which case it is left out and counted;
* distances: smaller = more similar.

Tie handling
------------
* **CMC** uses the pessimistic rule: the (1-based) rank of a probe's first true
  match is ``1 + #{wrong gallery items with distance <= smallest true distance}``,
  i.e. a wrong item tied with the best true match ranks ahead of it.
* **AP** equals ``sklearn.metrics.average_precision_score(y_true, -dist)``
  exactly, ties included: tied scores form a single threshold step, so every
  true item of a tie group gets the precision measured at the end of the group.

Distances must be finite (NaN / inf raise ``ValueError``).  Everything is
vectorised over probes (one ``np.sort`` per chunk plus batched binary searches)
and processed in probe chunks of ~8M elements, so P ~ 16K probes against
G ~ 32K gallery items never needs the whole [P, G] matrix in
:func:`evaluate_features` (< 0.5 GB extra); the chunks run on torch's threads
(``benchmarks/bench_eval.py`` times one evaluation at KGBD's size on 1 and 2 threads).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Hashable, Iterable, Mapping, Optional, Sequence

import numpy as np
import torch

__all__ = ["evaluate_rank", "evaluate_features", "evaluate_levels", "pairwise_distance", "result_row"]

# Elements of a [chunk, G] working array; ~8M int64/float64 -> 64 MB per array.
_CHUNK_ELEMS = 1 << 23
_CMC_MAX_RANK = 50


def _chunk_rows(num_cols: int, chunk_size: int | None) -> int:
    """Probe rows per chunk: ``chunk_size`` or enough to keep ~8M elements per array."""
    if chunk_size is not None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        return int(chunk_size)
    return max(1, _CHUNK_ELEMS // max(1, num_cols))


def _as_list(x: Iterable[Hashable]) -> list:
    """Labels as a list of plain Python values (numpy / torch scalars unwrapped)."""
    return x.tolist() if hasattr(x, "tolist") else list(x)


def _encode_ids(probe_ids: Iterable[Hashable], gallery_ids: Iterable[Hashable]) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes for labels compared by equality; probe labels not in the gallery get -1."""
    index: dict = {}
    g = np.fromiter((index.setdefault(x, len(index)) for x in _as_list(gallery_ids)), dtype=np.int64)
    p = np.fromiter((index.get(x, -1) for x in _as_list(probe_ids)), dtype=np.int64)
    return p, g


def _check_matches(probe_codes: np.ndarray, probe_ids: Sequence, skip_unmatched: bool) -> np.ndarray:
    """Boolean mask of probes with a true match; raises on unmatched probes unless skipping."""
    keep = probe_codes >= 0
    n_bad = int((~keep).sum())
    if n_bad and not skip_unmatched:
        ids = _as_list(probe_ids)
        uniq = list(dict.fromkeys(ids[i] for i in np.flatnonzero(~keep)))
        shown = ", ".join(repr(x) for x in uniq[:20]) + (", ..." if len(uniq) > 20 else "")
        raise ValueError(f"{n_bad} probe(s) have no true match in the gallery "
                         f"(ids: {shown}); pass skip_unmatched=True to exclude them")
    if not keep.any():
        raise ValueError("no probe has a true match in the gallery")
    return keep


def _true_distances(dist: np.ndarray, match: np.ndarray, n_true: np.ndarray) -> np.ndarray:
    """[c, T] sorted distances of each row's true matches, padded with +inf (T = max true count)."""
    rows, cols = np.nonzero(match)
    start = np.cumsum(n_true) - n_true
    out = np.full((dist.shape[0], int(n_true.max())), np.inf, dtype=dist.dtype)
    out[rows, np.arange(len(rows)) - start[rows]] = dist[rows, cols]
    out.sort(axis=1)
    return out


def _rank_and_ap(dist: np.ndarray, match: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """0-based pessimistic first-match rank and sklearn-exact AP for each row of a chunk.

    ``dist`` [c, G] finite floats, ``match`` [c, G] bool with at least one True per row.
    AP = mean over true items t of ``#{true <= d_t} / #{all <= d_t}`` - the precision at
    the end of t's tie group, which is what sklearn's step-wise AP gives with ties.
    """
    if not np.isfinite(dist).all():
        raise ValueError("distance matrix contains NaN or inf")
    # CMC (pessimistic): wrong items with distance <= the best true distance rank ahead.
    best_true = np.where(match, dist, np.inf).min(axis=1)
    rank0 = ((dist <= best_true[:, None]) & ~match).sum(axis=1)

    # AP: one sort per row, then batched binary searches for the true distances.
    n_true = match.sum(axis=1)
    td = torch.from_numpy(_true_distances(dist, match, n_true))
    all_sorted = torch.from_numpy(np.sort(dist, axis=1))
    n_le = torch.searchsorted(all_sorted, td, right=True).numpy()
    tp_le = torch.searchsorted(td, td, right=True).numpy()   # +inf padding never counts
    valid = np.arange(td.shape[1])[None, :] < n_true[:, None]
    ap = np.where(valid, tp_le / np.maximum(n_le, 1), 0.0).sum(axis=1) / n_true
    return rank0, ap


def _summarise(rank0: np.ndarray, ap: np.ndarray, ranks: Sequence[int], num_gallery: int,
               num_skipped: int) -> dict:
    """Rank-k (percent), mAP (percent) and the CMC curve (percent) from per-probe results."""
    n = len(rank0)
    out: dict = {}
    for k in ranks:
        if k < 1:
            raise ValueError(f"ranks must be >= 1, got {k}")
        out[f"R{k}"] = float(100.0 * (rank0 < k).mean())
    out["mAP"] = float(100.0 * ap.mean())
    max_rank = min(_CMC_MAX_RANK, num_gallery)
    counts = np.bincount(np.minimum(rank0, max_rank), minlength=max_rank + 1)[:max_rank]
    out["cmc"] = (100.0 * np.cumsum(counts) / n).tolist()
    out.update(num_probe=n, num_gallery=int(num_gallery), num_skipped=int(num_skipped))
    return out


def _summarise_chunks(parts: Sequence[tuple[np.ndarray, np.ndarray]], ranks: Sequence[int], num_gallery: int,
                      num_skipped: int) -> dict:
    """:func:`_summarise` of the (ranks, APs) of consecutive probe chunks."""
    return _summarise(np.concatenate([r for r, _ in parts]), np.concatenate([a for _, a in parts]), ranks,
                      num_gallery, num_skipped)


def evaluate_rank(distmat: np.ndarray, probe_ids: Sequence[Hashable], gallery_ids: Sequence[Hashable],
                  ranks: Sequence[int] = (1, 5, 10), skip_unmatched: bool = False,
                  chunk_size: int | None = None, workers: int | None = None) -> dict:
    """CMC Rank-k and mAP of a [P, G] distance matrix (Sec. 4.3; smaller = more similar).

    Returns ``{"R<k>" for k in ranks, "mAP", "cmc", "num_probe", "num_gallery",
    "num_skipped"}``; R<k>, mAP and cmc are percentages, ``cmc`` has
    ``min(50, G)`` entries (``cmc[k-1]`` = Rank-k), ``num_probe`` counts the
    evaluated probes and ``num_skipped`` the unmatched probes left out
    (``skip_unmatched=True``; otherwise unmatched probes raise ``ValueError``).
    Ties: pessimistic CMC, sklearn-exact AP (see module docstring).  Probe chunks of ~8M
    elements (``chunk_size`` rows) are evaluated on ``workers`` threads (default: torch's
    thread count); the result does not depend on either.
    """
    distmat = np.asarray(distmat)
    if distmat.ndim != 2:
        raise ValueError(f"distmat must be 2-D [P, G], got shape {distmat.shape}")
    p, g = distmat.shape
    if len(probe_ids) != p or len(gallery_ids) != g:
        raise ValueError(f"distmat is {p}x{g} but got {len(probe_ids)} probe ids and {len(gallery_ids)} gallery ids")
    pc, gc = _encode_ids(probe_ids, gallery_ids)
    keep = _check_matches(pc, probe_ids, skip_unmatched)
    idx = np.flatnonzero(keep)

    def chunk(s: int) -> tuple[np.ndarray, np.ndarray]:
        rows = idx[s:s + step]
        return _rank_and_ap(distmat[rows], pc[rows, None] == gc[None, :])

    step = _chunk_rows(g, chunk_size)
    return _summarise_chunks(_map_chunks(chunk, len(idx), step, workers), ranks, g, p - len(idx))


def _as_tensor(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    t = x.detach() if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    return t.to(device="cpu", dtype=torch.float64)


def _distance_block(q: torch.Tensor, g: torch.Tensor, g_sq: torch.Tensor, metric: str) -> torch.Tensor:
    """Distances between a probe block and the gallery (float64)."""
    if metric == "cosine":
        return 1.0 - q @ g.T
    d2 = (q * q).sum(1, keepdim=True) + g_sq[None, :] - 2.0 * (q @ g.T)
    d2.clamp_(min=0.0)
    return d2 if metric == "sqeuclidean" else d2.sqrt_()


def _distance_inputs(probe_feats, gallery_feats, metric: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Probe and gallery features as float64 tensors (unit rows for ``cosine``) and the gallery's
    squared norms: what :func:`_distance_block` takes."""
    if metric not in ("euclidean", "sqeuclidean", "cosine"):
        raise ValueError(f"unknown metric {metric!r}; use 'euclidean', 'sqeuclidean' or 'cosine'")
    q, g = _as_tensor(probe_feats), _as_tensor(gallery_feats)
    if q.ndim != 2 or g.ndim != 2 or q.shape[1] != g.shape[1]:
        raise ValueError(f"features must be [P, D] and [G, D], got {tuple(q.shape)} and {tuple(g.shape)}")
    if metric == "cosine":
        q = torch.nn.functional.normalize(q, dim=1)
        g = torch.nn.functional.normalize(g, dim=1)
    return q, g, (g * g).sum(1)


def _map_chunks(fn: Callable[[int], Any], n: int, step: int, workers: int | None) -> list:
    """``[fn(s) for s in range(0, n, step)]`` over ``workers`` threads (default: torch's thread
    count), in order.  The per-row sort of :func:`_rank_and_ap` is single-threaded numpy that
    releases the GIL, so chunks on two threads keep both cores busy; each chunk allocates its own
    [step, G] arrays, so memory grows with the number of workers, not with P."""
    starts = range(0, n, step)
    workers = min(len(starts), workers or torch.get_num_threads())
    if workers <= 1:
        return [fn(s) for s in starts]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, starts))


def pairwise_distance(probe_feats: np.ndarray | torch.Tensor, gallery_feats: np.ndarray | torch.Tensor,
                      metric: str = "euclidean", chunk_size: int | None = None,
                      dtype: np.dtype = np.float32) -> np.ndarray:
    """[P, G] distance matrix: ``euclidean`` (default), ``sqeuclidean`` or ``cosine`` (1 - cos).

    Computed with torch in probe chunks, accumulated in float64 (squared distances
    clamped at 0 before the square root), returned as ``dtype``.
    """
    q, g, g_sq = _distance_inputs(probe_feats, gallery_feats, metric)
    out = np.empty((q.shape[0], g.shape[0]), dtype=dtype)
    step = _chunk_rows(g.shape[0], chunk_size)
    for s in range(0, q.shape[0], step):
        out[s:s + step] = _distance_block(q[s:s + step], g, g_sq, metric).numpy()
    return out


def evaluate_features(probe_feats: np.ndarray | torch.Tensor, gallery_feats: np.ndarray | torch.Tensor,
                      probe_ids: Sequence[Hashable], gallery_ids: Sequence[Hashable],
                      ranks: Sequence[int] = (1, 5, 10), metric: str = "euclidean",
                      skip_unmatched: bool = False, chunk_size: int | None = None,
                      dtype: np.dtype = np.float32, workers: int | None = None) -> dict:
    """:func:`evaluate_rank` of feature sets without materialising the [P, G] matrix.

    Distances (as in :func:`pairwise_distance`, same ``dtype``) are computed and
    evaluated one probe chunk at a time; per-probe ranks and APs are merged, so the
    result equals ``evaluate_rank(pairwise_distance(...), ...)``.  Each of ``workers`` threads
    computes and evaluates its own chunks.
    """
    p, g = len(probe_feats), len(gallery_feats)
    if len(probe_ids) != p or len(gallery_ids) != g:
        raise ValueError(f"{p} probe / {g} gallery features but {len(probe_ids)} / {len(gallery_ids)} ids")
    pc, gc = _encode_ids(probe_ids, gallery_ids)
    keep = _check_matches(pc, probe_ids, skip_unmatched)
    q, gf, g_sq = _distance_inputs(probe_feats, gallery_feats, metric)

    def chunk(s: int) -> tuple[np.ndarray, np.ndarray]:
        k = keep[s:s + step]
        if not k.any():
            return np.zeros(0, np.int64), np.zeros(0)
        block = _distance_block(q[s:s + step][k], gf, g_sq, metric).numpy().astype(dtype, copy=False)
        return _rank_and_ap(block, pc[s:s + step][k, None] == gc[None, :])

    step = _chunk_rows(g, chunk_size)
    return _summarise_chunks(_map_chunks(chunk, p, step, workers), ranks, g, int((~keep).sum()))


def evaluate_levels(probe_levels: np.ndarray | torch.Tensor, gallery_levels: np.ndarray | torch.Tensor,
                    probe_ids: Sequence[Hashable], gallery_ids: Sequence[Hashable],
                    ranks: Sequence[int] = (1, 5, 10), skip_unmatched: bool = False,
                    chunk_size: int | None = None, dtype: np.dtype = np.float32,
                    workers: int | None = None, concatenated: bool = True,
                    per_level: bool = True) -> tuple[list[dict], Optional[dict]]:
    """Euclidean :func:`evaluate_features` of every level [L, P, D] / [L, G, D] and of the levels
    concatenated ([P, L D], the MSMR of Eq. 10), in one pass.

    The concatenation's squared distance is the sum of the levels' (``|p - g|^2 = sum_l
    |p_l - g_l|^2``), so its [P, G] distances cost no matmul of their own (they equal those of
    the concatenated features up to float64 rounding, far below the ``dtype`` they are
    rounded to).  Returns ``(per-level results, concatenation's result)`` (None with
    ``concatenated=False``); each level's result is exactly :func:`evaluate_features` of that level.
    ``per_level=False`` ranks the concatenation only (the per-level results are then ``[]``).
    """
    L, p = len(probe_levels), len(probe_ids)
    g = len(gallery_ids)
    if not (per_level or concatenated):
        raise ValueError("nothing to evaluate: per_level=False needs concatenated=True")
    if L < 1 or len(gallery_levels) != L:
        raise ValueError(f"need the same levels (>= 1) for probe and gallery, got {L} and {len(gallery_levels)}")
    inputs = [_distance_inputs(fp, fg, "sqeuclidean") for fp, fg in zip(probe_levels, gallery_levels)]
    if any(q.shape[0] != p or gf.shape[0] != g for q, gf, _ in inputs):
        raise ValueError(f"every level needs {p} probe / {g} gallery features (the ids' counts)")
    pc, gc = _encode_ids(probe_ids, gallery_ids)
    keep = _check_matches(pc, probe_ids, skip_unmatched)
    ranked = L if per_level else 0
    empty, sets = (np.zeros(0, np.int64), np.zeros(0)), ranked + int(concatenated)

    def chunk(s: int) -> list[tuple[np.ndarray, np.ndarray]]:
        k = keep[s:s + step]
        if not k.any():
            return [empty] * sets
        match = pc[s:s + step][k, None] == gc[None, :]
        total, out = None, []
        for q, gf, g_sq in inputs:
            d2 = _distance_block(q[s:s + step][k], gf, g_sq, "sqeuclidean")
            if concatenated:
                total = d2.clone() if total is None else total.add_(d2)
            if per_level:
                out.append(_rank_and_ap(d2.sqrt_().numpy().astype(dtype, copy=False), match))
        if concatenated:
            out.append(_rank_and_ap(total.sqrt_().numpy().astype(dtype, copy=False), match))
        return out

    step = max(1, _chunk_rows(g, chunk_size) // (2 if chunk_size is None else 1))   # two [c, G] float64 blocks
    parts = _map_chunks(chunk, p, step, workers)
    results = [_summarise_chunks([pt[i] for pt in parts], ranks, g, int((~keep).sum())) for i in range(sets)]
    return results[:ranked], (results[ranked] if concatenated else None)


def result_row(m: Mapping[str, float]) -> dict:
    """R1, R5, R10 and mAP of a metrics dict, rounded to 3 decimals: the row a result file stores."""
    return {k: round(float(m[k]), 3) for k in ("R1", "R5", "R10", "mAP")}
