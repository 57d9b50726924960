"""k-NN candidate search backends for the clustering's neighbour lists (Alg. 1, ``initial_rank``).

One switch, ``Config.knn_backend`` (``knn`` of :mod:`himpc.clustering` takes it as ``backend``):

* ``exact`` (default): the hand-written blocked search of :func:`himpc.clustering.knn` (the reference);
* ``faiss-flat``: faiss's exact L2 index (``IndexFlatL2``);
* ``faiss-hnsw``: an HNSW graph (``IndexHNSWFlat``, ``M`` 32, ``efSearch`` ``knn_ef_search``), approximate;
* ``faiss-ivf``: an inverted file (``IndexIVFFlat``, ``nlist`` = 4 sqrt(N) cells trained with a fixed
  seed, ``nprobe`` = ``knn_nprobe`` cells searched), approximate.

faiss runs on the GPU where the features live on CUDA and the installed faiss has GPU support (flat
and IVF; faiss has no GPU HNSW), else on the CPU with torch's thread count.

A faiss backend only proposes ``k + TIE_MARGIN`` candidates per row: their distances are then
recomputed in fp32 from the features and sorted with **the tie rule of every backend** (itself
first, then increasing squared distance, equal distances by the lower index), exactly as the bf16
path of :func:`himpc.clustering.knn` re-ranks its candidates.  So ``faiss-flat`` returns the lists
of ``exact`` except where two neighbours' distances differ by fp32 rounding only (a tie at fp32
precision), which ``tests/test_knn_backends.py`` checks on real features.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch

BACKENDS = ("exact", "faiss-flat", "faiss-hnsw", "faiss-ivf")
TIE_MARGIN = 8
HNSW_M = 32


def faiss_module():
    """The faiss module, or an ImportError that says how to get it."""
    try:
        import faiss
    except ImportError as err:                          # pragma: no cover - faiss-cpu is in requirements.txt
        raise ImportError("knn_backend faiss-* needs faiss: pip install faiss-cpu (or faiss-gpu on CUDA)") from err
    return faiss


def _index(x: np.ndarray, backend: str, ef_search: int, nprobe: int, gpu: bool):
    faiss = faiss_module()
    n, d = x.shape
    if backend == "faiss-flat":
        index = faiss.IndexFlatL2(d)
    elif backend == "faiss-hnsw":
        index = faiss.IndexHNSWFlat(d, HNSW_M)
        index.hnsw.efSearch = max(ef_search, 1)
        gpu = False                                     # faiss has no GPU HNSW index
    elif backend == "faiss-ivf":
        nlist = max(1, min(int(4 * math.sqrt(n)), n // 39))     # faiss wants >= 39 training points a cell
        index = faiss.IndexIVFFlat(faiss.IndexFlatL2(d), d, nlist)
        index.cp.seed = 0                               # k-means seed: the same cells every run
        index.cp.max_points_per_centroid = 64           # k-means on <= 64 points a cell (N = 1M: 256K)
        index.train(x)
        index.nprobe = max(1, min(nprobe, nlist))
    else:
        raise ValueError(f"unknown knn_backend {backend!r} ({' | '.join(BACKENDS)})")
    if gpu and hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0:   # pragma: no cover
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    index.add(x)
    return index


def faiss_candidates(features: torch.Tensor, kk: int, backend: str = "faiss-flat", ef_search: int = 64,
                     nprobe: int = 16, threads: Optional[int] = None) -> np.ndarray:
    """int64 [N, kk] candidate neighbours of every row among all rows (itself included) from faiss;
    a row with fewer than ``kk`` found (approximate indexes) repeats itself in the empty places."""
    faiss = faiss_module()
    x = np.ascontiguousarray(features.detach().float().cpu().numpy(), dtype=np.float32)
    kk = min(int(kk), len(x))
    faiss.omp_set_num_threads(threads or torch.get_num_threads())
    index = _index(x, backend, ef_search, nprobe, features.device.type == "cuda")
    _, cand = index.search(x, kk)
    cand = cand.astype(np.int64)
    rows = np.broadcast_to(np.arange(len(x))[:, None], cand.shape)
    missing = cand < 0
    cand[missing] = rows[missing]
    has_self = (cand == rows).any(axis=1)
    cand[~has_self, -1] = np.flatnonzero(~has_self)     # itself always a candidate
    return cand


def recall_at_k(approx: np.ndarray, exact: np.ndarray) -> float:
    """Mean fraction of each row's exact k neighbours (self excluded) found in the approximate list."""
    a, e = np.asarray(approx)[:, 1:], np.asarray(exact)[:, 1:]
    hits = sum(int((a[s:s + 65536, :, None] == e[s:s + 65536, None, :]).any(axis=1).sum())
               for s in range(0, len(e), 65536))
    return float(hits / e.size)
