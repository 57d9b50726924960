"""Open a trained run folder and look inside: features, prototypes, heads and HSM importances.

A run folder (written by :func:`himpc.engine.train`) holds ``checkpoint.pt`` with the model,
the configuration, the prototypes of the last clustering, the pseudo labels [L, N] of the
training clips and the training history.  :func:`load_run` rebuilds the split from the
configuration (so clip indices refer to ``run.split.train``) and the model; the other
functions compute what the notebooks show, with the package's own code
(:func:`himpc.objective.batch_loss`, :meth:`himpc.model.HiMPCModel.transform` ...).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from .config import Config
from .data.protocols import ClipSplit
from .engine import LEVEL_LABEL, build_model, encode, level_inputs
from .model import HiMPCModel, Prototypes
from .objective import batch_loss
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
    """Load ``run_dir/checkpoint.pt`` (or ``checkpoint``) and rebuild its split and model (on ``device``).

    Pass ``split`` to reuse an already built split of the same configuration (epoch snapshots).
    """
    run_dir = Path(run_dir)
    ckpt = Path(checkpoint) if checkpoint is not None else run_dir / "checkpoint.pt"
    if not ckpt.exists():
        raise RunError(f"no checkpoint at {ckpt}; train one with `himpc train --out {run_dir.parent}`")
    state = torch.load(ckpt, map_location=device, weights_only=True)
    cfg = Config.from_dict(state["config"])
    split = split if split is not None else build_split(cfg, data_root)
    x = level_inputs(split.train, cfg.levels)
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


@torch.no_grad()
def hsm_importance(run: LoadedRun, clips: Sequence[int]) -> np.ndarray:
    """HSM importance delta [L, M, B, F] of training clips ``clips`` (Eq. 6-8).

    Computed by :func:`himpc.objective.batch_loss` with the run's model, prototypes and the
    checkpoint's pseudo labels.  Entries of a clip that is an outlier at a level, or of a level
    that sat out (fewer than two clusters), are NaN.  Works for runs trained without HSM too
    (the importance is then what HSM would have assigned).
    """
    idx = torch.as_tensor(np.asarray(clips, dtype=np.int64))
    if len(idx) == 0:
        raise ValueError("choose at least one clip")
    if int(idx.max()) >= run.x_train.shape[1] or int(idx.min()) < 0:
        raise IndexError(f"clip indices must be in 0..{run.x_train.shape[1] - 1}")
    device = next(run.model.parameters()).device
    x = run.x_train[:, idx].to(device)
    lab = run.labels[:, idx].to(device)
    out = batch_loss(run.model, run.protos, x, lab, run.cfg.replace(hsm=True), return_importance=True)
    delta = out.importance.detach().cpu().numpy().astype(np.float64)          # [L, M, B, F]
    invalid = ((lab < 0) | ~run.protos.active[:, None]).cpu().numpy()         # [L, B]
    delta[np.broadcast_to(invalid[:, None, :, None], delta.shape)] = np.nan
    return delta


def clips_of_person(run: LoadedRun, person: str) -> np.ndarray:
    """Indices of the training clips of ``person``."""
    return np.flatnonzero(run.split.train.person == str(person))


@torch.no_grad()
def train_features(run: LoadedRun, kind: str = "encoder") -> torch.Tensor:
    """Per-level features [L, N, h] of every training clip (``encoder``: v^l, ``meta``: V^l)."""
    return encode(run.model, run.x_train, next(run.model.parameters()).device, kind)


@torch.no_grad()
def prototype_similarities(run: LoadedRun, clips: Sequence[int]) -> np.ndarray:
    """Meta-instance . meta-prototype / tau [L, M, B, C] (Eq. 3-5) for training clips ``clips``.

    Padded (absent) prototypes are NaN.
    """
    idx = torch.as_tensor(np.asarray(clips, dtype=np.int64))
    device = next(run.model.parameters()).device
    v = run.model.pool(run.model.encode_frames(run.x_train[:, idx].to(device)))     # [L, B, h]
    inst = run.model.transform(v)                                                     # [L, M, B, h]
    protos = run.model.transform_prototypes(run.protos.protos)                        # [L, M, C, h]
    sims = torch.einsum("lmbh,lmch->lmbc", inst, protos) / run.cfg.temperature
    sims = sims.cpu().numpy().astype(np.float64)
    sims[np.broadcast_to(~run.protos.mask.cpu().numpy()[:, None, None, :], sims.shape)] = np.nan
    return sims


def head_agreement(sims: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """How consistent the heads are, from similarities [L, M, B, C] and pseudo labels [L, B].

    ``hit``  [L, M]: fraction of (inlier) clips whose most similar meta-prototype under head m is
    their own cluster; ``agree`` [L]: fraction of inlier clips on which all heads pick the same
    prototype.
    """
    pred = np.nanargmax(np.where(np.isnan(sims), -np.inf, sims), axis=-1)             # [L, M, B]
    inl = labels >= 0
    L, M = pred.shape[:2]
    hit = np.full((L, M), np.nan)
    agree = np.full(L, np.nan)
    for lv in range(L):
        if inl[lv].any():
            hit[lv] = (pred[lv][:, inl[lv]] == labels[lv][inl[lv]]).mean(axis=1)
            agree[lv] = (pred[lv][:, inl[lv]] == pred[lv][:1, inl[lv]]).all(axis=0).mean()
    return {"hit": hit, "agree": agree}


def tsne_embeddings(run: LoadedRun, persons: int = 10, per_person: int = 40, part: str = "gallery",
                    seed: int = 0, perplexity: float = 30.0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """t-SNE (Fig. 8) of ``part`` clips of the first ``persons`` persons (at most ``per_person`` each):
    raw skeletons, every level's representation and MSMR.  Returns ({name: [N, 2]}, person labels)."""
    from sklearn.manifold import TSNE
    clips = getattr(run.split, part)
    rng = np.random.default_rng(seed)
    chosen = sorted(set(clips.person.tolist()))[:persons]
    idx = np.concatenate([rng.permutation(np.flatnonzero(clips.person == p))[:per_person] for p in chosen])
    x = level_inputs(clips, run.cfg.levels)[:, torch.as_tensor(idx)]
    feats = encode(run.model, x, next(run.model.parameters()).device, "meta")
    reps = {"raw skeletons": clips.clips[idx].reshape(len(idx), -1)}
    for lv, name in enumerate(run.levels):
        reps[f"{LEVEL_LABEL[name]} level"] = feats[lv].numpy()
    reps["MSMR (Eq. 10)"] = HiMPCModel.msmr(feats).numpy()
    perp = float(min(perplexity, max(2.0, (len(idx) - 1) / 3)))
    out = {k: TSNE(n_components=2, perplexity=perp, init="pca", random_state=seed).fit_transform(v.astype(np.float64))
           for k, v in reps.items()}
    return out, clips.person[idx]
