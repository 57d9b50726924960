"""Benchmark of the clustering's k-NN backends (Config.knn_backend, issue 27), in one run.

For N synthetic unit vectors (d = 256; ``random``: uniform on the sphere, the worst case for an
approximate index; ``clustered``: 300 Gaussian clusters, closer to learned features) and each
backend, prints and writes (``--out``, JSON) the seconds of the search (index build included),
the peak memory of the process that ran it (a fresh subprocess per measurement, so peaks do not
mix; the features themselves are N x d x 4 bytes of it), and recall@k against the exact lists.
Above ``--exact-max`` the brute-force searches (exact, faiss flat) are not run (at N = 1M either
would take the better part of an hour per level here): recall is measured on ``--queries`` random rows whose exact neighbours are
found by brute force over all N.  With ``--kgbd`` (the reference model's features of KGBD's training
clips, per level) it also clusters with every backend and reports the adjusted Rand index of the
DBSCAN labels against the exact path's.

    .venv/bin/python benchmarks/bench_knn.py --sizes 31000,100000,1000000 --kgbd --out results/bench/knn.json
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "kgbd-hi-mpch-bf16-split0.safetensors"
BRUTE_FORCE = ("exact", "faiss-flat")         # N^2 work: not run above --exact-max
BACKENDS = {"exact": {}, "faiss-flat": {}, "faiss-hnsw": {"ef_search": 64}, "faiss-ivf": {"nprobe": 16}}


def synthetic(n: int, dim: int, kind: str, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if kind == "random":
        x = torch.randn(n, dim, generator=g)
    else:
        centres = torch.randn(300, dim, generator=g)
        x = centres[torch.randint(0, 300, (n,), generator=g)] + 0.6 * torch.randn(n, dim, generator=g)
    return torch.nn.functional.normalize(x, dim=1)


def exact_rows(x: torch.Tensor, rows: np.ndarray, k: int) -> np.ndarray:
    """Exact k nearest (self first) of some rows over all rows, by brute force in blocks."""
    out = []
    for s in range(0, len(rows), 512):
        q = x[torch.from_numpy(rows[s:s + 512])]
        d = 2 - 2 * (q @ x.T)
        d[torch.arange(len(q)), torch.from_numpy(rows[s:s + 512])] = -1
        out.append(torch.topk(d, k, largest=False).indices.numpy())
    return np.concatenate(out)


def measure(n: int, dim: int, kind: str, backend: str, k: int, queries: int, exact_max: int, threads: int) -> dict:
    """One (N, data, backend) measurement, in this process (run it in a fresh subprocess)."""
    from himpc.clustering import knn
    from himpc.knn_backends import recall_at_k
    torch.set_num_threads(threads)
    x = synthetic(n, dim, kind)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    _, idx = knn(x, k, backend=backend, **BACKENDS[backend])
    sec = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = np.random.default_rng(0).choice(n, min(queries, n), replace=False)
    recall = recall_at_k(idx.numpy()[rows], exact_rows(x, rows, k))
    return {"n": n, "data": kind, "backend": backend, "params": BACKENDS[backend], "seconds": round(sec, 2),
            "peak_rss_mb": round(peak), "rss_before_search_mb": round(base), "recall_at_k": round(recall, 4),
            "recall_rows": len(rows)}


def kgbd_ari(k1: int, k2: int, threads: int) -> list[dict]:
    """ARI of each level's DBSCAN labels (KGBD eps / min_samples) with every backend against exact."""
    from sklearn.metrics import adjusted_rand_score

    from himpc.clustering import cluster_features, knn
    from himpc.report.inspection import load_run, train_features
    from himpc.knn_backends import recall_at_k
    torch.set_num_threads(threads)
    run = load_run(MODEL)
    feats = train_features(run, "meta")
    cfg = run.cfg
    out = []
    for lv, name in enumerate(cfg.levels):
        f = torch.nn.functional.normalize(feats[lv].float(), dim=1)
        _, ref_idx = knn(f, k1 + 1)
        ref = None
        for backend, params in BACKENDS.items():
            extra = {f"knn_{p}": v for p, v in params.items()}
            t0 = time.perf_counter()
            res = cluster_features(f, cfg.dbscan_eps, cfg.dbscan_min_samples, k1, k2, knn_backend=backend, **extra)
            sec = time.perf_counter() - t0
            ref = res if backend == "exact" else ref
            _, idx = knn(f, k1 + 1, backend=backend, **params)
            out.append({"level": name, "n": len(f), "backend": backend, "params": params,
                        "cluster_seconds": round(sec, 2), "knn_seconds": round(res.timings["knn"], 2),
                        "clusters": res.num_clusters, "outliers": res.num_outliers,
                        "ari_vs_exact": round(float(adjusted_rand_score(ref.labels, res.labels)), 4),
                        "recall_at_k": round(recall_at_k(idx.numpy(), ref_idx.numpy()), 4)})
            print(json.dumps(out[-1]), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="31000,100000")
    ap.add_argument("--data", default="random,clustered")
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--k", type=int, default=21, help="list length incl. self (k1 + 1 = 21 in Hi-MPC)")
    ap.add_argument("--queries", type=int, default=2000, help="rows whose recall is measured")
    ap.add_argument("--exact-max", type=int, default=100000, help="largest N the exact search runs at")
    ap.add_argument("--backends", default=",".join(BACKENDS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--kgbd", action="store_true", help="also ARI of DBSCAN labels on the reference model's features")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--one", help=argparse.SUPPRESS)      # n,data,backend: one measurement (the subprocess)
    a = ap.parse_args()
    if a.one:
        n, kind, backend = a.one.split(",")
        print(json.dumps(measure(int(n), a.dim, kind, backend, a.k, a.queries, a.exact_max, a.threads)))
        return
    import faiss
    rows = []
    for n in map(int, a.sizes.split(",")):
        for kind in a.data.split(","):
            for backend in a.backends.split(","):
                if backend in BRUTE_FORCE and n > a.exact_max:
                    print(f"N={n} {kind} {backend}: not run (brute force, above --exact-max {a.exact_max})", flush=True)
                    continue
                cmd = [sys.executable, __file__, "--one", f"{n},{kind},{backend}", "--dim", str(a.dim),
                       "--k", str(a.k), "--queries", str(a.queries), "--threads", str(a.threads)]
                done = subprocess.run(cmd, capture_output=True, text=True)
                if done.returncode:
                    print(f"N={n} {kind} {backend}: FAILED\n{done.stderr[-800:]}", flush=True)
                    continue
                rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
                r = rows[-1]
                print(f"N={n:>8} {kind:9} {backend:10} {r['seconds']:8.2f} s  peak {r['peak_rss_mb']:6d} MB  "
                      f"recall@{a.k} {r['recall_at_k']:.3f}", flush=True)
    for n in sorted({r["n"] for r in rows}):
        for kind in a.data.split(","):
            ex = next((r for r in rows if r["n"] == n and r["data"] == kind and r["backend"] == "exact"), None)
            if ex:
                print(f"N={n} {kind}: seconds / exact: " + ", ".join(
                    f"{r['backend']} {r['seconds'] / ex['seconds']:.2f}" for r in rows
                    if r["n"] == n and r["data"] == kind and r["backend"] != "exact"))
    result = {"kind": "benchmark", "what": "knn backends", "dim": a.dim, "k": a.k, "threads": a.threads,
              "machine": {"processor": platform.processor(), "cpus": torch.get_num_threads(),
                          "torch": torch.__version__, "faiss": faiss.__version__},
              "command": " ".join(["python", "benchmarks/bench_knn.py", *sys.argv[1:]]), "synthetic": rows}
    def write() -> None:
        if a.out:
            a.out.parent.mkdir(parents=True, exist_ok=True)
            a.out.write_text(json.dumps(result, indent=1))
            print(f"wrote {a.out}")
    write()                                   # the synthetic part is kept even if the KGBD part fails
    if a.kgbd:
        result["kgbd"] = kgbd_ari(20, 6, a.threads)
        write()


if __name__ == "__main__":
    main()
