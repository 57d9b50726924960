"""Own data as labs export it (issue 26): column selection, named-joint headers, --inspect, 2D
keypoints (OpenPose BODY_25, COCO-17) end to end, and every malformed file named with line and fault."""

from __future__ import annotations

import json

import numpy as np
import pytest

from himpc.cli import main
from himpc.data import DataError, load_npz
from himpc.data.columns import ColumnSpec, read_table
from himpc.data.example import write_kinect_csv_export, write_openpose_export
from himpc.data.folder import import_folder, read_walk, read_walk_detected
from himpc.data.keypoints import KeypointOptions, clean_walk, read_coco17_walk
from himpc.layouts import LAYOUTS, get_layout

CSV_PATTERN = r"P(?P<person>\d+)/walk"


def _csv(tmp_path, **kw):
    return write_kinect_csv_export(tmp_path / "kinect", **kw)


def test_named_header_is_mapped_onto_the_layout_and_extra_columns_are_left_out(tmp_path):
    folder = _csv(tmp_path, persons=2, walks=1, frames=30)
    f = folder / "P00" / "walk0.csv"
    frames, info = read_walk_detected(f)                                    # no --layout: found from the header
    assert frames.shape == (30, 20, 3) and info["layout"] in ("kinect-v1-20", "kinect-v1-20-sdk")
    lay = get_layout("kinect-v1-20")                                       # KGBD's order, not the file's
    frames = read_walk(f, lay)
    table = read_table(f)
    hc = table.header.index("HipCenter_X")
    head = table.header.index("Head_Y")
    row0 = table.rows[0][1]
    assert frames[0, lay.index("HipCenter"), 0] == pytest.approx(float(row0[hc]))
    assert frames[0, lay.index("Head"), 1] == pytest.approx(float(row0[head]))
    assert "StepLength" not in info["chosen"] and "Timestamp" not in info["chosen"]


@pytest.mark.parametrize("columns", ["3:63", "re:_[XYZ]$"])
def test_index_ranges_and_header_patterns_choose_the_same_columns(tmp_path, columns):
    f = _csv(tmp_path, persons=1, walks=1, frames=30) / "P00" / "walk0.csv"
    lay = get_layout("kinect-v1-20-sdk")                                   # the file's own order
    got = read_walk(f, lay, ColumnSpec(columns=columns))
    assert np.array_equal(got, read_walk(f, lay))
    names = ",".join(f"{j}_{a}" for j in lay.joints for a in "XYZ")
    assert np.array_equal(got, read_walk(f, lay, ColumnSpec(columns=names)))


def test_lowercase_dotted_headers_other_delimiters_and_comment_rows(tmp_path):
    lay = LAYOUTS["coco-14"]
    head = [f"{j.lower()}.{a}" for j in lay.joints for a in "xyz"]
    rng = np.random.default_rng(0)
    data = rng.normal(size=(5, 42))
    text = "# exported by GaitLab 2.1\n# subject 7\n" + "\t".join(["t", *head]) + "\n" + "\n".join(
        "\t".join([str(i), *(f"{v:.4f}" for v in row)]) for i, row in enumerate(data))
    f = tmp_path / "w.tsv"
    f.write_text(text)
    frames, info = read_walk_detected(f)
    assert info["layout"] == "coco-14" and info["delimiter"] == "\t" and frames.shape == (5, 14, 3)
    assert np.allclose(frames.reshape(5, -1), data, atol=1e-4)
    g = tmp_path / "w.txt"                                                   # a title block, then whitespace
    g.write_text("Lab recording\nsession 2\n" + "\n".join(" ".join(f"{v:.4f}" for v in row) for row in data))
    assert np.allclose(read_walk(g, lay, ColumnSpec(skip_rows=2)).reshape(5, -1), data, atol=1e-4)


def test_rows_with_more_numbers_than_joints_say_how_to_choose(tmp_path):
    f = tmp_path / "w.csv"
    f.write_text("\n".join(",".join(["1.0"] * 64) for _ in range(3)))
    with pytest.raises(DataError, match=r"w.csv, line 1: 64 numeric columns; layout 'kinect-v1-20' needs 60 .*--columns"):
        read_walk(f, get_layout("kinect-v1-20"))
    with pytest.raises(DataError, match=r"--columns '60:70' is outside the file's 64 columns"):
        read_walk(f, get_layout("kinect-v1-20"), ColumnSpec(columns="60:70"))
    with pytest.raises(DataError, match="no header names joints"):
        read_walk(f)


