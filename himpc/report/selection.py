"""Which epoch a row is read at, and what the budget curve says: the stopping rule on training data,
the authors' test-set selection replayed (labelled, never a result), traces past the budget."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

from ..store import spread
from ..stopping import stopping_epoch
from .rows import precision_suffix, splits_phrase


STOPPED = "Hi-MPCh, epoch chosen by the stopping rule (training data only)"


SELECTED_ON_TEST = "Hi-MPCh, best epoch chosen on probe/gallery as the authors' code does (optimistic, not a result)"


AUTHORS_PATIENCE = 50    # Hi-MPC.py L52 (flag 'patience'), L855-858 (reset on a better test R1), L915-916 (stop)


def best_traced_epoch(history: Sequence[Mapping[str, Any]], patience: int = AUTHORS_PATIENCE) -> Optional[dict]:
    """The traced epoch with the best MSMR Rank-1 on probe/gallery, replaying the authors' code
    (``Hi-MPC.py`` L840-877: evaluate every epoch, keep the epoch of the best test Rank-1 and its
    mAP; L915-916: stop once ``patience`` epochs pass without a better one), here on the traced
    epochs only and to measure how optimistic it is, never as a result.  ``{"epoch": 1-based,
    "test": ..., "stopped_at": 1-based epoch where the patience ran out or None}`` or None."""
    traced = [h for h in history if h.get("test")]
    if not traced:
        return None
    best, stopped = traced[0], None
    for h in traced[1:]:
        if h["epoch"] - best["epoch"] >= patience:
            stopped = best["epoch"] + 1 + patience
            break
        if h["test"]["msmr"]["R1"] > best["test"]["msmr"]["R1"]:      # the first of equal ones
            best = h
    return {"epoch": best["epoch"] + 1, "test": best["test"], "stopped_at": stopped, "triggered": True}


def probe_gallery_trace(history: Sequence[Mapping[str, Any]]) -> list[tuple[int, float, float]]:
    """``[(epoch, MSMR R1, MSMR mAP), ...]`` (1-based epochs) of a run's traced epochs: a record."""
    return [(h["epoch"] + 1, h["test"]["msmr"]["R1"], h["test"]["msmr"]["mAP"]) for h in history if h.get("test")]


def budget_curve(row: Mapping[str, Any]) -> dict[str, list[tuple[int, float, float]]]:
    """The probe/gallery trace (MSMR Rank-1 and mAP against the epoch, a record) of every run of a
    measured row, ``{"split s": [(epoch, R1, mAP), ...]}``, and, with two or more runs, their mean
    over the epochs every run traced (``"mean over splits"``)."""
    curves: dict[str, list[tuple[int, float, float]]] = {}
    for path in row["measured"].paths:
        res = json.loads(Path(path).read_text())
        trace = probe_gallery_trace(res.get("history") or [])
        if trace:
            curves[f"split {res['config']['split_seed']}"] = trace
    curves = dict(sorted(curves.items(), key=lambda kv: int(kv[0].split()[-1])))
    if len(curves) > 1:
        common = sorted(set.intersection(*(set(e for e, _, _ in t) for t in curves.values())))
        by = [{e: (r, m) for e, r, m in t} for t in curves.values()]
        curves["mean over splits"] = [(e, sum(b[e][0] for b in by) / len(by), sum(b[e][1] for b in by) / len(by))
                                      for e in common]
    return curves


def _gaps_to_quoted(point: tuple[int, float, float], paper: Mapping[str, float]) -> list[tuple[str, float]]:
    """``[(metric, quoted - measured), ...]`` for the R1 and mAP of a trace point ``(epoch, R1, mAP)``
    that the paper quotes."""
    return [(m, paper[m] - v) for m, v in (("R1", point[1]), ("mAP", point[2])) if m in paper]


def budget_sentence(curves: Mapping[str, Sequence[tuple[int, float, float]]], paper: Mapping[str, float],
                    last: int = 10) -> str:
    """What the budget curve says: the mean trace's gain over its last ``last`` epochs and the gap
    that remains to the quoted numbers at the end of the budget (no extrapolation)."""
    mean = curves.get("mean over splits") or next(iter(curves.values()), None)
    if not mean or len(mean) < 2:
        return ""
    end = mean[-1]
    start = min(mean, key=lambda p: abs(p[0] - (end[0] - last)))
    if start[0] == end[0]:
        return ""
    d_r1, d_map = end[1] - start[1], end[2] - start[2]
    verb = "still gains" if d_r1 > 0 and d_map > 0 else "changes by"
    txt = (f"From epoch {start[0]} to {end[0]} the {'mean ' if 'mean over splits' in curves else ''}trace {verb} "
           f"{d_r1:+.1f} Rank-1 and {d_map:+.1f} mAP (a record of the fixed-budget runs, nothing selected on it).")
    gaps = [f"{m} {g:.1f}" for m, g in _gaps_to_quoted(end, paper)]
    if gaps:
        txt += f" At epoch {end[0]} the quoted numbers (best test epoch) are still {' and '.join(gaps)} higher."
    return txt


