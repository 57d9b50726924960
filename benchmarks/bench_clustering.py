"""Benchmark of the Alg. 1 clustering (k-reciprocal Jaccard graph + DBSCAN).

KGBD's ~31K training clips must cluster in a few seconds per level on a 2-core CPU.
Prints seconds per stage, peak RSS and graph nnz per row for N x 256 synthetic features
(~300 Gaussian clusters plus uniform noise points), the sparse / dense-reference time
ratio at N = 4000, and a sanity run on random-MLP (3*20 -> 256 -> 256, ReLU) embeddings
of noisy skeleton-like inputs.

    .venv/bin/python benchmarks/bench_clustering.py [--n 31000] [--threads 2] [--quick]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

import sklearn.cluster  # noqa: F401  (imported up front: not part of the timings)
from sklearn.metrics import adjusted_rand_score

from himpc.clustering import cluster_features, jaccard_distance_dense, jaccard_graph

STAGES = ("knn", "reciprocal", "encode", "jaccard", "dbscan")


def synthetic(n: int, dim: int = 256, clusters: int = 300, noise: float = 0.1, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """Gaussian clusters (unit-variance centres, spread 0.6) plus a fraction of noise points."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(clusters, dim, generator=g)
    labels = torch.randint(0, clusters, (n,), generator=g)
    x = centres[labels] + 0.6 * torch.randn(n, dim, generator=g)
    out = torch.rand(n, generator=g) < noise
    x[out] = 1.5 * torch.randn(int(out.sum()), dim, generator=g)
    labels[out] = -1
    return x, labels.numpy()


def mlp_features(n: int, ids: int = 300, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """Random-MLP embeddings (60 -> 256 -> 256, ReLU) of noisy per-identity 'skeletons'."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    base = torch.randn(ids, 60, generator=g)
    labels = torch.randint(0, ids, (n,), generator=g)
    inputs = base[labels] + 0.35 * torch.randn(n, 60, generator=g)
    net = torch.nn.Sequential(torch.nn.Linear(60, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU())
    with torch.no_grad():
        return net(inputs), labels.numpy()


def background_load(seconds: float = 1.0) -> float:
    """Busy CPU cores from other processes (this one idles meanwhile), from /proc/stat."""
    try:
        def read() -> list[int]:
            with open("/proc/stat") as f:
                return [int(v) for v in f.readline().split()[1:]]
        a = read()
        time.sleep(seconds)
        b = read()
        d = [y - x for x, y in zip(a, b)]
        total, idle = sum(d[:8]), d[3] + d[4]
        return (total - idle) / total * _ncpu()
    except OSError:
        return float("nan")


def _ncpu() -> int:
    import os

    return os.cpu_count() or 1


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_level(name: str, x: torch.Tensor, truth: np.ndarray, eps: float = 0.6, min_samples: int = 4) -> None:
    cpu0 = time.process_time()
    res = cluster_features(x, eps=eps, min_samples=min_samples)
    cpu = time.process_time() - cpu0
    stages = "  ".join(f"{s} {res.timings.get(s, 0):.2f}" for s in STAGES)
    keep = truth >= 0
    ari = adjusted_rand_score(truth[keep], res.labels[keep])
    print(f"{name}: N={len(x)}  {stages}  | total {res.seconds:.2f} s wall, {cpu:.2f} s CPU")
    print(f"    {res.num_clusters} clusters, {res.num_outliers} outliers, ARI vs truth (non-noise) {ari:.3f}, "
          f"nnz/row of the eps-graph {res.graph_nnz / len(x):.1f}, peak RSS {peak_rss_mb():.0f} MB")


def graph_stats(x: torch.Tensor) -> None:
    """nnz per row of the full graph (every pair sharing a k-reciprocal column)."""
    t = time.perf_counter()
    g = jaccard_graph(x, max_distance=1.0)
    print(f"    full graph (max_distance=1): nnz/row {g.nnz / len(x):.1f}, built in {time.perf_counter() - t:.2f} s, "
          f"peak RSS {peak_rss_mb():.0f} MB")


def dense_ratio(n: int = 4000) -> None:
    x, _ = synthetic(n, clusters=max(2, n // 100), seed=1)
    t = time.perf_counter()
    g = jaccard_graph(x)
    ts = time.perf_counter() - t
    t = time.perf_counter()
    dense = jaccard_distance_dense(x)
    td = time.perf_counter() - t
    coo = g.tocoo()
    err = np.abs(coo.data - dense[coo.row, coo.col]).max()
    missing = int(((dense < 1 - 1e-6) & (as_stored(g) == 0)).sum())
    print(f"N={n}: sparse {ts:.2f} s, dense reference {td:.2f} s, ratio sparse/dense {ts / td:.3f}; "
          f"max |sparse - dense| on stored entries {err:.1e} (float32), dense entries < 1 missing: {missing}")


def as_stored(g) -> np.ndarray:
    out = np.zeros(g.shape, dtype=np.int8)
    coo = g.tocoo()
    out[coo.row, coo.col] = 1
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=31000)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--quick", action="store_true", help="skip the dense comparison and the full graph")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {_ncpu()} CPUs; "
          f"background load {background_load():.2f} busy cores")
    x, truth = synthetic(args.n)
    run_level("synthetic 300 Gaussian clusters + 10% noise", x, truth)
    if not args.quick:
        graph_stats(x)
    x, truth = mlp_features(args.n)
    run_level("random MLP 60->256->256 embeddings", x, truth)
    if not args.quick:
        dense_ratio(4000)
    print(f"peak RSS {peak_rss_mb():.0f} MB; background load now {background_load():.2f} busy cores")


if __name__ == "__main__":
    main()
