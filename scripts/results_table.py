"""Print a markdown table of every results/<dataset>/<method>/summary.json (mean ± std over splits).

Usage: python scripts/results_table.py [results/kgbd]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(root: str = "results/kgbd") -> None:
    rows = []
    for summ in sorted(Path(root).glob("*/summary.json")):
        agg = json.loads(summ.read_text())
        first = json.loads(next(summ.parent.glob("split*/result.json")).read_text())
        epochs = first.get("epochs", "-")
        spe = first.get("seconds_per_epoch")
        for lv in [k for k in agg if isinstance(agg[k], dict)]:
            a = agg[lv]
            cells = " | ".join(f"{a[k]['mean']:.1f} ± {a[k]['std']:.1f}" for k in ("R1", "R5", "R10", "mAP"))
            rows.append(f"| {summ.parent.name} | {lv} | {cells} | {agg['runs']} ({','.join(map(str, agg['split_seeds']))}) "
                        f"| {epochs} | {spe if spe is not None else '-'} |")
    print("| run | level | R1 | R5 | R10 | mAP | splits (seeds) | epochs | s/epoch |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main(*sys.argv[1:])
