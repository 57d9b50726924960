"""The result-run store, shared by the CLI and the book: result files written atomically, found under
folders, grouped by configuration and aggregated over random splits (mean and spread of every metric).

* Runs are written to folders named by :func:`run_name`: ``<preset>`` or ``baseline-<name>``, then
  ``-<field><value>`` for every override, e.g. ``hi-mpch-heads16``.
* Results are grouped by configuration (everything but the split seed, :func:`group_key`), so runs
  of an older or a smoke configuration are never averaged with the others: each group is one
  :class:`Measured`, labelled with what it was (:func:`scope_of`).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Optional, Sequence

import numpy as np

from .config import Config

METRICS = ("R1", "R5", "R10", "mAP")


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


# ----------------------------------------------------------------------------- runs found under folders
def run_name(ours: Mapping[str, Any]) -> str:
    """Folder name of the runs matching a paper row's ``ours`` entry."""
    base = f"baseline-{ours['baseline']}" if "baseline" in ours else str(ours["preset"]).replace(",", "+")
    for k, v in sorted((ours.get("set") or {}).items()):
        base += f"-{k.replace('_', '')}{as_set_value(v)}"
    return base


def as_set_value(v: Any) -> str:
    """A config value as ``--set`` takes it (booleans lower-case)."""
    return str(v).lower() if isinstance(v, bool) else str(v)


@dataclass
class Measured:
    """One configuration's results over splits: mean ± std per level and metric, and provenance."""

    name: str
    kind: str                         # train | baseline
    config: dict
    agg: dict                         # himpc.store.aggregate output
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
    fields = comparable(c)
    if not precision:
        fields.pop("precision")
    same = json.dumps(fields, sort_keys=True, default=str)     # eps None == the dataset's eps
    return f"{res.get('kind', 'train')}:{extra}:{hashlib.sha256(same.encode()).hexdigest()[:16]}"


SCALE_FIELDS = ("hidden", "heads", "max_persons", "max_train_clips")


FREE_FIELDS = Config.NON_MODEL_FIELDS + ("split_seed",)


def comparable(cfg: Config) -> dict:
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
    from .layouts import get_layout      # the layout table only where needed
    return get_layout("kinect-v1-20").root_name(root_joint)


PAPER_GRID = {"hidden": (64, 128, 256, 512), "heads": (1, 4, 8, 16)}   # the sizes Tables 8-9 sweep


def scope_of(cfg: Mapping[str, Any], row: Optional[Mapping[str, Any]] = None) -> str:
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
            scope=scope_of(cfg), baseline=results[0].get("baseline", ""), notes=notes,
            precision=str(results[0].get("precision") or cfg.get("precision") or "fp32")))
    if len(out) > 1:
        for m in out:
            m.notes.append(f"{folder} holds {len(out)} configurations; each is reported separately, never averaged together")
    out.sort(key=lambda m: (m.scope != "full data", -m.agg["runs"], -(m.epochs or 0)))
    return out


def spread(values: Sequence[float]) -> dict:
    """Mean and sample standard deviation (0 for one value) of one metric over splits."""
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0}
