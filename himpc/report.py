"""Paper numbers (quoted) beside ours (measured from result JSON files) for the book.

* The paper's numbers live in one data file, ``book/paper_results.yaml``, each with its table.
* Our numbers are read from ``result.json`` files written by :func:`himpc.engine.train` or
  :func:`himpc.baseline_eval.run_baseline`; results are grouped by configuration (everything
  but the split seed), so runs of an older or a smoke configuration are never averaged with
  the others: each group is its own row, labelled with what it was.
* Run folders follow one naming rule, :func:`run_name`: ``<preset>`` or ``baseline-<name>``,
  then ``-<field><value>`` for every override, e.g. ``hi-mpch-heads16``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence


from .config import Config
from .results import aggregate

PAPER_FILE = Path(__file__).resolve().parent.parent / "book" / "paper_results.yaml"
METRICS = ("R1", "R5", "R10", "mAP")


def load_paper(path: Optional[str | Path] = None) -> dict:
    """The quoted paper tables (``tables.table<N>``) from ``book/paper_results.yaml``."""
    import yaml
    return yaml.safe_load(Path(path or PAPER_FILE).read_text())


def paper_table(no: int, path: Optional[str | Path] = None) -> dict:
    return load_paper(path)["tables"][f"table{no}"]


def run_name(ours: Mapping[str, Any]) -> str:
    """Folder name of the runs matching a paper row's ``ours`` entry."""
    base = f"baseline-{ours['baseline']}" if "baseline" in ours else str(ours["preset"])
    for k, v in sorted((ours.get("set") or {}).items()):
        base += f"-{k.replace('_', '')}{v}"
    return base


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
    notes: list[str] = field(default_factory=list)

    @property
    def splits(self) -> list[int]:
        return list(self.agg["split_seeds"])

    def value(self, level: str, metric: str) -> Optional[dict]:
        return self.agg.get(level, {}).get(metric)

    def cell(self, level: str, metric: str) -> str:
        v = self.value(level, metric)
        if v is None:
            return "—"
        return f"{v['mean']:.1f} ± {v['std']:.1f}" if self.agg["runs"] > 1 else f"{v['mean']:.1f}"


def _group_key(res: dict) -> str:
    cfg = dict(res["config"])
    cfg.pop("resolved", None)
    c = Config.from_dict(cfg).replace(split_seed=0)
    extra = res.get("baseline", "") if res.get("kind") == "baseline" else f"epochs={c.epochs}"
    return f"{res.get('kind', 'train')}:{extra}:{c.model_hash()}"


def _scope(cfg: Mapping[str, Any]) -> str:
    cut = []
    if cfg.get("max_persons"):
        cut.append(f"first {cfg['max_persons']} persons")
    if cfg.get("max_train_clips"):
        cut.append(f"{cfg['max_train_clips']} training clips")
    return ("SMOKE (" + ", ".join(cut) + ")") if cut else "full data"


def collect(folder: str | Path, name: Optional[str] = None) -> list[Measured]:
    """Every configuration found under ``folder`` (``split*/result.json``), one :class:`Measured` each.

    Largest group first (most splits; full data before cut-down smoke runs).
    """
    folder = Path(folder)
    files = sorted(folder.glob("**/result.json"))
    groups: dict[str, list[tuple[Path, dict]]] = {}
    for f in files:
        try:
            res = json.loads(f.read_text())
            key = _group_key(res)
        except (OSError, ValueError, KeyError) as err:
            groups.setdefault(f"unreadable:{f}", []).append((f, {"error": str(err)}))
            continue
        groups.setdefault(key, []).append((f, res))
    out = []
    for key, items in groups.items():
        if key.startswith("unreadable:"):
            continue
        results = [r for _, r in items]
        seeds = [r["config"]["split_seed"] for r in results]
        notes = []
        if len(set(seeds)) != len(seeds):
            notes.append(f"duplicate split seeds {seeds}: kept the newest of each")
            latest = {}
            for p, r in sorted(items, key=lambda it: it[0].stat().st_mtime):
                latest[r["config"]["split_seed"]] = (p, r)
            items = list(latest.values())
            results = [r for _, r in items]
        cfg = results[0]["config"]
        out.append(Measured(
            name=name or folder.name, kind=results[0].get("kind", "train"), config=cfg, agg=aggregate(results),
            paths=[str(p) for p, _ in items], commands=sorted({r.get("command", "") for r in results}),
            epochs=results[0].get("epochs"), seconds=[float(r.get("seconds_total") or 0) for r in results],
            devices=sorted({str(r.get("device") or r.get("environment", {}).get("processor", "?")) for r in results}),
            commits=sorted({r.get("environment", {}).get("git_commit", "unknown") for r in results}),
            scope=_scope(cfg), notes=notes))
    if len(out) > 1:
        for m in out:
            m.notes.append(f"{folder} holds {len(out)} configurations; each is reported separately, never averaged together")
    out.sort(key=lambda m: (m.scope != "full data", -m.agg["runs"], -(m.epochs or 0)))
    return out


def environment_of(m: Measured) -> dict:
    """The environment block of the first result of ``m`` (CPU/GPU, library versions)."""
    return json.loads(Path(m.paths[0]).read_text()).get("environment", {})


