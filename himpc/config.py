"""One typed configuration object for data, model, clustering, training and evaluation.

Defaults are the paper's (Sec. 4.2): h = 256, M = 8, F = 6, Adam lr 3.5e-4, batch 256,
k1 = 20, k2 = 6, and per-dataset DBSCAN eps / min_samples (:data:`DATASET_DBSCAN`).
Where the paper and the authors' code disagree, or the paper is silent, the choice is a
named switch documented here; :data:`PRESETS` holds the method ablations (Table 6) and
the ``official-code`` bundle of switches.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import typing
from dataclasses import dataclass, field, fields
from typing import Any, Literal, Optional, Sequence

# DBSCAN (eps, min_samples) per dataset / probe set, paper Sec. 4.2.
DATASET_DBSCAN: dict[str, tuple[float, int]] = {
    "KGBD": (0.6, 4), "BIWI-Still": (0.6, 2), "BIWI-Walking": (0.8, 2), "KS20": (0.8, 2),
    "IAS-A": (0.8, 2), "IAS-B": (0.8, 2), "CASIA-B": (0.75, 2),
}


@functools.lru_cache(maxsize=None)
def _literal_fields() -> dict[str, tuple]:
    """``{field: allowed values}`` of the Config fields typed ``Literal[...]``."""
    hints = typing.get_type_hints(Config)
    return {f.name: typing.get_args(hints[f.name]) for f in fields(Config)
            if typing.get_origin(hints[f.name]) is typing.Literal}


@dataclass
class Config:
    """Everything a run depends on.  Logged with every run and stored in every result file."""

    # --- data and protocol -------------------------------------------------------------
    dataset: str = "KGBD"                 # KGBD | npz:<path> | authors:<NAME>[:<probe>]
    protocol: str = "walk-split"          # walk-split | by-field | authors
    split_seed: int = 0                   # selects the random probe/gallery/train walks
    seq_len: int = 6                      # F, frames per clip
    trim: int = 10                        # frames dropped at each end of every walk
    n_probe_walks: int = 1
    n_gallery_walks: int = 2
    by_field: str = "view"                # by-field protocol: which per-walk field
    probe_values: tuple[str, ...] = ()
    gallery_values: tuple[str, ...] = ()
    train_values: tuple[str, ...] = ()    # empty: every value not used by probe/gallery
    normalize: Literal["root", "root-facing", "none"] = "root"   # see data.protocols.normalize_clips
    root_joint: Optional[str] = None      # None: the layout's root (hip centre for Kinect); a joint name;
                                          # or joint0: joint 0 of the stored order, as the authors' code
                                          # (KGBD: the head; see layouts.LAYOUTS)

    # --- model (Sec. 3.2-3.4) ----------------------------------------------------------
    levels: str = "JCL"                   # any ordered subset of J (joint), C (component), L (limb)
    motion_scale: float = 0.0             # >0: every frame's input also holds its displacement from the
                                          # previous frame times this (himpc.hierarchy.with_motion; not in
                                          # the paper); 10 puts it on the positions' scale on KGBD (RMS of
                                          # positions / frame-to-frame displacements: 9.6, split 0's training clips)
    hidden: int = 256                     # h = h1 = h2, encoder width and head width
    heads: int = 8                        # M meta-transformation heads
    meta_heads: bool = True               # False: direct prototype contrast (DPC), no heads
    hsm: bool = True                      # hard skeleton mining (Eq. 6-9)
    head_init: Literal["normal", "orthogonal"] = "normal"   # authors: N(0, 1) entries
    tau: Optional[float] = None           # temperature; None means sqrt(h) (Eq. 5)

    # --- switches where paper and authors' code differ ---------------------------------
    joint_loss_divide_by_m: bool = True   # paper: every level averaged over heads; code: joint level summed
    hsm_grad: bool = False                # gradient through the HSM weights delta (code: True)
    hsm_scale_by_tau: bool = False        # Eq. 7-8 use raw dot products; code divides them by tau
    jaccard_normalize: bool = True        # L2-normalise features before k-reciprocal Jaccard (code: False)
    inlier_all_levels: bool = False       # keep a sample only if it is an inlier at every level (code: True)
    knn_list_k1: bool = False             # k-reciprocal lists of k1 entries, self included (cluster-contrast
                                          # code, used by the authors) instead of k1 + 1 (Zhong et al. 2017)
    level_feature: Literal["meta", "encoder"] = "meta"  # per-level eval feature: V^l (Eq. 10) or v^l

    # --- clustering (Alg. 1) -----------------------------------------------------------
    pseudo_labels: Literal["dbscan", "walk", "walk-merge", "identity"] = "dbscan"
    # walk: one pseudo class per training walk (tracklet ids are known without identity labels;
    # not in the paper). walk-merge: walks, then mutual nearest walks merged at every re-clustering
    # (himpc.walk_labels; hi-mpc+ and hi-mpc++). identity: the TRUE person labels -- a supervised upper-bound diagnostic,
    # never an unsupervised result (result.json says so).
    walk_merge_on: Literal["level", "fused"] = "level"   # walk-merge: mutual nearest walks per level, or
                                          # once on the levels' walk features concatenated (all levels alike)
    eps: Optional[float] = None           # None: the dataset's value in DATASET_DBSCAN
    min_samples: Optional[int] = None
    k1: int = 20
    k2: int = 6
    knn_backend: Literal["exact", "faiss-flat", "faiss-hnsw", "faiss-ivf"] = "exact"   # himpc.knn_backends
    knn_ef_search: int = 64               # faiss-hnsw: efSearch (candidates explored per query)
    knn_nprobe: int = 16                  # faiss-ivf: inverted lists searched per query

    # --- optimisation ------------------------------------------------------------------
    lr: float = 3.5e-4
    lr_schedule: Literal["constant", "cosine"] = "constant"   # cosine: lr * (1 + cos(pi e / epochs)) / 2 at
                                          # epoch e (0-based) of the fixed budget (not in the paper: constant)
    batch_size: int = 256
    epochs: int = 30                      # fixed budget: model selection never sees probe/gallery
    drop_last: bool = False               # authors drop the tail batch; we keep every sample
    shuffle: Literal["epoch", "once"] = "epoch"   # reshuffle every epoch; once: one seeded order kept
                                          # for every epoch (the authors' code)
    prototypes_before_intersection: bool = False  # with inlier_all_levels: prototypes from each level's
                                          # own inliers (the code), not only the all-level inliers
    memory_momentum: float = 0.0          # >0: after every batch, p_c <- m p_c + (1 - m) (batch mean of
                                          # cluster c), a cluster memory as in Cluster Contrast (m = 0.2
                                          # there); 0: Eq. 2 only, recomputed once per epoch (the paper)
    seed: int = 0                         # torch / numpy seed for initialisation and shuffling
    selection: Literal["last", "train-loss", "oracle-test"] = "last"
    eval_every: int = 0                   # >0: record probe/gallery metrics every n epochs (trace only)
    snapshot_epochs: tuple[int, ...] = () # epochs whose model is kept as snapshots/epochNNN.safetensors

    # --- execution ---------------------------------------------------------------------
    device: str = "auto"                  # auto | cpu | cuda
    precision: Literal["fp32", "bf16"] = "bf16"   # bf16: mixed precision where the device has native bf16
                                          # (else fp32 with a logged warning; see himpc.precision);
                                          # the default since KGBD split 0 trained to the same numbers
                                          # (docs/compute.md); fp32: every product in fp32
    threads: int = 0                      # torch intra-op threads (0: leave default)
    max_train_clips: int = 0              # >0: subsample the training clips (smoke runs)
    max_persons: int = 0                  # >0: keep only the first n persons (smoke runs)

    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        self.validate()

    # ---------------------------------------------------------------------------------
    def validate(self) -> None:
        if not self.levels or any(c not in "JCL" for c in self.levels) or len(set(self.levels)) != len(self.levels):
            raise ValueError(f"levels must be a subset of 'JCL' without repeats, got {self.levels!r}")
        if self.heads < 1:
            raise ValueError("heads (M) must be >= 1")
        if self.hidden < 1 or self.seq_len < 1 or self.batch_size < 1:
            raise ValueError("hidden, seq_len and batch_size must be positive")
        if self.hsm and self.seq_len < 2:
            raise ValueError("hard skeleton mining needs seq_len >= 2")
        for name, choices in _literal_fields().items():      # every Literal field: one of its values
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {' | '.join(map(str, choices))}, got {getattr(self, name)!r}")
        if self.motion_scale < 0:
            raise ValueError(f"motion_scale must be >= 0 (0: positions only), got {self.motion_scale!r}")
        if not 0.0 <= self.memory_momentum < 1.0:
            raise ValueError(f"memory_momentum must be in [0, 1), got {self.memory_momentum!r}")
        if self.knn_ef_search < 1 or self.knn_nprobe < 1:
            raise ValueError("knn_ef_search and knn_nprobe must be >= 1")
        self.probe_values = tuple(self.probe_values)
        self.gallery_values = tuple(self.gallery_values)
        self.train_values = tuple(self.train_values)
        self.snapshot_epochs = tuple(int(e) for e in self.snapshot_epochs)

    @property
    def dataset_key(self) -> str:
        """Key into DATASET_DBSCAN (``authors:IAS:A`` -> ``IAS-A``)."""
        name = self.dataset.split(":")
        if name[0] == "authors" and len(name) >= 2:
            key = name[1].replace("_", "-")
            if len(name) >= 3 and f"{key}-{name[2]}" in DATASET_DBSCAN:
                return f"{key}-{name[2]}"
            return key
        return name[0]

    @property
    def dbscan_eps(self) -> float:
        return self.eps if self.eps is not None else DATASET_DBSCAN.get(self.dataset_key, (0.6, 4))[0]

    @property
    def dbscan_min_samples(self) -> int:
        return self.min_samples if self.min_samples is not None else DATASET_DBSCAN.get(self.dataset_key, (0.6, 4))[1]

    @property
    def temperature(self) -> float:
        return self.tau if self.tau is not None else float(self.hidden) ** 0.5

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["resolved"] = {"eps": self.dbscan_eps, "min_samples": self.dbscan_min_samples, "tau": self.temperature}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names - {"resolved"}
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        kw = {k: v for k, v in d.items() if k in names}
        for k in ("probe_values", "gallery_values", "train_values", "snapshot_epochs"):
            if k in kw:
                kw[k] = tuple(kw[k])
        return cls(**kw)

    def replace(self, **kw: Any) -> "Config":
        return dataclasses.replace(self, **kw)

    NON_MODEL_FIELDS = ("epochs", "device", "threads", "meta", "eval_every", "selection", "snapshot_epochs",
                        "precision")

    def model_differences(self, stored: dict) -> list[str]:
        """Fields (that change the model or its data) where ``stored`` differs from this config.

        A field missing from ``stored`` (written before the field existed) counts as its default,
        since every new switch defaults to the earlier behaviour.
        """
        defaults = {f.name: f.default for f in fields(self) if f.default is not dataclasses.MISSING}
        current = dataclasses.asdict(self)
        diff = []
        for k, v in current.items():
            if k in self.NON_MODEL_FIELDS:
                continue
            old = stored.get(k, defaults.get(k))
            if isinstance(v, tuple):
                old = tuple(old) if old is not None else old
            if old != v:
                diff.append(k)
        return sorted(diff)

    def model_hash(self) -> str:
        """Hash of every field that changes the model or its training data (not epochs / device)."""
        d = {k: v for k, v in dataclasses.asdict(self).items() if k not in self.NON_MODEL_FIELDS}
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


# Where the authors' released code (github.com/Kali-Hac/Hi-MPC) departs from the paper's text, or
# decides what the paper leaves open: switch -> (our default, the code's value, where the code does it).
OFFICIAL_CODE_SWITCHES: dict[str, tuple[Any, Any, str]] = {
    "root_joint": (None, "joint0", "utils/process.py L26-28: every frame minus its joint 0 of the stored "
                   "order (KGBD: the head; ours: the layout's root, the hip centre)"),
    "head_init": ("normal", "normal", "Hi-MPC.py L296: W_head = tf.random_normal([H, H]) (paper silent)"),
    "joint_loss_divide_by_m": (True, False, "Hi-MPC.py L447-448, L459: loss_P, loss_B divided by M, loss_J not"),
    "hsm_grad": (False, True, "Hi-MPC.py L353, L364-381: importance from the logits, no stop_gradient"),
    "hsm_scale_by_tau": (False, True, "Hi-MPC.py L327, L353: importance gathered from logits / sqrt(H)"),
    "jaccard_normalize": (True, False, "Hi-MPC.py L933: compute_jaccard_distance on raw features"),
    "inlier_all_levels": (False, True, "Hi-MPC.py L955-967: keep samples that are inliers at every level"),
    "prototypes_before_intersection": (False, True,
                                       "Hi-MPC.py L943-953: cluster features from each level's own labels, "
                                       "before the intersection of L955"),
    "knn_list_k1": (False, True, "utils/faiss_rerank.py L43-62, L24-25: k1 neighbours searched, self included"),
    "drop_last": (False, True, "Hi-MPC.py L993-994: the last partial batch is skipped (break)"),
    "shuffle": ("epoch", "once", "utils/process.py L158-161: one permutation at load; Hi-MPC.py L993-1003: "
                "batches sliced in that order every epoch"),
    "level_feature": ("meta", "encoder", "Hi-MPC.py L568-580, L635-646: per-level numbers from seq_ftr "
                      "(encoder v^l); MSMR from seq_ftr_int (L461)"),
}

# Method ablations of Table 6 / Table 7 as config overrides (not forks).
PRESETS: dict[str, dict[str, Any]] = {
    "hi-mpch": dict(levels="JCL", meta_heads=True, hsm=True),
    "hi-mpc": dict(levels="JCL", meta_heads=True, hsm=False),
    "mpc-hsm": dict(levels="J", meta_heads=True, hsm=True),
    "mpc": dict(levels="J", meta_heads=True, hsm=False),
    "dpc": dict(levels="J", meta_heads=False, hsm=False),
    "hi-dpc": dict(levels="JCL", meta_heads=False, hsm=False),
    # Beyond the paper (issue 24): Hi-MPCh trained on walk-aware pseudo labels (clips of a walk
    # together, mutual nearest walks merged; no identity label), read at test time from the fused
    # levels (metrics "fused": each level's V^l L2-normalised, then concatenated).
    "hi-mpc+": dict(levels="JCL", meta_heads=True, hsm=True, pseudo_labels="walk-merge"),
    # The combined method (issue 24, second round): hi-mpc+ with the one lever that helped on every
    # split, a momentum cluster memory (prototypes moved after every batch, as Cluster Contrast does).
    "hi-mpc++": dict(levels="JCL", meta_heads=True, hsm=True, pseudo_labels="walk-merge", memory_momentum=0.2),
    # The authors' released code, where it departs from the paper's text.
    # Every switch, its paper value and its code value (with file and line) is in OFFICIAL_CODE_SWITCHES.
    "official-code": {k: v[1] for k, v in OFFICIAL_CODE_SWITCHES.items()},
}


def preset_of(cfg: Config, ignore: Sequence[str] = ("split_seed", "dataset", "seed")) -> Optional[str]:
    """The name of the preset whose model ``cfg`` is (every model field equal but ``ignore``), else None."""
    for name in PRESETS:
        if name != "official-code" and set(make_config(name).model_differences(cfg.to_dict())) <= set(ignore):
            return name
    return None


def make_config(preset: Optional[str] = None, **overrides: Any) -> Config:
    """A :class:`Config` from comma-separated presets (``"hi-mpch,official-code"``) plus overrides."""
    kw: dict[str, Any] = {}
    for p in (preset or "").split(","):
        p = p.strip()
        if not p:
            continue
        if p not in PRESETS:
            raise ValueError(f"unknown preset {p!r}; presets: {', '.join(PRESETS)}")
        kw.update(PRESETS[p])
    kw.update({k: v for k, v in overrides.items() if v is not None})
    return Config(**kw)
