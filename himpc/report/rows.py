"""Paper rows beside ours: each quoted row of a paper table, then every measured group that measures it.

A paper row is matched to measured groups by configuration, not by folder name (:func:`config_matches`):
every field must equal the row's configuration, except the "scale" fields (h, M, persons, clip cap),
which may also take the values of a cut-down (smoke) scale the notebook names.  The epoch budget is
free and shown with each row.  A row never measured says :data:`NOT_MEASURED` and gives the command
that measures it.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from ..config import Config, make_config
from ..store import (SCALE_FIELDS, Measured, as_set_value, collect, comparable, result_config, run_name, scope_of,
                     spread)
from .paper import paper_label, paper_table
from .table import Table, bullets, fmt


NOT_MEASURED = "not measured at full scale yet"


def row_config(ours: Mapping[str, Any], **overrides: Any) -> Config:
    """The configuration of a paper row's ``ours`` entry (overrides first, the row's ``set`` wins)."""
    over = {k: v for k, v in overrides.items() if k in {f.name for f in dataclasses.fields(Config)}}
    over.update(ours.get("set") or {})
    return make_config(ours.get("preset"), **over)


def config_matches(stored: Config, row: Config, scales: Sequence[Mapping[str, Any]] = (),
                   fixed: Sequence[str] = ()) -> bool:
    """Whether a run with config ``stored`` measures the row ``row``.

    Every field must be equal, except epochs / threads / device and the precision (free: a bf16
    run measures the row too, as its own, labelled row) and the :data:`SCALE_FIELDS`: those not in
    ``fixed`` (the fields the row sets itself) must, together, equal either the row's values or one
    of ``scales`` (a cut-down setting such as smoke's).
    """
    got, want = comparable(stored), comparable(row)
    free_fields = set(SCALE_FIELDS) | {"precision"}
    if any(got.get(k) != v for k, v in want.items() if k not in free_fields or k in fixed):
        return False
    free = [k for k in SCALE_FIELDS if k not in fixed]
    return any(all(got.get(k) == sc.get(k, want[k]) for k in free) for sc in [{}, *scales])


def comparison_rows(table_no: int | str, dataset: str, roots: Sequence[str | Path], metrics: Optional[Sequence[str]] = None,
                    only_ours: bool = False, paper_path: Optional[str | Path] = None,
                    scales: Sequence[Mapping[str, Any]] = (), budget: Optional[Mapping[str, Any]] = None,
                    variants: Optional[Mapping[str, Mapping[str, Any]]] = None) -> list[dict]:
    """Rows for one dataset of a paper table: each quoted row, then every measured group beside it.

    Measured groups are found anywhere under ``roots`` by configuration (:func:`config_matches`);
    ``scales`` names cut-down settings (e.g. the smoke profile's ``{hidden: 32, heads: 2,
    max_persons: 4}``) whose runs are shown too, labelled with their scope.
    A row is ``{"label", "source": "paper" | "ours", "series", "table", <metric>: value or
    {"mean","std"}, ...}``; measured rows add ``splits``, ``scope``, ``epochs``, ``command``,
    ``folder``.  A row never measured says :data:`NOT_MEASURED` and carries the command that
    measures it (``budget``: ``{"splits": [...], "epochs": N}`` for that command).
    ``variants``: ``{name: {field: value}}``, runs that differ from the row only in those fields
    (e.g. an earlier default) are shown too, as their own rows named by ``name``; a paper row may
    name its own ``variants`` in ``paper_results.yaml`` the same way (shown where measured).
    """
    tab = paper_table(table_no, paper_path)
    metrics = list(metrics or tab["metrics"])
    groups = [m for root in roots if Path(root).is_dir() for m in collect(root)]
    rows: list[dict] = []
    for r in tab["rows"]:
        ours = r.get("ours")
        if only_ours and not ours:
            continue
        label = paper_label(r)
        vals = r["values"].get(dataset, {})
        if tab.get("quoted", True):          # figures without numbers in the paper: ours only
            rows.append({"label": label, "source": "paper", "series": "paper (quoted)", "table": table_no,
                         **{m: vals.get(m) for m in metrics}})
        if not ours:
            continue
        found = measured_rows(ours, groups, label, table_no, metrics, dataset=dataset, scales=scales,
                              budget=budget)
        for name, over in {**(variants or {}), **(r.get("variants") or {})}.items():   # named switches: own rows
            alt = dict(ours, set={**(ours.get("set") or {}), **over})
            extra = [dict(r, series=r["series"][:-1] + f", {name})")
                     for r in measured_rows(alt, groups, label, table_no, metrics, dataset=dataset,
                                            scales=scales) if r["splits"]]
            found = found + extra                          # a missing row stays, with its command
        rows.extend(found)
    return _with_subset_rows(rows, metrics)


def at_budget(rows: Sequence[dict], epochs: Optional[int]) -> list[dict]:
    """The rows of a sweep page's table: quoted and not-measured rows, and measured rows at the page's
    epoch budget; a method measured only at other budgets keeps those rows (labelled with them)."""
    if epochs is None:
        return list(rows)
    has = {r["label"] for r in rows if r["source"] == "ours" and r.get("splits") and r.get("epochs") == epochs}
    return [r for r in rows if r["source"] != "ours" or not r.get("splits") or r.get("epochs") == epochs
            or r["label"] not in has]


def _with_subset_rows(rows: list[dict], metrics: Sequence[str]) -> list[dict]:
    """Add, after a row measured on several splits, the same runs read on fewer splits wherever
    another method of the table was measured on exactly those splits (and on no more) at the same
    budget (a sweep on split 0 beside a default measured on splits 0, 1, 2), so like is compared
    with like."""
    measured = [r for r in rows if r["source"] == "ours" and r.get("splits")]
    # the (budget, splits) of methods measured on those splits only: a replicate on split 0 of a
    # method measured on 3 splits (a bf16 parity run) calls for no split-0 reading of the others
    subsets = {(r["epochs"], tuple(r["splits"])) for r in measured
               if not any(o["label"] == r["label"] and o["epochs"] == r["epochs"] and set(r["splits"]) < set(o["splits"])
                          for o in measured)}
    out = []
    for r in rows:
        out.append(r)
        if r["source"] != "ours" or len(r.get("splits") or []) < 2 or "measured" not in r:
            continue
        for epochs, splits in sorted(subsets, key=lambda k: (k[0] or 0, k[1])):
            if epochs != r["epochs"] or not set(splits) < set(r["splits"]):
                continue
            vals = on_splits(r, splits, metrics)
            if vals:
                where = f"split {splits[0]}" if len(splits) == 1 else f"splits {', '.join(map(str, splits))}"
                out.append(dict(r, **vals, splits=list(splits), subset_of=r["splits"],
                                series=r["series"][:-1].replace(f"{len(r['splits'])} splits", where)
                                + f"; of the {len(r['splits'])}-split run)"))
    return out


def on_splits(row: Mapping[str, Any], splits: Sequence[int], metrics: Sequence[str]) -> Optional[dict]:
    """A measured row's metrics over a subset of its splits (mean and spread, from its result files),
    so that a variant measured on fewer splits is compared with the same splits; None if one is missing."""
    results = [json.loads(Path(p).read_text()) for p in row["measured"].paths]
    picked = [r for r in results if int(r["config"]["split_seed"]) in set(splits)]
    if len(picked) != len(set(splits)):
        return None
    return {m: spread([r["metrics"][row["level"]][m] for r in picked]) for m in metrics}


def series_name(row: Mapping[str, Any]) -> str:
    """What tells a measured row from the other measured rows of the same method: budget, splits, scope."""
    if row["source"] == "paper":
        return "paper (quoted)"
    if not row.get("splits"):
        return "ours (" + NOT_MEASURED + ")"
    where = splits_phrase(row["splits"])
    ep = f"{row['epochs']} epochs, " if row.get("epochs") else ""
    smoke = ", " + row["scope"] if row.get("scope") and row["scope"] != "full data" else ""
    return f"ours ({ep}{where}{precision_suffix(row.get('precision'))}{smoke})"


def splits_phrase(splits: Sequence[int]) -> str:
    """How a series name says where it was measured: "3 splits", or "split 0" for one."""
    return f"{len(splits)} splits" if len(splits) > 1 else f"split {splits[0]}"


def precision_suffix(precision: Optional[str]) -> str:
    """What a series name adds for a bf16 run (its own row, never averaged with fp32); nothing for fp32."""
    return ", bf16" if precision == "bf16" else ""


def measure_command(ours: Mapping[str, Any], splits: Sequence[int] = (0, 1, 2), epochs: int = 40,
                    dataset: str = "KGBD") -> str:
    """The command that measures a paper row's ``ours`` entry at full scale into ``results/kgbd``."""
    sp = ",".join(str(s) for s in splits)
    data = "" if dataset == "KGBD" else f" --dataset {dataset}"
    if "baseline" in ours:
        return f"himpc baseline --method {ours['baseline']}{data} --splits {sp} --out results/kgbd/{run_name(ours)}"
    sets = "".join(f" --set {k}={as_set_value(v)}" for k, v in sorted((ours.get("set") or {}).items()))
    return (f"himpc train --preset {ours['preset']}{data}{sets} --splits {sp} --epochs {epochs} "
            f"--out results/kgbd/{run_name(ours)}")