@pytest.mark.parametrize("fault, message", [
    (lambda rows: rows.__setitem__(4, rows[4].rsplit(",", 2)[0]), r"line 5: 64 cells where the header has 66 \(a ragged row\)"),
    (lambda rows: rows.__setitem__(6, rows[6].replace("Tracked,", "Tracked,abc,", 1).rsplit(",", 1)[0]),
     r"line 7, column 3 \('HipCenter_X'\): 'abc' is not a number"),
    (lambda rows: rows.__setitem__(3, rows[3].replace("Tracked,", "Tracked,,", 1).rsplit(",", 1)[0]),
     r"line 4, column 3 \('HipCenter_X'\): empty cell"),
    (lambda rows: rows.__setitem__(9, rows[9].replace("Tracked,", "Tracked,nan,", 1).rsplit(",", 1)[0]),
     r"line 10, column 3 \('HipCenter_X'\): nan \(NaN or infinite"),
])
def test_every_malformed_file_is_named_with_its_line_and_column(tmp_path, fault, message):
    f = _csv(tmp_path, persons=1, walks=1, frames=30) / "P00" / "walk0.csv"
    rows = f.read_text().splitlines()
    fault(rows)
    f.write_text("\n".join(rows))
    with pytest.raises(DataError, match=message):
        read_walk(f, get_layout("kinect-v1-20-sdk"))


def test_a_bad_file_is_skipped_named_or_refuses_all_and_nothing_is_written(tmp_path, capsys):
    folder = _csv(tmp_path, persons=4, walks=3, frames=40)
    for name in ("P01/walk2.csv", "P03/walk0.csv"):
        rows = (folder / name).read_text().splitlines()
        rows[5] = rows[5].replace("Tracked,", "Tracked,x", 1)
        (folder / name).write_text("\n".join(rows))
    ss, rep = import_folder(folder, CSV_PATTERN, progress=False)
    assert ss.num_walks == 10 and [f for f, _ in rep.skipped] == ["P01/walk2.csv", "P03/walk0.csv"]
    assert "line 6, column 3" in dict(rep.skipped)["P01/walk2.csv"]
    out = tmp_path / "all.npz"
    with pytest.raises(SystemExit, match=r"2 of 12 walks could not be read, so nothing is imported(.|\n)*P03/walk0.csv"):
        main(["data", "import", str(folder), "--pattern", CSV_PATTERN, "--strict", "--out", str(out), "--quiet"])
    assert not out.exists() and not list(tmp_path.glob("*.part"))
    assert main(["data", "import", str(folder), "--pattern", CSV_PATTERN, "--out", str(out), "--quiet"]) == 0
    assert load_npz(out).num_walks == 10 and "skipped P01/walk2.csv" in capsys.readouterr().out


