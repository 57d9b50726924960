"""Paper numbers (quoted) beside ours (measured from result JSON files) for the book.

* The paper's numbers live in one data file, ``book/paper_results.yaml``, each with its table.
* Our numbers are read from ``result.json`` files written by :func:`himpc.engine.train` or
  :func:`himpc.baseline_eval.run_baseline`; results are grouped by configuration (everything
  but the split seed), so runs of an older or a smoke configuration are never averaged with
  the others: each group is its own row, labelled with what it was.
* A paper row is matched to measured groups by configuration, not by folder name
  (:func:`config_matches`): every field must equal the row's configuration, except the
  "scale" fields (h, M, persons, clip cap) which may also take the values of a cut-down
  (smoke) scale the notebook names.  The epoch budget is free and shown with each row.
* Runs are written to folders named by :func:`run_name`: ``<preset>`` or ``baseline-<name>``,
  then ``-<field><value>`` for every override, e.g. ``hi-mpch-heads16``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Sequence


from . import stopping
from .config import Config, make_config
from .results import aggregate

PAPER_FILE = Path(__file__).resolve().parent.parent / "book" / "paper_results.yaml"
METRICS = ("R1", "R5", "R10", "mAP")
NOT_MEASURED = "not measured at full scale yet"


@dataclass
class Table:
    """A table for the book: rendered as an HTML ``<table>`` in notebooks and the built site
    (``_repr_html_``), as Markdown for text (:meth:`to_markdown`)."""

    header: list[str]
    rows: list[list[str]]
    caption: str = ""
    note: str = ""                     # one sentence above the table (e.g. "quoted from the paper")

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in self.header)
        body = "".join("<tr>" + "".join(_td(c) for c in r) + "</tr>" for r in self.rows)
        cap = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        note = f"<p><em>{html.escape(self.note)}</em></p>" if self.note else ""
        return f'{note}<table class="himpc-table">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'

    def to_markdown(self) -> str:
        lines = ([f"_{self.note}_", ""] if self.note else []) + [
            "| " + " | ".join(map(str, self.header)) + " |", "|" + "---|" * len(self.header)]
        return "\n".join(lines + ["| " + " | ".join(map(str, r)) + " |" for r in self.rows])


_NUMBER = re.compile(r"^[-+−]?[0-9.,]+%?( ± [0-9.]+)?$|^—$")


def _td(cell: Any) -> str:
    """A table cell.  A number (``52.1 ± 1.8``, ``—``) is right-aligned (class ``num``) and breaks, in a
    narrow column, only before its ``±`` (never inside ``52.1`` or ``± 1.8``)."""
    text = str(cell)
    if not _NUMBER.match(text):
        return f"<td>{html.escape(text)}</td>"
    parts = text.split(" ± ")
    inner = " ".join(f'<span class="nw">{html.escape(p)}</span>' for p in [parts[0]] + [f"± {x}" for x in parts[1:]])
    return f'<td class="num">{inner}</td>'



def load_paper(path: Optional[str | Path] = None) -> dict:
    """The quoted paper tables (``tables.table<N>``) from ``book/paper_results.yaml``."""
    import yaml
    return yaml.safe_load(Path(path or PAPER_FILE).read_text())


def paper_table(no: int | str, path: Optional[str | Path] = None) -> dict:
    """``paper_table(3)`` -> Table 3; ``paper_table("figure5")`` -> the rows measured for Fig. 5."""
    key = no if isinstance(no, str) else f"table{no}"
    return load_paper(path)["tables"][key]


def run_name(ours: Mapping[str, Any]) -> str:
    """Folder name of the runs matching a paper row's ``ours`` entry."""
    base = f"baseline-{ours['baseline']}" if "baseline" in ours else str(ours["preset"]).replace(",", "+")
    for k, v in sorted((ours.get("set") or {}).items()):
        base += f"-{k.replace('_', '')}{_value(v)}"
    return base


def _value(v: Any) -> str:
    """A config value as ``--set`` takes it (booleans lower-case)."""
    return str(v).lower() if isinstance(v, bool) else str(v)


def config_overrides(ours: Mapping[str, Any]) -> dict:
    return dict(ours.get("set") or {})


