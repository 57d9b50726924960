"""Run the experiments a notebook shows, reusing finished runs.

:func:`ensure_row_runs` trains (or evaluates a baseline for) one row of a paper table on the
given splits into ``<root>/<run_name>/split<seed>``; a split whose ``result.json`` already holds
the same configuration is skipped, so an interrupted notebook picks up where it stopped.
:func:`train_with_snapshots` trains one run and keeps every epoch as a reference file for the
HSM inspector; :func:`inspection_run` opens what a method page inspects (the reference model).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from ..baseline_eval import run_baseline
from ..config import make_config
from ..engine import train
from ..store import group_key, iter_results, run_name

log = logging.getLogger(__name__)


def _same(result_file: Path, res_like: dict) -> bool:
    try:
        return group_key(json.loads(result_file.read_text())) == group_key(res_like)
    except (OSError, ValueError, KeyError):
        return False


def find_finished(res_like: dict, roots: Sequence[str | Path]) -> Optional[Path]:
    """A ``result.json`` under ``roots`` with the same configuration, budget and split as ``res_like``,
    in any precision (as the engine reuses a finished run: a committed fp32 run serves a bf16 request)."""
    seed, key = res_like["config"]["split_seed"], group_key(res_like, precision=False)
    for f, res in iter_results(roots):
        try:
            if res["config"]["split_seed"] == seed and group_key(res, precision=False) == key:
                return f
        except (KeyError, ValueError):
            continue
    return None


def ensure_row_runs(ours: Mapping[str, Any], root: str | Path, splits: Sequence[int], data: Optional[str] = None,
                    command: str = "", reuse: Sequence[str | Path] = (), **overrides: Any) -> Path:
    """Results of one paper row (``ours`` entry of ``paper_results.yaml``) on ``splits``; returns its folder.

    A split is skipped when ``<root>/<run name>/split<seed>`` or any folder under ``reuse`` already
    holds a result of the same configuration and epoch budget (e.g. the committed results/kgbd runs).
    """
    folder = Path(root) / run_name(ours)
    over = dict(overrides)
    over.update(ours.get("set") or {})
    for s in splits:
        out = folder / f"split{s}"
        if "baseline" in ours:
            cfg = make_config(None, split_seed=s, **over)
            like = {"kind": "baseline", "baseline": ours["baseline"], "config": cfg.to_dict()}
        else:
            cfg = make_config(ours["preset"], split_seed=s, **over)
            like = {"kind": "train", "config": cfg.to_dict()}
        if _same(out / "result.json", like):
            continue
        found = find_finished(like, reuse)
        if found is not None:
            log.info("reusing %s for %s split %d", found, run_name(ours), s)
            continue
        if "baseline" in ours:
            run_baseline(ours["baseline"], cfg, data, out, command=command or f"himpc baseline --method {ours['baseline']}")
            continue
        if (out / "result.json").exists():      # another config: keep it aside, never mix
            aside = out.with_name(out.name + ".old")
            shutil.rmtree(aside, ignore_errors=True)
            out.rename(aside)
            log.warning("%s held another configuration; moved to %s", out, aside)
        train(cfg, data, out, progress=False, command=command or f"himpc train --preset {ours['preset']}")
    return folder


def train_with_snapshots(preset: str, out: str | Path, data: Optional[str] = None, **overrides: Any) -> list[Path]:
    """Train ``preset`` into ``out`` keeping every epoch as ``snapshots/epochNNN.safetensors``; returns them.

    An interrupted run resumes from its checkpoint (finished epochs are not recomputed)."""
    out = Path(out)
    cfg = make_config(preset, **overrides)
    cfg = cfg.replace(snapshot_epochs=tuple(range(1, cfg.epochs + 1)))
    if not (out / "result.json").exists():
        train(cfg, data, out, progress=False, command=f"train_with_snapshots({preset!r})")
    return sorted((out / "snapshots").glob("epoch*.safetensors"))


def inspection_run(model: Optional[str | Path], data: Optional[str] = None, small_model: bool = False,
                   results_dir: str | Path = "results/book/run", preset: str = "hi-mpch", **small: Any):
    """The run a method page inspects, its epoch snapshots and a sentence that says what it is.

    Default: the reference model file ``model`` (trained at full scale, see ``models/``) and its
    sibling snapshots ``<stem>-epochNNN.safetensors``.  Only when ``small_model`` is asked for,
    a small model is trained now into ``results_dir/run`` (labelled as such).  A missing or
    broken reference file raises :class:`himpc.reference.ReferenceError` naming it.
    """
    from ..config import preset_of
    from ..trained import load_run
    from ..reference import ReferenceError
    if small_model:
        run_dir = Path(results_dir) / "run"
        snaps = train_with_snapshots(preset, run_dir, data, **small)
        run = load_run(run_dir, data)
        what = (f"**Small model trained at build time** ({preset}, {run.cfg.max_persons or 'all'} persons, "
                f"{run.epoch} epochs, h = {run.cfg.hidden}, M = {run.cfg.heads}): it shows the mechanics; "
                "its numbers mean nothing.")
        return run, snaps, what
    path = Path(model) if model else None
    if path is None or not path.is_file():
        raise ReferenceError(f"reference model {path} does not exist (models/ ships with the repository; "
                             "`himpc export RUN --out FILE` writes one from a finished run); set "
                             "small_model=True to train a small, labelled model instead")
    run = load_run(path, data)
    snaps = sorted(path.parent.glob(f"{path.stem}-epoch*.safetensors")) + [path]
    m, f = (run.result.get("metrics", {}).get(k, {}) for k in ("msmr", "fused"))
    name = preset_of(run.cfg)
    method = {"hi-mpch": "Hi-MPCh", None: "a configuration of its own"}.get(
        name, f"`{name}` (beyond the paper, trained without identity labels)")
    what = (f"Reference model `{path.as_posix()}`: {method} as configured in the file (h = {run.cfg.hidden}, "
            f"M = {run.cfg.heads}, levels {run.cfg.levels}), KGBD split {run.cfg.split_seed}, every frame "
            f"centred on {run.split.info.get('root_joint', 'the layout root')}, trained for "
            f"{run.epoch} epochs on all {len(set(run.split.train.person))} training persons"
            + (f"; on its probe/gallery it reaches MSMR Rank-1 {m['R1']:.1f} / mAP {m['mAP']:.1f}" if m else "")
            + (f" (fused levels {f['R1']:.1f} / {f['mAP']:.1f})" if m and f else "") + ".")
    return run, snaps, what


def cross_field_run(preset: str, out: str | Path, data: Optional[str], dataset: str, field: str,
                    train_values: Sequence[str], eval_values: Sequence[str], **overrides: Any):
    """Train ``preset`` on the walks whose ``field`` is in ``train_values`` (resuming a finished run),
    then evaluate every pair of ``eval_values`` (Tables 4-5); returns a CrossFieldResult."""
    from ..crossfield import cross_field_matrix
    from ..trained import load_run
    if len(eval_values) < 2:
        raise ValueError("give at least two evaluated values (probe / gallery)")
    cfg = make_config(preset, dataset=dataset, protocol="by-field", by_field=field,
                      probe_values=(str(eval_values[0]),), gallery_values=(str(eval_values[1]),),
                      train_values=tuple(str(v) for v in train_values), **overrides)
    train(cfg, data, Path(out), progress=False, command=f"cross_field_run({preset!r}, field={field!r})")
    return cross_field_matrix(load_run(out, data), data, field, [str(v) for v in eval_values])