def matching_groups(ours: Mapping[str, Any], groups: Sequence[Measured], dataset: str = "KGBD",
                    scales: Sequence[Mapping[str, Any]] = (), want: Optional[Config] = None) -> list[Measured]:
    """The measured groups whose kind and configuration are those of a paper row's ``ours`` entry
    (``want``: that entry's configuration, when the caller has built it already)."""
    want = want or row_config(ours, dataset=dataset)
    kind = "baseline" if "baseline" in ours else "train"
    out = []
    for m in groups:
        if m.kind != kind or (kind == "baseline" and m.baseline != ours["baseline"]):
            continue
        if config_matches(result_config({"config": m.config}), want, scales, fixed=list(ours.get("set") or {})):
            out.append(m)
    return out


def measured_rows(ours: Mapping[str, Any], groups: Sequence[Measured], label: str, table_no: Optional[int],
                  metrics: Sequence[str], dataset: str = "KGBD", scales: Sequence[Mapping[str, Any]] = (),
                  budget: Optional[Mapping[str, Any]] = None) -> list[dict]:
    """One row per matching group (or one row that says it is not measured, with the command)."""
    level = ours.get("level", "msmr")
    want = row_config(ours, dataset=dataset)
    size = {"hidden": want.hidden, "heads": want.heads}
    rows = [{"label": label, "source": "ours", "table": table_no, "level": level,
             **{k: m.value(level, k) for k in metrics}, "splits": m.splits,
             "scope": scope_of(m.config, size), "epochs": m.epochs, "command": m.commands[0] if m.commands else "",
             "folder": str(Path(m.paths[0]).parent.parent), "notes": m.notes, "measured": m,
             "precision": m.precision}
            for m in matching_groups(ours, groups, dataset, scales, want)]
    rows.sort(key=lambda r: (r["scope"] != "full data", -len(r["splits"]), -(r["epochs"] or 0),
                             r["precision"] != "fp32"))
    if not rows:
        rows = [{"label": label, "source": "ours", "table": table_no, "level": level,
                 **{k: None for k in metrics}, "splits": [], "scope": NOT_MEASURED, "epochs": None,
                 "command": "", "to_measure": measure_command(ours, dataset=dataset, **(budget or {})),
                 "folder": run_name(ours), "notes": []}]
    for r in rows:
        r["series"] = series_name(r)
    return rows