# ----------------------------------------------------------------------------- measured results
@dataclass
class Measured:
    """One configuration's results over splits: mean ± std per level and metric, and provenance."""

    name: str
    kind: str                         # train | baseline
    config: dict
    agg: dict                         # himpc.results.aggregate output
    paths: list[str]
    commands: list[str]
    epochs: Optional[int]
    seconds: list[float]
    devices: list[str]
    commits: list[str]
    scope: str = ""                   # "full data" or what was cut (smoke)
    baseline: str = ""                # which baseline, for kind == "baseline"
    notes: list[str] = field(default_factory=list)
    precision: str = "fp32"           # what the runs used (result.json's "precision")

    @property
    def splits(self) -> list[int]:
        return sorted(self.agg["split_seeds"])

    def value(self, level: str, metric: str) -> Optional[dict]:
        return self.agg.get(level, {}).get(metric)

    def cell(self, level: str, metric: str) -> str:
        v = self.value(level, metric)
        if v is None:
            return "—"
        return f"{v['mean']:.1f} ± {v['std']:.1f}" if self.agg["runs"] > 1 else f"{v['mean']:.1f}"


def result_config(res: Mapping[str, Any]) -> Config:
    """The :class:`Config` stored in a result file (``resolved`` values dropped), with the precision
    the run actually used (``bf16`` requested where the device has no bf16 unit ran in fp32)."""
    cfg = dict(res["config"])
    cfg.pop("resolved", None)
    cfg["precision"] = res.get("precision") or cfg.get("precision") or "fp32"   # runs before the switch: fp32
    return Config.from_dict(cfg)


def group_key(res: Mapping[str, Any], precision: bool = True) -> str:
    """Results with the same key differ only in their split seed and may be averaged.

    The key holds the kind (train or which baseline), the epoch budget and a hash of every
    other field that changes the result, the selection rule included and DBSCAN's eps /
    min_samples resolved (``None`` and the dataset's value are the same run), and the precision
    the run used (``precision=False`` leaves it out: the key of "this run, in any precision", for
    reusing a finished run as the engine does).
    """
    c = result_config(res)
    extra = res.get("baseline", "") if res.get("kind") == "baseline" else f"epochs={c.epochs}"
    fields = _comparable(c)
    if not precision:
        fields.pop("precision")
    same = json.dumps(fields, sort_keys=True, default=str)     # eps None == the dataset's eps
    return f"{res.get('kind', 'train')}:{extra}:{hashlib.sha256(same.encode()).hexdigest()[:16]}"


SCALE_FIELDS = ("hidden", "heads", "max_persons", "max_train_clips")
FREE_FIELDS = Config.NON_MODEL_FIELDS + ("split_seed",)


def _comparable(cfg: Config) -> dict:
    d = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in FREE_FIELDS}
    d["eps"], d["min_samples"] = cfg.dbscan_eps, cfg.dbscan_min_samples      # None means the dataset's value
    d["selection"] = cfg.selection
    d["precision"] = cfg.precision                     # a bf16 run is its own row, never averaged with fp32
    d["root_joint"] = resolved_root(cfg.dataset, cfg.root_joint)     # None / joint0 -> the joint's name
    return d


def resolved_root(dataset: str, root_joint: Optional[str]) -> Optional[str]:
    """The joint a run centred on, where the dataset fixes the layout (KGBD): ``None`` is the
    layout's root (the hip centre), ``joint0`` the first joint of the files (the head)."""
    if dataset != "KGBD":
        return root_joint
    from .layouts import get_layout
    return get_layout("kinect-v1-20").root_name(root_joint)


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
    got, want = _comparable(stored), _comparable(row)
    free_fields = set(SCALE_FIELDS) | {"precision"}
    if any(got.get(k) != v for k, v in want.items() if k not in free_fields or k in fixed):
        return False
    free = [k for k in SCALE_FIELDS if k not in fixed]
    return any(all(got.get(k) == sc.get(k, want[k]) for k in free) for sc in [{}, *scales])


PAPER_GRID = {"hidden": (64, 128, 256, 512), "heads": (1, 4, 8, 16)}   # the sizes Tables 8-9 sweep


def _scope(cfg: Mapping[str, Any], row: Optional[Mapping[str, Any]] = None) -> str:
    """``"full data"``, or ``"SMOKE (...)"`` naming what a run cut: fewer persons or training clips,
    or a model size (h, M) other than the ``row``'s it is reported for (without a row: a size
    outside the grid the paper sweeps, Tables 8-9; a swept size is a full run of that size)."""
    cut = []
    for key, symbol, default in (("hidden", "h", 256), ("heads", "M", 8)):
        v = cfg.get(key, default)
        if (v != row[key]) if row is not None else (v not in PAPER_GRID[key]):
            cut.append(f"{symbol} {v}")
    if cfg.get("max_persons"):
        cut.append(f"first {cfg['max_persons']} persons")
    if cfg.get("max_train_clips"):
        cut.append(f"{cfg['max_train_clips']} training clips")
    return ("SMOKE (" + ", ".join(cut) + ")") if cut else "full data"


