"""Generic .npz format: round trip and clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from himpc.data import DataError, SkeletonSet, load_dataset, load_npz, save_npz
from himpc.layouts import LayoutError, get_layout


def arrays(j: int = 25, **over):
    rng = np.random.default_rng(0)
    d = {"positions": rng.normal(size=(30, j, 3)).astype(np.float32),
         "walk_offsets": np.array([0, 10, 18, 30], np.int64),
         "person": np.array([7, 7, 9]), "layout": np.array("kinect-v2-25")}
    d.update(over)
    return {k: v for k, v in d.items() if v is not None}


def write(tmp_path, **over):
    p = tmp_path / "d.npz"
    np.savez(p, **arrays(**over))
    return p


def test_load_minimal(tmp_path):
    ss = load_npz(write(tmp_path))
    assert ss.layout.name == "kinect-v2-25" and ss.num_walks == 3
    assert list(ss.person) == ["7", "7", "9"] and list(ss.walk_names) == ["7/1", "7/2", "9/1"]
    assert ss.view is None and ss.source.endswith("d.npz")


def test_round_trip_with_view_condition_and_spec(tmp_path):
    lay = get_layout("coco-14")
    spec = dict(lay.to_spec(), name="my14")
    p = write(tmp_path, j=14, layout=None, layout_spec=np.array(json.dumps(spec)),
              view=np.array(["000", "090", "000"]), condition=np.array(["nm", "bg", "cl"]),
              positions=np.random.default_rng(1).normal(size=(30, 14, 3)))   # float64 accepted
    ss = load_npz(p)
    assert ss.layout.name == "my14" and ss.layout.joints == lay.joints and ss.positions.dtype == np.float32
    out = save_npz(ss, tmp_path / "out.npz")
    back = load_npz(out)
    assert np.array_equal(back.positions, ss.positions) and back.layout == ss.layout
    assert list(back.view) == ["000", "090", "000"] and list(back.condition) == ["nm", "bg", "cl"]
    ss2 = load_npz(write(tmp_path))
    save_npz(ss2, tmp_path / "k.npz")
    with np.load(tmp_path / "k.npz", allow_pickle=False) as z:
        assert str(z["layout"]) == "kinect-v2-25" and "layout_spec" not in z.files
    assert isinstance(load_dataset(f"npz:{tmp_path / 'k.npz'}", None), SkeletonSet)


@pytest.mark.parametrize("over, words", [
    ({"positions": None}, "missing required array(s) ['positions']"),
    ({"person": None}, "missing required array(s) ['person']"),
    ({"layout": None}, "missing 'layout'"),
    ({"layout_spec": np.array("{}")}, "not both"),
    ({"positions": np.zeros((30, 25, 3), np.int32)}, "'positions' must be float32"),
    ({"positions": np.zeros((30, 75), np.float32)}, "[total_frames, J, 3]"),
    ({"walk_offsets": np.array([0.0, 10, 30])}, "'walk_offsets' must be a 1-D integer array"),
    ({"walk_offsets": np.array([0, 10, 29])}, "walk_offsets must rise"),
    ({"person": np.array([1.0, 2.0, 3.0])}, "'person' must hold integers or strings"),
    ({"person": np.array([1, 2])}, "person has 2 entries for 3 walks"),
    ({"j": 20}, "20 joints per frame but layout 'kinect-v2-25' has 25"),
])
def test_errors(tmp_path, over, words):
    with pytest.raises(DataError) as e:
        load_npz(write(tmp_path, **over))
    assert words in str(e.value) and "d.npz" in str(e.value), str(e.value)


def test_nan_unknown_layout_and_pickle(tmp_path):
    pos = arrays()["positions"].copy()
    pos[12, 3, 1] = np.nan
    with pytest.raises(DataError, match="NaN or infinite coordinates in walk 7/2 frame 2"):
        load_npz(write(tmp_path, positions=pos))
    with pytest.raises(LayoutError, match="unknown layout 'kinect-v9'"):
        load_npz(write(tmp_path, layout=np.array("kinect-v9")))
    p = tmp_path / "o.npz"
    np.savez(p, **arrays(person=np.array(["a", None, "b"], dtype=object)))
    with pytest.raises(DataError, match="object arrays, which need pickle"):
        load_npz(p)
    with pytest.raises(DataError, match="no such file"):
        load_npz(tmp_path / "missing.npz")
    (tmp_path / "bad.npz").write_bytes(b"junk")
    with pytest.raises(DataError, match="not a readable .npz"):
        load_npz(tmp_path / "bad.npz")
