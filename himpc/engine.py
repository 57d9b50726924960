"""Training engine (Alg. 1): alternate re-clustering (under no_grad) and contrastive training.

One call of :func:`train` builds the split, trains for a fixed epoch budget with a
checkpoint after every epoch (an interrupted run resumes from it), evaluates on the
probe/gallery sets and writes ``result.json``.  Model selection never looks at the
probe/gallery sets unless ``selection="oracle-test"`` is asked for, and then the result
says so.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np
import torch
from tqdm.auto import tqdm

from .clustering import cluster_levels
from .config import Config
from .data.protocols import ClipSet, ClipSplit
from .hierarchy import LEVEL_NAMES, build_hierarchy, flatten_levels, with_motion
from .metrics import evaluate_features, evaluate_levels, result_row
from .model import HiMPCModel, Prototypes
from .objective import batch_loss
from .precision import autocast, effective_precision
from .provenance import environment, peak_memory_mb
from .store import write_json
from .reference import save_reference
from .splits import build_split
from .walk_labels import walk_merge_labels

log = logging.getLogger("himpc.engine")



class CheckpointMismatch(RuntimeError):
    """A checkpoint written under another configuration."""


def resolve_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def level_inputs(clips: ClipSet, levels: str, motion_scale: float = 0.0) -> torch.Tensor:
    """Clips [N, F, J, 3] -> padded per-level inputs [L, N, F, D] (Sec. 3.1); ``motion_scale`` > 0
    appends every frame's displacement (:func:`himpc.hierarchy.with_motion`)."""
    return flatten_levels(_level_parts(clips.clips, clips.layout, levels, motion_scale)).contiguous()


def config_inputs(clips: ClipSet, cfg: Config) -> torch.Tensor:
    """The level inputs [L, N, F, D] of ``cfg``'s levels and motion channels."""
    return level_inputs(clips, cfg.levels, cfg.motion_scale)


def level_dims(clips: ClipSet, levels: str, motion_scale: float = 0.0) -> list[int]:
    parts = _level_parts(clips.clips[:1], clips.layout, levels, motion_scale)
    return [p.shape[-2] * p.shape[-1] for p in parts]   # parts x channels (3 or 2 coordinates, twice with motion)


def _level_parts(clips: np.ndarray, layout, levels: str, motion_scale: float) -> list[torch.Tensor]:
    parts = build_hierarchy(torch.from_numpy(clips), layout, levels)
    return with_motion(parts, motion_scale) if motion_scale > 0 else parts


def build_model(cfg: Config, train: ClipSet) -> HiMPCModel:
    """The untrained model of ``cfg`` for the level widths of ``train``'s layout."""
    return HiMPCModel(level_dims(train, cfg.levels, cfg.motion_scale), cfg.hidden, cfg.heads, cfg.meta_heads,
                      cfg.head_init)


@torch.no_grad()
def encode(model: HiMPCModel, x: torch.Tensor, device: torch.device, kind: str = "meta",
           batch: int = 4096, precision: str = "fp32") -> torch.Tensor:
    """Per-level features [L, N, h] (fp32) of padded inputs x [L, N, F, D], in batches."""
    model.eval()
    with autocast(precision, device):
        out = [model.level_features(x[:, i:i + batch].to(device), kind).float().cpu()
               for i in range(0, x.shape[1], batch)]
    return torch.cat(out, dim=1)


def evaluate(model: HiMPCModel, split: ClipSplit, cfg: Config, device: torch.device,
             x_gallery: Optional[torch.Tensor] = None, x_probe: Optional[torch.Tensor] = None) -> dict:
    """Rank-1/5/10 and mAP of every level, of MSMR (Eq. 10) and of the fused levels, Euclidean distance.

    ``fused`` (not in the paper): each level's meta-representation V^l L2-normalised, then
    concatenated, so every level weighs the same (Euclidean there ranks as cosine does)."""
    xg = config_inputs(split.gallery, cfg) if x_gallery is None else x_gallery
    xp = config_inputs(split.probe, cfg) if x_probe is None else x_probe
    fg, fp = encode(model, xg, device, cfg.level_feature), encode(model, xp, device, cfg.level_feature)
    gid, pid = split.gallery.person, split.probe.person
    meta = cfg.level_feature == "meta"            # MSMR = the meta-representations V^l concatenated
    levels, msmr = evaluate_levels(fp.numpy(), fg.numpy(), pid, gid, concatenated=meta)
    out: dict[str, Any] = {LEVEL_NAMES[name]: result_row(m) for name, m in zip(cfg.levels, levels)}
    if not meta:                      # MSMR is always built from the meta-representations V^l (Eq. 10)
        fg, fp = encode(model, xg, device, "meta"), encode(model, xp, device, "meta")
        msmr = evaluate_features(HiMPCModel.msmr(fp).numpy(), HiMPCModel.msmr(fg).numpy(), pid, gid)
    out["msmr"] = result_row(msmr)
    unit = lambda f: torch.nn.functional.normalize(f, dim=-1).numpy()      # noqa: E731
    out["fused"] = result_row(evaluate_levels(unit(fp), unit(fg), pid, gid, per_level=False)[1])
    return out