# ----------------------------------------------------------------------------- paper vs ours
def comparison_rows(table_no: int, dataset: str, roots: Sequence[str | Path], metrics: Optional[Sequence[str]] = None,
                    only_ours: bool = False, paper_path: Optional[str | Path] = None) -> list[dict]:
    """Rows for one dataset of a paper table: each quoted row, then every measured group beside it.

    A row is ``{"label", "source": "paper" | "ours", "table", <metric>: value or {"mean","std"}, ...}``;
    measured rows add ``splits``, ``scope``, ``epochs``, ``command``, ``folder``.
    """
    tab = paper_table(table_no, paper_path)
    metrics = list(metrics or tab["metrics"])
    rows: list[dict] = []
    for r in tab["rows"]:
        ours = r.get("ours")
        if only_ours and not ours:
            continue
        label = r["method"]
        vals = r["values"].get(dataset, {})
        rows.append({"label": label, "source": "paper", "table": table_no,
                     **{m: vals.get(m) for m in metrics}})
        if not ours:
            continue
        level = ours.get("level", "msmr")
        found = False
        for root in roots:
            folder = Path(root) / run_name(ours)
            if not folder.is_dir():
                continue
            for m in collect(folder):
                found = True
                rows.append({"label": label, "source": "ours", "table": table_no, "level": level,
                             **{k: m.value(level, k) for k in metrics}, "splits": m.splits,
                             "scope": m.scope, "epochs": m.epochs, "command": m.commands[0] if m.commands else "",
                             "folder": str(folder), "notes": m.notes, "measured": m})
        if not found:
            rows.append({"label": label, "source": "ours", "table": table_no, "level": level,
                         **{k: None for k in metrics}, "splits": [], "scope": "not run yet",
                         "epochs": None, "command": "", "folder": run_name(ours), "notes": []})
    return rows


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, Mapping):
        return f"{v['mean']:.1f} ± {v['std']:.1f}" if v.get("std") else f"{v['mean']:.1f}"
    return f"{v:.1f}"


def comparison_markdown(rows: Sequence[dict], metrics: Sequence[str]) -> str:
    """A Markdown table: source (quoted / measured), method, metrics, splits and scope."""
    head = ["method", "source"] + list(metrics) + ["splits", "scope / epochs"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        if r["source"] == "paper":
            src, splits, scope = f"paper, Table {r['table']} (quoted)", "", ""
        else:
            src = "ours (measured)"
            splits = ",".join(str(s) for s in r["splits"]) or "—"
            scope = r["scope"] + (f", {r['epochs']} epochs" if r.get("epochs") else "")
        lines.append("| " + " | ".join([r["label"], src] + [_fmt(r.get(m)) for m in metrics] + [splits, scope]) + " |")
    return "\n".join(lines)


def commands_markdown(rows: Sequence[dict]) -> str:
    """The commands that produced the measured rows (one code block), or a note when none ran."""
    cmds = sorted({r["command"] for r in rows if r["source"] == "ours" and r.get("command")})
    if not cmds:
        return "_No measured results found yet._"
    return "```text\n" + "\n".join(cmds) + "\n```"


def quoted_only_markdown(table_no: int, datasets: Iterable[str], metrics: Optional[Sequence[str]] = None,
                         paper_path: Optional[str | Path] = None) -> str:
    """Paper rows for datasets we did not measure, with a plain statement that they are quoted."""
    tab = paper_table(table_no, paper_path)
    metrics = list(metrics or tab["metrics"])
    datasets = [d for d in datasets if d in tab["datasets"]]
    head = ["method"] + [f"{d} {m}" for d in datasets for m in metrics]
    lines = [f"_Quoted from the paper (Table {table_no}); not measured here: these datasets are not "
             "available in this environment. Supply them with `--data` to measure them._", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in tab["rows"]:
        lines.append("| " + " | ".join([r["method"]] + [_fmt(r["values"].get(d, {}).get(m))
                                                         for d in datasets for m in metrics]) + " |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- overview
def overview_rows(roots: Sequence[str | Path]) -> list[dict]:
    """One row per result.json under ``roots``: what ran, on what, how long, with which commit."""
    rows = []
    for root in roots:
        for f in sorted(Path(root).glob("**/result.json")):
            try:
                r = json.loads(f.read_text())
            except (OSError, ValueError):
                continue
            env = r.get("environment", {})
            cfg = r.get("config", {})
            rows.append({
                "result": str(f.relative_to(root)) if Path(root) in f.parents else str(f),
                "root": str(root), "kind": r.get("kind", "?") + (f" {r['baseline']}" if r.get("baseline") else ""),
                "split": cfg.get("split_seed"), "epochs": r.get("epochs"), "scope": _scope(cfg),
                "R1": (r.get("metrics", {}).get("msmr") or {}).get("R1"),
                "mAP": (r.get("metrics", {}).get("msmr") or {}).get("mAP"),
                "device": env.get("gpu") or f"CPU ({env.get('processor', '?')}, {env.get('cpu_threads', '?')} threads)",
                "seconds": r.get("seconds_total"), "commit": env.get("git_commit", "unknown"),
                "command": r.get("command", ""),
            })
    return rows


def overview_markdown(roots: Sequence[str | Path]) -> str:
    rows = overview_rows(roots)
    if not rows:
        return "_No result files found._"
    head = ["result", "kind", "split", "epochs", "scope", "MSMR R1", "mAP", "device", "wall time (s)", "commit"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join(str(x) if x is not None else "—" for x in (
            r["result"], r["kind"], r["split"], r["epochs"], r["scope"], r["R1"], r["mAP"], r["device"],
            r["seconds"], r["commit"][:12])) + " |")
    total = sum(float(r["seconds"] or 0) for r in rows)
    lines.append("")
    lines.append(f"{len(rows)} result files, {total / 3600:.2f} hours of computation in all.")
    return "\n".join(lines)

