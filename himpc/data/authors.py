"""Reader for the authors' preprocessed clips (the ``Datasets/`` folder their code uses).

Layout, for dataset ``NAME`` and clip length ``F``::

    Datasets/NAME/F/train_npy_data/source_{x,y,z}_NAME_F.npy      # coordinates, reshape [-1, F, J]
    Datasets/NAME/F/train_npy_data/frame_id_NAME_F.npy            # integer person label per clip
    Datasets/NAME/F/test_npy_data/<split>/t_source_{x,y,z}_NAME_F.npy
    Datasets/NAME/F/test_npy_data/<split>/frame_id_NAME_F.npy

(``ids_*.npy`` files are pickled dicts; they are never loaded.)  Joint order: Kinect v1 SDK
(20 joints) for IAS and BIWI; for KGBD the raw files' own order (``Preprocess.py`` L318-337
writes the joints as they appear in each file; the SDK reorder happens after loading, in
``utils/process.py`` L181-183), i.e. the ``kinect-v1-20`` layout; Kinect v2 (25) for KS20;
14 pose joints for CASIA_B.
Probe / gallery splits: IAS ``A`` / ``B`` (each is the other's gallery), BIWI ``Walking`` /
``Still`` (likewise), KGBD and KS20 ``probe`` / ``gallery``, CASIA_B any two split folders.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Optional, Union

import numpy as np

from ..layouts import Layout, get_layout
from .protocols import ClipSet, ClipSplit
from .skeletons import DataError

AUTHORS_LAYOUTS = {"IAS": "kinect-v1-20-sdk", "BIWI": "kinect-v1-20-sdk", "KGBD": "kinect-v1-20",
                   "KS20": "kinect-v2-25", "CASIA_B": "coco-14"}
_PAIRS = {"IAS": {"A": "B", "B": "A"}, "BIWI": {"Walking": "Still", "Still": "Walking"},
          "KGBD": {"probe": "gallery"}, "KS20": {"probe": "gallery"}}
_DEFAULT_PROBE = {"IAS": "A", "BIWI": "Walking", "KGBD": "probe", "KS20": "probe"}


def canonical_name(name: str) -> str:
    """``casia-b`` -> ``CASIA_B``; raises :class:`DataError` for unknown names."""
    key = name.strip().upper().replace("-", "_")
    if key not in AUTHORS_LAYOUTS:
        raise DataError(f"unknown authors' dataset {name!r}; known: {', '.join(AUTHORS_LAYOUTS)}")
    return key


def _datasets_dir(root: Union[str, Path]) -> Path:
    root = Path(root).expanduser()
    return root / "Datasets" if (root / "Datasets").is_dir() else root


def _load_npy(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"missing file: expected {path}")
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as err:
        if "pickle" in str(err).lower() or "object" in str(err).lower():
            raise DataError(f"{path}: holds an object array that needs pickle to load; refusing to unpickle "
                            "it (re-save it as a numeric array)") from err
        raise DataError(f"{path}: unreadable .npy file ({err})") from err
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(f"{path}: unreadable .npy file ({err})") from err


def _load_part(folder: Path, prefix: str, name: str, seq_len: int, layout: Layout) -> ClipSet:
    j = layout.num_joints
    coords = []
    for axis in "xyz":
        path = folder / f"{prefix}source_{axis}_{name}_{seq_len}.npy"
        a = _load_npy(path)
        if a.dtype.kind not in "fiu":
            raise DataError(f"{path}: expected numeric coordinates, got dtype {a.dtype}")
        if a.size % (seq_len * j):
            raise DataError(f"{path}: {a.size} values do not reshape to [-1, {seq_len}, {j}] "
                            f"(F={seq_len}, {j} joints for {name})")
        coords.append(a.reshape(-1, seq_len, j))
    if not coords[0].shape == coords[1].shape == coords[2].shape:
        raise DataError(f"{folder}: x / y / z arrays differ in size: {[c.shape for c in coords]}")
    clips = np.stack(coords, axis=-1).astype(np.float32)
    if not np.isfinite(clips).all():
        raise DataError(f"{folder}: NaN or infinite coordinates in {prefix}source_*_{name}_{seq_len}.npy")
    lpath = folder / f"frame_id_{name}_{seq_len}.npy"
    lab = _load_npy(lpath)
    if lab.dtype.kind not in "iuf" or lab.size != len(clips):
        raise DataError(f"{lpath}: expected {len(clips)} integer labels (one per clip), "
                        f"got dtype {lab.dtype} shape {lab.shape}")
    lab = lab.reshape(-1)
    if lab.dtype.kind == "f":
        if not np.all(lab == np.round(lab)):
            raise DataError(f"{lpath}: labels are not integers")
        lab = lab.astype(np.int64)
    n = len(clips)
    return ClipSet(clips=clips, person=lab.astype(str), walk=np.full(n, -1), start=np.full(n, -1), layout=layout)


def load_authors_split(root: Union[str, Path], name: str, seq_len: int, probe: Optional[str] = None,
                       gallery: Optional[str] = None, view: str = "") -> ClipSplit:
    """Train / gallery / probe clips from the authors' ``Datasets/`` folder (``root`` holds it or is it).

    ``probe`` defaults to A (IAS), Walking (BIWI) or probe (KGBD, KS20); ``gallery`` to its
    partner split (required for CASIA_B).  ``view`` selects ``Datasets/NAME/F/view_<view>/``.
    """
    name = canonical_name(name)
    layout = get_layout(AUTHORS_LAYOUTS[name])
    probe = probe or _DEFAULT_PROBE.get(name)
    if probe is None:
        raise DataError(f"{name}: give the probe split folder name (test_npy_data/<split>)")
    if gallery is None:
        gallery = _PAIRS.get(name, {}).get(probe)
        if gallery is None:
            known = ", ".join(_PAIRS.get(name, {})) or "any split folder, with an explicit gallery"
            raise DataError(f"{name}: no default gallery for probe {probe!r} (probes: {known}); give gallery=")
    if probe == gallery:
        raise DataError(f"{name}: probe and gallery are the same split {probe!r}")
    base = _datasets_dir(root) / name / str(seq_len)
    if view:
        base = base / f"view_{view}"
    train = _load_part(base / "train_npy_data", "", name, seq_len, layout)
    gal = _load_part(base / "test_npy_data" / gallery, "t_", name, seq_len, layout)
    prb = _load_part(base / "test_npy_data" / probe, "t_", name, seq_len, layout)
    info = {"protocol": "authors", "dataset": name, "probe": probe, "gallery": gallery, "view": view,
            "seq_len": seq_len, "source": str(base),
            "clips": {"train": len(train), "gallery": len(gal), "probe": len(prb)},
            "persons": {k: int(len(np.unique(v.person))) for k, v in
                        (("train", train), ("gallery", gal), ("probe", prb))}}
    return ClipSplit(train=train, gallery=gal, probe=prb, info=info)
