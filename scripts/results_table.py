"""Print a markdown table of every measured configuration under a results folder (mean ± std over
its splits, MSMR unless the run has one level), with its budget, splits, folder and the compute it
took, and the total: the compute spent, for the notes.

Usage: python scripts/results_table.py [results/kgbd]
"""

from __future__ import annotations

import sys
from pathlib import Path

from himpc import report


def main(root: str = "results/kgbd") -> None:
    groups = report.collect(root)
    rows, total = [], 0.0
    for m in sorted(groups, key=lambda g: (str(Path(g.paths[0]).parent.parent), g.epochs or 0)):
        level = "msmr" if m.value("msmr", "R1") else next(iter(k for k in m.agg if isinstance(m.agg[k], dict)), "msmr")
        cells = " | ".join(m.cell(level, k) for k in ("R1", "R5", "R10", "mAP"))
        hours = sum(m.seconds) / 3600
        total += hours
        folder = Path(m.paths[0]).parent.parent.relative_to(root)
        rows.append(f"| {folder} | {m.kind if m.kind == 'train' else m.baseline} | {cells} | "
                    f"{','.join(map(str, m.splits))} | {m.epochs or '-'} | {hours:.1f} | {', '.join(m.devices)} |")
    print("| folder | kind | R1 | R5 | R10 | mAP | splits | epochs | hours | device |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    every = sum(float(r.get("seconds_total") or 0) for _, r in report.iter_results([root])) / 3600
    print(f"\n{len(groups)} configurations; {every:.1f} hours of compute recorded in all the result files "
          f"({total:.1f} in the runs above: a rerun of a configuration's split replaces the older one). "
          "Each run's seconds_total is the wall time of its own process, so a resumed run counts only "
          "the epochs after its checkpoint.")


if __name__ == "__main__":
    main(*sys.argv[1:])
