"""Learning-free baselines measured on the same splits as the model: raw clip distance, D13, D16."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

from .baselines import baseline_features
from .config import Config
from .metrics import evaluate_features, result_row
from .posthoc import walk_features
from .provenance import environment
from .store import write_json
from .splits import build_split


def run_baseline(name: str, cfg: Config, data_root: Optional[str], out_dir: Optional[Path] = None,
                 command: str = "") -> dict:
    """Evaluate baseline ``name`` (raw | d13 | d16) on the split of ``cfg`` (Euclidean distance): the
    clip-level protocol (``metrics.msmr``) and, as another protocol, walk-level retrieval
    (``metrics["walk-level"]``: the mean feature of each walk, as ``himpc eval --beyond`` does for models)."""
    t0 = time.perf_counter()
    split = build_split(cfg, data_root)
    fg = baseline_features(name, split.gallery.clips, split.gallery.layout)
    fp = baseline_features(name, split.probe.clips, split.probe.layout)
    metrics = result_row(evaluate_features(fp, fg, split.probe.person, split.gallery.person))
    wp, wpid = walk_features(fp, split.probe.walk, split.probe.person)        # another protocol: one
    wg, wgid = walk_features(fg, split.gallery.walk, split.gallery.person)    # mean feature per walk
    walk = result_row(evaluate_features(wp, wg, wpid, wgid))
    result = {"kind": "baseline", "baseline": name, "command": command, "config": cfg.to_dict(),
              "split": split.info, "metrics": {"msmr": metrics, "walk-level": walk}, "seconds_total": round(time.perf_counter() - t0, 1),
              "environment": environment()}
    if out_dir is not None:
        write_json(Path(out_dir) / "result.json", result)
    return result
