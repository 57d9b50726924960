"""Tests for himpc.baselines: raw skeleton, D13 and D16 (paper Sec. 2.1.1)."""

import numpy as np
import pytest

from himpc.baselines import BASELINES, baseline_features, d13_features, d16_features, raw_clip_features
from himpc.layouts import get_layout

SDK = get_layout("kinect-v1-20-sdk")
KGBD = get_layout("kinect-v1-20")
V2 = get_layout("kinect-v2-25")

# Synthetic T-pose in Kinect v1 SDK order (metres; Y up).
T_POSE = np.array([
    [0.0, 1.0, 0.0], [0.0, 1.3, 0.0], [0.0, 1.5, 0.0], [0.0, 1.7, 0.0],         # HipC Spine ShC Head
    [-0.2, 1.5, 0.0], [-0.5, 1.5, 0.0], [-0.75, 1.5, 0.0], [-0.85, 1.5, 0.0],   # left arm
    [0.2, 1.5, 0.0], [0.5, 1.5, 0.0], [0.75, 1.5, 0.0], [0.85, 1.5, 0.0],       # right arm
    [-0.1, 1.0, 0.0], [-0.1, 0.55, 0.0], [-0.1, 0.1, 0.0], [-0.1, 0.0, 0.1],    # left leg
    [0.1, 1.0, 0.0], [0.1, 0.55, 0.0], [0.1, 0.1, 0.0], [0.1, 0.0, 0.1],        # right leg
], dtype=np.float32)


def _reorder(clips_sdk: np.ndarray, layout) -> np.ndarray:
    """SDK-order clips -> ``layout`` order (Kinect v2 extras filled with noise)."""
    alias = {"SpineBase": "HipCenter", "SpineMid": "Spine", "SpineShoulder": "ShoulderCenter"}
    rng = np.random.default_rng(0)
    cols = []
    for name in layout.joints:
        name = alias.get(name, name)
        cols.append(clips_sdk[:, :, SDK.index(name)] if name in SDK.joints
                    else rng.normal(size=clips_sdk.shape[:2] + (3,)).astype(np.float32))
    return np.stack(cols, axis=2)


