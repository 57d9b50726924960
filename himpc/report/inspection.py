"""Look inside a trained model (:func:`himpc.trained.load_run`): prototypes, heads, HSM importances,
neighbourhoods, DBSCAN sweeps, t-SNE, and the ipywidgets inspector of the live notebook.  Each function
computes what a notebook shows with the package's own code (:func:`himpc.objective.batch_loss`,
:meth:`himpc.model.HiMPCModel.transform` ...)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from ..engine import config_inputs, encode
from ..hierarchy import LEVEL_NAMES
from ..model import HiMPCModel
from ..objective import batch_loss
from ..trained import LoadedRun, RunError, load_run, train_features   # noqa: F401  (the pages' entry points)
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
    x = config_inputs(clips, run.cfg)[:, torch.as_tensor(idx)]
    feats = encode(run.model, x, next(run.model.parameters()).device, "meta")
    reps = {"raw skeletons": clips.clips[idx].reshape(len(idx), -1)}
    for lv, name in enumerate(run.levels):
        reps[f"{LEVEL_NAMES[name]} level"] = feats[lv].numpy()
    reps["MSMR (Eq. 10)"] = HiMPCModel.msmr(feats).numpy()
    perp = float(min(perplexity, max(2.0, (len(idx) - 1) / 3)))
    # torch and scikit-learn each load their own libgomp; with both thread pools live, t-SNE's OpenMP
    # threads wait on torch's spinning ones (150 points: 40 s instead of 0.6 s).  One thread is plenty.
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1):
        out = {k: TSNE(n_components=2, perplexity=perp, init="pca", random_state=seed).fit_transform(
            v.astype(np.float64)) for k, v in reps.items()}
    return out, clips.person[idx]


def jaccard_by_identity(run: LoadedRun, feats: torch.Tensor, level: int = 0,
                        max_distance: float = 1.0) -> dict[str, np.ndarray]:
    """Sparse k-reciprocal Jaccard distances (Alg. 1) of one level's training features, split into
    pairs of the same person and of different persons (true identities: analysis only)."""
    from ..clustering import jaccard_graph
    cfg = run.cfg
    g = jaccard_graph(feats[level], k1=cfg.k1, k2=cfg.k2, normalize=cfg.jaccard_normalize,
                      max_distance=max_distance, rank_width=cfg.k1 if cfg.knn_list_k1 else None).tocoo()
    upper = g.row < g.col
    r, c, d = g.row[upper], g.col[upper], g.data[upper]
    truth = run.split.train.person
    same = truth[r] == truth[c]
    return {"same person": d[same], "different persons": d[~same]}


def dbscan_sweep(run: LoadedRun, feats: torch.Tensor, eps_grid: Sequence[float],
                 min_samples_grid: Sequence[int]) -> dict[str, dict[str, np.ndarray]]:
    """Clusters and purity [len(min_samples_grid), len(eps_grid)] per level: one Jaccard graph per
    level (up to the largest eps), then DBSCAN for every (eps, min_samples)."""
    from ..clustering import dbscan_labels, jaccard_graph
    from ..engine import cluster_purity
    cfg = run.cfg
    truth = run.split.train.person
    out = {}
    for lv, name in enumerate(run.levels):
        g = jaccard_graph(feats[lv], k1=cfg.k1, k2=cfg.k2, normalize=cfg.jaccard_normalize,
                          max_distance=max(eps_grid), rank_width=cfg.k1 if cfg.knn_list_k1 else None)
        n = np.zeros((len(min_samples_grid), len(eps_grid)))
        pur = np.zeros_like(n)
        for i, ms in enumerate(min_samples_grid):
            for j, eps in enumerate(eps_grid):
                lab = dbscan_labels(g, eps, ms)
                n[i, j] = len(set(lab[lab >= 0].tolist()))
                pur[i, j] = cluster_purity(lab, truth)
        out[name] = {"clusters": n, "purity": pur}
    return out


def neighbour_agreement(points: dict[str, np.ndarray], who: np.ndarray) -> dict[str, float]:
    """Per representation: the share of points whose nearest other point is the same person."""
    from scipy.spatial import cKDTree
    out = {}
    for name, p in points.items():
        _, nn = cKDTree(p).query(p, k=2)
        out[name] = float((who[nn[:, 1]] == who).mean())
    return out


def agreement_table(agreements: dict[str, dict[str, float]], caption: str = ""):
    """:func:`neighbour_agreement` of several models (``{model: {representation: share}}``) as a
    :class:`himpc.report.Table`: one row per representation, one column per model."""
    from .table import Table
    names = list(dict.fromkeys(k for a in agreements.values() for k in a))
    body = [[n, *(f"{a[n]:.0%}" if n in a else "—" for a in agreements.values())] for n in names]
    return Table(["representation", *agreements], body, caption=caption)


class HSMInspector:
    """The live HSM inspector of the book (ipywidgets): person, clip, level, head and training epoch.

    ``snapshots``: reference files of the run at several epochs (the epoch slider's stops).  The
    importance shown is :func:`hsm_importance` of the chosen clip under the chosen snapshot.
    """

    def __init__(self, run: LoadedRun, snapshots: Sequence[str | Path] = (), data_root: Optional[str] = None):
        from ..reference import read_header
        import ipywidgets as W
        self.run, self.data_root = run, data_root
        self.by_epoch: dict[int, Path] = {read_header(p)["epoch"]: Path(p) for p in snapshots
                                          if str(p).endswith(".safetensors")}
        self._runs: dict[int, LoadedRun] = {run.epoch: run}
        persons = sorted(set(run.split.train.person.tolist()))
        epochs = sorted(set(self.by_epoch) | {run.epoch})
        self.person = W.Dropdown(options=persons, description="person")
        self.clip = W.IntSlider(0, 0, max(len(clips_of_person(run, persons[0])) - 1, 0), description="clip")
        self.level = W.Dropdown(options=[(LEVEL_NAMES[k], i) for i, k in enumerate(run.levels)], description="level")
        self.head = W.Dropdown(options=[("mean", -1)] + [(f"head {m + 1}", m) for m in range(run.model.num_heads)],
                               description="head")
        self.epoch = W.SelectionSlider(options=epochs, value=run.epoch, description="epoch")
        self.out = W.Output()
        for w in (self.person, self.clip, self.level, self.head, self.epoch):
            w.observe(self.show, "value")

    def run_at(self, epoch: int) -> LoadedRun:
        if epoch not in self._runs:
            self._runs[epoch] = load_run(self.by_epoch[epoch], self.data_root, split=self.run.split)
        return self._runs[epoch]

    def select(self, clip: int) -> None:
        """Show training clip ``clip`` (sets the person and clip widgets)."""
        person = str(self.run.split.train.person[clip])
        self.person.value = person
        self.clip.max = max(len(clips_of_person(self.run, person)) - 1, 0)
        self.clip.value = int(np.flatnonzero(clips_of_person(self.run, person) == clip)[0])

    def clip_index(self) -> int:
        clips = clips_of_person(self.run, self.person.value)
        self.clip.max = max(len(clips) - 1, 0)
        return int(clips[min(self.clip.value, len(clips) - 1)])

    def importance(self) -> np.ndarray:
        """The importance row [F] on show (NaN: the clip is an outlier at that level)."""
        d = hsm_importance(self.run_at(self.epoch.value), [self.clip_index()])[self.level.value, :, 0]
        if self.head.value >= 0:
            return d[self.head.value]
        return d.mean(0)

    def show(self, *_) -> None:
        from IPython.display import HTML, display
        from .viz import html_table
        row = self.importance()
        self.out.clear_output(wait=True)
        with self.out:
            caption = f"{self.run.clip_label(self.clip_index())}, epoch {self.epoch.value}"
            if np.isnan(row).all():      # no pseudo label at this level: HSM does not weigh this clip
                display(HTML(f"<p><b>{caption}</b>: an outlier of DBSCAN at this level, so it has no "
                             "pseudo label and no frame weights (Eq. 7-8 need its prototype).</p>"))
                return
            display(HTML(html_table(["frame"] + [f"f{j + 1}" for j in range(len(row))],
                                    [["delta"] + [f"{v:.3f}" for v in row]], caption=caption)))

    def widget(self):
        import ipywidgets as W
        self.show()
        return W.VBox([W.HBox([self.person, self.clip, self.level]), W.HBox([self.head, self.epoch]), self.out])
