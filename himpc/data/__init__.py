"""Data layer: datasets as :class:`SkeletonSet` (walks) and protocols that cut them into clips.

Dataset specs for :func:`load_dataset`: ``KGBD`` (the raw Kinect Gait Biometry Dataset under
the data root), ``npz:<path>`` (the generic format of :mod:`himpc.data.npz`) and
``authors:<NAME>[:<probe>[:<gallery>]]`` (the authors' preprocessed clips, already split).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Union

from .authors import load_authors_split
from .kgbd import KGBD_SHA256, KGBD_URL, fetch_kgbd, load_kgbd, verify_kgbd_archive
from .npz import load_npz, save_npz
from .protocols import ClipSet, ClipSplit, by_field_split, make_clips, normalize_clips, walk_split
from .skeletons import DataError, SkeletonSet

__all__ = [
    "ClipSet", "ClipSplit", "DataError", "KGBD_SHA256", "KGBD_URL", "SkeletonSet", "by_field_split",
    "fetch_kgbd", "load_authors_split", "load_dataset", "load_kgbd", "load_npz", "make_clips",
    "normalize_clips", "resolve_data_root", "save_npz", "verify_kgbd_archive", "walk_split",
]


def resolve_data_root(value: Optional[Union[str, Path]]) -> Path:
    """The data root: ``value``, else ``$HIMPC_DATA``; :class:`DataError` if neither names a folder."""
    raw = value if value not in (None, "") else os.environ.get("HIMPC_DATA")
    if not raw:
        raise DataError(
            "no data root: pass --data DIR or set HIMPC_DATA=DIR, where DIR holds kgbd/KGBD.tar.gz "
            "(the KGBD archive, read as is) or the authors' Datasets/ folder. "
            "`himpc data fetch --data DIR` downloads KGBD from github.com/Vortander/KinectGait.")
    root = Path(raw).expanduser()
    if not root.is_dir():
        raise DataError(f"data root {root} is not a folder; put KGBD.tar.gz at {root}/kgbd/KGBD.tar.gz "
                        "or run `himpc data fetch`")
    return root


def load_dataset(spec: str, data_root: Optional[Union[str, Path]] = None,
                 **kwargs: Any) -> Union[SkeletonSet, ClipSplit]:
    """Load ``KGBD``, ``npz:<path>`` or ``authors:<NAME>[:<probe>[:<gallery>]]`` (needs ``seq_len=``).

    Other keyword arguments: ``cache_dir``, ``progress`` (KGBD); unknown ones are ignored.
    """
    kind, _, rest = spec.partition(":")
    if kind.upper() == "KGBD" and not rest:
        return load_kgbd(resolve_data_root(data_root), cache_dir=kwargs.get("cache_dir"),
                         progress=kwargs.get("progress", True))
    if kind == "npz" and rest:
        path = Path(rest).expanduser()
        if not path.is_absolute() and not path.exists() and data_root is not None:
            path = Path(data_root).expanduser() / path
        return load_npz(path)
    if kind == "authors" and rest:
        parts = rest.split(":")
        if kwargs.get("seq_len") is None:
            raise DataError("authors' datasets need seq_len (the clip length F of the preprocessed files)")
        return load_authors_split(resolve_data_root(data_root), parts[0], int(kwargs["seq_len"]),
                                  probe=parts[1] if len(parts) > 1 and parts[1] else None,
                                  gallery=parts[2] if len(parts) > 2 and parts[2] else None)
    raise DataError(f"unknown dataset spec {spec!r}; use KGBD, npz:<path> or authors:<NAME>[:<probe>[:<gallery>]]")
