"""Result files: written atomically, aggregated over random splits (mean and spread of every metric)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np


def write_json(path: Path, obj: Any) -> Path:
    """Write ``obj`` as JSON under a temporary name, then rename: a reader (another worker, a client on a
    shared filesystem, the book) sees the old file or the complete new one, never half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str))
    os.replace(tmp, path)
    return path


def load_results(paths: Iterable[Path]) -> list[dict]:
    return [json.loads(Path(p).read_text()) for p in paths]


def numbers_under(root: Path) -> dict:
    """Every ``result.json`` under ``root`` (by relative path) -> its metrics and per-epoch losses: what
    must be equal when the same jobs ran another way (serial / in parallel / on another cluster)."""
    out = {}
    for f in sorted(Path(root).rglob("result.json")):
        r = json.loads(f.read_text())
        out[f.relative_to(root).as_posix()] = (r["metrics"], [h.get("loss") for h in r.get("history", [])])
    return out


def aggregate(results: list[dict]) -> dict:
    """Mean, sample standard deviation, min and max over runs, for every level and metric, unrounded:
    a reader rounds once (rounding here to 2 decimals first had turned a spread of 2.1525 into 2.1)."""
    out: dict = {"runs": len(results), "split_seeds": [r["config"]["split_seed"] for r in results]}
    levels = results[0]["metrics"].keys() if results else []
    for lv in levels:
        out[lv] = {}
        for k in ("R1", "R5", "R10", "mAP"):
            vals = np.array([r["metrics"][lv][k] for r in results], dtype=float)
            out[lv][k] = {"mean": float(vals.mean()), "std": float(vals.std(ddof=1)) if len(vals) > 1 else 0.0,
                          "min": float(vals.min()), "max": float(vals.max())}
    return out


def format_row(agg: dict, level: str = "msmr") -> str:
    """``R1 56.9 ± 1.2 | R5 ... | mAP ...`` for a README / log line."""
    a = agg[level]
    return " | ".join(f"{k} {a[k]['mean']:.1f} ± {a[k]['std']:.1f}" for k in ("R1", "R5", "R10", "mAP"))
