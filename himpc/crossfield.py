"""Cross-view (Table 4) and cross-condition (Table 5) evaluation of one trained run.

The model is trained once (``protocol="by-field"``, training walks chosen by their ``view`` or
``condition``); :func:`cross_field_matrix` then evaluates every (probe value, gallery value)
pair.  Off the diagonal the probe holds every walk with the probe value and the gallery every
walk with the gallery value.  On the diagonal (same view for both) each person gives one
random probe walk and the rest of their walks of that value form the gallery; persons with
a single walk of that value are left out of that cell.  Only walks the model did not train
on are used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .config import Config
from .data.protocols import ClipSplit, DataError, make_clips
from .data.skeletons import SkeletonSet
from .engine import evaluate
from .splits import load_source, normalise_part


@dataclass
class CrossFieldResult:
    field: str
    values: list[str]                 # probe values = rows, gallery values = columns
    metrics: dict                     # metrics[level][metric] -> [P, G] array (NaN: empty cell)
    counts: np.ndarray                # [P, G, 2] probe / gallery clips per cell


def _walks_of(ss: SkeletonSet, field: str, value: str, exclude: set[int]) -> np.ndarray:
    vals = getattr(ss, field)
    return np.array([w for w in np.flatnonzero(vals == value) if w not in exclude], dtype=np.int64)


def _pair_split(ss: SkeletonSet, field: str, p: str, g: str, cfg: Config, exclude: set[int],
                rng: np.random.Generator) -> Optional[ClipSplit]:
    pw, gw = _walks_of(ss, field, p, exclude), _walks_of(ss, field, g, exclude)
    if p == g:                                    # same value: one probe walk per person, rest gallery
        probe, gallery = [], []
        for person in np.unique(ss.person[pw]):
            mine = rng.permutation(pw[ss.person[pw] == person])
            if len(mine) >= 2:
                probe.append(mine[:1])
                gallery.append(mine[1:])
        if not probe:
            return None
        pw, gw = np.sort(np.concatenate(probe)), np.sort(np.concatenate(gallery))
    if len(pw) == 0 or len(gw) == 0:
        return None
    parts = {k: normalise_part(make_clips(ss, w, cfg.seq_len, cfg.trim), cfg) for k, w in (("probe", pw), ("gallery", gw))}
    if len(parts["probe"]) == 0 or len(parts["gallery"]) == 0:
        return None
    return ClipSplit(train=parts["gallery"], gallery=parts["gallery"], probe=parts["probe"],
                     info={"protocol": "cross-field", "probe": p, "gallery": g})


def cross_field_matrix(run, data_root: Optional[str], field: Optional[str] = None,
                       values: Optional[Sequence[str]] = None, seed: int = 0) -> CrossFieldResult:
    """Evaluate a loaded run (:func:`himpc.trained.load_run`) on every probe/gallery value pair.

    ``field`` defaults to the run's ``by_field``; ``values`` to every value of that field that the
    run did not train on.  Metrics: R1/R5/R10/mAP per level and MSMR (Euclidean, as everywhere).
    """
    cfg: Config = run.cfg
    field = field or cfg.by_field
    ss = load_source(cfg, data_root)
    if not isinstance(ss, SkeletonSet) or getattr(ss, field, None) is None:
        raise DataError(f"{cfg.dataset}: no per-walk {field!r} field, so there is no cross-{field} protocol")
    if cfg.protocol != "by-field":
        raise DataError(f"run {run.path} was trained with protocol {cfg.protocol!r}; cross-{field} evaluation "
                        "needs a by-field run whose training walks exclude the evaluated values")
    trained = set(np.unique(run.split.train.walk).tolist())
    train_vals = set(run.split.info.get("train_values") or [])
    present = sorted(set(getattr(ss, field).tolist()))
    values = [str(v) for v in values] if values is not None else [v for v in present if v not in train_vals]
    unknown = [v for v in values if v not in present]
    if unknown:
        raise DataError(f"{field} value(s) {unknown} match no walk; present: {present}")
    rng = np.random.default_rng(seed)
    P = len(values)
    metrics: dict = {}
    counts = np.zeros((P, P, 2), dtype=np.int64)
    for i, p in enumerate(values):
        for j, g in enumerate(values):
            split = _pair_split(ss, field, p, g, cfg, trained, rng)
            if split is None:
                continue
            counts[i, j] = len(split.probe), len(split.gallery)
            res = evaluate(run.model, split, cfg, next(run.model.parameters()).device)
            for lv, ms in res.items():
                for k, v in ms.items():
                    metrics.setdefault(lv, {}).setdefault(k, np.full((P, P), np.nan))[i, j] = v
    return CrossFieldResult(field, values, metrics, counts)