@dataclass
class EpochLog:
    epoch: int
    loss: float
    clusters: dict[str, int]
    outliers: dict[str, int]
    train_samples: int
    cluster_seconds: float
    train_seconds: float
    purity: dict[str, float] = field(default_factory=dict)   # analysis only, never used for selection
    hsm_max_weight: Optional[float] = None                   # mean largest HSM frame weight delta (Eq. 8)
    cluster_stages: dict[str, dict[str, float]] = field(default_factory=dict)   # seconds: knn, jaccard, dbscan..
    label_agreement: dict[str, float] = field(default_factory=dict)  # ARI with the previous epoch's labels
    test: Optional[dict] = None                              # probe/gallery trace when eval_every > 0


def learning_rate(cfg: Config, epoch: int) -> float:
    """The learning rate of 0-based ``epoch``: ``cfg.lr`` throughout (the paper), or annealed along a
    half cosine from ``cfg.lr`` at epoch 0 towards 0 at the end of the budget (``lr_schedule="cosine"``)."""
    if cfg.lr_schedule == "constant":
        return cfg.lr
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * epoch / cfg.epochs))


def label_agreement(previous: np.ndarray, current: np.ndarray) -> float:
    """Adjusted Rand index between two epochs' pseudo labels of the same clips, every outlier its own
    singleton: how much the clustering still moves.  Training data only, so a stopping rule may use it."""
    from sklearn.metrics import adjusted_rand_score

    def singletons(lab: np.ndarray) -> np.ndarray:
        lab = np.asarray(lab, dtype=np.int64).copy()
        out = lab < 0
        lab[out] = lab.max(initial=-1) + 1 + np.arange(int(out.sum()))
        return lab
    return float(adjusted_rand_score(singletons(previous), singletons(current)))


