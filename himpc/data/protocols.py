"""Clips and evaluation protocols: walks -> fixed-length clips -> train / gallery / probe.

A clip is ``seq_len`` consecutive frames of one walk.  :func:`make_clips` drops ``trim``
frames at each end of every walk and cuts the rest into non-overlapping clips (the
remainder is dropped), as in the authors' preprocessing.  :func:`walk_split` is the random
per-person walk protocol used for KGBD; :func:`by_field_split` assigns walks by a per-walk
field (view or condition) for cross-view / cross-condition protocols.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from ..layouts import Layout
from .skeletons import DataError, SkeletonSet

log = logging.getLogger("himpc.data")


@dataclass
class ClipSet:
    """``clips`` float32 [N, F, J, 3] (2 for 2D keypoints); per clip its ``person`` (str), source ``walk`` index
    (into the SkeletonSet, -1 if unknown) and ``start`` frame within the walk (-1 if unknown)."""

    clips: np.ndarray
    person: np.ndarray
    walk: np.ndarray
    start: np.ndarray
    layout: Layout

    def __post_init__(self) -> None:
        self.clips = np.asarray(self.clips, dtype=np.float32)
        self.person = np.asarray(self.person).astype(str)
        self.walk = np.asarray(self.walk, dtype=np.int64)
        self.start = np.asarray(self.start, dtype=np.int64)
        n = len(self.clips)
        if self.clips.ndim != 4 or self.clips.shape[-1] not in (2, 3):
            raise DataError(f"clips must be [N, F, J, 3] (or 2 for 2D keypoints), got shape {self.clips.shape}")
        if self.clips.shape[2] != self.layout.num_joints:
            raise DataError(f"clips have {self.clips.shape[2]} joints, layout {self.layout.name!r} "
                            f"has {self.layout.num_joints}")
        if not len(self.person) == len(self.walk) == len(self.start) == n:
            raise DataError("clips, person, walk and start must have the same length")

    def __len__(self) -> int:
        return len(self.clips)

    @property
    def seq_len(self) -> int:
        return int(self.clips.shape[1])

    def labels(self, classes: Optional[np.ndarray] = None) -> np.ndarray:
        """Integer person ids: indices into ``classes`` (default: this set's sorted persons).

        Pass the same ``classes`` to compare ids across sets (ids of different sets built
        with the default are not comparable).
        """
        if classes is None:
            return np.unique(self.person, return_inverse=True)[1].astype(np.int64)
        classes = np.asarray(classes).astype(str)
        order = np.argsort(classes)
        pos = np.searchsorted(classes[order], self.person)
        pos = np.clip(pos, 0, len(classes) - 1)
        ids = order[pos]
        if len(self.person) and not np.all(classes[ids] == self.person):
            raise ValueError("some persons are not in classes")
        return ids.astype(np.int64)


@dataclass
class ClipSplit:
    """Unlabelled ``train`` clips plus labelled ``gallery`` and ``probe`` clips, and how they were made."""

    train: ClipSet
    gallery: ClipSet
    probe: ClipSet
    info: dict = field(default_factory=dict)


def make_clips(ss: SkeletonSet, walks: Sequence[int], seq_len: int, trim: int) -> ClipSet:
    """Cut each walk (minus ``trim`` frames at each end) into non-overlapping ``seq_len``-frame clips."""
    if seq_len < 1 or trim < 0:
        raise ValueError("seq_len must be >= 1 and trim >= 0")
    walks = np.asarray(walks, dtype=np.int64).reshape(-1)
    usable = np.maximum(ss.walk_lengths[walks] - 2 * trim, 0)
    n = usable // seq_len                                   # clips per walk
    wrep = np.repeat(walks, n)
    k = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)   # clip index within its walk
    start = trim + k * seq_len
    idx = (ss.walk_offsets[wrep] + start)[:, None] + np.arange(seq_len)
    clips = ss.positions[idx] if len(idx) else np.zeros((0, seq_len, ss.layout.num_joints, ss.dims), np.float32)
    return ClipSet(clips=clips, person=ss.person[wrep], walk=wrep, start=start, layout=ss.layout)


def _part_info(ss: SkeletonSet, parts: dict[str, np.ndarray], clipsets: dict[str, ClipSet]) -> dict:
    info: dict = {"walks": {}, "clips": {}, "persons": {}, "walk_names": {}}
    for name, w in parts.items():
        info["walks"][name] = int(len(w))
        info["clips"][name] = int(len(clipsets[name]))
        info["persons"][name] = int(len(np.unique(ss.person[w])))
        info["walk_names"][name] = [str(x) for x in ss.walk_names[w]]
    digest = hashlib.sha1("|".join(f"{k}:{','.join(v)}" for k, v in sorted(info["walk_names"].items()))
                          .encode()).hexdigest()
    info["assignment_sha1"] = digest[:16]
    return info


def _natural(name: str) -> list:
    """Sort key treating digit runs as numbers (``p/2`` before ``p/10``)."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", name) if t]