def _authors_loop(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Direct transcription of the per-frame loops of ``cal_features_ave`` (SDK indices)."""
    X, Y, Z = c[..., 0].astype(np.float64), c[..., 1].astype(np.float64), c[..., 2].astype(np.float64)
    dist = lambda i, j, a, b: np.sqrt((X[i, j, a] - X[i, j, b]) ** 2 + (Y[i, j, a] - Y[i, j, b]) ** 2  # noqa: E731
                                      + (Z[i, j, a] - Z[i, j, b]) ** 2)
    f, ff = [], []
    for i in range(c.shape[0]):
        rows13, rows16 = [], []
        for j in range(c.shape[1]):
            h1 = (2 * Y[i, j, 3] - Y[i, j, 15] - Y[i, j, 19]) / 2
            h2 = (2 * Y[i, j, 2] - Y[i, j, 15] - Y[i, j, 19]) / 2
            r = [h1, h2] + [dist(i, j, a, b) for a, b in
                            [[4, 2], [8, 2], [1, 8], [8, 10], [4, 6], [16, 17], [13, 12], [2, 1], [16, 12]]]
            r += [dist(i, j, 2, 1) / max(dist(i, j, 16, 17), 0.1), dist(i, j, 2, 1) / max(dist(i, j, 13, 12), 0.1)]
            rows13.append(r)
            rows16.append([dist(i, j, a, b) for a, b in
                           [[3, 2], [1, 2], [1, 0], [8, 2], [8, 9], [9, 10], [2, 4], [4, 5], [5, 6],
                            [16, 0], [16, 17], [17, 19], [12, 0], [12, 13], [13, 15]]] + [h1])
        f.append(np.mean(rows13, axis=0))
        ff.append(np.mean(rows16, axis=0))
    return np.array(f), np.array(ff)


def _random_clips(n=4, f=6, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (T_POSE[None, None] + rng.normal(scale=0.05, size=(n, f, 20, 3))).astype(np.float32)


def test_tpose_exact_values():
    clips = T_POSE[None, None]
    d13, d16 = d13_features(clips, SDK)[0], d16_features(clips, SDK)[0]
    # D13: head height 1.7, neck height 1.5, |ShL-ShC| 0.2, |ShR-ShC| 0.2, |Spine-ShR| = sqrt(0.2^2+0.2^2),
    # |ShR-WrR| 0.55, |ShL-WrL| 0.55, thighs 0.45, 0.45, |ShC-Spine| 0.2, |HipR-HipL| 0.2, ratios 0.2/0.45.
    exp13 = [1.7, 1.5, 0.2, 0.2, np.sqrt(0.08), 0.55, 0.55, 0.45, 0.45, 0.2, 0.2, 0.2 / 0.45, 0.2 / 0.45]
    np.testing.assert_allclose(d13, exp13, rtol=1e-5)
    shin_foot = np.sqrt(0.55 ** 2 + 0.1 ** 2)   # knee (y 0.55, z 0) -> foot (y 0, z 0.1)
    exp16 = [0.2, 0.2, 0.3, 0.2, 0.3, 0.25, 0.2, 0.3, 0.25, 0.1, 0.45, shin_foot, 0.1, 0.45, shin_foot, 1.7]
    np.testing.assert_allclose(d16, exp16, rtol=1e-5)


def test_frame_averaging_and_ratio_floor():
    short = T_POSE.copy()
    short[17] = short[16] + [0.0, -0.05, 0.0]        # right thigh 0.05 -> ratio floor 0.1
    clips = np.stack([T_POSE, 2 * T_POSE, short])[None]   # 3 frames
    d13 = d13_features(clips, SDK)[0]
    # head height: (1.7 + 3.4 + 1.7) / 3; ratio1: (0.2/0.45 + 0.4/0.9 + 0.2/0.1) / 3
    assert d13[0] == pytest.approx((1.7 + 3.4 + 1.7) / 3, rel=1e-6)
    assert d13[11] == pytest.approx((0.2 / 0.45 * 2 + 0.2 / 0.1) / 3, rel=1e-6)
    assert d13[12] == pytest.approx(0.2 / 0.45, rel=1e-6)


def test_matches_authors_loop():
    clips = _random_clips()
    f13, f16 = _authors_loop(clips)
    np.testing.assert_allclose(d13_features(clips, SDK), f13, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(d16_features(clips, SDK), f16, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layout", [KGBD, V2])
def test_joint_order_independent(layout):
    clips = _random_clips(seed=1)
    other = _reorder(clips, layout)
    assert other.shape[2] == layout.num_joints
    np.testing.assert_array_equal(d13_features(other, layout), d13_features(clips, SDK))
    np.testing.assert_array_equal(d16_features(other, layout), d16_features(clips, SDK))


def test_kgbd_permutation_is_real():
    # The KGBD file order differs from the SDK order, so the lookup by name matters.
    assert KGBD.joints != SDK.joints and sorted(KGBD.joints) == sorted(SDK.joints)
    clips = _random_clips(seed=2)
    assert not np.allclose(d13_features(clips, KGBD), d13_features(clips, SDK))


def test_unsupported_layout_names_missing_joints():
    clips = np.zeros((1, 2, 14, 3), dtype=np.float32)
    with pytest.raises(ValueError, match=r"coco-14.*'FootLeft'.*'ShoulderCenter'"):
        d13_features(clips, get_layout("coco-14"))
    with pytest.raises(ValueError, match=r"'HipCenter'"):   # D16 also needs the hip centre
        d16_features(clips, "coco-14")
    with pytest.raises(ValueError, match="joints"):
        d16_features(np.zeros((1, 2, 25, 3)), SDK)


def test_translation_invariance():
    clips = _random_clips(seed=3)
    shift = np.random.default_rng(4).normal(scale=3.0, size=(4, 6, 1, 3)).astype(np.float32)
    for fn in (d13_features, d16_features):
        np.testing.assert_allclose(fn(clips + shift, SDK), fn(clips, SDK), rtol=1e-4, atol=1e-4)
    # root centring (what the models' preprocessing does) leaves them unchanged too
    centred = clips - clips[:, :, list(SDK.root_indices())].mean(axis=2, keepdims=True)
    np.testing.assert_allclose(d16_features(centred, SDK), d16_features(clips, SDK), rtol=1e-4, atol=1e-5)


def test_shapes_and_registry():
    clips = _random_clips(n=5, f=7)
    assert raw_clip_features(clips).shape == (5, 7 * 20 * 3)
    np.testing.assert_array_equal(raw_clip_features(clips)[1], clips[1].ravel())
    assert d13_features(clips, "kinect-v1-20-sdk").shape == (5, 13)
    assert d16_features(clips, SDK).shape == (5, 16)
    assert set(BASELINES) == {"raw", "d13", "d16"}
    for name, dim in (("raw", 420), ("d13", 13), ("d16", 16)):
        out = baseline_features(name, clips, SDK)
        assert out.shape == (5, dim) and out.dtype == np.float32
    with pytest.raises(ValueError, match="unknown baseline"):
        baseline_features("dpg", clips, SDK)
