"""Authors' preprocessed Datasets/ layout, generated in a tmp dir."""

from __future__ import annotations

import numpy as np
import pytest

from himpc.data import ClipSplit, DataError, load_authors_split, load_dataset

F = 4


def write_part(folder, prefix, name, clips, labels):
    folder.mkdir(parents=True, exist_ok=True)
    for i, axis in enumerate("xyz"):
        np.save(folder / f"{prefix}source_{axis}_{name}_{F}.npy", clips[..., i].reshape(len(clips) * F, -1))
    np.save(folder / f"frame_id_{name}_{F}.npy", labels)


def make_dataset(root, name, j, splits, n=6):
    rng = np.random.default_rng(0)
    base = root / "Datasets" / name / str(F)
    data = {}
    for part in ["train"] + list(splits):
        clips = rng.normal(size=(n, F, j, 3)).astype(np.float32)
        labels = np.arange(n) % 3
        folder = base / "train_npy_data" if part == "train" else base / "test_npy_data" / part
        write_part(folder, "" if part == "train" else "t_", name, clips, labels)
        data[part] = (clips, labels)
    ids = np.empty((), dtype=object)
    ids[()] = {0: [1, 2]}
    np.save(base / "train_npy_data" / f"ids_{name}_{F}.npy", ids, allow_pickle=True)   # never loaded
    return data


def test_ias_default_gallery_and_values(tmp_path):
    data = make_dataset(tmp_path, "IAS", 20, ["A", "B"])
    for root in (tmp_path, tmp_path / "Datasets"):
        sp = load_authors_split(root, "IAS", F, probe="A")
        assert isinstance(sp, ClipSplit)
        assert sp.info["gallery"] == "B" and sp.gallery.layout.name == "kinect-v1-20-sdk"
        np.testing.assert_array_equal(sp.probe.clips, data["A"][0])
        np.testing.assert_array_equal(sp.gallery.clips, data["B"][0])
        np.testing.assert_array_equal(sp.train.clips, data["train"][0])
        assert list(sp.probe.person) == [str(v) for v in data["A"][1]]
        assert (sp.train.walk == -1).all() and sp.train.clips.shape == (6, F, 20, 3)
    assert load_authors_split(tmp_path, "IAS", F, probe="B").info["gallery"] == "A"


@pytest.mark.parametrize("name, j, splits, probe, layout", [
    ("KS20", 25, ["probe", "gallery"], None, "kinect-v2-25"),
    ("BIWI", 20, ["Walking", "Still"], "Still", "kinect-v1-20-sdk"),
    ("KGBD", 20, ["probe", "gallery"], "probe", "kinect-v1-20"),   # Preprocess.py keeps the raw order
])
def test_other_datasets(tmp_path, name, j, splits, probe, layout):
    make_dataset(tmp_path, name, j, splits)
    sp = load_authors_split(tmp_path, name, F, probe=probe)
    assert sp.probe.layout.name == layout and sp.probe.clips.shape[2] == j
    assert sp.info["probe"] == (probe or "probe")


def test_casia_b_needs_gallery_and_load_dataset(tmp_path):
    make_dataset(tmp_path, "CASIA_B", 14, ["nm", "cl"])
    with pytest.raises(DataError, match="give gallery="):
        load_authors_split(tmp_path, "CASIA-B", F, probe="cl")
    sp = load_dataset("authors:CASIA_B:cl:nm", tmp_path, seq_len=F)
    assert sp.gallery.layout.name == "coco-14" and sp.info["gallery"] == "nm"
    with pytest.raises(DataError, match="seq_len"):
        load_dataset("authors:CASIA_B:cl:nm", tmp_path)


def test_errors(tmp_path):
    make_dataset(tmp_path, "IAS", 20, ["A", "B"])
    base = tmp_path / "Datasets" / "IAS" / str(F)
    with pytest.raises(DataError, match="unknown authors' dataset"):
        load_authors_split(tmp_path, "NTU", F)
    with pytest.raises(DataError, match=r"missing file: expected .*IAS/6/train_npy_data/source_x_IAS_6\.npy"):
        load_authors_split(tmp_path, "IAS", 6)
    np.save(base / "test_npy_data" / "B" / f"t_source_y_IAS_{F}.npy",
            np.array([[1.0, "a"]], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="object array that needs pickle"):
        load_authors_split(tmp_path, "IAS", F, probe="A")
    np.save(base / "test_npy_data" / "B" / f"t_source_y_IAS_{F}.npy", np.zeros(7 * F * 20))
    with pytest.raises(DataError, match="x / y / z arrays differ"):
        load_authors_split(tmp_path, "IAS", F, probe="A")
    np.save(base / "test_npy_data" / "B" / f"t_source_y_IAS_{F}.npy", np.zeros(7))
    with pytest.raises(DataError, match=r"do not reshape to \[-1, 4, 20\]"):
        load_authors_split(tmp_path, "IAS", F, probe="A")
    np.save(base / "test_npy_data" / "B" / f"t_source_y_IAS_{F}.npy", np.zeros(6 * F * 20))
    np.save(base / "train_npy_data" / f"frame_id_IAS_{F}.npy", np.zeros(5, np.int64))
    with pytest.raises(DataError, match="expected 6 integer labels"):
        load_authors_split(tmp_path, "IAS", F, probe="A")
