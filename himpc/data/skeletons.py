"""The in-memory skeleton dataset: every walk of every person, frames concatenated."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..layouts import Layout


class DataError(ValueError):
    """Malformed or unusable skeleton data; the message names the file (and line) where it can."""


@dataclass
class SkeletonSet:
    """All walks of a dataset.

    ``positions`` float32 [total_frames, J, 3]; walk ``w`` is
    ``positions[walk_offsets[w]:walk_offsets[w + 1]]``; ``person[w]`` its identity
    (string); ``view`` / ``condition`` optional per-walk strings; ``walk_names`` a
    readable name per walk (e.g. ``Person001/1``).
    """

    positions: np.ndarray
    walk_offsets: np.ndarray
    person: np.ndarray
    layout: Layout
    walk_names: np.ndarray
    view: Optional[np.ndarray] = None
    condition: Optional[np.ndarray] = None
    source: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.positions = np.ascontiguousarray(self.positions, dtype=np.float32)
        self.walk_offsets = np.asarray(self.walk_offsets, dtype=np.int64)
        self.person = np.asarray(self.person).astype(str)
        self.walk_names = np.asarray(self.walk_names).astype(str)
        if self.view is not None:
            self.view = np.asarray(self.view).astype(str)
        if self.condition is not None:
            self.condition = np.asarray(self.condition).astype(str)
        self.validate()

    def validate(self) -> None:
        """Check shapes, joint count and finiteness; raise :class:`DataError` on any problem."""
        src = self.source or "<skeleton set>"
        p = self.positions
        if p.ndim != 3 or p.shape[2] not in (2, 3):
            raise DataError(f"{src}: positions must be [frames, joints, 3] (or 2 for 2D keypoints), got shape {p.shape}")
        if p.shape[1] != self.layout.num_joints:
            raise DataError(f"{src}: {p.shape[1]} joints per frame but layout {self.layout.name!r} "
                            f"has {self.layout.num_joints}")
        off = self.walk_offsets
        if off.ndim != 1 or len(off) < 2 or off[0] != 0 or off[-1] != len(p) or np.any(np.diff(off) <= 0):
            raise DataError(f"{src}: walk_offsets must rise strictly from 0 to {len(p)} (one empty walk or a bad offset)")
        w = len(off) - 1
        for name, arr in (("person", self.person), ("walk_names", self.walk_names),
                          ("view", self.view), ("condition", self.condition)):
            if arr is not None and len(arr) != w:
                raise DataError(f"{src}: {name} has {len(arr)} entries for {w} walks")
        bad = ~np.isfinite(p).all(axis=(1, 2))
        if bad.any():
            f = int(np.argmax(bad))
            wi = int(np.searchsorted(off, f, side="right") - 1)
            raise DataError(f"{src}: NaN or infinite coordinates in walk {self.walk_names[wi]} "
                            f"frame {f - off[wi]} ({int(bad.sum())} bad frames in all)")

    @property
    def dims(self) -> int:
        """Coordinates per joint: 3 (x, y, z), or 2 for 2D keypoints (x, y)."""
        return int(self.positions.shape[2])

    @property
    def num_walks(self) -> int:
        return len(self.walk_offsets) - 1

    @property
    def walk_lengths(self) -> np.ndarray:
        return np.diff(self.walk_offsets)

    def walk(self, w: int) -> np.ndarray:
        return self.positions[self.walk_offsets[w]:self.walk_offsets[w + 1]]

    def subset(self, walks: np.ndarray) -> "SkeletonSet":
        """A new set holding only the given walks (in the given order)."""
        walks = np.asarray(walks, dtype=np.int64)
        lens = self.walk_lengths[walks]
        idx = np.concatenate([np.arange(self.walk_offsets[w], self.walk_offsets[w + 1]) for w in walks])
        return SkeletonSet(
            positions=self.positions[idx], walk_offsets=np.concatenate([[0], np.cumsum(lens)]),
            person=self.person[walks], layout=self.layout, walk_names=self.walk_names[walks],
            view=None if self.view is None else self.view[walks],
            condition=None if self.condition is None else self.condition[walks],
            source=self.source, meta=dict(self.meta),
        )

    def summary(self) -> dict:
        lens = self.walk_lengths
        return {
            "source": self.source, "layout": self.layout.name, "dims": self.dims, "persons": int(len(np.unique(self.person))),
            "walks": self.num_walks, "frames": int(len(self.positions)),
            "frames_per_walk": {"min": int(lens.min()), "median": float(np.median(lens)), "max": int(lens.max())},
        }
