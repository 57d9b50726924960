"""The k-NN backend benchmark (``benchmarks/bench_knn.py --out``) as the book shows it: the
scaling curve (N against seconds of the search, per backend and data) and the KGBD table (DBSCAN
labels of each backend against the exact path's).  Numbers only from the result file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from .table import Table

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
    rows = [[f"{r['n']:,}", r["data"], r["backend"], ", ".join(f"{k} {v}" for k, v in r["params"].items()) or "—",
             f"{r['seconds']:.2f}", f"{r['recall_at_k']:.3f}", f"{r['peak_rss_mb']:,}"]
            for r in sorted(result["synthetic"], key=lambda r: (r["n"], r["data"]))]
    return Table(["N", "vectors", "backend", "parameters", "seconds", f"recall@{result['k']}", "peak MB"], rows,
                 caption=f"k-NN search of N unit vectors, d = {result['dim']}, {result['threads']} threads "
                         f"({result['machine']['processor'] or 'CPU'}); recall on sampled rows against brute force")


def kgbd_table(result: dict) -> Any:
    """Per level and backend: clusters, outliers, ARI against the exact path, k-NN and clustering seconds."""
    kg = result.get("kgbd", [])
    rows = [[r["level"], r["backend"], str(r["clusters"]), str(r["outliers"]), f"{r['recall_at_k']:.3f}",
             f"{r['ari_vs_exact']:.4f}", f"{r['knn_seconds']:.2f}", f"{r['cluster_seconds']:.2f}"] for r in kg]
    clips = f"{kg[0]['n']:,} " if kg else ""
    return Table(["level", "backend", "clusters", "outliers", "recall", "ARI vs exact", "k-NN s", "level s"], rows,
                 caption=f"KGBD's {clips}training clips, the reference model's features, DBSCAN eps 0.6 / "
                         "min_samples 4; recall@21 and ARI against the exact search; seconds of the k-NN and of "
                         "the whole level's clustering")


def scaling_sentences(result: dict) -> str:
    """What the benchmark says, from its rows: per kind of vectors, each backend's time against the
    exact search at the largest N the exact search ran, with its recall; the backends at the N above
    it; and, on KGBD, how far each backend's DBSCAN labels are from the exact path's."""
    rows = result["synthetic"]
    out = []
    for data in sorted({r["data"] for r in rows}):
        mine = [r for r in rows if r["data"] == data]
        exact = max((r for r in mine if r["backend"] == "exact"), key=lambda r: r["n"], default=None)
        if exact:
            others = [r for r in mine if r["n"] == exact["n"] and r["backend"] != "exact"]
            parts = [f"the exact search {exact['seconds']:.1f} s"] + [
                f"{r['backend']} {r['seconds'] / exact['seconds']:.2f}× its time at recall {r['recall_at_k']:.3f}"
                for r in others]
            out.append(f"{data.capitalize()} vectors, N = {exact['n']:,}: " + "; ".join(parts) + ".")
        for n in sorted({r["n"] for r in mine if not exact or r["n"] > exact["n"]}):
            at = [r for r in mine if r["n"] == n]
            out.append(f"{data.capitalize()} vectors, N = {n:,} (no brute-force search run): "
                       + "; ".join(f"{r['backend']} {r['seconds']:.0f} s at recall {r['recall_at_k']:.3f}, "
                                   f"peak {r['peak_rss_mb'] / 1024:.1f} GB" for r in at) + ".")
    kg = result.get("kgbd") or []
    for backend in dict.fromkeys(r["backend"] for r in kg if r["backend"] != "exact"):
        mine = [r for r in kg if r["backend"] == backend]
        base = {r["level"]: r for r in kg if r["backend"] == "exact"}
        speed = sum(r["knn_seconds"] for r in mine) / max(sum(base[r["level"]]["knn_seconds"] for r in mine), 1e-9)
        out.append(f"On KGBD's training clips ({mine[0]['n']:,}, the reference model's features), {backend}: "
                   f"DBSCAN labels at ARI {min(r['ari_vs_exact'] for r in mine):.4f} or more against the exact "
                   f"path's on every level, recall {min(r['recall_at_k'] for r in mine):.4f} or more, "
                   f"k-NN {speed:.2f}× the exact search's time.")
    return "\n\n".join(out)
