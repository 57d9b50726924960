"""Bring your own skeletons: a folder of per-walk files -> .npz (`himpc data import`), the split
counts of any protocol (`himpc data --set`), then training and evaluation on it."""

from __future__ import annotations

import json

import pytest

from himpc.cli import main
from himpc.data import DataError
from himpc.data.example import LAB18_SPEC as SPEC, write_example_folder
from himpc.data.folder import import_folder, read_walk
from himpc.layouts import get_layout, layout_from_spec

def make_folder(root, j, persons=4, walks=4, frames=40, per_joint_rows=False, conditions=("01", "02")):
    return write_example_folder(root, j, persons, walks, frames, per_joint_rows, conditions)


def test_import_two_layouts_and_bad_files(tmp_path):
    v2 = make_folder(tmp_path / "v2", 25)
    (v2 / "sub00" / "Run01_9.txt").write_text("")                                  # empty
    (v2 / "sub01" / "Run01_8.txt").write_text("1,2,3,4\n4,5,6,7\n")                # wrong columns
    (v2 / "sub02" / "notes.txt").write_text("hello")                                # does not match
    (v2 / "sub03" / "Run02_7.txt").write_text("\n".join(",".join(["0.1"] * 75) for _ in range(5)))   # short
    ss, rep = import_folder(v2, r"sub(?P<person>\d+)/Run(?P<condition>\d+)_", get_layout("kinect-v2-25"),
                            min_frames=20, progress=False)
    assert ss.num_walks == 16 and sorted(set(ss.condition)) == ["01", "02"] and ss.layout.num_joints == 25
    why = dict(rep.skipped)
    assert set(why) == {"sub00/Run01_9.txt", "sub01/Run01_8.txt", "sub02/notes.txt", "sub03/Run02_7.txt"}
    assert "empty" in why["sub00/Run01_9.txt"] and "does not match" in why["sub02/notes.txt"]
    assert "line 1: 4 numeric columns; layout 'kinect-v2-25' needs 75" in why["sub01/Run01_8.txt"]
    assert "fewer than min_frames" in why["sub03/Run02_7.txt"]
    with pytest.raises(DataError, match="sub00/Run01_9.txt: empty|Run01_9.txt: empty"):
        import_folder(v2, r"sub(?P<person>\d+)/Run(?P<condition>\d+)_", get_layout("kinect-v2-25"),
                      min_frames=20, strict=True, progress=False)
    custom = make_folder(tmp_path / "lab", 18, per_joint_rows=True)
    frames = read_walk(next(custom.rglob("*.txt")), layout_from_spec(SPEC))
    assert frames.shape == (40, 18, 3)
    bad = tmp_path / "nan.txt"
    bad.write_text("\n".join(",".join(["nan"] * 54) for _ in range(3)))
    with pytest.raises(DataError, match=r"nan.txt, line 1, column 0: nan \(NaN or infinite"):
        read_walk(bad, layout_from_spec(SPEC))


def test_cli_import_a_second_layout_names_what_it_skips(tmp_path, capsys):
    v2 = make_folder(tmp_path / "v2", 25)                                       # one frame per row, CSV
    (v2 / "sub01" / "Run01_8.txt").write_text("1,2,3,4\n4,5,6,7\n")
    out = tmp_path / "v2.npz"
    assert main(["data", "import", str(v2), "--pattern", r"sub(?P<person>\d+)/Run(?P<condition>\d+)_",
                 "--layout", "kinect-v2-25", "--min-frames", "20", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "read 16 walk file(s), skipped 1" in text and "sub01/Run01_8.txt, line 1: 4 numeric columns" in text
    assert "layout kinect-v2-25" in text and "condition: ['01', '02']" in text
    with pytest.raises(SystemExit, match="needs a named group 'person'"):
        main(["data", "import", str(v2), "--pattern", r"sub(\d+)", "--out", str(out), "--quiet"])


def test_cli_import_counts_train_and_evaluate(tmp_path, capsys):
    folder = make_folder(tmp_path / "lab", 18, persons=6, walks=6, per_joint_rows=True,
                         conditions=("nm", "nm", "bg", "bg", "cl", "cl"))
    spec = tmp_path / "lab-18.json"
    spec.write_text(json.dumps(SPEC))
    out = tmp_path / "lab.npz"
    assert main(["data", "import", str(folder), "--pattern", r"sub(?P<person>\d+)/Run(?P<condition>[a-z]+)_",
                 "--layout-spec", str(spec), "--out", str(out), "--quiet"]) == 0
    assert "read 36 walk file(s), skipped 0" in capsys.readouterr().out
    by_field = ["--set", "protocol=by-field", "--set", "by_field=condition", "--set", "probe_values=bg",
                "--set", "gallery_values=nm", "--set", "trim=2"]
    assert main(["data", "--dataset", f"npz:{out}", *by_field]) == 0          # no --data needed for npz:
    text = capsys.readouterr().out
    info = json.loads(text[text.index("{", text.index("}") + 1):])
    assert info["walks"] == {"train": 12, "gallery": 12, "probe": 12} and info["protocol"] == "by-field"
    small = ["--set", "hidden=16", "--set", "heads=2", "--set", "batch_size=64", "--set", "min_samples=2",
             "--set", "k1=6", "--set", "k2=3", "--set", "threads=1"]
    assert main(["train", "--dataset", f"npz:{out}", *by_field, *small, "--epochs", "2", "--quiet",
                 "--out", str(tmp_path / "run")]) == 0
    res = json.loads((tmp_path / "run" / "split0" / "result.json").read_text())
    assert res["split"]["protocol"] == "by-field" and 0 <= res["metrics"]["msmr"]["R1"] <= 100
    assert main(["eval", "--model", str(tmp_path / "run" / "split0" / "model.safetensors")]) == 0
    assert '"max_abs_difference"' in capsys.readouterr().out
