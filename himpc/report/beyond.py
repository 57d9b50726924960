"""Rows beyond the paper: Hi-MPCh's training variants at a fixed budget, its stopping-rule and
test-selected readings, and the evaluations without training (``himpc eval --beyond`` files)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from .. import stopping
from ..posthoc import EVALUATIONS
from ..store import collect, group_key, resolved_root, result_config, spread
from .rows import measured_rows, on_splits, precision_suffix, splits_phrase
from .selection import SELECTED_ON_TEST, STOPPED, selected_on_test_row, stopping_row
from .table import bullets, fmt


BEYOND = {   # row name -> the fields that differ from Hi-MPCh's defaults (issue 10, item 4)
    "Hi-MPCh (the paper's method)": {},
    "+ tracklet pseudo labels (weak supervision: walk membership)": {"pseudo_labels": "walk"},
    "+ cluster memory, momentum 0.2 (Cluster Contrast)": {"memory_momentum": 0.2},
    "root-facing normalisation": {"normalize": "root-facing"},
}


def beyond_rows(roots: Sequence[str | Path], metrics: Sequence[str], budget: Optional[Mapping[str, Any]] = None,
                dataset: str = "KGBD", headline: Optional[Mapping[str, Any]] = None) -> list[dict]:
    """Rows of what goes beyond the paper: Hi-MPCh at the ``headline`` budget (when given) with the
    epoch its stopping rule picks; Hi-MPCh and its training variants at the ``budget``'s epochs (or
    a row that says a variant is not measured, with the command); then the evaluations of trained
    models that need no training (``himpc eval --beyond`` files, :mod:`himpc.posthoc`), mean over
    splits."""
    groups = [m for root in roots if Path(root).is_dir() for m in collect(root)]
    rows: list[dict] = []

    def at(name: str, over: Mapping[str, Any], bud: Optional[Mapping[str, Any]], stop: bool) -> None:
        ours = {"preset": "hi-mpch", "set": dict(over)} if over else {"preset": "hi-mpch"}
        found = measured_rows(ours, groups, name, "beyond", metrics, dataset=dataset, budget=bud)
        epochs = (bud or {}).get("epochs")
        at_budget = [r for r in found if r["splits"] and r["epochs"] == epochs and r["scope"] == "full data"]
        rows.extend(at_budget or found[:1])
        if stop:      # on the headline's runs only (the first row: fp32 before a bf16 rerun of the same splits)
            rows.extend(filter(None, (f(r, metrics) for r in at_budget[:1] for f in (stopping_row, selected_on_test_row))))

    paper = next(iter(BEYOND))
    own_headline = bool(headline) and headline.get("epochs") != (budget or {}).get("epochs")
    if own_headline:                    # the stopping rule and test-set selection: at the headline budget
        at(paper, {}, headline, stop=True)
    for name, over in BEYOND.items():
        at(name, over, budget, stop=not over and not own_headline)
    return rows + posthoc_rows(roots, metrics)


def posthoc_rows(roots: Sequence[str | Path], metrics: Sequence[str]) -> list[dict]:
    """``himpc eval --beyond --out`` files under ``roots``: one row per (model configuration and
    epoch, evaluation), mean ± std over the splits found."""
    found: dict[tuple[str, int, str], list[tuple[Path, dict, dict]]] = {}
    for root in roots:
        for f in sorted(Path(root).glob("**/beyond/*.json")):
            try:
                res = json.loads(f.read_text())
                if res.get("kind") != "posthoc":
                    continue
                key = group_key({"kind": "train", "config": res["config"]})
            except (OSError, ValueError, KeyError):
                continue
            for name, entry in res["beyond_protocol"].items():
                found.setdefault((key, int(res["epoch"]), name), []).append((f, res, entry))
    key_of = {v: k for k, v in EVALUATIONS.items()}
    rows = []
    for (_, epoch, name), items in found.items():
        splits = sorted(int(res["config"]["split_seed"]) for _, res, _ in items)
        cfg = result_config(items[0][1])
        root = resolved_root(cfg.dataset, cfg.root_joint)
        vals = {m: spread([e["metrics"][m] for _, _, e in items]) for m in metrics}
        where = splits_phrase(splits)
        rows.append({"label": name, "evaluation": key_of.get(name, name), "source": "ours", "table": "beyond",
                     **vals, "splits": splits,
                     "scope": "full data", "epochs": epoch, "command": items[0][1].get("command", ""),
                     "folder": str(items[0][0].parent), "notes": [],
                     "precision": cfg.precision,     # the trained model's; the evaluation is fp32
                     "series": f"ours ({epoch} epochs, {where}{precision_suffix(cfg.precision)}, "
                               f"centred on {root}, no training)"})
    return sorted(rows, key=lambda r: (-(r["epochs"] or 0), r["series"], r["label"]))


def beyond_sentences(rows: Sequence[dict]) -> str:
    """What the beyond-the-paper table says, from its rows: each measured training variant against
    Hi-MPCh at the same budget, and what re-ranking and walk-level retrieval change on one model."""
    names = list(BEYOND)
    train = {r["label"]: r for r in rows if r["label"] in names[1:]}
    bases = [r for r in rows if r["label"] == names[0] and r.get("splits")]

    def base_for(r: Mapping[str, Any]) -> Optional[dict]:
        """Hi-MPCh at r's budget: on r's splits in r's precision if measured so, else the closest."""
        same = [b for b in bases if b["epochs"] == r.get("epochs")]
        prec = r.get("precision") or "fp32"
        return max(same, key=lambda b: (b["splits"] == r["splits"], (b.get("precision") or "fp32") == prec,
                                        set(r["splits"]) <= set(b["splits"]), len(b["splits"])), default=None)
    out = []
    for name in names[1:]:
        r = train.get(name)
        if not r or not r.get("splits"):
            continue
        what = name.removeprefix("+ ")
        txt = f"{what[0].upper() + what[1:]} ({r['series'][len('ours ('):-1]}): R1 {fmt(r['R1'])}, mAP {fmt(r['mAP'])}"
        b = base_for(r)
        same = b and (b if b["splits"] == r["splits"] else on_splits(b, r["splits"], ("R1", "mAP")))
        if same:
            txt += f", against Hi-MPCh's {fmt(same['R1'])} / {fmt(same['mAP'])} on the same splits and budget"
        out.append(txt + ".")
    for stop, b in ((r, base_for(r)) for r in rows if r["label"] == STOPPED):
        if b is None:
            continue
        rule = (f"The stopping rule (pseudo labels stable at ARI >= {stopping.THRESHOLD} on every level, "
                "checked at the traced epochs)")
        if not any(stop["triggered"]):
            out.append(f"{rule} was not met within the {stop['epochs']}-epoch budget on "
                       f"{'any of the ' + str(len(stop['splits'])) + ' splits' if len(stop['splits']) > 1 else 'split ' + str(stop['splits'][0])}: "
                       "the pseudo labels were still changing, so it keeps the whole budget.")
            continue
        picked = ", ".join(f"{e}" + ("" if t else " (not met: last)") for e, t in zip(stop["stopped_at"], stop["triggered"]))
        out.append(f"{rule} picked epoch {picked} of {stop['epochs']}; read there, R1 {fmt(stop['R1'])} and "
                   f"mAP {fmt(stop['mAP'])}, against {fmt(b['R1'])} / {fmt(b['mAP'])} at the end of the budget.")
    for best, b in ((r, base_for(r)) for r in rows if r["label"] == SELECTED_ON_TEST):
        if b is None:
            continue
        how = (f"Choosing the epoch on probe/gallery, as the authors' code does (best Rank-1 of the traced epochs "
               f"at {best['epochs']} epochs: {', '.join(map(str, best['stopped_at']))})")
        if all(e == best["epochs"] for e in best["stopped_at"]):
            where = "every split" if len(best["splits"]) > 1 else f"split {best['splits'][0]}"
            out.append(f"{how}, picks the last epoch on {where}: the trace peaks at the end of the budget, so at "
                       "this budget test-set selection adds nothing.")
            continue
        out.append(f"{how}, would report R1 {fmt(best['R1'])} and mAP {fmt(best['mAP'])} instead of "
                   f"{fmt(b['R1'])} / {fmt(b['mAP'])}: that difference is what test-set selection adds, and why "
                   "the paper's numbers are an upper bound for a fixed budget.")
    missing = [n for n in names[1:] if not (train.get(n) or {}).get("splits")]
    if missing:
        out.append(f"{len(missing)} of the {len(names) - 1} training variants are not measured yet.")
    by_model: dict[str, dict[str, dict]] = {}
    for r in rows:
        if "evaluation" in r:
            by_model.setdefault(r["series"], {})[r["evaluation"]] = r
    for series, evals in by_model.items():
        cos, rr, walk = evals.get("cosine"), evals.get("rerank"), evals.get("walk")
        parts = []
        if cos and rr:
            parts.append(f"k-reciprocal re-ranking moves mAP from {fmt(cos['mAP'])} to {fmt(rr['mAP'])} and "
                         f"Rank-1 from {fmt(cos['R1'])} to {fmt(rr['R1'])} (transductive: it uses the "
                         "neighbours among the gallery and probe clips)")
        if walk:
            parts.append(f"retrieving whole walks (one mean feature per walk) gives Rank-1 {fmt(walk['R1'])} and "
                         f"mAP {fmt(walk['mAP'])}, another protocol with far fewer, easier queries")
        if parts:
            n = len(next(iter(evals.values()))["splits"])
            whose = "one trained model" if n == 1 else f"the {n} trained models (means)"
            out.append(f"On {whose} ({series[len('ours ('):-1]}), " + "; ".join(parts) + ".")
    return bullets(out)
