"""From a config to a normalised probe / gallery / train split of clips."""

from __future__ import annotations

import logging
from typing import Optional

import numpy as np

from .config import Config
from .data import load_dataset, resolve_data_root
from .data.protocols import ClipSet, ClipSplit, by_field_split, normalize_clips, walk_split
from .data.skeletons import SkeletonSet

log = logging.getLogger("himpc.splits")


def normalise_part(cs: ClipSet, cfg: Config) -> ClipSet:
    """Centre (and optionally rotate) every frame of a part as ``cfg.normalize`` / ``cfg.root_joint`` say."""
    cs.clips = normalize_clips(cs.clips, cs.layout, cfg.normalize, cfg.root_joint)
    return cs


def load_source(cfg: Config, data_root: Optional[str]) -> SkeletonSet | ClipSplit:
    """``cfg.dataset`` as stored: walks (a SkeletonSet) or the authors' pre-split clips."""
    root = None if cfg.dataset.startswith("npz:") else resolve_data_root(data_root)
    return load_dataset(cfg.dataset, root, seq_len=cfg.seq_len)


def _first_persons(ss: SkeletonSet, n: int) -> SkeletonSet:
    keep = set(sorted(np.unique(ss.person))[:n])
    return ss.subset(np.array([w for w in range(ss.num_walks) if ss.person[w] in keep]))


def build_split(cfg: Config, data_root: Optional[str]) -> ClipSplit:
    """Load ``cfg.dataset``, apply ``cfg.protocol`` with ``cfg.split_seed`` and centre every frame."""
    data = load_source(cfg, data_root)
    if isinstance(data, ClipSplit):                   # authors' preprocessed files come pre-split
        split = data
    else:
        if cfg.max_persons:
            data = _first_persons(data, cfg.max_persons)
        if cfg.protocol == "walk-split":
            split = walk_split(data, seed=cfg.split_seed, seq_len=cfg.seq_len, trim=cfg.trim,
                               n_probe=cfg.n_probe_walks, n_gallery=cfg.n_gallery_walks)
        elif cfg.protocol == "by-field":
            split = by_field_split(data, cfg.by_field, cfg.probe_values, cfg.gallery_values,
                                   cfg.train_values, seq_len=cfg.seq_len, trim=cfg.trim)
        else:
            raise ValueError(f"protocol {cfg.protocol!r} does not apply to {cfg.dataset!r}")
    if cfg.max_train_clips and len(split.train) > cfg.max_train_clips:
        rng = np.random.default_rng(cfg.split_seed)
        keep = np.sort(rng.choice(len(split.train), cfg.max_train_clips, replace=False))
        t = split.train
        split.train = ClipSet(t.clips[keep], t.person[keep], t.walk[keep], t.start[keep], t.layout)
        split.info["train_clips_subsampled_to"] = cfg.max_train_clips
    for part in (split.train, split.gallery, split.probe):
        normalise_part(part, cfg)
    split.info["normalize"] = cfg.normalize
    split.info["root_joint"] = split.train.layout.root_name(cfg.root_joint)
    return split