def iter_results(roots: Iterable[str | Path]) -> Iterator[tuple[Path, dict]]:
    """Every readable ``result.json`` under ``roots`` (sorted paths), with its contents."""
    for root in roots:
        for f in sorted(Path(root).glob("**/result.json")):
            try:
                yield f, json.loads(f.read_text())
            except (OSError, ValueError):
                continue


def finished_at(result_file: Path) -> str:
    """When a run finished: the time stamp of the last epoch line of the ``run.log`` beside its result
    file (file times change with every checkout; the log does not), else the file's modification time."""
    log_file = Path(result_file).with_name("run.log")
    try:
        stamps = [line[:23] for line in log_file.read_text().splitlines()
                  if line[:4].isdigit() and "himpc.engine INFO epoch " in line]
    except OSError:
        stamps = []
    if stamps:
        return stamps[-1]
    import datetime
    return datetime.datetime.fromtimestamp(Path(result_file).stat().st_mtime).strftime("%Y-%m-%d %H:%M:%S,%f")[:23]


def collect(folder: str | Path, name: Optional[str] = None) -> list[Measured]:
    """Every configuration found under ``folder`` (``split*/result.json``), one :class:`Measured` each.

    Largest group first (most splits; full data before cut-down smoke runs).
    """
    folder = Path(folder)
    groups: dict[str, list[tuple[Path, dict]]] = {}
    for f, res in iter_results([folder]):
        try:
            key = group_key(res)
        except (KeyError, ValueError):          # not a result of this project's runs
            continue
        groups.setdefault(key, []).append((f, res))
    out = []
    for key, items in groups.items():
        results = [r for _, r in items]
        seeds = [r["config"]["split_seed"] for r in results]
        notes = []
        if len(set(seeds)) != len(seeds):
            notes.append(f"duplicate split seeds {seeds}: kept the newest of each")
            latest = {}
            for p, r in sorted(items, key=lambda it: (finished_at(it[0]), str(it[0]))):
                latest[r["config"]["split_seed"]] = (p, r)
            items = [latest[seed] for seed in sorted(latest)]
            results = [r for _, r in items]
        cfg = results[0]["config"]
        out.append(Measured(
            name=name or folder.name, kind=results[0].get("kind", "train"), config=cfg, agg=aggregate(results),
            paths=[str(p) for p, _ in items], commands=sorted({r.get("command", "") for r in results}),
            epochs=results[0].get("epochs"), seconds=[float(r.get("seconds_total") or 0) for r in results],
            devices=sorted({str(r.get("device") or r.get("environment", {}).get("processor", "?")) for r in results}),
            commits=sorted({r.get("environment", {}).get("git_commit", "unknown") for r in results}),
            scope=_scope(cfg), baseline=results[0].get("baseline", ""), notes=notes,
            precision=str(results[0].get("precision") or cfg.get("precision") or "fp32")))
    if len(out) > 1:
        for m in out:
            m.notes.append(f"{folder} holds {len(out)} configurations; each is reported separately, never averaged together")
    out.sort(key=lambda m: (m.scope != "full data", -m.agg["runs"], -(m.epochs or 0)))
    return out


def environment_of(m: Measured) -> dict:
    """The environment block of the first result of ``m`` (CPU/GPU, library versions)."""
    return json.loads(Path(m.paths[0]).read_text()).get("environment", {})


# ----------------------------------------------------------------------------- paper vs ours
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
            vals = _on_splits(r, splits, metrics)
            if vals:
                where = f"split {splits[0]}" if len(splits) == 1 else f"splits {', '.join(map(str, splits))}"
                out.append(dict(r, **vals, splits=list(splits), subset_of=r["splits"],
                                series=r["series"][:-1].replace(f"{len(r['splits'])} splits", where)
                                + f"; of the {len(r['splits'])}-split run)"))
    return out


# ----------------------------------------------------------------------------- beyond the paper
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


