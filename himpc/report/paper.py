"""The paper's numbers, quoted: one data file, ``book/paper_results.yaml``, each row with its table."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np

from ..store import METRICS
from .table import Table, fmt


PAPER_FILE = Path(__file__).resolve().parents[2] / "book" / "paper_results.yaml"


def load_paper(path: Optional[str | Path] = None) -> dict:
    """The quoted paper tables (``tables.table<N>``) from ``book/paper_results.yaml``."""
    import yaml
    return yaml.safe_load(Path(path or PAPER_FILE).read_text())


def paper_table(no: int | str, path: Optional[str | Path] = None) -> dict:
    """``paper_table(3)`` -> Table 3; ``paper_table("figure5")`` -> the rows measured for Fig. 5."""
    key = no if isinstance(no, str) else f"table{no}"
    return load_paper(path)["tables"][key]


def paper_label(row: Mapping[str, Any]) -> str:
    """A paper row's method name, told apart from its namesakes (Table 3 lists SGELA and SM-SGE
    twice: unsupervised, and with supervised fine-tuning)."""
    return row["method"] + (" (supervised fine-tuning)" if row.get("supervised_fine_tuning") else "")


def quoted_only_table(table_no: int, datasets: Iterable[str], metrics: Optional[Sequence[str]] = None,
                      paper_path: Optional[str | Path] = None) -> Table:
    """Paper rows for datasets we did not measure, with a plain statement that they are quoted."""
    tab = paper_table(table_no, paper_path)
    metrics = list(metrics or tab["metrics"])
    datasets = [d for d in datasets if d in tab["datasets"]]
    rows = [[paper_label(r)] + [fmt(r["values"].get(d, {}).get(m)) for d in datasets for m in metrics]
            for r in tab["rows"]]
    return Table(["method"] + [f"{d} {m}" for d in datasets for m in metrics], rows,
                 note=f"Quoted from the paper (Table {table_no}); not measured here: these datasets are not "
                      "available in this environment. Supply them with --data to measure them.")


def quoted_pair_matrix(table_no: int, dataset: str, method: str, metric: str, values: Sequence[str]) -> "np.ndarray":
    """A quoted [probe, gallery] matrix (Table 4: keys ``'<probe>-<gallery>'``); NaN where not published."""
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
        rows.append([name] + [fmt(vals[c].get(m)) for c in conds for m in metrics])
    return Table(["method"] + [f"{c} {m}" for c in conds for m in metrics], rows,
                 note=f"Quoted from the paper (Table {table_no}); not measured here. "
                      "♣ appearance-based, ‡ supervised.")