def comparison_table(rows: Sequence[dict], metrics: Sequence[str]) -> Table:
    """Paper (quoted) and ours (measured) rows: method, source, metrics, splits and budget."""
    out = []
    for r in rows:
        if r["source"] == "paper":
            where = f"Table {r['table']}" if isinstance(r["table"], int) else str(r["table"]).replace("figure", "Fig. ")
            src, splits, scope = f"paper, {where} (quoted)", "", ""
        else:
            src = "ours (measured)" if r.get("splits") else "ours"
            splits = ",".join(str(s) for s in r["splits"]) or "—"
            scope = r["series"][len("ours ("):-1] if r.get("splits") else r["scope"]
        out.append([r["label"], src] + [fmt(r.get(m)) for m in metrics] + [splits, scope])
    return Table(["method", "source"] + list(metrics) + ["splits", "run"], out)


def at_a_glance(rows: Sequence[dict], epochs: Optional[int],
                precision: Optional[str] = None) -> tuple[list[dict], list[dict]]:
    """A main table that reads at a glance, and the rest: every quoted row and, per method, one measured
    row (full data at the budget ``epochs`` or learning-free, the most splits, then in ``precision``, default the
    config's) or its not-measured row; then the other measured rows (other budgets, precisions,
    older or cut-down runs), for a table of their own."""
    precision = precision or Config().precision
    pick: dict[str, dict] = {}
    for r in rows:
        if r["source"] != "ours" or not r.get("splits") or r.get("epochs") not in (epochs, None) \
                or r.get("scope") != "full data":        # None: learning-free, no budget
            continue
        rank = lambda x: (len(x["splits"]), (x.get("precision") or "fp32") == precision)      # noqa: E731
        if r["label"] not in pick or rank(r) > rank(pick[r["label"]]):
            pick[r["label"]] = r
    glance = [r for r in rows if r["source"] == "paper" or pick.get(r["label"]) is r
              or (not r.get("splits") and r["label"] not in pick)]
    rest = [r for r in rows if r["source"] == "ours" and r.get("splits") and pick.get(r["label"]) is not r]
    return glance, rest