def spread(values: Sequence[float]) -> dict:
    """Mean and sample standard deviation (0 for one value) of one metric over splits."""
    import numpy as np
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0}


STOPPED = "Hi-MPCh, epoch chosen by the stopping rule (training data only)"
SELECTED_ON_TEST = "Hi-MPCh, best epoch chosen on probe/gallery as the authors' code does (optimistic, not a result)"


def _on_splits(row: Mapping[str, Any], splits: Sequence[int], metrics: Sequence[str]) -> Optional[dict]:
    """A measured row's metrics over a subset of its splits (mean and spread, from its result files),
    so that a variant measured on fewer splits is compared with the same splits; None if one is missing."""
    results = [json.loads(Path(p).read_text()) for p in row["measured"].paths]
    picked = [r for r in results if int(r["config"]["split_seed"]) in set(splits)]
    if len(picked) != len(set(splits)):
        return None
    return {m: spread([r["metrics"][row["level"]][m] for r in picked]) for m in metrics}


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
    from .stopping import stopping_epoch
    return _row_at_picked_epochs(row, metrics, STOPPED, stopping_epoch, "epochs chosen")


def selected_on_test_row(row: Mapping[str, Any], metrics: Sequence[str]) -> Optional[dict]:
    """The runs of a measured row read at their best traced epoch on probe/gallery
    (:func:`best_traced_epoch`): labelled as test-set selection, to show what it adds."""
    return _row_at_picked_epochs(row, metrics, SELECTED_ON_TEST, best_traced_epoch,
                                 "epochs chosen on probe/gallery, every 5th traced")


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
    from .posthoc import EVALUATIONS
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
        txt = f"{what[0].upper() + what[1:]} ({r['series'][len('ours ('):-1]}): R1 {_fmt(r['R1'])}, mAP {_fmt(r['mAP'])}"
        b = base_for(r)
        same = b and (b if b["splits"] == r["splits"] else _on_splits(b, r["splits"], ("R1", "mAP")))
        if same:
            txt += f", against Hi-MPCh's {_fmt(same['R1'])} / {_fmt(same['mAP'])} on the same splits and budget"
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
        out.append(f"{rule} picked epoch {picked} of {stop['epochs']}; read there, R1 {_fmt(stop['R1'])} and "
                   f"mAP {_fmt(stop['mAP'])}, against {_fmt(b['R1'])} / {_fmt(b['mAP'])} at the end of the budget.")
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
        out.append(f"{how}, would report R1 {_fmt(best['R1'])} and mAP {_fmt(best['mAP'])} instead of "
                   f"{_fmt(b['R1'])} / {_fmt(b['mAP'])}: that difference is what test-set selection adds, and why "
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
            parts.append(f"k-reciprocal re-ranking moves mAP from {_fmt(cos['mAP'])} to {_fmt(rr['mAP'])} and "
                         f"Rank-1 from {_fmt(cos['R1'])} to {_fmt(rr['R1'])} (transductive: it uses the "
                         "neighbours among the gallery and probe clips)")
        if walk:
            parts.append(f"retrieving whole walks (one mean feature per walk) gives Rank-1 {_fmt(walk['R1'])} and "
                         f"mAP {_fmt(walk['mAP'])}, another protocol with far fewer, easier queries")
        if parts:
            n = len(next(iter(evals.values()))["splits"])
            whose = "one trained model" if n == 1 else f"the {n} trained models (means)"
            out.append(f"On {whose} ({series[len('ours ('):-1]}), " + "; ".join(parts) + ".")
    return _bullets(out)


def paper_label(row: Mapping[str, Any]) -> str:
    """A paper row's method name, told apart from its namesakes (Table 3 lists SGELA and SM-SGE
    twice: unsupervised, and with supervised fine-tuning)."""
    return row["method"] + (" (supervised fine-tuning)" if row.get("supervised_fine_tuning") else "")


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
    sets = "".join(f" --set {k}={_value(v)}" for k, v in sorted((ours.get("set") or {}).items()))
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
             "scope": _scope(m.config, size), "epochs": m.epochs, "command": m.commands[0] if m.commands else "",
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


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, Mapping):
        return f"{v['mean']:.1f} ± {v['std']:.1f}" if v.get("std") else f"{v['mean']:.1f}"
    return f"{v:.1f}"


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
        out.append([r["label"], src] + [_fmt(r.get(m)) for m in metrics] + [splits, scope])
    return Table(["method", "source"] + list(metrics) + ["splits", "run"], out)


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
    import re
    cmd = re.sub(r"^\S*(/bin/himpc|/himpc/__main__\.py|/himpc/cli\.py)(?=\s)", "himpc", cmd.strip())
    return re.sub(r"(?<=\s)/\S*?/(?=(results|models)/)", "", cmd)


