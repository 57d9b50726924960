"""2D keypoints from a pose estimator, one walk at a time (the paper's CASIA-B setting, Sec. 5.1).

Two shapes of file are read, both as the estimators write them:

* **OpenPose** (``--format openpose``): one JSON per frame, ``{"people": [{"pose_keypoints_2d":
  [x0, y0, c0, x1, ...]}, ...]}``; a walk is a folder of them, frames in natural order of the file
  names (``clip_000000000012_keypoints.json``).  75 numbers per person is BODY_25 (layout
  ``openpose-body25``), 54 is the COCO-18 model (``openpose-coco18``).
* **COCO-17** (``--format coco17``): one JSON per walk, either a list of detections in the COCO
  results format ``[{"image_id": 12, "keypoints": [51 numbers], "score": 0.93}, ...]`` (what mmpose,
  detectron2 and the COCO API write; frames in natural order of ``image_id``), or a list with one entry
  per frame: 51 numbers, 17 ``[x, y, c]`` triples, or null / [] where nobody was detected.

What is done with them, in this order (:func:`clean_walk`):

1. **one person per frame**: where several are detected, the one with the largest summed confidence
   (no tracking across frames is attempted; crop the video to the walker if others cross it);
2. **missing joints**: a keypoint whose confidence is below ``min_confidence`` (OpenPose writes
   0, 0, 0 for an undetected one) is missing; a frame missing more than ``max_missing`` of its joints
   (or with nobody detected) is dropped; every other missing keypoint is linearly interpolated in time
   between the nearest frames where that joint was seen (held constant before the first and after the
   last); a joint seen in no kept frame makes the walk unusable (an error naming the joint);
3. **scale**: pixel coordinates are divided by the walk's median body height (the per-frame extent of
   the keypoints in y), so walks filmed at different distances share one scale; y keeps pointing down
   as in the image.  Centring on the root joint happens later, per clip, as for 3D data.

The result is [T, J, 2] (``dims = 2``), which the hierarchy, the model and the metrics take as they
take 3D skeletons.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

from ..layouts import LAYOUTS, Layout
from .skeletons import DataError

OPENPOSE_LAYOUTS = {25: "openpose-body25", 18: "openpose-coco18"}


@dataclass(frozen=True)
class KeypointOptions:
    """The treatment of a 2D walk (see the module doc)."""

    min_confidence: float = 0.1
    max_missing: float = 0.5
    scale: bool = True


def natural_key(name: str) -> list:
    """Sort key that orders ``f2`` before ``f10``."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"{path}, line {err.lineno}: not JSON ({err.msg})") from None
    except OSError as err:
        raise DataError(f"{path}: {err}") from None


