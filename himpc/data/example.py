"""A small generated gait folder in a lab's own format, for the README's "your own data" walk-through
and the tests: ``sub<PP>/Run<condition>_<k>.txt``, one joint per row (``J<i>;x;y;z``), a custom
18-joint skeleton (:data:`LAB18_SPEC`).  Each person has a body shape and a gait swing."""

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


if __name__ == "__main__":
    import sys
    print(f"wrote {write_example_folder(sys.argv[1] if len(sys.argv) > 1 else 'example/lab')}")