def quoted_only_table(table_no: int, datasets: Iterable[str], metrics: Optional[Sequence[str]] = None,
                      paper_path: Optional[str | Path] = None) -> Table:
    """Paper rows for datasets we did not measure, with a plain statement that they are quoted."""
    tab = paper_table(table_no, paper_path)
    metrics = list(metrics or tab["metrics"])
    datasets = [d for d in datasets if d in tab["datasets"]]
    rows = [[paper_label(r)] + [_fmt(r["values"].get(d, {}).get(m)) for d in datasets for m in metrics]
            for r in tab["rows"]]
    return Table(["method"] + [f"{d} {m}" for d in datasets for m in metrics], rows,
                 note=f"Quoted from the paper (Table {table_no}); not measured here: these datasets are not "
                      "available in this environment. Supply them with --data to measure them.")


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
            txt = f"{m} {_fmt(v)}"
            if q is not None:
                txt += f" against {q:.1f} quoted ({mean - q:+.1f})"
            parts.append(txt)
        if parts:
            out.append(f"{lab}, {best['series'][len('ours ('):-1]}: " + "; ".join(parts) + ".")
    return "\n\n".join([out[0], _bullets(out[1:])]) if out[1:] else out[0]


def _bullets(lines: Sequence[str]) -> str:
    """A markdown list of ``lines``; a line opening with a list marker (Table 6's "+ DPC") is escaped."""
    return "\n".join("- " + (re.sub(r"^([+*-]) ", r"\\\1 ", line)) for line in lines)


# ----------------------------------------------------------------------------- overview
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
                "split": cfg.get("split_seed"), "epochs": r.get("epochs"), "scope": _scope(cfg),
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
            run, r["split"], r["epochs"], _fmt(r["R1"]), _fmt(r["mAP"]),
            took if r["seconds"] is not None else "—", ran_on, r["commit"][:7])) + " |")
    total = sum(float(r["seconds"] or 0) for r in rows)
    lines.append("")
    lines.append(f"{len(rows)} result files, {total / 3600:.2f} hours of computation in all.")
    return "\n".join(lines)



# ----------------------------------------------------------------------------- Tables 4-5
def quoted_pair_matrix(table_no: int, dataset: str, method: str, metric: str, values: Sequence[str]) -> "np.ndarray":
    """A quoted [probe, gallery] matrix (Table 4: keys ``'<probe>-<gallery>'``); NaN where not published."""
    import numpy as np
    tab = paper_table(table_no)
    row = next(r for r in tab["rows"] if r["method"] == method)
    vals = row["values"][dataset]
    out = np.full((len(values), len(values)), np.nan)
    for i, p in enumerate(values):
        for j, g in enumerate(values):
            v = vals.get(f"{p}-{g}", {}).get(metric)
            out[i, j] = np.nan if v is None else v
    return out


def conditions_table(table_no: int, dataset: str, metrics: Sequence[str] = METRICS) -> Table:
    """Table 5 style: one column group per probe-gallery condition, quoted, with method flags."""
    tab = paper_table(table_no)
    conds = tab["conditions"]
    rows = []
    for r in tab["rows"]:
        name = ("‡" if r.get("supervised") else "") + r["method"] + (" ♣" if r.get("appearance_based") else "")
        vals = r["values"][dataset]
        rows.append([name] + [_fmt(vals[c].get(m)) for c in conds for m in metrics])
    return Table(["method"] + [f"{c} {m}" for c in conds for m in metrics], rows,
                 note=f"Quoted from the paper (Table {table_no}); not measured here. "
                      "♣ appearance-based, ‡ supervised.")


# ----------------------------------------------------------------------------- side by side (one split)
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
        out.append([r["label"]] + [_fmt(r[m]) for m in METRICS] + [_fmt(r.get("joint R1")),
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
        out.append(f"Centring alone moves the raw clip distance from R1 {_fmt(hip['R1'])} / mAP {_fmt(hip['mAP'])} "
                   f"(hip) to {_fmt(head['R1'])} / {_fmt(head['mAP'])} (head) over {len(head['splits'])} splits.")
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
