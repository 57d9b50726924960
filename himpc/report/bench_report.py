"""The k-NN backend benchmark (``benchmarks/bench_knn.py --out``) as the book shows it: the
scaling curve (N against seconds of the search, per backend and data) and the KGBD table (DBSCAN
labels of each backend against the exact path's).  Numbers only from the result file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

COMMAND = ".venv/bin/python benchmarks/bench_knn.py --sizes 31000,100000,1000000 --kgbd --out results/bench/knn.json"


def load_benchmark(path: str | Path) -> Optional[dict]:
    """The benchmark result, or None where it was not run yet."""
    p = Path(path)
    return json.loads(p.read_text()) if p.exists() else None


def scaling_series(result: dict) -> dict[str, dict[str, list]]:
    """``{"backend, data": {"n": [...], "seconds": [...], "recall": [...], "peak_mb": [...]}}`` in N order."""
    out: dict[str, dict[str, list]] = {}
    for r in sorted(result["synthetic"], key=lambda r: r["n"]):
        s = out.setdefault(f"{r['backend']}, {r['data']}", {"n": [], "seconds": [], "recall": [], "peak_mb": []})
        s["n"].append(r["n"])
        s["seconds"].append(r["seconds"])
        s["recall"].append(r["recall_at_k"])
        s["peak_mb"].append(r["peak_rss_mb"])
    return out


def synthetic_table(result: dict):
    from .table import Table
    rows = [[f"{r['n']:,}", r["data"], r["backend"], ", ".join(f"{k} {v}" for k, v in r["params"].items()) or "—",
             f"{r['seconds']:.2f}", f"{r['recall_at_k']:.3f}", f"{r['peak_rss_mb']:,}"]
            for r in sorted(result["synthetic"], key=lambda r: (r["n"], r["data"]))]
    return Table(["N", "vectors", "backend", "parameters", "seconds", f"recall@{result['k']}", "peak MB"], rows,
                 caption=f"k-NN search of N unit vectors, d = {result['dim']}, {result['threads']} threads "
                         f"({result['machine']['processor'] or 'CPU'}); recall on sampled rows against brute force")


def kgbd_table(result: dict) -> Any:
    """Per level and backend: clusters, outliers, ARI against the exact path, k-NN and clustering seconds."""
    from .table import Table
    rows = [[r["level"], r["backend"], f"{r['n']:,}", str(r["clusters"]), str(r["outliers"]), f"{r['recall_at_k']:.3f}",
             f"{r['ari_vs_exact']:.4f}", f"{r['knn_seconds']:.2f}", f"{r['cluster_seconds']:.2f}"]
            for r in result.get("kgbd", [])]
    return Table(["level", "backend", "clips", "clusters", "outliers", "recall@21", "ARI vs exact", "k-NN s",
                  "clustering s"], rows,
                 caption="KGBD training clips, the reference model's features, DBSCAN eps 0.6 / min_samples 4")