def test_inspect_prints_what_each_file_holds_and_writes_nothing(tmp_path, capsys):
    folder = _csv(tmp_path, persons=3, walks=3, frames=40)
    out = tmp_path / "never.npz"
    assert main(["data", "import", str(folder), "--pattern", CSV_PATTERN, "--inspect", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert not out.exists()
    line = next(t for t in text.splitlines() if t.startswith("P00/walk0.csv"))
    assert "40 rows x 66 columns" in line and "named header mapped to layout" in line
    assert "HipCenter_X" in line and "(20 joints x 3)" in line and "40 frames" in line and "person 00" in line
    assert "would write 9 walks of 3 persons" in text and "nothing written" in text


def test_2d_layouts_put_every_joint_in_a_component_and_a_limb():
    for name in ("openpose-body25", "openpose-coco18", "coco-17"):
        lay = LAYOUTS[name]
        for parts in (lay.components, lay.limbs):
            assert set().union(*map(set, parts)) == set(range(lay.num_joints)), name
    assert LAYOUTS["coco-17"].root_indices() == (11, 12)                   # centred on the hips' mean


def test_missing_keypoints_are_interpolated_and_empty_frames_dropped():
    lay = LAYOUTS["coco-17"]
    raw = np.zeros((5, 17, 3))
    raw[..., 0] = np.arange(5)[:, None] * 10.0                             # x moves 10 px a frame
    raw[..., 1] = np.linspace(0, 100, 17)[None]                            # a body 100 px tall
    raw[..., 2] = 0.9
    raw[2, 3] = (0.0, 0.0, 0.0)                                            # undetected: OpenPose's zeros
    raw[4, :, 2] = 0.05                                                    # nobody really there
    xy, info = clean_walk(raw, lay, KeypointOptions(min_confidence=0.1))
    assert xy.shape == (4, 17, 2) and info["frames_dropped"] == 1 and info["body_height_px"] == 100
    assert xy[2, 3, 0] == pytest.approx(0.2) and xy[2, 3, 1] == pytest.approx(raw[0, 3, 1] / 100)
    raw[:, 5, 2] = 0.0
    with pytest.raises(DataError, match="left_shoulder never detected"):
        clean_walk(raw, lay)


def test_coco17_results_format_keeps_the_best_detection_per_image(tmp_path):
    rng = np.random.default_rng(1)
    dets = []
    for img in (10, 2, 1):                                                 # natural order, not file order
        for score in (0.3, 0.9):
            kp = np.column_stack([rng.uniform(0, 100, (17, 2)), np.full(17, 0.8)])
            kp[:, 1] = np.linspace(0, 50, 17) + img
            dets.append({"image_id": img, "keypoints": kp.ravel().tolist(), "score": score})
    f = tmp_path / "walk.json"
    f.write_text(json.dumps(dets))
    raw, lay = read_coco17_walk(f)
    assert lay.name == "coco-17" and raw.shape == (3, 17, 3)
    assert [raw[t, 0, 1] for t in range(3)] == [1, 2, 10]
    best = [d for d in dets if d["image_id"] == 2 and d["score"] == 0.9][0]
    assert np.allclose(raw[1].ravel(), best["keypoints"])
    f.write_text("[{\"image_id\": 1}")
    with pytest.raises(DataError, match=r"walk.json, line 1: not JSON"):
        read_coco17_walk(f)


def test_openpose_walks_import_train_and_evaluate_in_2d(tmp_path, capsys):
    folder = write_openpose_export(tmp_path / "op", persons=6, walks=4, frames=40)
    out = tmp_path / "op.npz"
    assert main(["data", "import", str(folder), "--format", "openpose", "--pattern", r"(?P<person>\d+)-\d+",
                 "--inspect"]) == 0
    line = next(t for t in capsys.readouterr().out.splitlines() if t.startswith("000-00:"))
    assert "40 frames read, 0 dropped" in line and "of keypoints interpolated" in line and "(25 joints x 2)" in line
    assert main(["data", "import", str(folder), "--format", "openpose", "--pattern", r"(?P<person>\d+)-\d+",
                 "--out", str(out), "--quiet"]) == 0
    assert "layout openpose-body25 x 2" in capsys.readouterr().out
    ss = load_npz(out)
    assert ss.dims == 2 and ss.num_walks == 24 and ss.layout.name == "openpose-body25"
    assert np.abs(ss.positions).max() < 5                                 # in body heights, not pixels
    small = ["--set", "hidden=16", "--set", "heads=2", "--set", "batch_size=64", "--set", "min_samples=2",
             "--set", "k1=6", "--set", "k2=3", "--set", "threads=1", "--set", "trim=2"]
    assert main(["train", "--dataset", f"npz:{out}", *small, "--epochs", "2", "--quiet",
                 "--out", str(tmp_path / "run")]) == 0
    res = json.loads((tmp_path / "run" / "split0" / "result.json").read_text())
    assert 0 <= res["metrics"]["msmr"]["R1"] <= 100 and res["split"]["clips"]["train"] > 0


@pytest.mark.slow
def test_the_readme_walk_through_runs_as_written(tmp_path):
    """README 'Your own data': its bash block, run as written in a fresh folder, ends with both tables."""
    import os
    import subprocess
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    text = (root / "README.md").read_text().split("## Your own data", 1)[1]
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    (tmp_path / ".venv").symlink_to(root / ".venv")
    env = {**os.environ, "HIMPC_NO_PROGRESS": "1"}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "joints from named header" in done.stdout and "nothing written" in done.stdout
    for run in ("raw", "hi-mpch"):
        res = json.loads((tmp_path / "example" / "runs" / run / "split0" / "result.json").read_text())
        assert 0 <= res["metrics"]["msmr"]["R1"] <= 100


def test_2d_walks_draw_as_skeletons_in_the_image_plane(tmp_path):
    from himpc.report import viz
    folder = write_openpose_export(tmp_path / "op", persons=2, walks=1, frames=12)
    ss, _ = import_folder(folder, r"(?P<person>\d+)-\d+", fmt="openpose", progress=False, min_frames=10)
    fig = viz.skeleton_figure(ss.walk(0), ss.layout)
    assert len(fig.frames) == 12 and set(fig.data[1].y) == {0.0}                 # zero depth
    assert max(fig.data[1].z) == pytest.approx(-ss.walk(0)[0, :, 1].min(), abs=1e-5)   # head up
    assert len(viz.hierarchy_figure(ss.walk(0)[:6], ss.layout).data) > 3