def _triples(values: Any, where: str) -> np.ndarray:
    """[J, 3] (x, y, confidence) from a flat list of 3J numbers or J triples."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{where}: keypoints are not numbers") from None
    if arr.ndim == 1 and arr.size % 3 == 0:
        arr = arr.reshape(-1, 3)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise DataError(f"{where}: keypoints must be 3 numbers (x, y, confidence) per joint, got shape {arr.shape}")
    return arr


def _best(people: Sequence[np.ndarray]) -> Optional[np.ndarray]:
    """The most confidently detected person (largest summed confidence), or None."""
    return max(people, key=lambda p: float(np.nansum(p[:, 2]))) if people else None


def read_openpose_walk(folder: Union[str, Path], layout: Optional[Layout] = None) -> tuple[np.ndarray, Layout]:
    """Raw [T, J, 3] (x, y, confidence; NaN rows for frames with nobody) of an OpenPose walk folder."""
    folder = Path(folder)
    files = sorted((f for f in folder.iterdir() if f.suffix.lower() == ".json"), key=lambda f: natural_key(f.name))
    if not files:
        raise DataError(f"{folder}: no OpenPose .json frame files")
    frames: list[Optional[np.ndarray]] = []
    for f in files:
        doc = _load_json(f)
        if not isinstance(doc, dict) or not isinstance(doc.get("people"), list):
            raise DataError(f"{f}: not an OpenPose frame (no 'people' list)")
        people = []
        for k, person in enumerate(doc["people"]):
            if not isinstance(person, dict) or "pose_keypoints_2d" not in person:
                raise DataError(f"{f}: person {k} has no 'pose_keypoints_2d'")
            kp = _triples(person["pose_keypoints_2d"], f"{f}: person {k}")
            if kp.size:
                people.append(kp)
        frames.append(_best(people))
    return _stack(frames, layout, folder, lambda j: OPENPOSE_LAYOUTS.get(j))


def read_coco17_walk(path: Union[str, Path], layout: Optional[Layout] = None) -> tuple[np.ndarray, Layout]:
    """Raw [T, 17, 3] of a COCO-17 walk file (results format or one entry per frame)."""
    path = Path(path)
    doc = _load_json(path)
    if isinstance(doc, dict) and isinstance(doc.get("frames"), list):
        doc = doc["frames"]
    if not isinstance(doc, list) or not doc:
        raise DataError(f"{path}: expected a list of detections or of per-frame keypoints")
    if all(isinstance(d, dict) for d in doc):                       # COCO results format
        by_image: dict[Any, list[tuple[float, np.ndarray]]] = {}
        for k, d in enumerate(doc):
            if "keypoints" not in d or "image_id" not in d:
                raise DataError(f"{path}: detection {k} needs 'image_id' and 'keypoints'")
            kp = _triples(d["keypoints"], f"{path}: detection {k} (image_id {d['image_id']})")
            by_image.setdefault(d["image_id"], []).append((float(d.get("score", np.nansum(kp[:, 2]))), kp))
        order = sorted(by_image, key=lambda i: natural_key(str(i)))
        frames = [max(by_image[i], key=lambda sk: sk[0])[1] for i in order]
    else:
        frames = [None if not d else _triples(d, f"{path}: frame {k}") for k, d in enumerate(doc)]
    return _stack(frames, layout, path, lambda j: "coco-17" if j == 17 else None)


def _stack(frames: Sequence[Optional[np.ndarray]], layout: Optional[Layout], where: Path, guess) -> tuple[np.ndarray, Layout]:
    sizes = {len(f) for f in frames if f is not None}
    if not sizes:
        raise DataError(f"{where}: nobody detected in any frame")
    if len(sizes) > 1:
        raise DataError(f"{where}: frames hold different joint counts {sorted(sizes)}")
    j = sizes.pop()
    if layout is None:
        name = guess(j)
        if name is None:
            raise DataError(f"{where}: {j} keypoints per person fit no known 2D layout; give --layout-spec")
        layout = LAYOUTS[name]
    if j != layout.num_joints:
        raise DataError(f"{where}: {j} keypoints per person, layout {layout.name!r} has {layout.num_joints}")
    out = np.full((len(frames), j, 3), np.nan)
    for t, f in enumerate(frames):
        if f is not None:
            out[t] = f
    return out, layout


def clean_walk(raw: np.ndarray, layout: Layout, opts: KeypointOptions = KeypointOptions(),
               where: str = "") -> tuple[np.ndarray, dict]:
    """[T', J, 2] from raw [T, J, 3] (x, y, confidence): frames dropped, keypoints interpolated and
    scaled as the module doc says; and what was done (``frames_read``, ``frames_dropped``,
    ``keypoints_interpolated`` as a fraction of the kept ones)."""
    conf = np.nan_to_num(raw[..., 2], nan=0.0)
    ok = (conf >= opts.min_confidence) & (conf > 0) & np.isfinite(raw[..., :2]).all(-1)
    keep = ok.mean(axis=1) >= 1.0 - opts.max_missing
    if not keep.any():
        raise DataError(f"{where}: no frame has at least {1 - opts.max_missing:.0%} of its joints above "
                        f"confidence {opts.min_confidence}")
    t_all = np.flatnonzero(keep)
    xy, seen = raw[keep][..., :2].copy(), ok[keep]
    never = [layout.joints[j] for j in np.flatnonzero(~seen.any(axis=0))]
    if never:
        raise DataError(f"{where}: joint(s) {', '.join(never)} never detected above confidence "
                        f"{opts.min_confidence} in a kept frame; lower --min-confidence or use a layout without them")
    for j in np.flatnonzero(~seen.all(axis=0)):                      # J <= 25 joints, vectorised over time
        s = seen[:, j]
        for d in range(2):
            xy[~s, j, d] = np.interp(t_all[~s], t_all[s], xy[s, j, d])
    info = {"frames_read": int(len(raw)), "frames_dropped": int((~keep).sum()),
            "keypoints_interpolated": round(float(1 - seen.mean()), 4)}
    if opts.scale:
        height = float(np.median(xy[..., 1].max(axis=1) - xy[..., 1].min(axis=1)))
        if not height > 0:
            raise DataError(f"{where}: the keypoints have no vertical extent to scale by")
        xy /= height
        info["body_height_px"] = round(height, 2)
    return xy.astype(np.float32), info


def read_keypoint_walk(path: Union[str, Path], fmt: str, layout: Optional[Layout] = None,
                       opts: KeypointOptions = KeypointOptions()) -> tuple[np.ndarray, dict]:
    """Cleaned [T, J, 2] frames of one 2D walk (``fmt`` ``openpose`` or ``coco17``) and what was detected."""
    reader = {"openpose": read_openpose_walk, "coco17": read_coco17_walk}.get(fmt)
    if reader is None:
        raise DataError(f"unknown keypoint format {fmt!r} (openpose | coco17)")
    raw, lay = reader(path, layout)
    frames, info = clean_walk(raw, lay, opts, str(path))
    return frames, info | {"how": f"{fmt} keypoints, confidence >= {opts.min_confidence}", "layout": lay.name,
                           "joints": lay.num_joints, "dims": 2, "frames": len(frames), "layout_object": lay}
