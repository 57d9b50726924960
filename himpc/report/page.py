"""The shared cells of a results-table page (the paper's Tables 6-11, Fig. 5-6, the baselines): each
notebook holds only its narrative, its parameters, its table numbers and the rows it keeps.

    page = TablePage.from_parameters((8, 9), globals())   # the page's `parameters` cell, read by name
    page.run_missing()                                     # only with train_root set: train what is missing
    page.table(8, "KGBD: heads M")                         # quoted rows, measured rows, bars
    page.summary(); page.commands(); page.quoted_only(); page.save()
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

from IPython.display import Markdown, display

from .paper import paper_table, quoted_only_table
from .rows import at_budget, chart_rows, commands_markdown, comparison_rows, comparison_table, summary_sentences

OTHER_DATASETS = ("BIWI-S", "BIWI-W", "IAS-A", "IAS-B", "KS20")   # quoted only: not available here
PARAMETERS = ("data", "dataset", "results_roots", "train_root", "splits", "epochs", "max_persons", "hidden",
              "heads", "threads", "command", "variants", "results_dir")


@dataclass
class TablePage:
    """One results-table page: the paper tables it shows, where its runs are, and the rows shown so far.

    ``rows``: the ``ours`` entries the page trains when ``train_root`` is set (default: every row of
    ``tables`` that names one).  A run cut down by ``max_persons`` / ``hidden`` / ``heads`` is shown
    labelled SMOKE (``scales``)."""

    tables: Sequence[int | str]
    results_roots: Sequence[str] = ("results/kgbd",)
    results_dir: str = "results/book/page"
    dataset: str = "KGBD"
    data: Optional[str] = None
    train_root: Optional[str] = None
    splits: Sequence[int] = (0, 1, 2)
    epochs: Optional[int] = 20
    max_persons: int = 0
    hidden: int = 256
    heads: int = 8
    threads: int = 0
    command: str = ""
    variants: Optional[Mapping[str, Mapping[str, Any]]] = None
    rows: Optional[list[dict]] = None
    shown: list[dict] = field(default_factory=list)

    @classmethod
    def from_parameters(cls, tables: Sequence[int | str], params: Mapping[str, Any], **kw: Any) -> "TablePage":
        """The page of a notebook whose ``parameters`` cell set the names of :data:`PARAMETERS`."""
        return cls(tables, **{k: params[k] for k in PARAMETERS if k in params}, **kw)

    def __post_init__(self) -> None:
        if self.rows is None:
            self.rows = [r["ours"] for t in self.tables for r in paper_table(t)["rows"] if r.get("ours")]

    @property
    def roots(self) -> list[str]:
        return ([self.train_root] if self.train_root else []) + list(self.results_roots)

    @property
    def scale(self) -> dict:
        return dict(max_persons=self.max_persons, hidden=self.hidden, heads=self.heads)

    def run_missing(self) -> None:
        """With ``train_root`` set, train (resumably) every row not finished there or in ``results_roots``."""
        if not self.train_root:
            return
        from .experiments import ensure_row_runs
        for ours in self.rows:
            ensure_row_runs(ours, self.train_root, self.splits, self.data, command=self.command,
                            reuse=self.results_roots, epochs=self.epochs, threads=self.threads,
                            dataset=self.dataset, **self.scale)

    def table_rows(self, no: int | str, metrics: Sequence[str] = ("R1", "mAP"),
                   keep: Optional[Callable[[dict], bool]] = None, budget_only: bool = True) -> list[dict]:
        """Table ``no``'s quoted rows and the measured rows beside them (those ``keep`` accepts), at the
        page's budget unless ``budget_only`` is False (the rows of other budgets are on page 5)."""
        rows = comparison_rows(no, self.dataset, self.roots, list(metrics), scales=[self.scale],
                               budget=dict(splits=list(self.splits), epochs=self.epochs), variants=self.variants)
        rows = [r for r in rows if keep(r)] if keep else rows
        return at_budget(rows, self.epochs) if budget_only else rows

    def table(self, no: int | str, title: str, metrics: Sequence[str] = ("R1", "mAP"),
              keep: Optional[Callable[[dict], bool]] = None, budget_only: bool = True) -> None:
        """Show table ``no`` (an HTML table, then its bar chart of R1 and mAP) and remember its rows
        (nothing returned: a notebook cell would show a returned table twice)."""
        from . import viz
        rows = self.table_rows(no, metrics, keep, budget_only)
        display(comparison_table(rows, list(metrics)))
        viz.metric_bar_figure(chart_rows(rows), metrics=["R1", "mAP"], title=title).show()
        self.shown += rows

    def summary(self) -> None:
        """"What this page says": sentences computed from the rows shown."""
        display(Markdown(summary_sentences(self.shown)))

    def commands(self) -> None:
        """The commands that made the measured rows, and those that measure the missing ones."""
        display(Markdown(commands_markdown(self.shown)))

    def quoted_only(self, datasets: Sequence[str] = OTHER_DATASETS, metrics: Sequence[str] = ("R1", "mAP")) -> None:
        """The page's tables for the datasets not available here, quoted from the paper."""
        for no in self.tables:
            if any(d in paper_table(no).get("datasets", []) for d in datasets):
                display(quoted_only_table(no, datasets, list(metrics)))

    def save(self) -> Path:
        """The rows shown, as ``<results_dir>/outputs.json`` (for reruns and tests)."""
        out = Path(self.results_dir) / "outputs.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps([{k: v for k, v in r.items() if k != "measured"} for r in self.shown],
                                  indent=1, default=str))
        return out
