"""Options beyond the paper: facing normalisation, root joint choice, walk / identity pseudo labels."""

import numpy as np
import pytest

from himpc import engine
from himpc.config import make_config
from himpc.data.protocols import facing_angles, normalize_clips
from himpc.layouts import get_layout
from test_engine import SMALL, synthetic_walks


def _rot_y(clips, a):
    c, s = np.cos(a), np.sin(a)
    out = clips.copy()
    out[..., 0] = c * clips[..., 0] - s * clips[..., 2]
    out[..., 2] = s * clips[..., 0] + c * clips[..., 2]
    return out


def test_root_facing_removes_heading_and_keeps_shape():
    lay = get_layout("kinect-v1-20")
    rng = np.random.default_rng(0)
    clips = rng.normal(size=(5, 6, 20, 3)).astype(np.float32)
    a = normalize_clips(clips, lay, "root-facing")
    b = normalize_clips(_rot_y(clips, 1.1), lay, "root-facing")   # same clips, turned about the vertical
    assert np.allclose(a, b, atol=1e-5)
    assert np.allclose(facing_angles(a, lay), 0.0, atol=1e-5)     # mean hip axis now along +x
    root, = lay.root_indices()
    assert np.allclose(a[..., root, :], 0.0, atol=1e-6)
    # rotation keeps every bone length
    d0 = np.linalg.norm(clips[..., 2, :] - clips[..., 3, :], axis=-1)
    d1 = np.linalg.norm(a[..., 2, :] - a[..., 3, :], axis=-1)
    assert np.allclose(d0, d1, atol=1e-5)


def test_root_joint_choice():
    lay = get_layout("kinect-v1-20")
    clips = np.random.default_rng(1).normal(size=(2, 3, 20, 3)).astype(np.float32)
    out = normalize_clips(clips, lay, "root", root="Head")
    assert np.allclose(out[..., lay.index("Head"), :], 0)
    with pytest.raises(Exception, match="no joint"):
        normalize_clips(clips, lay, "root", root="Tail")
    with pytest.raises(ValueError, match="unknown normalize"):
        normalize_clips(clips, lay, "sideways")


@pytest.mark.parametrize("mode", ["walk", "identity"])
def test_walk_and_identity_pseudo_labels(tmp_path, mode):
    ds = f"npz:{synthetic_walks(tmp_path / 'w.npz')}"
    cfg = make_config("hi-mpch", dataset=ds, epochs=1, pseudo_labels=mode, **SMALL)
    res = engine.train(cfg, None, tmp_path / mode, progress=False)
    h = res["history"][0]
    assert h["purity"]["J"] == 1.0 and h["outliers"]["J"] == 0
    n_walks, n_people = res["split"]["walks"]["train"], res["split"]["persons"]["train"]
    assert h["clusters"]["J"] == (n_walks if mode == "walk" else n_people)
    assert ("SUPERVISED" in res.get("warning", "")) == (mode == "identity")