def walk_split(ss: SkeletonSet, seed: int, seq_len: int = 6, trim: int = 10, n_probe: int = 1,
               n_gallery: int = 2, strict: bool = False) -> ClipSplit:
    """Per person (sorted), draw ``n_probe`` probe walks, ``n_gallery`` gallery walks, rest training.

    A person with fewer than ``n_probe + n_gallery + 1`` walks gets ``max(1, walks - n_probe - 1)``
    gallery walks (one training walk is kept); one with fewer than ``n_probe + 2`` walks is
    dropped with a warning (``strict``: :class:`DataError`).
    """
    if n_probe < 1 or n_gallery < 1:
        raise ValueError("n_probe and n_gallery must be >= 1")
    rng = np.random.default_rng(seed)
    parts: dict[str, list] = {"train": [], "gallery": [], "probe": []}
    dropped = []
    for p in np.unique(ss.person):                          # sorted: independent of input order
        w = np.array(sorted(np.flatnonzero(ss.person == p), key=lambda i: _natural(ss.walk_names[i])))
        if len(w) < n_probe + 2:
            msg = f"person {p} has {len(w)} walks, fewer than the {n_probe + 2} needed; dropped"
            if strict:
                raise DataError(msg)
            log.warning(msg)
            dropped.append(str(p))
            continue
        n_gal = n_gallery if len(w) >= n_probe + n_gallery + 1 else max(1, len(w) - n_probe - 1)
        w = rng.permutation(w)
        parts["probe"].append(w[:n_probe])
        parts["gallery"].append(w[n_probe:n_probe + n_gal])
        parts["train"].append(w[n_probe + n_gal:])
    if not parts["probe"]:
        raise DataError("walk_split: no person has enough walks")
    arrays = {k: np.sort(np.concatenate(v)) for k, v in parts.items()}
    clipsets = {k: make_clips(ss, w, seq_len, trim) for k, w in arrays.items()}
    info = {"protocol": "walk-split", "seed": int(seed), "seq_len": seq_len, "trim": trim,
            "n_probe": n_probe, "n_gallery": n_gallery, "source": ss.source, "persons_dropped": dropped}
    info.update(_part_info(ss, arrays, clipsets))
    return ClipSplit(train=clipsets["train"], gallery=clipsets["gallery"], probe=clipsets["probe"], info=info)


