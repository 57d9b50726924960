"""Small generated gait folders in the shapes labs export, for the "your own data" walk-through and
the tests (each person has a body shape and a gait swing, so re-identification is learnable):

* :func:`write_example_folder`: ``sub<PP>/Run<condition>_<k>.txt``, one joint per row
  (``J<i>;x;y;z``), a custom 18-joint skeleton (:data:`LAB18_SPEC`);
* :func:`write_kinect_csv_export`: Kinect v1 CSV with a named header and extra columns;
* :func:`write_openpose_export`: OpenPose BODY_25 per-frame JSON, with undetected keypoints and a
  bystander.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence, Union

import numpy as np

# An OpenPose-like 18-joint body with its own component (10) and limb (5) groups (joint indices).
LAB18_SPEC = {
    "name": "lab-18", "root": "MidHip",
    "joints": ["Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "MidHip",
               "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "Chest"],
    "components": [[12], [13, 14], [9], [10, 11], [8, 17], [0, 1, 15, 16], [5], [6, 7], [2], [3, 4]],
    "limbs": [[12, 13, 14], [9, 10, 11], [0, 1, 8, 15, 16, 17], [5, 6, 7], [2, 3, 4]],
}


def write_example_folder(root: Union[str, Path], joints: int = 18, persons: int = 6, walks: int = 6,
                         frames: int = 40, per_joint_rows: bool = True,
                         conditions: Sequence[str] = ("nm", "nm", "bg", "bg", "cl", "cl"), seed: int = 0) -> Path:
    """Write the folder (and ``lab-18.json``, the layout spec, beside it); returns the folder."""
    root = Path(root)
    rng = np.random.default_rng(seed + joints)
    for p in range(persons):
        shape = rng.normal(0, 0.3, (joints, 3))
        for k in range(walks):
            t = np.arange(frames)[:, None, None]
            w = shape + 0.05 * np.sin(0.3 * t + k) + rng.normal(0, 0.02, (frames, joints, 3))
            f = root / f"sub{p:02d}" / f"Run{conditions[k % len(conditions)]}_{k}.txt"
            f.parent.mkdir(parents=True, exist_ok=True)
            if per_joint_rows:
                f.write_text("\n".join(f"J{i};{x:.5f};{y:.5f};{z:.5f}" for fr in w for i, (x, y, z) in enumerate(fr)))
            else:
                f.write_text("x,y,z...\n" + "\n".join(",".join(f"{v:.5f}" for v in fr.ravel()) for fr in w))
    (root.parent / "lab-18.json").write_text(json.dumps(LAB18_SPEC, indent=1))
    return root


def _gait(rng, persons: int, walks: int, frames: int, joints: int, dims: int, person_spread: float = 0.006):
    """One body shared by all, per person a small deviation of shape and of gait (swing amplitude and
    pace), per walk a phase, a drift in place and noise, so a raw distance does not solve it:
    ``[(person, walk, frames[T, J, dims])]``."""
    body = rng.normal(0, 0.3, (joints, dims))
    out = []
    for p in range(persons):
        shape = body + rng.normal(0, person_spread, (joints, dims))
        swing = 0.05 * (1 + rng.normal(0, 0.3, (joints, dims)))
        pace = 0.3 * (1 + 0.1 * rng.normal())
        for k in range(walks):
            t = np.arange(frames)[:, None, None]
            drift = rng.normal(0, 0.2, dims) + 0.01 * t * rng.normal(0, 1, dims)
            out.append((p, k, shape + drift + swing * np.sin(pace * t + rng.uniform(0, 6.3))
                        + rng.normal(0, 0.03, (frames, joints, dims))))
    return out


def write_kinect_csv_export(root: Union[str, Path], persons: int = 6, walks: int = 4, frames: int = 40,
                            seed: int = 0) -> Path:
    """A Kinect v1 lab export as such tools write it: ``P<PP>/walk<k>.csv``, one frame per row with
    a named header, the 20 joints as ``<Joint>_X, <Joint>_Y, <Joint>_Z`` after a frame number, a
    timestamp and a tracking state, and three derived distances at the end (the lab tool's)."""
    from ..layouts import get_layout
    joints = get_layout("kinect-v1-20-sdk").joints
    rng = np.random.default_rng(seed)
    head = ["Frame", "Timestamp", "TrackingState", *[f"{j}_{a}" for j in joints for a in "XYZ"],
            "StepLength", "StrideWidth", "HeadHeight"]
    root = Path(root)
    for p, k, w in _gait(rng, persons, walks, frames, len(joints), 3):
        f = root / f"P{p:02d}" / f"walk{k}.csv"
        f.parent.mkdir(parents=True, exist_ok=True)
        rows = [",".join(head)]
        for t, fr in enumerate(w):
            derived = [abs(fr[15, 0] - fr[19, 0]), abs(fr[15, 2] - fr[19, 2]), fr[3, 1]]
            rows.append(",".join([str(t), f"{t / 30:.3f}", "Tracked", *(f"{v:.5f}" for v in fr.ravel()),
                                  *(f"{v:.4f}" for v in derived)]))
        f.write_text("\n".join(rows) + "\n")
    return root


def write_openpose_export(root: Union[str, Path], persons: int = 6, walks: int = 4, frames: int = 40,
                          seed: int = 0, missing: float = 0.05, bystander: bool = True) -> Path:
    """OpenPose BODY_25 output as the tool writes it: ``<id>-<k>/<id>-<k>_<frame:012d>_keypoints.json``,
    one JSON per frame, pixel coordinates with confidences, some keypoints undetected (0, 0, 0) and,
    with ``bystander``, a second, faintly detected person in every frame."""
    import json
    rng = np.random.default_rng(seed)
    root = Path(root)
    for p, k, w in _gait(rng, persons, walks, frames, 25, 2):
        d = root / f"{p:03d}-{k:02d}"
        d.mkdir(parents=True, exist_ok=True)
        px = 200.0 * w + np.array([320.0, 240.0])
        for t, fr in enumerate(px):
            conf = rng.uniform(0.4, 0.95, 25)
            fr = fr.copy()
            gone = rng.random(25) < missing
            fr[gone], conf[gone] = 0.0, 0.0
            people = [{"person_id": [-1], "pose_keypoints_2d": np.column_stack([fr, conf]).ravel().round(3).tolist()}]
            if bystander:
                other = np.column_stack([rng.uniform(0, 640, (25, 2)), rng.uniform(0.0, 0.2, 25)])
                people.append({"person_id": [-1], "pose_keypoints_2d": other.ravel().round(3).tolist()})
            (d / f"{p:03d}-{k:02d}_{t:012d}_keypoints.json").write_text(json.dumps({"version": 1.3, "people": people}))
    return root


if __name__ == "__main__":
    import sys
    print(f"wrote {write_example_folder(sys.argv[1] if len(sys.argv) > 1 else 'example/lab')}")
