"""KGBD reader: parsing, malformed files, source layouts, cache, fetch error path, real data."""

from __future__ import annotations

import io
import logging
import os
import tarfile
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from himpc.data import DataError, load_kgbd, walk_split
from himpc.data import kgbd as kg
from himpc.layouts import KGBD_FILE_JOINTS


def walk_lines(frames: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    xyz = rng.normal(size=(frames, 20, 3)).round(6)
    return [f"{j};{x};{y};{z}" for f in xyz for j, (x, y, z) in zip(KGBD_FILE_JOINTS, f)]


def text(lines: list[str], eol: str = "\r\n") -> bytes:
    return (eol.join(lines) + eol).encode()


def make_folder(root: Path, walks: dict[str, list[int]], frames: int = 3) -> Path:
    for p, ks in walks.items():
        (root / p).mkdir(parents=True, exist_ok=True)
        for k in ks:
            (root / p / f"{k}.txt").write_bytes(text(walk_lines(frames + k, seed=k)))
    return root


def make_tar(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


# ----------------------------------------------------------------------------- parse_walk
def test_parse_walk_values_and_shape():
    lines = walk_lines(4)
    a = kg.parse_walk(text(lines), "w.txt")
    assert a.shape == (4, 20, 3) and a.dtype == np.float32
    x, y, z = (float(v) for v in lines[21].split(";")[1:])
    np.testing.assert_allclose(a[1, 1], [x, y, z], rtol=1e-6)


def test_parse_walk_tolerates_lf_blank_tail_and_whitespace():
    lines = walk_lines(2)
    ref = kg.parse_walk(text(lines), "w.txt")
    assert np.array_equal(kg.parse_walk(text(lines, "\n") + b"\n\n  \r\n", "w.txt"), ref)
    spaced = [" " + ln.replace(";", " ; ") + "  " for ln in lines]
    assert np.array_equal(kg.parse_walk(text(spaced), "w.txt"), ref)


@pytest.mark.parametrize("edit, line, words", [
    (lambda L: L.__setitem__(4, "Elbow-Right;1.0;2.0"), 5, "4 ';'-separated fields"),
    (lambda L: L.__setitem__(6, "Wrist-Right;1.0;abc;2.0"), 7, "non-numeric"),
    (lambda L: L.pop(22), 23, "expected joint 'Shoulder-Right'"),
    (lambda L: L.__setitem__(11, "Hip-centro;nan;0;0"), 12, "NaN or infinite"),
    (lambda L: L.__setitem__(12, "Hip-Right;0;inf;0"), 13, "NaN or infinite"),
    (lambda L: L.__setitem__(0, "Heed;0;0;0"), 1, "expected joint 'Head'"),
    (lambda L: L.insert(30, ""), 31, "4 ';'-separated fields"),
])
def test_parse_walk_errors_name_file_and_line(edit, line, words):
    lines = walk_lines(3)
    edit(lines)
    with pytest.raises(DataError) as e:
        kg.parse_walk(text(lines), "Person007/3.txt")
    msg = str(e.value)
    assert "Person007/3.txt" in msg and f"line {line}:" in msg and words in msg, msg


def test_parse_walk_missing_joint_message_says_which():
    lines = walk_lines(3)
    del lines[25]                                    # frame 2, joint 6 (Elbow-Left)
    with pytest.raises(DataError, match=r"line 26: expected joint 'Elbow-Left' \(joint 6 of 20 in frame 2\), "
                                        r"found 'Wrist-Right'"):
        kg.parse_walk(text(lines), "w.txt")


def test_parse_walk_truncated_and_empty():
    lines = walk_lines(3)[:45]
    with pytest.raises(DataError, match=r"w\.txt, line 41: truncated final frame"):
        kg.parse_walk(text(lines), "w.txt")
    for empty in (b"", b"\r\n\r\n", b"  "):
        with pytest.raises(DataError, match="w.txt: empty file"):
            kg.parse_walk(empty, "w.txt")


# ----------------------------------------------------------------------------- sources
WALKS = {"Person002": [2, 1, 10], "Person001": [1, 2, 3], "Person010": [1, 2, 3, 4]}


def check_set(ss) -> None:
    assert list(ss.walk_names) == ["Person001/1", "Person001/2", "Person001/3", "Person002/1", "Person002/2",
                                   "Person002/10", "Person010/1", "Person010/2", "Person010/3", "Person010/4"]
    assert list(ss.person[:4]) == ["Person001"] * 3 + ["Person002"]
    assert ss.layout.name == "kinect-v1-20" and ss.positions.shape[1:] == (20, 3)
    assert list(ss.walk_lengths[3:6]) == [4, 5, 13]  # frames = 3 + walk number


@pytest.mark.parametrize("sub", ["", "Data", "KGBD/Data", "kgbd/KGBD/Data"])
def test_unpacked_folder_layouts(tmp_path, sub):
    make_folder(tmp_path / sub if sub else tmp_path, WALKS)
    check_set(load_kgbd(tmp_path, cache_dir=tmp_path / "cache", progress=False))


@pytest.mark.parametrize("where", ["file", "KGBD.tar.gz", "kgbd/KGBD.tar.gz"])
def test_tarball_layouts(tmp_path, where):
    src = make_folder(tmp_path / "src", WALKS)
    files = {f"KGBD/Data/{p.parent.name}/{p.name}": p.read_bytes() for p in src.glob("*/*.txt")}
    files["KGBD/GenderBMIData/person-data.csv"] = b"Individual,Height,Gender\r\nPerson001,1.63,F\r\nPerson002,,M\r\n"
    files["KGBD/README.md"] = b"readme"
    tgt = tmp_path / "root" / ("KGBD.tar.gz" if where == "file" else where)
    tgt.parent.mkdir(parents=True, exist_ok=True)
    make_tar(tgt, files)
    ss = load_kgbd(tgt if where == "file" else tmp_path / "root", cache_dir=tmp_path / "cache", progress=False)
    check_set(ss)
    assert ss.meta["person_data"]["Person001"] == {"Height": 1.63, "Gender": "F"}
    assert ss.meta["person_data"]["Person002"]["Height"] is None
    ref = load_kgbd(src, cache_dir=tmp_path / "cache", progress=False)
    assert np.array_equal(ref.positions, ss.positions)


def test_tarball_error_names_member_and_line(tmp_path):
    lines = walk_lines(2)
    lines[33] = "Knee-Left;1;2"
    tgt = make_tar(tmp_path / "KGBD.tar.gz", {"KGBD/Data/Person001/1.txt": text(lines)})
    with pytest.raises(DataError, match=r"KGBD\.tar\.gz:KGBD/Data/Person001/1\.txt, line 34:"):
        load_kgbd(tgt, use_cache=False, progress=False)


def test_missing_and_corrupt_sources(tmp_path):
    with pytest.raises(DataError, match="no KGBD data"):
        load_kgbd(tmp_path, use_cache=False, progress=False)
    bad = tmp_path / "KGBD.tar.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00garbage" * 10)
    with pytest.raises(DataError, match="cannot read the archive"):
        load_kgbd(bad, use_cache=False, progress=False)


# ----------------------------------------------------------------------------- cache
def test_cache_reused_and_rebuilt_when_corrupt(tmp_path, monkeypatch, caplog):
    src = make_folder(tmp_path / "d", WALKS)
    cache = tmp_path / "cache"
    ref = load_kgbd(src, cache_dir=cache, progress=False)
    files = list(cache.glob("kgbd-*.npz"))
    assert len(files) == 1
    with np.load(files[0], allow_pickle=False) as z:       # no object arrays in the cache
        assert z["person"].dtype.kind == "U"

    def boom(*a, **k):
        raise AssertionError("parsed although cached")
    monkeypatch.setattr(kg, "_parse_source", boom)
    again = load_kgbd(src, cache_dir=cache, progress=False)
    assert np.array_equal(again.positions, ref.positions) and list(again.walk_names) == list(ref.walk_names)
    monkeypatch.undo()

    files[0].write_bytes(b"not an npz")
    with caplog.at_level(logging.WARNING, logger="himpc.data"):
        rebuilt = load_kgbd(src, cache_dir=cache, progress=False)
    assert "ignoring unreadable KGBD cache" in caplog.text
    assert np.array_equal(rebuilt.positions, ref.positions)
    with np.load(files[0], allow_pickle=False) as z:
        assert len(z["positions"]) == len(ref.positions)


def test_cache_key_changes_with_source(tmp_path, monkeypatch):
    src = make_folder(tmp_path / "d", WALKS)
    monkeypatch.setenv("HIMPC_CACHE", str(tmp_path / "envcache"))
    load_kgbd(src, progress=False)
    assert len(list((tmp_path / "envcache").glob("kgbd-*.npz"))) == 1
    (src / "Person001" / "4.txt").write_bytes(text(walk_lines(2)))
    ss = load_kgbd(src, progress=False)
    assert ss.num_walks == 11
    assert len(list((tmp_path / "envcache").glob("kgbd-*.npz"))) == 2


# ----------------------------------------------------------------------------- fetch / verify
def test_fetch_offline_error(tmp_path, monkeypatch):
    def offline(*a, **k):
        raise urllib.error.URLError("no network")
    monkeypatch.setattr("urllib.request.urlopen", offline)
    with pytest.raises(DataError, match=r"KGBD\.tar\.gz") as e:
        kg.fetch_kgbd(tmp_path, progress=False)
    assert kg.KGBD_SHA256 in str(e.value) and str(tmp_path / "kgbd") in str(e.value)
    assert not list((tmp_path / "kgbd").glob("*.part"))


def test_verify_archive(tmp_path, monkeypatch):
    f = tmp_path / "KGBD.tar.gz"
    f.write_bytes(b"abc")
    assert kg.verify_kgbd_archive(f) is False
    monkeypatch.setattr(kg, "KGBD_SHA256", kg.sha256_file(f))
    assert kg.verify_kgbd_archive(f) is True


# ----------------------------------------------------------------------------- real data
_REAL = Path(os.environ.get("HIMPC_DATA", "/nonexistent")) / "kgbd" / "KGBD.tar.gz"


@pytest.mark.slow
@pytest.mark.skipif(not _REAL.is_file(), reason="HIMPC_DATA does not hold kgbd/KGBD.tar.gz")
def test_real_kgbd(tmp_path):
    ss = load_kgbd(_REAL.parent.parent, cache_dir=tmp_path, progress=False)
    assert len(np.unique(ss.person)) == 164 and ss.num_walks == 822
    lens = ss.walk_lengths
    assert lens.min() == 208 and lens.max() == 1711
    assert abs(len(ss.positions) - 492_000) < 2_000
    assert len(ss.meta["person_data"]) >= 164
    gal, prb = [], []
    for seed in (0, 1, 2):
        sp = walk_split(ss, seed=seed, seq_len=6, trim=10)
        assert sp.info["persons_dropped"] == [] and sp.info["walks"]["probe"] == 164
        gal.append(len(sp.gallery))
        prb.append(len(sp.probe))
    # README: one split gave 31,471 gallery / 15,736 probe clips; single splits vary by ~2%.
    assert abs(gal[0] / 31_500 - 1) < 0.025 and abs(prb[0] / 15_700 - 1) < 0.025
    assert abs(np.mean(gal) / 31_500 - 1) < 0.01 and abs(np.mean(prb) / 15_700 - 1) < 0.01
