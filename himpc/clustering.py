"""Pseudo-label clustering of Alg. 1: DBSCAN on k-reciprocal Jaccard distances.

Each epoch the training features of every level are clustered with DBSCAN on the
k-reciprocal-encoding Jaccard distance of Zhong et al., "Re-ranking Person
Re-identification with k-reciprocal Encoding", CVPR 2017, as computed by
cluster-contrast-reid's ``compute_jaccard_distance`` (``faiss_rerank.py``).

Two implementations:

* :func:`jaccard_distance_dense` -- the reference, a direct transcription with dense
  O(N^2) matrices, for tests and small N only.
* :func:`jaccard_graph` -- the production version.  Memory grows like N * k: chunked
  torch kNN, scipy.sparse k-reciprocal sets / expansion / encodings, and a chunked sparse
  Jaccard that stores only pairs with distance <= ``max_distance``.

Conventions shared by both (and the only places they could differ from the authors'):

* The neighbour list of every sample has ``k1 + 1`` entries with the sample itself first
  (Zhong et al.); cluster-contrast asks faiss for ``k1`` entries only, which
  ``rank_width=k1`` reproduces.  Ties in distance are broken by the lower index, and
  self is always first even among exact duplicates (faiss leaves both unspecified).
* ``dist = 2 - 2 <f_i, f_j>`` for the softmax weights, as in cluster-contrast, also when
  ``normalize=False`` (then it is not a distance; that is the authors' behaviour).
* Pairs sharing no k-reciprocal column have distance exactly 1 and are never stored in
  the sparse graph; DBSCAN treats absent entries as "not neighbours" (eps < 1 always).
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

import numpy as np
import scipy.sparse as sp
import torch

logger = logging.getLogger("himpc.clustering")

ArrayLike = Union[torch.Tensor, np.ndarray]

__all__ = [
    "ClusterResult",
    "cluster_features",
    "cluster_levels",
    "dbscan_labels",
    "jaccard_distance_dense",
    "jaccard_graph",
    "k_reciprocal_mask",
    "knn",
    "relabel",
]


# ----------------------------------------------------------------------------- inputs
def _check_features(features: ArrayLike) -> torch.Tensor:
    """2-D floating tensor (numpy accepted); NaN / inf raise ``ValueError``."""
    x = torch.as_tensor(features).detach()
    if x.ndim != 2:
        raise ValueError(f"features must be a 2-D [N, h] array, got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError("features is empty (N = 0): nothing to cluster")
    if not torch.is_floating_point(x):
        x = x.float()
    elif x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    if not bool(torch.isfinite(x).all()):
        n_bad = int((~torch.isfinite(x)).any(dim=1).sum())
        raise ValueError(
            f"features contain NaN or inf in {n_bad} of {x.shape[0]} rows; "
            "cannot cluster (did training diverge?)"
        )
    return x


def _effective_ks(n: int, k1: int, k2: int, width: Optional[int] = None) -> tuple[int, int, int]:
    """Clamp k1 <= N - 1, the neighbour-list width (default k1 + 1) to [1, N] and
    1 <= k2 <= width, warning when a request is reduced."""
    if k1 < 0 or k2 < 1:
        raise ValueError(f"need k1 >= 0 and k2 >= 1, got k1={k1}, k2={k2}")
    if k1 > n - 1:
        logger.warning("only N=%d samples: reducing k1 from %d to %d", n, k1, n - 1)
        k1 = n - 1
    width = k1 + 1 if width is None else max(1, min(int(width), n))
    if k2 > width:
        logger.warning("k2=%d exceeds the %d-entry neighbour list: reducing k2 to %d", k2, width, width)
        k2 = width
    return k1, k2, width


def _half(k1: int) -> int:
    """``int(np.around(k1 / 2))`` -- the expansion's neighbourhood size (Zhong et al.)."""
    return int(np.around(k1 / 2))


