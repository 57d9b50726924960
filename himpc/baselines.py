"""Hand-crafted and raw-skeleton baselines (paper Sec. 2.1.1, Tables 2-3 and 6).

Feature extractors map clips ``[N, F, J, 3]`` (x, y, z; Y = index 1 is vertical)
to per-clip vectors ``[N, D]`` (float32):

* ``raw``  - concatenated 3D coordinates (Table 6, "raw skeleton"); the caller
  normalises the clips.
* ``d13``  - the 13 anthropometric descriptors of [16] (D13);
* ``d16``  - the 16 descriptors of [19] (D16);

D13 / D16 follow the authors' ``cal_features_ave`` (utils/process.py): each value
is computed per frame and then averaged over the clip's frames (ratios too).
The authors index joints in Kinect v1 SDK order; here the joints are looked up
by name, so any layout naming them works (``kinect-v1-20``, ``kinect-v1-20-sdk``,
and ``kinect-v2-25`` with HipCenter -> SpineBase, Spine -> SpineMid,
ShoulderCenter -> SpineShoulder).

The paper applies the hand-crafted methods to raw (un-normalised) skeletons
(Sec. 4.4); the heights are *differences* of absolute Y and all other values are
distances, so D13 / D16 are invariant to translating a frame (root centring gives
the same descriptors), but not to rotations that change the vertical axis.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .layouts import Layout, get_layout

__all__ = ["raw_clip_features", "d13_features", "d16_features", "BASELINES", "baseline_features", "joint_indices",
           "D13_PAIRS", "D16_PAIRS"]

# Kinect v2 names for the Kinect v1 SDK joints that were renamed.
_V2_ALIASES = {"HipCenter": "SpineBase", "Spine": "SpineMid", "ShoulderCenter": "SpineShoulder"}

# D13 distances ([16]); the authors' SDK index pairs are given in the comments.
D13_PAIRS: tuple[tuple[str, str], ...] = (
    ("ShoulderLeft", "ShoulderCenter"),   # [4, 2]
    ("ShoulderRight", "ShoulderCenter"),  # [8, 2]
    ("Spine", "ShoulderRight"),           # [1, 8]
    ("ShoulderRight", "WristRight"),      # [8, 10]
    ("ShoulderLeft", "WristLeft"),        # [4, 6]
    ("HipRight", "KneeRight"),            # [16, 17]
    ("KneeLeft", "HipLeft"),              # [13, 12]
    ("ShoulderCenter", "Spine"),          # [2, 1]
    ("HipRight", "HipLeft"),              # [16, 12]
)
# D16 distances ([19]).
D16_PAIRS: tuple[tuple[str, str], ...] = (
    ("Head", "ShoulderCenter"),       # [3, 2]
    ("Spine", "ShoulderCenter"),      # [1, 2]
    ("Spine", "HipCenter"),           # [1, 0]
    ("ShoulderRight", "ShoulderCenter"),  # [8, 2]
    ("ShoulderRight", "ElbowRight"),  # [8, 9]
    ("ElbowRight", "WristRight"),     # [9, 10]
    ("ShoulderCenter", "ShoulderLeft"),  # [2, 4]
    ("ShoulderLeft", "ElbowLeft"),    # [4, 5]
    ("ElbowLeft", "WristLeft"),       # [5, 6]
    ("HipRight", "HipCenter"),        # [16, 0]
    ("HipRight", "KneeRight"),        # [16, 17]
    ("KneeRight", "FootRight"),       # [17, 19]
    ("HipLeft", "HipCenter"),         # [12, 0]
    ("HipLeft", "KneeLeft"),          # [12, 13]
    ("KneeLeft", "FootLeft"),         # [13, 15]
)
_HEIGHT_JOINTS = ("Head", "ShoulderCenter", "FootLeft", "FootRight")
_MIN_THIGH = 0.1  # denominator floor of the D13 ratios (authors' code)


def _as_layout(layout: Layout | str) -> Layout:
    return get_layout(layout) if isinstance(layout, str) else layout


def _check_clips(clips: np.ndarray, layout: Layout | None = None) -> np.ndarray:
    clips = np.asarray(clips)
    if clips.ndim != 4 or clips.shape[-1] != 3:
        raise ValueError(f"clips must be [N, F, J, 3], got shape {clips.shape}")
    if layout is not None and clips.shape[2] != layout.num_joints:
        raise ValueError(f"clips have {clips.shape[2]} joints but layout {layout.name!r} has {layout.num_joints}")
    return clips


def joint_indices(layout: Layout | str, names: Sequence[str]) -> np.ndarray:
    """Indices of Kinect v1 SDK joint ``names`` in ``layout`` (Kinect v2 aliases allowed).

    Raises ``ValueError`` naming every joint the layout lacks.
    """
    layout = _as_layout(layout)
    found, missing = [], []
    for n in names:
        for cand in (n, _V2_ALIASES.get(n)):
            if cand is not None and cand in layout.joints:
                found.append(layout.joints.index(cand))
                break
        else:
            missing.append(n)
    if missing:
        raise ValueError(f"layout {layout.name!r} lacks joints needed by the hand-crafted descriptors: "
                         f"{sorted(set(missing))}")
    return np.asarray(found, dtype=np.int64)


def _require(layout: Layout, pairs: Sequence[tuple[str, str]]) -> None:
    """Raise ``ValueError`` listing every joint of ``pairs`` + the height joints the layout lacks."""
    joint_indices(layout, [n for p in pairs for n in p] + list(_HEIGHT_JOINTS))


def _pair_distances(clips: np.ndarray, layout: Layout, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
    """[N, F, K] Euclidean distances between the joint pairs in each frame."""
    a = joint_indices(layout, [p[0] for p in pairs])
    b = joint_indices(layout, [p[1] for p in pairs])
    return np.linalg.norm(clips[:, :, a, :] - clips[:, :, b, :], axis=-1)


def _height_above_feet(clips: np.ndarray, layout: Layout, joint: str) -> np.ndarray:
    """[N, F] ``Y[joint] - (Y[FootLeft] + Y[FootRight]) / 2`` (Y is vertical)."""
    j, fl, fr = joint_indices(layout, [joint, "FootLeft", "FootRight"])
    y = clips[..., 1]
    return y[:, :, j] - (y[:, :, fl] + y[:, :, fr]) / 2.0


def raw_clip_features(clips: np.ndarray, layout: Layout | str | None = None) -> np.ndarray:
    """Raw-skeleton baseline (Table 6, row 1): ``[N, F*J*3]`` concatenated coordinates."""
    clips = _check_clips(clips, None if layout is None else _as_layout(layout))
    return clips.reshape(clips.shape[0], -1).astype(np.float32, copy=False)


def d13_features(clips: np.ndarray, layout: Layout | str) -> np.ndarray:
    """D13 [16] as in the authors' code: ``[N, 13]`` per-frame values averaged over frames.

    Order: head height, neck height, the 9 distances of :data:`D13_PAIRS`,
    ``|ShoulderCenter-Spine| / max(|HipRight-KneeRight|, 0.1)`` and
    ``|ShoulderCenter-Spine| / max(|KneeLeft-HipLeft|, 0.1)``.
    """
    layout = _as_layout(layout)
    _require(layout, D13_PAIRS)
    clips = _check_clips(clips, layout).astype(np.float64, copy=False)
    dist = _pair_distances(clips, layout, D13_PAIRS)           # [N, F, 9]
    torso, thigh_r, thigh_l = dist[..., 7], dist[..., 5], dist[..., 6]
    per_frame = np.concatenate([
        _height_above_feet(clips, layout, "Head")[..., None],
        _height_above_feet(clips, layout, "ShoulderCenter")[..., None],
        dist,
        (torso / np.maximum(thigh_r, _MIN_THIGH))[..., None],
        (torso / np.maximum(thigh_l, _MIN_THIGH))[..., None],
    ], axis=-1)
    return per_frame.mean(axis=1).astype(np.float32)


def d16_features(clips: np.ndarray, layout: Layout | str) -> np.ndarray:
    """D16 [19] as in the authors' code: ``[N, 16]`` = the 15 distances of
    :data:`D16_PAIRS` and the head height above the feet, averaged over frames."""
    layout = _as_layout(layout)
    _require(layout, D16_PAIRS)
    clips = _check_clips(clips, layout).astype(np.float64, copy=False)
    per_frame = np.concatenate([
        _pair_distances(clips, layout, D16_PAIRS),
        _height_above_feet(clips, layout, "Head")[..., None],
    ], axis=-1)
    return per_frame.mean(axis=1).astype(np.float32)


BASELINES: dict[str, Callable[..., np.ndarray]] = {
    "raw": raw_clip_features,
    "d13": d13_features,
    "d16": d16_features,
}


def baseline_features(name: str, clips: np.ndarray, layout: Layout | str) -> np.ndarray:
    """Features of the baseline ``name`` (one of :data:`BASELINES`) for clips ``[N, F, J, 3]``."""
    try:
        fn = BASELINES[name]
    except KeyError:
        raise ValueError(f"unknown baseline {name!r}; known: {', '.join(sorted(BASELINES))}") from None
    return fn(clips, layout)
