"""Generic skeleton dataset format: one ``.npz`` file (``--dataset npz:<path>``).

Arrays (saved with ``numpy.savez`` / ``savez_compressed``; no object arrays — strings must
be fixed-width unicode, e.g. ``np.array(["p1", "p2"])``, because files are loaded with
``allow_pickle=False``):

================  ==========================  =================================================
key               dtype / shape               meaning
================  ==========================  =================================================
``positions``     float32 [total_frames, J, 3]  every walk's frames, concatenated, in metres
                                              (any float dtype is accepted and cast)
``walk_offsets``  int64 [W + 1]               walk ``w`` is ``positions[off[w]:off[w+1]]``;
                                              starts at 0, strictly increasing, ends at
                                              ``total_frames``
``person``        int or str [W]              identity of each walk
``view``          int or str [W], optional    camera / view of each walk (cross-view protocols)
``condition``     int or str [W], optional    walking condition (e.g. nm / bg / cl)
``walk_names``    str [W], optional           readable walk names (default ``<person>/<k>``)
``layout``        str (0-d)                   a known joint layout: ``kinect-v1-20`` (KGBD file
                                              order), ``kinect-v1-20-sdk`` (Kinect v1 SDK order),
                                              ``kinect-v2-25``, ``coco-14``
``layout_spec``   str (0-d), JSON             instead of ``layout``: ``{"joints": [...names],
                                              "root": name, "components": 10 lists of joint
                                              indices, "limbs": 5 lists}`` (see
                                              ``himpc.layouts.layout_from_spec``)
================  ==========================  =================================================

Give exactly one of ``layout`` / ``layout_spec``.  ``J`` must equal the layout's joint
count; coordinates must be finite.  Each frame is centred on the layout's root joint
before training (``normalize="root"``), so absolute positions need no preprocessing.
Example::

    np.savez("mydata.npz", positions=pos.astype(np.float32), walk_offsets=offsets,
             person=np.array(["a", "a", "b"]), layout="kinect-v2-25")
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Union

import numpy as np

from ..layouts import LAYOUTS, get_layout, layout_from_spec
from .skeletons import DataError, SkeletonSet

_KEYS = {"positions", "walk_offsets", "person", "view", "condition", "walk_names", "layout", "layout_spec"}


def _labels(z, key: str, src: str) -> np.ndarray:
    a = z[key]
    if a.ndim != 1:
        raise DataError(f"{src}: {key!r} must be 1-D (one entry per walk), got shape {a.shape}")
    if a.dtype.kind == "S":
        return np.char.decode(a, "utf-8")
    if a.dtype.kind not in "iuU":
        raise DataError(f"{src}: {key!r} must hold integers or strings, got dtype {a.dtype}")
    return a.astype(str)


def load_npz(path: Union[str, Path]) -> SkeletonSet:
    """Load a dataset in the generic ``.npz`` format (see the module docstring)."""
    path = Path(path).expanduser()
    src = str(path)
    if not path.is_file():
        raise DataError(f"{src}: no such file")
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise DataError(f"{src}: not a readable .npz file ({err})") from err
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise DataError(f"{src}: expected an .npz archive of named arrays, got a single array")
    with z:
        try:
            keys = set(z.files)
            missing = [k for k in ("positions", "walk_offsets", "person") if k not in keys]
            if missing:
                raise DataError(f"{src}: missing required array(s) {missing}; present: {sorted(keys)}")
            extra = keys - _KEYS
            if "layout" in keys and "layout_spec" in keys:
                raise DataError(f"{src}: give either 'layout' or 'layout_spec', not both")
            if "layout" in keys:
                layout = get_layout(str(z["layout"]))
            elif "layout_spec" in keys:
                layout = layout_from_spec(json.loads(str(z["layout_spec"])))
            else:
                raise DataError(f"{src}: missing 'layout' (one of {', '.join(LAYOUTS)}) or 'layout_spec' (JSON)")
            pos = z["positions"]
            if pos.dtype.kind != "f":
                raise DataError(f"{src}: 'positions' must be float32 (any float accepted), got dtype {pos.dtype}")
            if pos.ndim != 3 or pos.shape[2] not in (2, 3):
                raise DataError(f"{src}: 'positions' must be [total_frames, J, 3] (or 2 for 2D keypoints), "
                                f"got shape {pos.shape}")
            off = z["walk_offsets"]
            if off.dtype.kind not in "iu" or off.ndim != 1:
                raise DataError(f"{src}: 'walk_offsets' must be a 1-D integer array, got {off.dtype} {off.shape}")
            person = _labels(z, "person", src)
            view = _labels(z, "view", src) if "view" in keys else None
            condition = _labels(z, "condition", src) if "condition" in keys else None
            if "walk_names" in keys:
                names = _labels(z, "walk_names", src)
            else:
                _, inv = np.unique(person, return_inverse=True)
                rank = np.zeros(len(person), np.int64)
                order = np.argsort(inv, kind="stable")
                counts = np.bincount(inv)
                rank[order] = np.arange(len(person)) - np.repeat(np.cumsum(counts) - counts, counts)
                names = np.char.add(np.char.add(person, "/"), (rank + 1).astype(str))
        except ValueError as err:
            if "allow_pickle" in str(err) or "Object arrays" in str(err):
                raise DataError(f"{src}: contains object arrays, which need pickle; save strings as "
                                "fixed-width unicode (np.array([...], dtype=str))") from err
            raise
    meta = {"ignored_keys": sorted(extra)} if extra else {}
    return SkeletonSet(positions=pos, walk_offsets=off, person=person, layout=layout, walk_names=names,
                       view=view, condition=condition, source=src, meta=meta)


def save_npz(ss: SkeletonSet, path: Union[str, Path], compressed: bool = True) -> Path:
    """Write ``ss`` in the generic format (known layouts by name, others as ``layout_spec``)."""
    path = Path(path).expanduser()
    arrays = {"positions": ss.positions.astype(np.float32), "walk_offsets": ss.walk_offsets.astype(np.int64),
              "person": ss.person.astype(str), "walk_names": ss.walk_names.astype(str)}
    for k in ("view", "condition"):
        if getattr(ss, k) is not None:
            arrays[k] = getattr(ss, k).astype(str)
    if LAYOUTS.get(ss.layout.name) == ss.layout:
        arrays["layout"] = np.array(ss.layout.name)
    else:
        arrays["layout_spec"] = np.array(json.dumps(ss.layout.to_spec()))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")          # written whole, then renamed: never a half file
    with open(tmp, "wb") as f:
        (np.savez_compressed if compressed else np.savez)(f, **arrays)
    tmp.replace(path)
    return path