# -------------------------------------------------------------------------------- kNN
def _sort_rows(d: np.ndarray, i: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort each row of (d, i) by distance, ties by index (two stable sorts)."""
    o = np.argsort(i, axis=1, kind="stable")
    d, i = np.take_along_axis(d, o, 1), np.take_along_axis(i, o, 1)
    o = np.argsort(d, axis=1, kind="stable")
    return np.take_along_axis(d, o, 1), np.take_along_axis(i, o, 1)


def _merge(best_d: np.ndarray, best_i: np.ndarray, r: np.ndarray, c: np.ndarray, v: np.ndarray) -> None:
    """Merge ragged candidates (row r ascending, column c, distance v) into the running
    lists ``best_d/best_i`` [n, kk] in place, keeping the kk smallest per row."""
    if len(r) == 0:
        return
    kk = best_d.shape[1]
    first = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
    counts = np.diff(np.r_[first, len(r)])
    rows = r[first]
    slot = np.repeat(np.arange(len(rows)), counts)
    pos = np.arange(len(r)) - np.repeat(first, counts) + kk
    pd = np.full((len(rows), kk + counts.max()), np.inf, dtype=best_d.dtype)
    pi = np.full(pd.shape, -1, dtype=np.int64)
    pd[:, :kk], pi[:, :kk] = best_d[rows], best_i[rows]
    pd[slot, pos], pi[slot, pos] = v, c
    o = np.argpartition(pd, kk - 1, axis=1)[:, :kk]
    best_d[rows], best_i[rows] = np.take_along_axis(pd, o, 1), np.take_along_axis(pi, o, 1)


def _augment(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows [x, |x|^2, 1] and [-2x, 1, |x|^2]: one matmul of the two gives squared distances."""
    sq = (x * x).sum(1, keepdim=True)
    one = torch.ones_like(sq)
    return torch.cat([x, sq, one], 1), torch.cat([-2 * x, one, sq], 1)


def _block(xl: torch.Tensor, xr: torch.Tensor, a: int, na: int, b: int, nb: int) -> torch.Tensor:
    """Squared Euclidean distances between rows a:a+na and b:b+nb (one matmul)."""
    return xl[a:a + na] @ xr[b:b + nb].T


def _kth_smallest(d: torch.Tensor, k: int) -> np.ndarray:
    """k-th smallest value of every row of block d (numpy's SIMD partition on CPU)."""
    if d.device.type == "cpu":
        return np.partition(d.numpy(), k - 1, axis=1)[:, k - 1].copy()
    return torch.topk(d, k, dim=1, largest=False).values[:, -1].cpu().numpy()


def _below(d: torch.Tensor, thr_r: np.ndarray, thr_c: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entries (r, c, value) of block d with value <= thr_r[r] or <= thr_c[c], r ascending.

    Dense work stays on d's device (a CUDA block is never copied back whole); on CPU it
    runs in numpy (single-threaded ops are faster than tiny OpenMP regions here)."""
    if d.device.type == "cpu":
        dn = d.numpy()
        mask = dn <= thr_r[:, None]
        if thr_c is not None:
            mask |= dn <= thr_c[None, :]
        flat = np.flatnonzero(mask)  # much faster than 2-D np.nonzero
        return flat // dn.shape[1], flat % dn.shape[1], dn.ravel()[flat]
    mask = d <= torch.from_numpy(thr_r).to(d.device)[:, None]
    if thr_c is not None:
        mask |= d <= torch.from_numpy(thr_c).to(d.device)[None, :]
    r, c = torch.nonzero(mask, as_tuple=True)
    return r.cpu().numpy(), c.cpu().numpy(), d[r, c].cpu().numpy()


def _exact_rows(xl: torch.Tensor, xr: torch.Tensor, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact (distance, index)-ordered kNN of some rows over all rows: every entry up to the k-th
    smallest distance (all of its ties) is kept and sorted, ties by the lower index."""
    d = (xl[torch.from_numpy(rows).to(xl.device)] @ xr.T).cpu().numpy()
    d[np.arange(len(rows)), rows] = -np.inf
    kth = np.partition(d, k - 1, axis=1)[:, k - 1]
    r, c = np.nonzero(d <= kth[:, None])
    counts = np.bincount(r, minlength=len(rows))
    width = int(counts.max())
    cd = np.full((len(rows), width), np.inf, dtype=d.dtype)
    ci = np.full((len(rows), width), np.iinfo(np.int64).max, dtype=np.int64)
    pos = np.arange(len(r)) - np.repeat(np.r_[0, np.cumsum(counts)[:-1]], counts)
    cd[r, pos], ci[r, pos] = d[r, c], c
    cd, ci = _sort_rows(cd, ci)
    return cd[:, :k], ci[:, :k]


def knn(features: ArrayLike, k: int, chunk: Optional[int] = None,
        precision: str = "fp32", backend: str = "exact", ef_search: int = 64,
        nprobe: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """k nearest neighbours of every row among all rows (Alg. 1, ``initial_rank``).

    Exact brute force on row blocks (matmul-based squared Euclidean distances).  The
    diagonal blocks give every row a first candidate list (k-th value by partition); then only the upper
    block triangle is multiplied, each block serving its rows and, transposed, its
    columns, keeping just entries below the rows' current k-th distance.
    Returns ``(dist, idx)`` CPU tensors [N, k] (k clamped to N): self first with
    distance 0, then increasing squared distance, ties broken by the lower index.
    ``features`` may live on CPU or CUDA (the matmuls run there); memory O(N k + chunk^2).

    ``precision="bf16"``: the block products run in bf16 (where the hardware has it, ~3x the fp32
    rate) and only pick ``k + BF16_EXTRA`` candidates per row, which are then re-ranked with fp32
    distances.  A true neighbour is lost only if bf16 rounding (|error| <~ 0.006 on unit vectors,
    measured on KGBD features) pushes it more than ``BF16_EXTRA`` places down; the returned
    distances are fp32 ones.  ``tests/test_clustering_bf16.py`` compares the lists and the clusters
    with the fp32 path on real features.

    ``backend``: ``exact`` (this search) or a faiss index (:mod:`himpc.knn_backends`: ``faiss-flat``,
    ``faiss-hnsw`` with ``ef_search``, ``faiss-ivf`` with ``nprobe``) that proposes ``k +
    TIE_MARGIN`` candidates, re-ranked here in fp32 with the same tie rule.
    """
    x = _check_features(features)
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be 'fp32' or 'bf16', got {precision!r}")
    n = x.shape[0]
    k = min(int(k), n)
    if backend != "exact":
        return _knn_from_candidates(x, k, backend, ef_search, nprobe)
    if chunk is None:
        chunk = 2048 if x.device.type == "cpu" else 8192
    bf16 = precision == "bf16" and x.dtype == torch.float32 and n > k + BF16_EXTRA
    margin = BF16_EXTRA if bf16 else min(n - k, 8)  # extra candidates (fp32: to detect ties at the k-th)
    kk = k + margin
    xl, xr = _augment(x)
    if bf16:
        bl, br = _augment_bf16(x)
        block = lambda a, na, b, nb: (bl[a:a + na] @ br[b:b + nb].T).float()      # noqa: E731
    else:
        block = lambda a, na, b, nb: _block(xl, xr, a, na, b, nb)                # noqa: E731
    dtype = np.float64 if x.dtype == torch.float64 else np.float32
    best_d = np.full((n, kk), np.inf, dtype=dtype)
    best_i = np.full((n, kk), -1, dtype=np.int64)
    blocks = [(s, min(chunk, n - s)) for s in range(0, n, chunk)]
    for a, na in blocks:  # diagonal blocks: a first candidate list for every row
        d = block(a, na, a, na)
        d.fill_diagonal_(-float("inf"))  # self first, even among exact duplicates
        r, c, v = _below(d, _kth_smallest(d, min(kk, na)))  # ties at the k-th: all kept
        _merge(best_d, best_i, r + a, c + a, v)
    for a, na in blocks:  # off-diagonal blocks, each serving rows a.. and rows b..
        for b, nb in blocks:
            if b <= a:
                continue
            thr_a, thr_b = best_d[a:a + na, -1].copy(), best_d[b:b + nb, -1].copy()
            r, c, v = _below(block(a, na, b, nb), thr_a, thr_b)
            m = v <= thr_a[r]
            _merge(best_d, best_i, r[m] + a, c[m] + b, v[m])
            m = v <= thr_b[c]
            o = np.argsort(c[m].astype(np.int16 if nb < 2**15 else np.int64), kind="stable")  # radix
            _merge(best_d, best_i, c[m][o] + b, r[m][o] + a, v[m][o])
    if bf16:
        best_d, best_i = _rerank(xl, xr, best_i)
        margin = 0                       # the candidates beyond k are not all the rows' next ones
    best_d, best_i = _sort_rows(best_d, best_i)
    dist, idx = best_d[:, :k].copy(), best_i[:, :k].copy()
    if margin > 0:
        # a tie group reaching the end of the candidate list may hide lower indices
        amb = np.flatnonzero(best_d[:, k - 1] == best_d[:, kk - 1])
        if len(amb):
            logger.debug("knn: %d rows with ties beyond the margin, exact re-sort", len(amb))
            for s in range(0, len(amb), chunk):
                rows = amb[s:s + chunk]
                dist[rows], idx[rows] = _exact_rows(xl, xr, rows, k)
    np.maximum(dist, 0, out=dist)
    dist[:, 0] = 0  # self (its -inf marker)
    return torch.from_numpy(dist), torch.from_numpy(idx)


BF16_EXTRA = 24     # candidates beyond k that the bf16 pass keeps for the fp32 re-ranking


def _knn_from_candidates(x: torch.Tensor, k: int, backend: str, ef_search: int,
                         nprobe: int) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`knn`'s output from a faiss backend's candidates, re-ranked in fp32 (same tie rule)."""
    from .knn_backends import TIE_MARGIN, faiss_candidates
    cand = faiss_candidates(x, k + TIE_MARGIN, backend, ef_search=ef_search, nprobe=nprobe)
    xl, xr = _augment(x.float() if x.dtype != torch.float64 else x)
    d, i = _rerank(xl, xr, cand)                           # rows sorted by index: repeats are adjacent
    again = np.zeros_like(d, dtype=bool)
    again[:, 1:] = i[:, 1:] == i[:, :-1]
    d[again] = np.inf
    d, i = _sort_rows(d, i)
    dist, idx = d[:, :k].copy(), i[:, :k].copy()
    short = np.flatnonzero(np.isposinf(dist).any(axis=1))   # the index found fewer than k: search exactly
    if len(short):
        logger.info("knn %s: %d of %d rows had fewer than %d candidates, searched exactly", backend, len(short), len(d), k)
        for s in range(0, len(short), 2048):
            rows = short[s:s + 2048]
            dist[rows], idx[rows] = _exact_rows(xl, xr, rows, k)
    np.maximum(dist, 0, out=dist)
    dist[:, 0] = 0
    return torch.from_numpy(dist), torch.from_numpy(idx)


def _augment_bf16(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """bf16 rows [x, s_hi, s_lo, 1, 1] and [-2x, 1, 1, s_hi, s_lo], s = |x|^2 split into two bf16
    parts (s to ~2^-16): one bf16 matmul of the two gives squared distances."""
    sq = (x * x).sum(1, keepdim=True)
    s_hi = sq.to(torch.bfloat16)
    s_lo = (sq - s_hi.float()).to(torch.bfloat16)
    one = torch.ones_like(s_hi)
    xb = x.to(torch.bfloat16)
    return torch.cat([xb, s_hi, s_lo, one, one], 1), torch.cat([-2 * xb, one, one, s_hi, s_lo], 1)


def _rerank(xl: torch.Tensor, xr: torch.Tensor, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """fp32 squared distances of every row to its candidates ``idx`` [n, kk] (each row sorted by
    index on return), in one sampled matmul; self gets -inf."""
    n, kk = idx.shape
    idx = np.sort(idx, axis=1)
    d = _sampled_products(xl, xr, np.arange(0, n * kk + 1, kk), idx.reshape(-1)).reshape(n, kk)
    d[idx == np.arange(n)[:, None]] = -np.inf
    return d, idx


# ------------------------------------------------------- k-reciprocal sets (Zhong et al.)
def k_reciprocal_mask(rank: np.ndarray, k: int, chunk: int = 4096) -> np.ndarray:
    """[N, k+1] bool: ``rank[i, p]`` is a k-reciprocal neighbour of i (i is in its k+1 list)."""
    f = rank[:, :k + 1]
    out = np.empty(f.shape, dtype=bool)
    for s in range(0, len(f), chunk):
        fs = f[s:s + chunk]
        rows = np.arange(s, s + len(fs))[:, None, None]
        out[s:s + chunk] = (f[fs] == rows).any(axis=2)
    return out


def _pattern(rank: np.ndarray, mask: np.ndarray, n: int) -> sp.csr_matrix:
    """Boolean CSR with row i = {rank[i, p] : mask[i, p]} (sorted indices)."""
    rows = np.repeat(np.arange(n), mask.sum(1))
    cols = rank[:, :mask.shape[1]][mask]
    m = sp.csr_matrix((np.ones(len(rows), dtype=np.int32), (rows, cols)), shape=(n, n))
    m.sort_indices()
    return m


def _expanded_sets(rank: np.ndarray, k1: int) -> sp.csr_matrix:
    """R*(i) of Zhong et al.: R(i, k1) united with every R(c, k1/2), c in R(i, k1),
    that shares more than 2/3 of its members with R(i, k1).  Pattern CSR (int32 ones)."""
    n = len(rank)
    r = _pattern(rank, k_reciprocal_mask(rank, k1), n)
    h = _pattern(rank, k_reciprocal_mask(rank, _half(k1)), n)
    # |R(c, k1/2) ∩ R(i, k1)| for every (i, c) in R: product R @ H^T on R's pattern
    # (c is in both R(i) and R(c, k1/2), so every such count is >= 1 and is stored).
    counts = (r @ h.T).multiply(r).tocsr()
    counts.sort_indices()
    if counts.nnz != r.nnz or not np.array_equal(counts.indices, r.indices):
        raise RuntimeError("internal error: intersection counts do not cover R")
    cand = r.indices
    hsize = np.diff(h.indptr)[cand].astype(np.float64)
    ok = counts.data > (2 / 3) * hsize  # same float comparison as the reference
    rows = np.repeat(np.arange(n), np.diff(r.indptr))
    p = sp.csr_matrix((np.ones(int(ok.sum()), dtype=np.int32), (rows[ok], cand[ok])), shape=(n, n))
    out = (r + p @ h).tocsr()
    out.data[:] = 1
    out.sort_indices()
    return out


def _pair_dots(x: torch.Tensor, sets: sp.csr_matrix) -> np.ndarray:
    """<x_i, x_j> for every stored (i, j) of ``sets`` (CSR order), float64.

    One sampled matmul (``torch.sparse.sampled_addmm``): no [nnz, h] gathers."""
    return _sampled_products(x, x, sets.indptr, sets.indices).astype(np.float64)


def _sampled_products(left: torch.Tensor, right: torch.Tensor, indptr: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """<left_i, right_j> for the (i, j) of a CSR pattern (``indptr``, ``indices``), in its order."""
    n = left.shape[0]
    crow = torch.from_numpy(np.asarray(indptr, dtype=np.int64)).to(left.device)
    col = torch.from_numpy(np.asarray(indices, dtype=np.int64)).to(left.device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        pattern = torch.sparse_csr_tensor(crow, col, torch.zeros(len(col), dtype=left.dtype, device=left.device),
                                          size=(n, right.shape[0]), check_invariants=False)
        return torch.sparse.sampled_addmm(pattern, left, right.T, beta=0.0).values().cpu().numpy()


def _softmax_weights(x: torch.Tensor, sets: sp.csr_matrix) -> sp.csr_matrix:
    """V[i, R*(i)] = softmax(-(2 - 2 <f_i, f_j>)) over j in R*(i) (cluster-contrast), float64."""
    n = sets.shape[0]
    sizes = np.diff(sets.indptr)
    neg = -(2.0 - 2.0 * _pair_dots(x, sets))
    starts = sets.indptr[:-1]
    e = np.exp(neg - np.repeat(np.maximum.reduceat(neg, starts), sizes))  # rows hold >= i itself
    e /= np.repeat(np.add.reduceat(e, starts), sizes)
    v = sp.csr_matrix((e, sets.indices.copy(), sets.indptr.copy()), shape=(n, n))
    v.eliminate_zeros()  # underflowed weights: the reference's ``V != 0`` test drops them
    return v


def _query_expansion(v: sp.csr_matrix, rank: np.ndarray, k2: int) -> sp.csr_matrix:
    """V_qe[i] = mean of V[j] over the k2 nearest j of i (self included)."""
    if k2 <= 1:
        return v
    n = v.shape[0]
    m = sp.csr_matrix(
        (np.ones(n * k2), rank[:, :k2].ravel(), np.arange(0, n * k2 + 1, k2)), shape=(n, n)
    )
    q = (m @ v).tocsr()
    q.data /= k2
    q.sort_indices()
    return q


# ----------------------------------------------------------------------------- Jaccard
class _JaccardRows:
    """Jaccard distances of row blocks against all later rows (k >= i), from V_qe.

    s(i, k) = sum_j min(q_ij, q_kj) is accumulated only over the columns j that i and k
    share: every stored q_ij is paired with the entries q_kj, k >= i, of column j (CSC
    inverted index, expanded with ``np.repeat``) and the minima are summed per key
    (i, k) after one sort.  Memory per block O(sum of the column lengths it touches).

    float32 encodings use one int64 per term, key in the high and the value's bits in
    the low 32 bits (non-negative floats order like their bits): the min is taken on
    the packed integers and a plain ``np.sort`` groups the keys.  float64 encodings
    (tests) take an argsort instead."""

    def __init__(self, q: sp.csr_matrix, max_distance: float) -> None:
        self.q, self.max_distance, self.n = q, max_distance, q.shape[0]
        # CSC of the entry numbers: csr_tocsc keeps rows ascending inside each column,
        # and tells every CSR entry its slot in the CSC (no argsort needed)
        ids = sp.csr_matrix((np.arange(q.nnz, dtype=np.int64), q.indices, q.indptr), shape=q.shape).tocsc()
        self.pos = np.empty(q.nnz, dtype=np.int64)
        self.pos[ids.data] = np.arange(q.nnz)
        self.cnt = ids.indptr[1:].astype(np.int64)[q.indices] - self.pos  # partners k >= i
        qc = sp.csc_matrix((q.data[ids.data], ids.indices, ids.indptr), shape=q.shape)
        self.packed = q.dtype == np.float32 and sys.byteorder == "little"
        if self.packed:
            self.c_pack = (qc.indices.astype(np.int64) << 32) | qc.data.view(np.uint32)
            self.a_bits = q.data.view(np.uint32).astype(np.int64)
        else:
            self.c_rows, self.c_data = qc.indices.astype(np.int64), qc.data

    def _sums_packed(self, p: np.ndarray, cnt: np.ndarray, ent: np.ndarray, e0: int, e1: int) -> tuple[np.ndarray, np.ndarray]:
        t = self.c_pack[p]  # (k << 32) | bits(q_kj)
        t += np.repeat(ent << 32, cnt)  # key = (i - r0) * n + k in the high half
        excess = t & 0xFFFFFFFF
        excess -= np.repeat(self.a_bits[e0:e1], cnt)
        np.maximum(excess, 0, out=excess)
        t -= excess  # low half = bits(min(q_ij, q_kj))
        del excess
        t.sort()
        halves = t.view(np.uint32)  # little endian: [low, high] per term
        hi, lo = halves[1::2], halves[0::2].view(np.float32)
        first = np.flatnonzero(np.r_[True, hi[1:] != hi[:-1]])
        return t[first] >> 32, np.add.reduceat(lo, first, dtype=np.float64)

    def _sums_sorted(self, p: np.ndarray, cnt: np.ndarray, ent: np.ndarray, e0: int, e1: int) -> tuple[np.ndarray, np.ndarray]:
        keys = np.repeat(ent, cnt)
        keys += self.c_rows[p]
        mins = np.minimum(np.repeat(self.q.data[e0:e1], cnt), self.c_data[p])
        order = np.argsort(keys, kind="stable")
        keys, mins = keys[order], mins[order]
        first = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        return keys[first], np.add.reduceat(mins, first, dtype=np.float64)

    def __call__(self, r0: int, r1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        q, n = self.q, self.n
        e0, e1 = int(q.indptr[r0]), int(q.indptr[r1])
        start, cnt = self.pos[e0:e1], self.cnt[e0:e1]  # from i itself down column j
        total = int(cnt.sum())
        ent = np.repeat(np.arange(r1 - r0, dtype=np.int64) * n, np.diff(q.indptr[r0:r1 + 1]))
        p = np.arange(total, dtype=np.int64)
        p += np.repeat(start - (np.cumsum(cnt) - cnt), cnt)  # CSC slots of the partners
        sums = self._sums_packed if self.packed else self._sums_sorted
        keys, s = sums(p, cnt, ent, e0, e1)
        d = 1.0 - s / (2.0 - s)
        np.maximum(d, 0.0, out=d)
        keep = d <= self.max_distance
        keys = keys[keep]
        return keys // n + r0, keys % n, d[keep]


def _spans(job: _JaccardRows, chunk_terms: int) -> list[tuple[int, int]]:
    """Row blocks holding about ``chunk_terms`` (i, k, j) terms each (bounds the memory)."""
    n, indptr = job.n, job.q.indptr
    cum = np.r_[0, np.cumsum(job.cnt)][indptr]  # terms before each row
    cuts = np.searchsorted(cum, np.arange(0, cum[-1], max(1, chunk_terms)), side="right") - 1
    max_rows = max(1, (2**31 - 1) // n)  # packed keys (i - r0) * n + k fit 31 bits
    cuts = np.unique(np.r_[cuts, np.arange(0, n, max_rows), n])
    return [(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]


def _jaccard_pairs(q: sp.csr_matrix, max_distance: float, chunk_terms: int = 1 << 19, workers: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Upper-triangular (k >= i) triplets (i, k, d) with d = 1 - s/(2 - s) <= max_distance
    (Zhong et al. 2017) for pairs sharing a column; row blocks of about ``chunk_terms``
    terms, spread over ``workers`` threads (numpy releases the GIL)."""
    job = _JaccardRows(q, max_distance)
    spans = _spans(job, chunk_terms)
    if workers > 1 and len(spans) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(lambda span: job(*span), spans))
    else:
        parts = [job(*span) for span in spans]
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return tuple(np.concatenate([pt[i] for pt in parts]) for i in range(3))


def _symmetric_csr(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, n: int) -> sp.csr_matrix:
    """Symmetric CSR from upper-triangular triplets sorted by (row, col), diagonal = 0.

    Built by placement, not by sparse addition (which would drop explicit zeros):
    row i = [its lower part (the transpose), the diagonal, its strictly upper part]."""
    off = rows != cols
    rows, cols, vals = rows[off], cols[off], vals[off]
    up = sp.csr_matrix((vals, cols, np.r_[0, np.cumsum(np.bincount(rows, minlength=n))]), shape=(n, n))
    lo = up.T.tocsr()  # explicit zeros survive the transpose
    lo.sort_indices()
    n_lo, n_up = np.diff(lo.indptr), np.diff(up.indptr)
    indptr = np.r_[0, np.cumsum(n_lo + 1 + n_up)]
    data = np.empty(indptr[-1], dtype=np.float64)
    indices = np.empty(indptr[-1], dtype=np.int64)
    at_lo = np.repeat(indptr[:-1] - lo.indptr[:-1], n_lo) + np.arange(lo.nnz)
    at_up = np.repeat(indptr[:-1] + n_lo + 1 - up.indptr[:-1], n_up) + np.arange(up.nnz)
    at_diag = indptr[:-1] + n_lo
    data[at_lo], indices[at_lo] = lo.data, lo.indices
    data[at_up], indices[at_up] = up.data, up.indices
    data[at_diag], indices[at_diag] = 0.0, np.arange(n)
    g = sp.csr_matrix((data, indices, indptr), shape=(n, n))
    g.has_sorted_indices = True
    return g


def jaccard_graph(
    features: ArrayLike,
    k1: int = 20,
    k2: int = 6,
    normalize: bool = True,
    max_distance: float = 1.0,
    *,
    rank_width: Optional[int] = None,
    knn_chunk: Optional[int] = None,
    chunk_terms: int = 1 << 19,
    workers: Optional[int] = None,
    timings: Optional[dict] = None,
    precision: str = "fp32",
    knn_backend: str = "exact",
    knn_ef_search: int = 64,
    knn_nprobe: int = 16,
) -> sp.csr_matrix:
    """Sparse k-reciprocal Jaccard distance graph (Alg. 1; Zhong et al. 2017 re-ranking).

    Returns a symmetric [N, N] CSR whose stored values are the Jaccard distances
    <= ``max_distance`` of pairs sharing at least one k-reciprocal encoding column,
    with the diagonal stored as 0 and explicit zeros kept.  Absent pairs have distance
    > ``max_distance`` (or exactly 1: nothing shared).  Equals
    :func:`jaccard_distance_dense` on those entries; memory O(N * k).

    ``rank_width``: neighbour-list length incl. self; None = k1 + 1 (Zhong et al.), k1
    reproduces cluster-contrast's faiss search (``index.search(x, k1)``).
    ``knn_chunk``: rows per kNN block (default 2048 on CPU, 8192 on CUDA);
    ``chunk_terms``: (i, k, column) terms per Jaccard block (~32 bytes each);
    ``workers``: threads for the Jaccard blocks (default ``torch.get_num_threads()``);
    ``timings``, if given, receives the seconds of each stage; ``precision``: of the kNN's
    candidate search (:func:`knn`; ``bf16`` re-ranks its candidates in fp32); ``knn_backend``,
    ``knn_ef_search``, ``knn_nprobe``: :func:`knn`'s search (:mod:`himpc.knn_backends`).
    float32 features give float32 encodings (float64 sums); float64 stays float64.
    """
    t = {} if timings is None else timings
    t0 = time.perf_counter()
    with torch.no_grad():
        x = _check_features(features)
        n = x.shape[0]
        k1, k2, width = _effective_ks(n, k1, k2, rank_width)
        if normalize:
            x = torch.nn.functional.normalize(x, dim=1)
        _, idx = knn(x, width, chunk=knn_chunk, precision=precision, backend=knn_backend,
                     ef_search=knn_ef_search, nprobe=knn_nprobe)
        rank = idx.cpu().numpy()
        t1 = time.perf_counter()
        sets = _expanded_sets(rank, k1)
        t2 = time.perf_counter()
        v = _softmax_weights(x, sets)
        q = _query_expansion(v, rank, k2)
        if x.dtype != torch.float64:
            q.data = q.data.astype(np.float32)
            q.eliminate_zeros()  # weights below float32's range (then "not shared")
        t3 = time.perf_counter()
        rows, cols, vals = _jaccard_pairs(q, max_distance, chunk_terms, workers or torch.get_num_threads())
        g = _symmetric_csr(rows, cols, vals, n)
        t4 = time.perf_counter()
    t.update(knn=t1 - t0, reciprocal=t2 - t1, encode=t3 - t2, jaccard=t4 - t3)
    logger.debug(
        "jaccard_graph N=%d: knn %.2fs, reciprocal %.2fs, encode %.2fs, jaccard %.2fs, nnz/row %.1f",
        n, t1 - t0, t2 - t1, t3 - t2, t4 - t3, g.nnz / n,
    )
    return g


# ------------------------------------------------------------------- dense reference
def jaccard_distance_dense(
    features: ArrayLike, k1: int = 20, k2: int = 6, normalize: bool = True, rank_width: Optional[int] = None
) -> np.ndarray:
    """Reference Jaccard distance matrix, a transcription of cluster-contrast's
    ``compute_jaccard_distance`` (Zhong et al. 2017) with dense [N, N] matrices.

    For tests and small N only.  Uses the conventions of the module docstring
    (k1 + 1 neighbours, self first, ties by index).  Computes in the features' dtype.
    """
    x = _check_features(features).cpu()
    n = x.shape[0]
    k1, k2, width = _effective_ks(n, k1, k2, rank_width)
    if normalize:
        x = torch.nn.functional.normalize(x, dim=1)
    sq = (x * x).sum(1)
    d = (sq[:, None] + sq[None, :] - 2 * x @ x.T).numpy()
    np.fill_diagonal(d, -np.inf)
    initial_rank = np.argsort(d, axis=1, kind="stable")[:, :width]
    dtype = x.numpy().dtype

    def k_reciprocal_neigh(i: int, k: int) -> np.ndarray:
        forward = initial_rank[i, :k + 1]
        backward = initial_rank[forward, :k + 1]
        return forward[np.where(backward == i)[0]]

    nn_k1 = [k_reciprocal_neigh(i, k1) for i in range(n)]
    nn_half = [k_reciprocal_neigh(i, _half(k1)) for i in range(n)]
    v = np.zeros((n, n), dtype=dtype)
    for i in range(n):
        rec = nn_k1[i]
        exp = rec
        for c in rec:
            cand = nn_half[c]
            if len(np.intersect1d(cand, rec)) > 2 / 3 * len(cand):
                exp = np.append(exp, cand)
        exp = np.unique(exp)
        dist = 2 - 2 * (x[i][None] @ x[exp].T)
        v[i, exp] = torch.softmax(-dist, dim=1).view(-1).numpy()
    if k2 != 1:
        v = np.stack([v[initial_rank[i, :k2]].mean(axis=0) for i in range(n)]).astype(dtype)
    inv_index = [np.where(v[:, j] != 0)[0] for j in range(n)]
    jac = np.zeros((n, n), dtype=dtype)
    for i in range(n):
        temp_min = np.zeros(n, dtype=dtype)
        nonzero = np.where(v[i] != 0)[0]
        for j in nonzero:
            imgs = inv_index[j]
            temp_min[imgs] += np.minimum(v[i, j], v[imgs, j])
        jac[i] = 1 - temp_min / (2 - temp_min)
    jac[jac < 0] = 0
    return jac


# ------------------------------------------------------------------------------ DBSCAN
def _dbscan_ready(graph: sp.spmatrix, eps: float) -> sp.csr_matrix:
    """Entries <= eps, diagonal stored as 0, each row sorted by value (sklearn's fast path)."""
    g = sp.csr_matrix(graph)
    n = g.shape[0]
    if g.nnz and g.data.min() < 0:
        raise ValueError("distance graph has negative entries")
    rows = np.repeat(np.arange(n), np.diff(g.indptr))
    keep = (g.data <= eps) & (rows != g.indices)
    rows, cols, vals = rows[keep], g.indices[keep], g.data[keep]
    rows = np.concatenate([np.arange(n), rows])
    cols = np.concatenate([np.arange(n), cols])
    vals = np.concatenate([np.zeros(n, dtype=g.dtype if g.nnz else np.float64), vals])
    order = np.lexsort((vals, rows))
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return sp.csr_matrix((vals[order], cols[order], indptr), shape=(n, n))


def dbscan_labels(graph: sp.spmatrix, eps: float, min_samples: int) -> np.ndarray:
    """DBSCAN (sklearn, ``metric="precomputed"``) on a sparse distance graph (Alg. 1).

    Absent entries are "not neighbours"; stored entries (explicit zeros included) with
    value <= eps are.  Returns int64 labels, -1 for outliers, as sklearn numbers them.
    """
    from sklearn.cluster import DBSCAN

    g = _dbscan_ready(graph, eps)
    return DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed").fit_predict(g).astype(np.int64)


# ----------------------------------------------------------------------------- results
def relabel(labels: np.ndarray) -> np.ndarray:
    """Renumber cluster ids to 0..C-1 in order of first appearance; -1 stays -1."""
    labels = np.asarray(labels, dtype=np.int64)
    out = np.full_like(labels, -1)
    pos = labels >= 0
    if pos.any():
        uniq, first, inv = np.unique(labels[pos], return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")  # cluster ids by first appearance
        new_id = np.empty(len(uniq), dtype=np.int64)
        new_id[order] = np.arange(len(uniq))
        out[pos] = new_id[inv]
    return out


@dataclass
class ClusterResult:
    """Pseudo labels of one level (Alg. 1).

    ``labels``: int64 [N], clusters 0..C-1 numbered by first appearance, -1 = outlier.
    ``sizes``: int64 [C], members per cluster.  ``timings``: seconds per stage.
    ``graph_nnz``: stored entries of the eps-pruned Jaccard graph.
    """

    labels: np.ndarray
    num_clusters: int
    num_outliers: int
    seconds: float
    sizes: np.ndarray
    timings: dict = field(default_factory=dict)
    graph_nnz: int = 0


def cluster_features(
    features: ArrayLike,
    eps: float,
    min_samples: int,
    k1: int = 20,
    k2: int = 6,
    normalize: bool = True,
    **graph_kwargs,
) -> ClusterResult:
    """Cluster one level's features: k-reciprocal Jaccard graph + DBSCAN (Alg. 1).

    Accepts a torch tensor (CPU or CUDA; the kNN runs there) or a numpy array.  The
    graph keeps only distances <= eps.  Zero clusters (all outliers) is returned as is;
    the caller decides.  Labels are relabelled 0..C-1 in order of first appearance.
    """
    t0 = time.perf_counter()
    timings: dict = {}
    graph = jaccard_graph(features, k1, k2, normalize, max_distance=eps, timings=timings, **graph_kwargs)
    t1 = time.perf_counter()
    labels = relabel(dbscan_labels(graph, eps, min_samples))
    timings["dbscan"] = time.perf_counter() - t1
    sizes = np.bincount(labels[labels >= 0]) if (labels >= 0).any() else np.zeros(0, dtype=np.int64)
    res = ClusterResult(
        labels=labels,
        num_clusters=len(sizes),
        num_outliers=int((labels < 0).sum()),
        seconds=time.perf_counter() - t0,
        sizes=sizes.astype(np.int64),
        timings=timings,
        graph_nnz=int(graph.nnz),
    )
    if res.num_clusters == 0:
        logger.warning("DBSCAN found no cluster among %d samples (eps=%g, min_samples=%d)", len(labels), eps, min_samples)
    logger.info(
        "clustered N=%d: %d clusters, %d outliers in %.2fs (graph nnz/row %.1f; %s)",
        len(labels), res.num_clusters, res.num_outliers, res.seconds, graph.nnz / max(1, len(labels)),
        ", ".join(f"{k} {v:.2f}s" for k, v in timings.items()),
    )
    return res


def cluster_levels(features: Sequence[ArrayLike], eps: float, min_samples: int, k1: int = 20, k2: int = 6,
                   normalize: bool = True, threads: Optional[int] = None, **graph_kwargs) -> list[ClusterResult]:
    """:func:`cluster_features` of every level's features (e.g. [L, N, h]), the levels on their own
    threads (default: one each).  The levels are independent, and much of a level's clustering is
    single-threaded numpy that releases the GIL (the kNN's candidate filters and merges, the
    k-reciprocal sets, DBSCAN), so levels side by side fill the cores that one level leaves idle;
    each level's labels are the same as alone (``benchmarks/bench_epoch.py`` times both ways)."""
    run = lambda f: cluster_features(f, eps, min_samples, k1, k2, normalize, **graph_kwargs)   # noqa: E731
    threads = min(len(features), threads or len(features))
    if threads <= 1:
        return [run(f) for f in features]
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(run, features))
