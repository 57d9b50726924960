"""One split, one budget, one switch at a time: the paper-vs-code page's rows, table and sentences."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from ..store import METRICS, iter_results, result_config
from .rows import NOT_MEASURED, config_matches, measure_command, row_config
from .selection import probe_gallery_trace
from .table import Table, fmt


def side_by_side(variants: Mapping[str, Mapping[str, Any]], roots: Sequence[str | Path], split: int = 0,
                 epochs: Optional[int] = None, dataset: str = "KGBD", precision: str = "fp32") -> list[dict]:
    """One row per named variant (``{label: ours-entry}``) on one split, budget and precision (the
    runs of a side-by-side comparison differ in one switch only): MSMR metrics, training-side evidence
    (final joint-level purity, HSM sharpness) and the probe/gallery trace (a record, never a
    selection).  A variant without such a result says so, with its command."""
    found = [(f, r) for f, r in iter_results(roots) if r.get("kind", "train") == "train"]
    rows = []
    for label, ours in variants.items():
        want = row_config(ours, dataset=dataset)
        hit = None
        for f, res in found:
            try:
                cfg = result_config(res)
            except (KeyError, ValueError, TypeError):
                continue
            if cfg.split_seed == split and (epochs is None or res.get("epochs") == epochs) and \
                    cfg.precision == precision and config_matches(cfg, want, fixed=list(ours.get("set") or {})):
                hit = (f, res)
                break
        if hit is None:
            in_precision = dict(ours, set={**(ours.get("set") or {}), "precision": precision})
            rows.append({"label": label, "measured": False, "epochs": epochs,
                         "to_measure": measure_command(in_precision, splits=(split,), epochs=epochs or 20,
                                                       dataset=dataset)})
            continue
        f, res = hit
        hist = res.get("history", [])
        last = hist[-1] if hist else {}
        trace = probe_gallery_trace(hist)
        rows.append({"label": label, "measured": True, "epochs": res.get("epochs"), "folder": str(f.parent),
                     "precision": result_config(res).precision,
                     **{m: res["metrics"]["msmr"][m] for m in METRICS},
                     "joint R1": res["metrics"].get("joint", {}).get("R1"),
                     "purity J": (last.get("purity") or {}).get("J"), "hsm_max_weight": last.get("hsm_max_weight"),
                     "history": hist, "trace": trace, "command": res.get("command", "")})
    return rows


def side_by_side_table(rows: Sequence[dict]) -> Table:
    out = []
    for r in rows:
        if not r["measured"]:
            out.append([r["label"]] + ["—"] * 7 + [NOT_MEASURED])
            continue
        w = r.get("hsm_max_weight")
        out.append([r["label"]] + [fmt(r[m]) for m in METRICS] + [fmt(r.get("joint R1")),
                   "—" if r.get("purity J") is None else f"{r['purity J']:.2f}",
                   "—" if w is None else f"{w:.2f}", f"{r['epochs']} epochs, {r['precision']}"])
    return Table(["variant", "R1", "R5", "R10", "mAP", "joint-level R1", "final purity (J)",
                  "largest HSM weight", "budget"], out)


def side_by_side_sentences(rows: Sequence[dict], raw: Sequence[dict] = ()) -> str:
    """What the paper-vs-code page says, from its rows."""
    out = []
    base = {r["series"]: r for r in raw if r["source"] == "ours" and r.get("splits")}
    head = next((r for s, r in base.items() if "hip" not in s), None)
    hip = next((r for s, r in base.items() if "hip" in s), None)
    if head and hip:
        out.append(f"Centring alone moves the raw clip distance from R1 {fmt(hip['R1'])} / mAP {fmt(hip['mAP'])} "
                   f"(hip) to {fmt(head['R1'])} / {fmt(head['mAP'])} (head) over {len(head['splits'])} splits.")
    done = [r for r in rows if r["measured"]]
    if done:
        best_map = max(done, key=lambda r: r["mAP"])
        best_r1 = max(done, key=lambda r: r["R1"])
        best = (f"{best_r1['label']} has both the best R1 ({best_r1['R1']:.1f}) and the best mAP "
                f"({best_map['mAP']:.1f})" if best_r1 is best_map else
                f"{best_r1['label']} has the best R1 ({best_r1['R1']:.1f}) and {best_map['label']} the best "
                f"mAP ({best_map['mAP']:.1f})")
        worst = min(done, key=lambda r: r["R1"])
        out.append(f"Of the {len(done)} Hi-MPCh variants measured ({done[0]['epochs']} epochs, one split), {best}"
                   + (f"; {worst['label']} the lowest R1 ({worst['R1']:.1f}, mAP {worst['mAP']:.1f})"
                      if len(done) > 2 else "") + ".")
        sharp = [f"{r['label']} {r['hsm_max_weight']:.2f}" for r in done if r.get("hsm_max_weight")]
        if sharp:
            out.append("Largest HSM frame weight in the last epoch (1/F would be uniform, 1 a single frame): "
                       + "; ".join(sharp) + ".")
    missing = [r["label"] for r in rows if not r["measured"]]
    if missing:
        out.append(f"Not measured yet: {', '.join(missing)}.")
    return " ".join(out)