def cluster_purity(labels: np.ndarray, truth: np.ndarray) -> float:
    """Fraction of clustered samples whose cluster's majority identity is their own (analysis only)."""
    keep = labels >= 0
    if not keep.any():
        return 0.0
    lab, tru = labels[keep], np.unique(truth[keep], return_inverse=True)[1]
    pairs = lab.astype(np.int64) * (tru.max() + 1) + tru
    counts = np.bincount(pairs)
    major = np.zeros(lab.max() + 1, dtype=np.int64)
    np.maximum.at(major, np.nonzero(counts)[0] // (tru.max() + 1), counts[np.nonzero(counts)[0]])
    return float(major.sum() / keep.sum())


class Trainer:
    """Alg. 1 with checkpoints; ``out_dir`` holds ``checkpoint.pt``, ``run.log`` and ``result.json``."""

    def __init__(self, cfg: Config, split: ClipSplit, out_dir: Path, progress: bool = True) -> None:
        self.cfg, self.split, self.out_dir, self.progress = cfg, split, Path(out_dir), progress
        self.device = resolve_device(cfg.device)
        self.precision = effective_precision(cfg.precision, self.device)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        seed_everything(cfg.seed)
        self.x_train = config_inputs(split.train, cfg)
        self.model = build_model(cfg, split.train).to(self.device)
        self.protos = Prototypes(len(cfg.levels), cfg.hidden).to(self.device)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.history: list[EpochLog] = []
        self.labels: Optional[torch.Tensor] = None     # pseudo labels [L, N] of the last epoch
        self.proto_labels: Optional[torch.Tensor] = None   # the labels its prototypes were built from
        self.untrained_test: Optional[dict] = None
        self.last_hsm_max_weight: Optional[float] = None
        self.cluster_stages: dict[str, dict[str, float]] = {}     # seconds per clustering stage and level
        self.start_epoch = 0
        self.ckpt_path = self.out_dir / "checkpoint.pt"

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self, epoch: int) -> None:
        state = {
            "format": 1, "epoch": epoch, "model_hash": self.cfg.model_hash(), "config": self.cfg.to_dict(),
            "model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
            "prototypes": dict(self.protos.state_dict()), "pseudo_labels": self.labels,
            "history": json.dumps([h.__dict__ for h in self.history]),
        }
        tmp = self.ckpt_path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.ckpt_path)            # atomic: a crash never leaves half a checkpoint

    def load_checkpoint(self) -> bool:
        if not self.ckpt_path.exists():
            return False
        state = torch.load(self.ckpt_path, map_location=self.device, weights_only=True)
        diff = self.cfg.model_differences(state.get("config", {}))
        if self.cfg.lr_schedule != "constant" and state.get("config", {}).get("epochs") != self.cfg.epochs:
            diff.append("epochs (the learning-rate schedule spans the budget)")
        if diff:
            raise CheckpointMismatch(f"{self.ckpt_path} was written by another config (differs in {diff}); "
                                     "use another --out folder or --no-resume")
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.protos.load_buffers(state.get("prototypes", {}))
        self.labels = state.get("pseudo_labels")
        self.history = [EpochLog(**h) for h in json.loads(state["history"])]
        self.start_epoch = int(state["epoch"]) + 1
        log.info("resumed from %s after epoch %d (epochs 1-%d are not recomputed)", self.ckpt_path,
                 self.start_epoch, self.start_epoch)
        return True

    # ------------------------------------------------------------------ one epoch
    def pseudo_labels(self, v: torch.Tensor) -> torch.Tensor:
        """Pseudo labels [L, N] (-1 = outlier): DBSCAN on Jaccard distances per level (Alg. 1), merged
        walks (``walk-merge``, :mod:`himpc.walk_labels`), or fixed classes (``walk``: tracklets;
        ``identity``: true labels, a supervised diagnostic)."""
        cfg = self.cfg
        if cfg.pseudo_labels == "walk-merge":         # walks, mutual nearest walks merged (not in the paper)
            return walk_merge_labels(v, self.split.train.walk, fused=cfg.walk_merge_on == "fused")
        if cfg.pseudo_labels != "dbscan":
            key = self.split.train.walk if cfg.pseudo_labels == "walk" else self.split.train.person
            ids = torch.from_numpy(np.unique(key, return_inverse=True)[1].astype(np.int64))
            return ids.expand(v.shape[0], -1).clone()
        labels = torch.full(v.shape[:2], -1, dtype=torch.long)
        results = cluster_levels(v, eps=cfg.dbscan_eps, min_samples=cfg.dbscan_min_samples, k1=cfg.k1, k2=cfg.k2,
                                 normalize=cfg.jaccard_normalize, rank_width=cfg.k1 if cfg.knn_list_k1 else None,
                                 precision=self.precision, knn_backend=cfg.knn_backend,
                                 knn_ef_search=cfg.knn_ef_search, knn_nprobe=cfg.knn_nprobe)
        for lv, (name, res) in enumerate(zip(cfg.levels, results)):
            labels[lv] = torch.from_numpy(np.asarray(res.labels, dtype=np.int64))
            self.cluster_stages[name] = {k: round(v, 2) for k, v in res.timings.items()}
            if res.num_clusters < 2:
                log.warning("level %s: DBSCAN found %d cluster(s); the level sits out this epoch "
                            "(eps=%.2f, min_samples=%d)", name, res.num_clusters, cfg.dbscan_eps,
                            cfg.dbscan_min_samples)
        return labels

    @torch.no_grad()
    def recluster(self) -> tuple[torch.Tensor, dict, dict, float, dict]:
        """Encode every training clip, assign pseudo labels per level, update the prototypes (Eq. 2)."""
        t0 = time.perf_counter()
        v = encode(self.model, self.x_train, self.device, kind="encoder", precision=self.precision)   # [L, N, h]
        labels = self.pseudo_labels(v)
        own = labels
        if self.cfg.inlier_all_levels:                    # the authors' code: inlier at every level
            labels = labels.clone()
            labels[:, (labels < 0).any(0)] = -1
        truth = self.split.train.person
        clusters, outliers, purity = {}, {}, {}
        for lv, name in enumerate(self.cfg.levels):
            lab = labels[lv].numpy()
            clusters[name] = int(np.unique(lab[lab >= 0]).size)
            outliers[name] = int((lab < 0).sum())
            purity[name] = round(cluster_purity(lab, truth), 4)
        self.proto_labels = own if self.cfg.prototypes_before_intersection else labels
        self.protos.update(v.to(self.device), self.proto_labels.to(self.device))   # Eq. 2
        return labels, clusters, outliers, time.perf_counter() - t0, purity

    def train_epoch(self, epoch: int, labels: torch.Tensor) -> tuple[float, int]:
        cfg = self.cfg
        usable = ((labels >= 0) & self.protos.active.cpu()[:, None]).any(0)
        idx = torch.nonzero(usable).squeeze(1)
        if len(idx) == 0:
            return float("nan"), 0
        if cfg.shuffle == "once":       # one seeded order of all training clips, kept every epoch
            order = torch.randperm(len(usable), generator=torch.Generator().manual_seed(cfg.seed))
            idx = order[usable[order]]
        else:                           # seeded, resumable reshuffle every epoch
            gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
            idx = idx[torch.randperm(len(idx), generator=gen)]
        nb = len(idx) // cfg.batch_size if cfg.drop_last else -(-len(idx) // cfg.batch_size)
        self.model.train()
        total, count, sharp, sharp_n = 0.0, 0, 0.0, 0
        bar = tqdm(range(nb), desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False, disable=not self.progress)
        for b in bar:
            sel = idx[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            x = self.x_train[:, sel].to(self.device, non_blocking=True)
            out = batch_loss(self.model, self.protos, x, labels[:, sel].to(self.device), cfg,
                             return_importance=cfg.hsm, precision=self.precision)
            self.opt.zero_grad(set_to_none=True)
            out.loss.backward()
            self.opt.step()
            if out.instances is not None:      # cluster memory (memory_momentum > 0; not in the paper)
                self.protos.momentum_update(out.instances, labels[:, sel].to(self.device), cfg.memory_momentum)
            total += out.loss.item() * len(sel)
            count += len(sel)
            if out.importance is not None:     # mean largest frame weight of Eq. 8 (1/F: uniform, 1: one frame)
                sharp += float(out.importance.detach().amax(-1).mean()) * len(sel)
                sharp_n += len(sel)
            bar.set_postfix(loss=f"{out.loss.item():.3f}")
        self.last_hsm_max_weight = round(sharp / sharp_n, 4) if sharp_n else None
        return total / max(count, 1), count

    # ------------------------------------------------------------------ the loop
    def fit(self, resume: bool = True) -> list[EpochLog]:
        if resume:
            self.load_checkpoint()
        elif self.ckpt_path.exists():
            self.ckpt_path.unlink()
        cfg = self.cfg
        xg = xp = None
        if cfg.eval_every and self.start_epoch == 0:        # reference point of the trace: untrained model
            xg, xp = config_inputs(self.split.gallery, cfg), config_inputs(self.split.probe, cfg)
            self.untrained_test = evaluate(self.model, self.split, cfg, self.device, xg, xp)
            log.info("untrained model, test trace MSMR %s", self.untrained_test["msmr"])
        for epoch in tqdm(range(self.start_epoch, cfg.epochs), desc="training", disable=not self.progress,
                          initial=self.start_epoch, total=cfg.epochs):
            labels, clusters, outliers, t_cluster, purity = self.recluster()
            agreement = {} if self.labels is None or self.labels.shape != labels.shape else {
                name: round(label_agreement(self.labels[lv].cpu().numpy(), labels[lv].numpy()), 4)
                for lv, name in enumerate(cfg.levels)}
            self.labels = labels
            for group in self.opt.param_groups:
                group["lr"] = learning_rate(cfg, epoch)
            t0 = time.perf_counter()
            loss, n = self.train_epoch(epoch, labels)
            rec = EpochLog(epoch, round(loss, 5), clusters, outliers, n, round(t_cluster, 2),
                           round(time.perf_counter() - t0, 2), purity, self.last_hsm_max_weight,
                           dict(self.cluster_stages), agreement)
            if cfg.eval_every and ((epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs):
                if xg is None:
                    xg, xp = config_inputs(self.split.gallery, cfg), config_inputs(self.split.probe, cfg)
                rec.test = evaluate(self.model, self.split, cfg, self.device, xg, xp)
                if cfg.selection == "oracle-test":
                    best = max((h.test["msmr"]["R1"] for h in self.history if h.test), default=-1.0)
                    if rec.test["msmr"]["R1"] > best:
                        torch.save(self.model.state_dict(), self.out_dir / "oracle_best.pt")
            self.history.append(rec)
            log.info("epoch %d: loss %.4f, clusters %s, outliers %s, train samples %d, purity %s, "
                     "HSM max weight %s, label agreement (ARI) %s, cluster %.1fs, train %.1fs%s", epoch + 1, loss, clusters,
                     outliers, n, purity, rec.hsm_max_weight, agreement or "-",
                     rec.cluster_seconds, rec.train_seconds,
                     f", test trace MSMR {rec.test['msmr']}" if rec.test else "")
            self.save_checkpoint(epoch)
            if epoch + 1 in cfg.snapshot_epochs:
                self.save_model(self.out_dir / "snapshots" / f"epoch{epoch + 1:03d}.safetensors", epoch + 1)
        return self.history

    def save_model(self, path: Path, epoch: int, metrics: Optional[dict] = None) -> Path:
        """The model and the pseudo labels of ``epoch`` as a reference file (:mod:`himpc.reference`)."""
        extra = {"split": {k: v for k, v in self.split.info.items() if k != "walk_names"},
                 "train_clips": int(self.x_train.shape[1]), "device": str(self.device),
                 "history": [h.__dict__ for h in self.history]}
        return save_reference(path, self.model, self.cfg, epoch, self.labels, self.split.train.layout.name,
                              metrics, extra, prototype_labels=self.proto_labels)


def train(cfg: Config, data_root: Optional[str], out_dir: Path, resume: bool = True,
          progress: bool = True, command: str = "") -> dict:
    """Train and evaluate one configuration on one split; writes and returns the result dict."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with run_lock(out_dir):          # two jobs given the same run folder: one trains, the other then reuses it
        if resume:
            done = finished_result(out_dir, cfg)
            if done is not None:     # said on the console only: a finished run's log stays as it was written
                log.info("%s already holds the finished run of this configuration", out_dir)
                return done
        handler = logging.FileHandler(out_dir / "run.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        logger = logging.getLogger("himpc")
        level = logger.level
        if logger.getEffectiveLevel() > logging.INFO:      # a Dask worker or a kernel: run.log still gets INFO
            logger.setLevel(logging.INFO)
        logger.addHandler(handler)
        try:
            return _train_locked(cfg, data_root, out_dir, resume, progress, command)
        finally:
            logger.removeHandler(handler)
            logger.setLevel(level)
            handler.close()


@contextlib.contextmanager
def run_lock(out_dir: Path) -> Iterator[None]:
    """An exclusive lock on ``out_dir/.lock`` (flock: held until the process ends or dies; works on
    the shared filesystems clusters use for results, NFSv4 and Lustre included)."""
    import fcntl
    with open(Path(out_dir) / ".lock", "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("%s is being trained by another job; waiting for it", out_dir)
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def finished_result(out_dir: Path, cfg: Config) -> Optional[dict]:
    """The ``result.json`` in ``out_dir`` if it was written by this configuration (same model, data,
    split and budget), else None."""
    try:
        res = json.loads((Path(out_dir) / "result.json").read_text())
    except (OSError, ValueError):
        return None
    if res.get("kind") != "train" or cfg.model_differences(res.get("config", {})) or res.get("epochs") != cfg.epochs:
        return None
    return res


def _train_locked(cfg: Config, data_root: Optional[str], out_dir: Path, resume: bool, progress: bool,
                  command: str) -> dict:
    t_start = time.perf_counter()
    log.info("config %s", json.dumps(cfg.to_dict(), sort_keys=True))
    env = environment()
    log.info("environment %s", json.dumps(env, sort_keys=True))
    split = build_split(cfg, data_root)
    log.info("split %s", json.dumps({k: v for k, v in split.info.items() if k != "walk_names"}, sort_keys=True, default=str))
    trainer = Trainer(cfg, split, out_dir, progress)
    history = trainer.fit(resume=resume)
    final = evaluate(trainer.model, split, cfg, trainer.device)
    result: dict[str, Any] = {
        "kind": "train", "command": command, "config": cfg.to_dict(), "split": split.info,
        "selection": "last epoch of a fixed budget (no probe/gallery data used)",
        "metrics": final, "epochs": cfg.epochs,
        "history": [h.__dict__ for h in history],
        "seconds_total": round(time.perf_counter() - t_start, 1),
        "seconds_per_epoch": round(float(np.mean([h.cluster_seconds + h.train_seconds for h in history])), 2)
        if history else None,
        "peak_memory_mb": peak_memory_mb(), "device": str(trainer.device), "precision": trainer.precision,
        "environment": env,
    }
    if cfg.pseudo_labels == "identity":
        result["warning"] = "SUPERVISED diagnostic: trained with the true identity labels, not unsupervised"
    if trainer.untrained_test is not None:
        result["test_trace_untrained"] = trainer.untrained_test
    if cfg.selection == "oracle-test":
        traced = [h for h in history if h.test]
        if traced:
            best = max(traced, key=lambda h: h.test["msmr"]["R1"])
            result["oracle_test_selection"] = {
                "warning": "epoch chosen on the probe/gallery (test) set, as in the paper's code: optimistic",
                "epoch": best.epoch + 1, "metrics": best.test}
    trainer.save_model(out_dir / "model.safetensors", len(history), final)
    write_json(out_dir / "result.json", result)
    return result
