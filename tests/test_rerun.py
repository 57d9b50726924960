"""himpc rerun: parameter slugs, grids, skip-when-done, failures named with notebook, parameters and cell."""

import json
import re
from pathlib import Path

import pytest

from himpc.rerun import notebooks as rr
from himpc.rerun import site
from himpc.store import write_json
from himpc.cli import main

DOLLAR_MATH = re.compile(r"\$\$|(?<!\\)\$[^\s$][^$\n]*\$")   # myst dollarmath: $V^l$, $$...$$


def test_slug_is_stable_and_file_safe():
    assert rr.slug({}) == "default"
    s = rr.slug({"b": 2, "a": "x/y z"})
    assert s == rr.slug({"a": "x/y z", "b": 2}) and "/" not in s and " " not in s
    long = rr.slug({"eps_grid": list(range(50))})
    assert len(long) <= 80 and long != rr.slug({"eps_grid": list(range(51))})


def test_grid_expansion_and_unknown_parameters(tmp_path):
    assert rr._expand({"grid": {"a": [1, 2], "b": [3]}, "c": 0}) == [{"c": 0, "a": 1, "b": 3}, {"c": 0, "a": 2, "b": 3}]
    grid = tmp_path / "g.yaml"
    grid.write_text(json.dumps({"notebooks": {"01_skeletons_hierarchy": {"grid": {"max_frames": [5, 6]}}}}))
    jobs = rr.plan(rr.load_profile(str(grid)), tmp_path)
    assert [j.params["max_frames"] for j in jobs] == [5, 6] and jobs[0].output != jobs[1].output
    grid.write_text(json.dumps({"notebooks": {"01_skeletons_hierarchy": [{"no_such": 1}]}}))
    with pytest.raises(ValueError, match="unknown parameter"):
        rr.plan(rr.load_profile(str(grid)), tmp_path)
    with pytest.raises(FileNotFoundError, match="known: .*smoke"):
        rr.load_profile("nope")


def test_every_notebook_is_clean_source():
    """The notebooks are the source people edit: one parameters cell, no outputs, readable lines,
    plumbing removed from the page and plotting code folded."""
    for stem in rr.BOOK_NOTEBOOKS:
        nb = json.loads((rr.NOTEBOOKS / f"{stem}.ipynb").read_text())
        tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, stem
        assert "results_dir" in rr.notebook_parameters(rr.NOTEBOOKS / f"{stem}.ipynb")
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), f"{stem}: outputs"
        long = [line for c in code for line in "".join(c["source"]).splitlines() if len(line) > 100]
        assert not long, f"{stem}: code lines over 100 characters: {long}"
        untagged = [c for c in code if not set(c.get("metadata", {}).get("tags", [])) &
                    {"parameters", "remove-cell", "hide-input", "remove-input"}]
        assert not untagged, f"{stem}: code cells without a display tag"
        text = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
        assert not DOLLAR_MATH.search(text), (
            f"{stem}: $...$ math makes Sphinx load MathJax from a CDN on this page and the root page; "
            f"the book ships no MathJax (it must read offline): write V<sup>l</sup> or Unicode instead")


def test_two_parameters_cells_are_refused_with_the_notebook_name(tmp_path):
    nb = json.loads((rr.NOTEBOOKS / "01_skeletons_hierarchy.ipynb").read_text())
    extra = json.loads(json.dumps(next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))))
    extra["id"] = "extra"
    nb["cells"].append(extra)
    bad = tmp_path / "99_edited.ipynb"
    bad.write_text(json.dumps(nb))
    with pytest.raises(rr.NotebookError, match="99_edited has 2 cells tagged 'parameters'"):
        rr.notebook_parameters(bad)


@pytest.mark.slow
def test_failure_is_reported_and_success_is_skipped(tmp_path, capsys):
    from test_engine import synthetic_walks
    data = synthetic_walks(tmp_path / "w.npz", persons=3, walks=4, frames=30)
    grid = tmp_path / "g.yaml"
    grid.write_text(json.dumps({"notebooks": {"01_skeletons_hierarchy": [
        {"dataset": f"npz:{data}", "max_frames": 4, "trim": 2, "max_persons": 0},
        {"dataset": f"npz:{tmp_path}/missing.npz"}]}}))
    args = ["rerun", "--profile", str(grid), "--results", str(tmp_path / "res"), "--jobs", "2", "--quiet"]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "1 executed, 0 skipped" in out and "FAILED 01_skeletons_hierarchy" in out
    assert "missing.npz" in out and "at cell" in out and "load_dataset" in out
    assert main(args) == 1                                   # the good one is skipped, the bad one retried
    assert "0 executed, 1 skipped" in capsys.readouterr().out


def test_book_build_writes_where_it_says(tmp_path, monkeypatch, capsys):
    """jupyter-book puts its output next to the _config.yml it finds (the repository root) unless
    told otherwise; the build must land in <book>/_build/html, and a build without it fails.  What it
    builds is the tree assemble staged in <book>/_build/src: the sources are never written to."""
    import subprocess
    seen = {}

    def fake_run(cmd, **kw):
        seen["cmd"] = cmd
        out = Path(cmd[cmd.index("--path-output") + 1]) / "_build" / "html"
        out.mkdir(parents=True)
        (out / "index.html").write_text("<html></html>")
        return subprocess.CompletedProcess(cmd, 0, "", "")
    monkeypatch.setattr(site.subprocess, "run", fake_run)
    book = tmp_path / "book"
    (book / "_static").mkdir(parents=True)
    (book / "intro.md").write_text("# intro\n")
    results = tmp_path / "results"
    nb = results / "notebooks" / "01_skeletons_hierarchy"
    nb.mkdir(parents=True)
    (nb / "default.ipynb").write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    write_json(nb / "default" / "record.json", {"notebook": "01_skeletons_hierarchy", "status": "ok",
                                                "output": str(nb / "default.ipynb"), "started": "1",
                                                "parameters": {}, "seconds": 1, "code_version": "x"})
    before = sorted(p.relative_to(book) for p in book.rglob("*"))
    missing = site.assemble(results, book, roots=[])
    assert "01_skeletons_hierarchy" not in missing and "02_clustering" in missing
    stage = book / "_build" / "src"
    assert (stage / "notebooks" / "01_skeletons_hierarchy.ipynb").exists() and (stage / "results.md").exists()
    assert (stage / "intro.md").exists()
    assert sorted(p.relative_to(book) for p in book.rglob("*") if "_build" not in p.parts) == before
    assert site.build_book(book) == 0 and str(book / "_build" / "html" / "index.html") in capsys.readouterr().out
    assert seen["cmd"][2] == str(stage) and (stage / "_static" / "plotly.min.js").exists()
    assert not (book / "_static" / "plotly.min.js").exists()
    monkeypatch.setattr(site.subprocess, "run", lambda cmd, **kw: subprocess.CompletedProcess(cmd, 0, "", ""))
    other = tmp_path / "other"
    other.mkdir()
    assert site.build_book(other) == 1 and "nothing staged" in capsys.readouterr().out
    (other / "_build" / "src" / "notebooks").mkdir(parents=True)
    assert site.build_book(other) == 1 and "does not exist" in capsys.readouterr().out