def chart_rows(rows: Sequence[dict]) -> list[dict]:
    """The rows a bar chart shows: every quoted row, and per method one measured row: at the budget
    and splits that most methods of the table share (so the bars compare like with like), in the
    precision most of those bars have, else the one with the most splits, then the largest budget
    (the table lists them all).  Two series, one
    bar per method in each; the measured bar's ``detail`` says which run it is."""
    best: dict[str, dict] = {}
    measured = [r for r in rows if r["source"] == "ours" and r.get("splits")]
    labels_at: dict[tuple, set] = {}                       # (epochs, splits) -> methods measured so
    for r in measured:
        labels_at.setdefault((r.get("epochs") or 0, tuple(r["splits"])), set()).add(r["label"])
    common = max(labels_at, key=lambda k: (len(labels_at[k]), len(k[1]), k[0])) if labels_at else None
    at_common = [r for r in measured if ((r.get("epochs") or 0), tuple(r["splits"])) == common]
    votes = Counter(r.get("precision") or "fp32" for r in at_common)
    usual = max(votes, key=lambda p: (votes[p], p == "fp32")) if votes else "fp32"   # the precision most bars have
    for r in measured:                 # the protocol most methods share, else most splits, largest budget
        cur = best.get(r["label"])
        rank = lambda x: ((x.get("epochs") or 0, tuple(x["splits"])) == common,                  # noqa: E731
                          (x.get("precision") or "fp32") == usual, len(x["splits"]), x.get("epochs") or 0)
        if cur is None or rank(r) > rank(cur):
            best[r["label"]] = r
    out = []
    for r in rows:
        if r["source"] == "paper":
            out.append(dict(r, series="paper (quoted)", detail="quoted from the paper"))
        elif best.get(r["label"]) is r:
            out.append(dict(r, series="ours (measured)", detail=r["series"][len("ours ("):-1]))
    return out


def commands_markdown(rows: Sequence[dict]) -> str:
    """The commands that produced the measured rows, and those that would measure the missing ones."""
    done = sorted({clean_command(r["command"]) for r in rows if r["source"] == "ours" and r.get("command")})
    todo = sorted({r["to_measure"] for r in rows if r["source"] == "ours" and r.get("to_measure")})
    parts = []
    if done:
        parts.append("Commands that produced the measured rows:\n\n```text\n" + "\n".join(done) + "\n```")
    if todo:
        parts.append(f"Rows {NOT_MEASURED}; these commands measure them (resumable, results/kgbd):"
                     "\n\n```text\n" + "\n".join(todo) + "\n```")
    return "\n\n".join(parts) or "_No measured results found yet._"


def clean_command(cmd: str) -> str:
    """A recorded command as a reader types it: ``.../bin/himpc`` and ``.../himpc/__main__.py`` -> ``himpc``,
    and an absolute path into a checkout's ``results/`` or ``models/`` (a worktree the run used) relative."""
    cmd = re.sub(r"^\S*(/bin/himpc|/himpc/__main__\.py|/himpc/cli\.py)(?=\s)", "himpc", cmd.strip())
    return re.sub(r"(?<=\s)/\S*?/(?=(results|models)/)", "", cmd)


def summary_sentences(rows: Sequence[dict], metrics: Sequence[str] = ("R1", "mAP")) -> str:
    """What a page's table says, written from its rows: how many rows are measured, and for each
    measured row (the one with the most splits, then the largest budget) its gap to the paper."""
    ours = [r for r in rows if r["source"] == "ours"]
    measured = [r for r in ours if r.get("splits")]
    labels = list(dict.fromkeys(r["label"] for r in ours))
    done = list(dict.fromkeys(r["label"] for r in measured))
    out = [f"{len(done)} of the {len(labels)} methods on this page are measured here at full scale"
           + (f"; not yet: {', '.join(l for l in labels if l not in done)}." if len(done) < len(labels) else ".")]
    paper = {r["label"]: r for r in rows if r["source"] == "paper"}
    for lab in done:
        best = max((r for r in measured if r["label"] == lab), key=lambda r: (len(r["splits"]), r.get("epochs") or 0))
        parts = []
        for m in metrics:
            v, q = best.get(m), (paper.get(lab) or {}).get(m)
            if v is None:
                continue
            mean = v["mean"] if isinstance(v, Mapping) else v
            txt = f"{m} {fmt(v)}"
            if q is not None:
                txt += f" against {q:.1f} quoted ({mean - q:+.1f})"
            parts.append(txt)
        if parts:
            out.append(f"{lab}, {best['series'][len('ours ('):-1]}: " + "; ".join(parts) + ".")
    return "\n\n".join([out[0], bullets(out[1:])]) if out[1:] else out[0]
