"""A trained model with its split, from a run folder or a reference model file.

A run folder (written by :func:`himpc.engine.train`) holds ``checkpoint.pt`` with the model, the
configuration, the prototypes of the last clustering, the pseudo labels [L, N] of the training
clips and the training history; a reference model file (:mod:`himpc.reference`) holds the model
and the pseudo labels.  :func:`load_run` rebuilds the split from the configuration (so clip
indices refer to ``run.split.train``), the model and the prototypes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch

from .config import Config
from .data.protocols import ClipSplit
from .engine import build_model, config_inputs, encode
from .model import HiMPCModel, Prototypes
from .reference import ReferenceError, load_reference, read_header
from .splits import build_split


class RunError(RuntimeError):
    """A run folder that cannot be inspected (no checkpoint, or data that no longer matches it)."""


@dataclass
class LoadedRun:
    """A trained model with everything needed to inspect it."""

    path: Path
    cfg: Config
    model: HiMPCModel
    protos: Prototypes
    labels: torch.Tensor            # pseudo labels [L, N] of the training clips (-1: outlier)
    split: ClipSplit
    x_train: torch.Tensor           # padded level inputs [L, N, F, D] of the training clips
    history: list[dict]
    epoch: int                      # last finished epoch (1-based)
    result: Optional[dict] = None   # result.json when the run finished
    meta: dict = field(default_factory=dict)

    @property
    def levels(self) -> str:
        return self.cfg.levels

    def clip_label(self, i: int) -> str:
        """``person w<walk index> @<start frame>`` of training clip ``i``."""
        t = self.split.train
        return f"{t.person[i]} w{int(t.walk[i])} @{int(t.start[i])}"


def load_run(run_dir: str | Path, data_root: Optional[str] = None, device: str = "cpu",
             checkpoint: Optional[str | Path] = None, split: Optional[ClipSplit] = None) -> LoadedRun:
    """Load a trained run and rebuild its split and model (on ``device``).

    ``run_dir`` is a run folder (its ``checkpoint.pt``, else its ``model.safetensors``) or a
    reference model file (``*.safetensors``, see :mod:`himpc.reference`); ``checkpoint`` picks
    another file of the run (an epoch snapshot, ``.pt`` or ``.safetensors``).  Pass ``split`` to
    reuse an already built split of the same configuration (epoch snapshots).
    """
    run_dir = Path(run_dir)
    if checkpoint is None and run_dir.suffix == ".safetensors":
        checkpoint, run_dir = run_dir, run_dir.parent
    if checkpoint is None and not (run_dir / "checkpoint.pt").exists() and (run_dir / "model.safetensors").exists():
        checkpoint = run_dir / "model.safetensors"
    ckpt = Path(checkpoint) if checkpoint is not None else run_dir / "checkpoint.pt"
    if ckpt.suffix == ".safetensors":
        return _load_reference_run(ckpt, data_root, device, split)
    if not ckpt.exists():
        raise RunError(f"no checkpoint at {ckpt}; train one with `himpc train --out {run_dir.parent}`")
    state = torch.load(ckpt, map_location=device, weights_only=True)
    cfg = Config.from_dict(state["config"])
    split = split if split is not None else build_split(cfg, data_root)
    x = config_inputs(split.train, cfg)
    model = build_model(cfg, split.train).to(device)
    model.load_state_dict(state["model"])
    model.eval()
    protos = Prototypes(len(cfg.levels), cfg.hidden).to(device)
    protos.load_buffers(state.get("prototypes", {}))
    labels = state.get("pseudo_labels")
    if labels is None:
        raise RunError(f"{ckpt} has no pseudo labels (written before the first epoch finished?)")
    if labels.shape != (len(cfg.levels), len(split.train)):
        raise RunError(f"{ckpt}: pseudo labels {tuple(labels.shape)} do not match the rebuilt split "
                       f"({len(cfg.levels)} levels x {len(split.train)} training clips); has the data changed?")
    result = None
    if (run_dir / "result.json").exists():
        result = json.loads((run_dir / "result.json").read_text())
    return LoadedRun(run_dir, cfg, model, protos, labels.cpu(), split, x, json.loads(state["history"]),
                     int(state["epoch"]) + 1, result)


def _load_reference_run(path: Path, data_root: Optional[str], device: str,
                        split: Optional[ClipSplit]) -> LoadedRun:
    """A reference model file: model and pseudo labels from the file, prototypes rebuilt by Eq. 2."""
    cfg = Config.from_dict(read_header(path)["config"])
    split = split if split is not None else build_split(cfg, data_root)
    ref = load_reference(path, layout=split.train.layout.name, device=device)
    x = config_inputs(split.train, cfg)
    labels = ref.pseudo_labels
    if labels is None or labels.shape != (len(cfg.levels), len(split.train)):
        got = None if labels is None else tuple(labels.shape)
        raise ReferenceError(f"reference model {path}: pseudo labels {got} do not match the rebuilt split "
                             f"({len(cfg.levels)} levels x {len(split.train)} training clips); has the data changed?")
    protos = Prototypes(len(cfg.levels), cfg.hidden).to(device)
    v = encode(ref.model, x, torch.device(device), kind="encoder")
    plabels = ref.prototype_labels if ref.prototype_labels is not None else labels
    protos.update(v.to(device), plabels.to(device))                       # Eq. 2, as at the end of training
    extra = ref.meta.get("extra", {})
    result = {"metrics": ref.metrics, "config": cfg.to_dict(), "split": extra.get("split", {})}
    return LoadedRun(path, cfg, ref.model, protos, labels.cpu(), split, x, extra.get("history", []),
                     ref.epoch, result, {"reference": str(path)})


@torch.no_grad()
def train_features(run: LoadedRun, kind: str = "encoder") -> torch.Tensor:
    """Per-level features [L, N, h] of every training clip (``encoder``: v^l, ``meta``: V^l)."""
    return encode(run.model, run.x_train, next(run.model.parameters()).device, kind)