def full_data_runs(rows: Sequence[Mapping[str, Any]], label: str) -> list[Mapping[str, Any]]:
    """The rows of ``label`` measured here on the full data (any budget, splits, precision)."""
    return [r for r in rows if r["label"] == label and r["source"] == "ours" and r.get("measured")
            and r.get("scope") == "full data"]


def past_budget_curves(rows: Sequence[Mapping[str, Any]], label: str,
                       epochs: int) -> dict[str, list[tuple[int, float, float]]]:
    """The probe/gallery traces of the full-data runs of ``label`` trained past the budget ``epochs``
    (the budget curve's continuation, e.g. the ``budget@0`` stage of ``scripts/kgbd_paper.sh``),
    ``{"split s, E epochs": [(epoch, R1, mAP), ...]}``, each run on its own (no mean)."""
    out: dict[str, list[tuple[int, float, float]]] = {}
    for r in full_data_runs(rows, label):
        if (r.get("epochs") or 0) > epochs:
            for name, trace in budget_curve(r).items():
                if name != "mean over splits":
                    out[f"{name}, {r['epochs']} epochs{precision_suffix(r['measured'].precision)}"] = trace
    return out


def past_budget_sentence(curves: Mapping[str, Sequence[tuple[int, float, float]]], epochs: int,
                         paper: Mapping[str, float]) -> str:
    """What each run past the budget says: its trace at the budget ``epochs`` and at its end, and the
    quoted numbers it reaches or not (a record; nothing is selected on it)."""
    out = []
    for name, trace in curves.items():
        at = {e: (r1, m) for e, r1, m in trace}
        if epochs not in at or trace[-1][0] <= epochs:
            continue
        end, (r1, m), peak = trace[-1], at[epochs], max(trace, key=lambda p: p[1])
        txt = (f"Trained past the budget ({name}, that budget also fixed before the run): from epoch {epochs} "
               f"to {end[0]} Rank-1 {r1:.1f} → {end[1]:.1f} and mAP {m:.1f} → {end[2]:.1f}")
        if round(peak[1], 1) > round(end[1], 1):          # a peak before the end that the digits show
            txt += f" (the trace's best Rank-1, {peak[1]:.1f}, at epoch {peak[0]}: a record, not a selection)"
        gaps = _gaps_to_quoted(end, paper)
        reached = [k for k, g in gaps if g <= 0]
        below = [f"{k} (by {g:.1f})" for k, g in gaps if g > 0]
        parts = ([f"reaches the quoted {' and '.join(reached)}"] if reached else []) + \
                ([f"stays below the quoted {' and '.join(below)}"] if below else [])
        if parts:
            txt += f"; at epoch {end[0]} it " + " and ".join(parts)
        out.append(txt + ".")
    return " ".join(out)


def _row_at_picked_epochs(row: Mapping[str, Any], metrics: Sequence[str], label: str,
                          pick: Callable[[list], Optional[dict]], how: str) -> Optional[dict]:
    """The runs of a measured row read off their probe/gallery trace at the epoch ``pick`` chooses in
    each run's history (``{"epoch", "test", "triggered"}``); None when a run has no such epoch."""
    picks = []
    for path in row["measured"].paths:
        res = json.loads(Path(path).read_text())
        chosen = pick(res.get("history") or [])
        if chosen is None or not chosen.get("test"):
            return None
        picks.append((int(res["config"]["split_seed"]), chosen))
    picks.sort(key=lambda sp: sp[0])
    vals = {m: spread([p["test"]["msmr"][m] for _, p in picks]) for m in metrics}
    if not any(p["triggered"] for _, p in picks):
        chosen = f"rule not met{' on any split' if len(picks) > 1 else ''}, so the last ({picks[0][1]['epoch']})"
    else:
        chosen = ", ".join(f"{p['epoch']}" + ("" if p["triggered"] else " (rule not met: last)") for _, p in picks)
    splits = [s for s, _ in picks]
    where = splits_phrase(splits)
    return {"label": label, "source": "ours", "table": "beyond", **vals, "splits": splits, "scope": "full data",
            "epochs": row["epochs"], "command": row.get("command", ""), "folder": row.get("folder", ""),
            "notes": [], "stopped_at": [p["epoch"] for _, p in picks], "triggered": [p["triggered"] for _, p in picks],
            "precision": row.get("precision"),
            "series": f"ours (budget {row['epochs']} epochs, {where}; {how}: {chosen})"}


def stopping_row(row: Mapping[str, Any], metrics: Sequence[str]) -> Optional[dict]:
    """The runs of a measured row read at the epoch :mod:`himpc.stopping` picks on each split (from
    the pseudo-label agreement; the probe/gallery trace is only where the numbers are read off);
    None when the runs recorded no agreement."""
    return _row_at_picked_epochs(row, metrics, STOPPED, stopping_epoch, "epochs chosen")


def selected_on_test_row(row: Mapping[str, Any], metrics: Sequence[str]) -> Optional[dict]:
    """The runs of a measured row read at their best traced epoch on probe/gallery
    (:func:`best_traced_epoch`): labelled as test-set selection, to show what it adds."""
    return _row_at_picked_epochs(row, metrics, SELECTED_ON_TEST, best_traced_epoch,
                                 "epochs chosen on probe/gallery, every 5th traced")
