"""The results overview page: one row per result file, what ran, on what, how long, which commit."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..store import iter_results, scope_of
from .table import fmt


def overview_rows(roots: Sequence[str | Path]) -> list[dict]:
    """One row per result.json under ``roots``: what ran, on what, how long, with which commit."""
    rows = []
    for root in roots:
        for f, r in iter_results([root]):
            env = r.get("environment", {})
            cfg = r.get("config", {})
            rows.append({
                "result": str(f.relative_to(root)) if Path(root) in f.parents else str(f),
                "root": str(root), "kind": r.get("kind", "?") + (f" {r['baseline']}" if r.get("baseline") else ""),
                "split": cfg.get("split_seed"), "epochs": r.get("epochs"), "scope": scope_of(cfg),
                "R1": (r.get("metrics", {}).get("msmr") or {}).get("R1"),
                "mAP": (r.get("metrics", {}).get("msmr") or {}).get("mAP"),
                "device": env.get("gpu") or f"CPU\u00a0×{env.get('cpu_threads', '?')} {env.get('cpu_capability', '')}".rstrip(),
                "seconds": r.get("seconds_total"), "commit": env.get("git_commit", "unknown"),
                "command": r.get("command", ""),
                "precision": r.get("precision") or cfg.get("precision") or "fp32",
                "asked_precision": cfg.get("precision") or "fp32",
            })
    return rows


def overview_markdown(roots: Sequence[str | Path]) -> str:
    rows = overview_rows(roots)
    if not rows:
        return "_No result files found._"
    head = ["run", "split", "epochs", "MSMR R1", "mAP", "time", "ran on", "commit"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:                      # narrow enough for the page: the run folder says what ran
        run = r["result"].removesuffix("/result.json").rsplit("/split", 1)[0]
        if r["scope"] != "full data":
            run += f" — {r['scope']}"
        secs = float(r["seconds"] or 0)
        took = f"{secs / 3600:.1f} h" if secs >= 5400 else f"{secs / 60:.0f} min" if secs >= 60 else f"{secs:.0f} s"
        ran_on = r["device"]
        if r["kind"] == "train":      # a bf16 run on a device without native bf16 fell back to fp32
            ran_on += f", {r['precision']}" + (" (bf16 emulated there)" if r["precision"] != r["asked_precision"] else "")
        lines.append("| " + " | ".join("—" if x is None else str(x) for x in (
            run, r["split"], r["epochs"], fmt(r["R1"]), fmt(r["mAP"]),
            took if r["seconds"] is not None else "—", ran_on, r["commit"][:7])) + " |")
    total = sum(float(r["seconds"] or 0) for r in rows)
    lines.append("")
    lines.append(f"{len(rows)} result files, {total / 3600:.2f} hours of computation in all.")
    return "\n".join(lines)
