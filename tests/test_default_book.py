"""The default book as a reader gets it (``bash scripts/main.sh``): real KGBD, the reference model in
models/, the committed results, no training.  Built once into a temporary copy, then read in
headless chromium (network off): every table a table, every bar a distinct row, no SMOKE number,
the HSM heat maps of the reference model (8 heads, 3 levels), every figure drawn, no console error.

Needs HIMPC_DATA (KGBD), the reference model and chromium; skipped with the reason otherwise.
"""

import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from himpc.rerun import notebooks as rr
from himpc.rerun import site

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from book_screenshot import CHROMIUM, DRIVER, full_page_screenshot, make_browser  # noqa: E402
from test_book_browser import PAGES, _wait, check_page, page_report  # noqa: E402

MODEL = ROOT / "models" / "kgbd-hi-mpch-split0.safetensors"
DATA = os.environ.get("HIMPC_DATA")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="chromium / chromedriver not found"),
              pytest.mark.skipif(not (DATA and (Path(DATA) / "kgbd" / "KGBD.tar.gz").exists()),
                                 reason="HIMPC_DATA does not point at KGBD"),
              pytest.mark.skipif(not MODEL.exists(), reason=f"no reference model at {MODEL}")]


@pytest.fixture(scope="module")
def default_book(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("default-book")
    t0 = time.perf_counter()
    outcomes = rr.rerun("reference", tmp / "results", progress=False)
    assert rr.report_outcomes(outcomes) == 0
    book = tmp / "book"
    shutil.copytree(ROOT / "book", book, ignore=shutil.ignore_patterns("_build", "notebooks", "results.md"))
    assert site.assemble(tmp / "results", book) == []
    assert site.build_book(book) == 0
    print(f"default book: notebooks and build in {time.perf_counter() - t0:.0f} s")
    return book / "_build" / "html"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    drv = make_browser(str(tmp_path_factory.mktemp("chromium-profile")))
    yield drv
    drv.quit()


def test_default_pages_are_what_a_reader_needs(default_book, browser):
    shots = ROOT / "book" / "_build" / "screenshots-default"
    shots.mkdir(parents=True, exist_ok=True)
    for page in PAGES:
        browser.get((default_book / page).as_uri())
        drawn = _wait(browser, "return Array.from(document.querySelectorAll('.plotly-graph-div'))"
                               ".every(d => d.querySelector('svg.main-svg, canvas'))")
        assert drawn, f"{page}: a plotly figure did not render"
        rep = page_report(browser)
        check_page(page, rep)
        if page.startswith("notebooks/"):   # (the intro explains the label; the overview lists every folder)
            assert "SMOKE" not in rep["text"], f"{page}: shows a SMOKE number"
        assert "Small model trained" not in rep["text"], f"{page}: a small model instead of the reference"
        full_page_screenshot(browser, shots / (page.replace("/", "_").replace(".html", ".png")))
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, f"{page}: console errors {errors}"


def test_hsm_page_shows_the_reference_model(default_book, browser):
    browser.get((default_book / "notebooks/04_hard_skeleton_mining.html").as_uri())
    _wait(browser, "return document.querySelector('.plotly-graph-div') && document.querySelector('.plotly-graph-div').data")
    rep = page_report(browser)
    maps = next(f["heatmaps"] for f in rep["figs"] if len(f["heatmaps"]) == 3)
    assert all(len(h["y"]) == 8 + 1 for h in maps), "expected 8 heads and their mean on every level"
    assert "Reference model" in rep["text"] and "kgbd-hi-mpch-split0" in rep["text"]


def test_tsne_page_draws_both_reference_models_on_the_same_clips(default_book, browser):
    """Page 13: the paper's method and hi-mpc++ (the second reference model), each a t-SNE figure of
    the same clips, and the nearest-neighbour table with one column per model, as its outputs say."""
    import json
    browser.get((default_book / "notebooks/13_tsne.html").as_uri())
    _wait(browser, "return document.querySelector('table.himpc-table')")
    rep = page_report(browser)
    assert "kgbd-hi-mpch-split0" in rep["text"] and "kgbd-hi-mpc-plusplus-split0" in rep["text"]
    titles = browser.execute_script("return Array.from(document.querySelectorAll('.plotly-graph-div'))"
                                    ".map(d => String((d.layout.title || {}).text || d.layout.title));")
    assert len(titles) == 2 and "hi-mpc++" in titles[1] and "hi-mpc++" not in titles[0]
    out = json.loads((default_book.parents[2] / "results/notebooks/13_tsne/default/outputs.json").read_text())
    want = [[name, *(f"{a[name]:.0%}" for a in out["agreement"].values())] for name in out["points"]]
    got = browser.execute_script(
        "const t = document.querySelector('table.himpc-table');"
        "return [Array.from(t.querySelectorAll('th')).map(c => c.innerText.trim()),"
        " Array.from(t.querySelectorAll('tbody tr')).map(r => Array.from(r.cells).map(c => c.innerText.trim()))];")
    assert got == [["representation", "Hi-MPCh", "hi-mpc++"], want]


def test_budget_figure_draws_the_headline_traces_and_every_longer_run(default_book, browser):
    from himpc import report
    rows = report.comparison_rows(3, "KGBD", [ROOT / "results" / "kgbd"], ["R1", "R5", "R10", "mAP"])
    longer = report.past_budget_curves(rows, "Hi-MPCh", 40)       # the committed runs past the budget
    assert longer, "results/kgbd has a Hi-MPCh run past the 40-epoch budget (results/kgbd/e80)"
    browser.get((default_book / "notebooks/05_main_results.html").as_uri())
    js = ("const g = Array.from(document.querySelectorAll('.plotly-graph-div')).find(d => d.layout && d.layout.title"
          " && String(d.layout.title.text || d.layout.title).includes('probe/gallery trace'));"
          "return g ? g.data.filter(t => t.xaxis !== 'x2' && t.type === 'scatter').map(t => [t.name, t.x]) : null;")
    traces = _wait(browser, f"return (function() {{ {js} }})()")
    drawn = {name: list(x) for name, x in traces}
    assert {"split 0", "split 1", "split 2", "mean over splits"} <= set(drawn), drawn.keys()
    for name, trace in longer.items():
        assert drawn.get(name) == [e for e, _, _ in trace], f"{name}: not drawn with its traced epochs"
    assert "Trained past the budget" in page_report(browser)["text"]


def test_beyond_page_shows_the_ablation_the_result_files_hold(default_book, browser):
    """Page 16's ablation table: one row per ablation row, each measured cell the mean ± std of the
    committed result files (derived here, not typed), and the bars drawn for the measured rows only."""
    from himpc import report
    from himpc.report import beyond_ablation as ba
    rows = ba.ablation_rows([ROOT / "results" / "kgbd"], 40)
    want = ba.ablation_table(rows, delta=("R1", "mAP")).rows
    browser.get((default_book / "notebooks/16_beyond.html").as_uri())
    _wait(browser, "return document.querySelector('table.himpc-table')")
    got = browser.execute_script(
        "const t = document.querySelector('table.himpc-table');"
        "return Array.from(t.querySelectorAll('tbody tr')).map(r => Array.from(r.cells).map(c => c.innerText.trim()));")
    assert [[" ".join(c.split()) for c in r] for r in got] == want
    rep = page_report(browser)
    bars = next(f["bars"] for f in rep["figs"] if f["bars"])
    assert sorted(bars[0]["x"]) == sorted(r["label"] for r in rows if r["splits"])
    assert "hi-mpc++ reaches" in rep["text"] and "hi-mpc+ reaches" in rep["text"] and "quoted" in rep["text"]
    headline = ba.headline_table([ROOT / "results" / "kgbd"], 40, report.load_paper(), long_epochs=80).rows
    got = browser.execute_script(
        "const t = document.querySelectorAll('table.himpc-table')[1];"
        "return Array.from(t.querySelectorAll('tbody tr')).map(r => Array.from(r.cells).map(c => c.innerText.trim()));")
    assert [[" ".join(c.split()) for c in r] for r in got] == headline        # the paper's protocol row too
    assert any("epoch picked on probe/gallery" in r[0] for r in headline)
    first = ba.ablation_table(ba.ablation_rows([ROOT / "results" / "kgbd"], 40, rows=ba.PLUS_ROWS),
                              delta=("R1", "mAP")).rows
    got = browser.execute_script(
        "const t = Array.from(document.querySelectorAll('table.himpc-table'))"
        f".find(t => t.querySelector('tbody td').innerText.trim() === {first[0][0]!r});"
        "return Array.from(t.querySelectorAll('tbody tr')).map(r => Array.from(r.cells).map(c => c.innerText.trim()));")
    assert [[" ".join(c.split()) for c in r] for r in got] == first          # the first round, hi-mpc+
    levers = ba.lever_table(ba.lever_rows([ROOT / "results" / "kgbd"], 40)).rows
    got = browser.execute_script(
        "const t = Array.from(document.querySelectorAll('table.himpc-table'))"
        ".find(t => t.innerText.includes('hi-mpc+ mAP'));"
        "return Array.from(t.querySelectorAll('tbody tr')).map(r => Array.from(r.cells).map(c => c.innerText.trim()));")
    assert [[" ".join(c.split()) for c in r] for r in got] == levers         # each lever beside hi-mpc+