def by_field_split(ss: SkeletonSet, field: str, probe_values: Sequence[str], gallery_values: Sequence[str],
                   train_values: Sequence[str] = (), seq_len: int = 6, trim: int = 10) -> ClipSplit:
    """Assign walks by ``field`` ("view" or "condition"): probe / gallery / train values.

    Empty ``train_values`` means every value used by neither probe nor gallery.
    """
    values = getattr(ss, field, None) if field in ("view", "condition") else None
    if values is None:
        raise DataError(f"by_field_split: the dataset has no per-walk {field!r} field "
                        "(known fields: view, condition)")
    probe_values, gallery_values, train_values = ([str(v) for v in x]
                                                  for x in (probe_values, gallery_values, train_values))
    if not probe_values or not gallery_values:
        raise DataError("by_field_split: give at least one probe value and one gallery value")
    overlap = set(probe_values) & set(gallery_values)
    if overlap:
        raise DataError(f"by_field_split: values {sorted(overlap)} are both probe and gallery")
    present = set(values.tolist())
    for kind, vals in (("probe", probe_values), ("gallery", gallery_values), ("train", train_values)):
        missing = [v for v in vals if v not in present]
        if missing:
            raise DataError(f"by_field_split: {kind} {field} value(s) {missing} match no walk; "
                            f"values present: {sorted(present)}")
    used = set(probe_values) | set(gallery_values)
    train_mask = np.isin(values, train_values) if train_values else ~np.isin(values, list(used))
    arrays = {"probe": np.flatnonzero(np.isin(values, probe_values)),
              "gallery": np.flatnonzero(np.isin(values, gallery_values)),
              "train": np.flatnonzero(train_mask & ~np.isin(values, list(used)))}
    clipsets = {k: make_clips(ss, w, seq_len, trim) for k, w in arrays.items()}
    info = {"protocol": "by-field", "field": field, "probe_values": probe_values,
            "gallery_values": gallery_values, "train_values": train_values or sorted(present - used),
            "seq_len": seq_len, "trim": trim, "source": ss.source}
    info.update(_part_info(ss, arrays, clipsets))
    return ClipSplit(train=clipsets["train"], gallery=clipsets["gallery"], probe=clipsets["probe"], info=info)


_HIP_PAIRS = (("HipLeft", "HipRight"), ("LHip", "RHip"))


def facing_angles(clips: np.ndarray, layout: Layout) -> np.ndarray:
    """Per-clip heading [N]: angle of the mean left-to-right hip vector in the horizontal (x, z) plane."""
    for left, right in _HIP_PAIRS:
        if left in layout.joints and right in layout.joints:
            d = (clips[..., layout.index(right), :] - clips[..., layout.index(left), :]).mean(axis=-2)
            return np.arctan2(d[..., 2], d[..., 0])
    raise DataError(f"layout {layout.name!r} has no left/right hip joints to estimate the facing direction")


def normalize_clips(clips: np.ndarray, layout: Layout, mode: str = "root", root: Optional[str] = None) -> np.ndarray:
    """A new array with each frame centred on its root joint.

    ``mode``: ``root`` centres every frame on the root joint (``root`` names it; default
    ``layout.root``, the hip centre for Kinect layouts; ``joint0`` is joint 0 of the stored order,
    which the authors' code uses: the head for KGBD);
    ``root-facing`` also rotates each clip about the vertical (y) axis so that its mean hip
    axis points along +x (removes the walking direction relative to the camera; not in the
    paper); ``none`` returns a copy.
    """
    clips = np.asarray(clips)
    if mode == "none":
        return clips.copy()
    if mode not in ("root", "root-facing"):
        raise ValueError(f"unknown normalize mode {mode!r} (root | root-facing | none)")
    if clips.shape[-2] != layout.num_joints:
        raise DataError(f"clips have {clips.shape[-2]} joints, layout {layout.name!r} has {layout.num_joints}")
    r = list(layout.root_indices(root))
    out = clips - clips[..., r, :].mean(axis=-2, keepdims=True)
    if mode == "root-facing":
        if clips.shape[-1] != 3:
            raise DataError("normalize=root-facing rotates about the vertical axis and needs 3D skeletons; "
                            f"these have {clips.shape[-1]} coordinates (use normalize=root)")
        a = facing_angles(out, layout)[..., None, None]              # [N, 1, 1]
        c, s = np.cos(a), np.sin(a)
        x, z = out[..., 0].copy(), out[..., 2].copy()
        out[..., 0] = c * x + s * z                                   # rotate by -angle about y
        out[..., 2] = -s * x + c * z
    return out.astype(clips.dtype, copy=False)
