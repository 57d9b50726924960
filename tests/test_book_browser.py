"""The built book in a real browser (Debian's chromium, headless, network off), from file://.

Builds the book from a smoke rerun of every notebook on synthetic data (KGBD is not needed; the
cross-view notebook measures its matrix on generated walks with a view field), then for every
page: plotly figures rendered (SVG / canvas present), no console errors, tables are HTML tables
(as many as each page must have, no paragraph of pipe text), no bar trace repeats a category or
exceeds 100 on a percentage axis; on the HSM page the clip dropdown changes the figure and the
ipywidgets inspector renders from its saved widget state.  A full-page screenshot of each page
is kept under ``book/_build/screenshots``.  ``page_report`` is shared with
``tests/test_default_book.py`` (the real default book).
Skipped with the reason when chromium, chromedriver or selenium is missing.
"""

import json
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
selenium = pytest.importorskip("selenium", reason="selenium is not installed (pip install -r requirements.txt)")

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not (CHROMIUM and DRIVER), reason=(
    "chromium / chromedriver not found: `apt-get install -y chromium chromium-driver` (Debian) to run the browser test"))]


@pytest.fixture(scope="module")
def built_book(tmp_path_factory, monkeypatch_module):
    import numpy as np
    from himpc.data.npz import load_npz, save_npz
    from test_engine import synthetic_walks
    tmp = tmp_path_factory.mktemp("book")
    data = synthetic_walks(tmp / "walks.npz", persons=5, walks=5, frames=40)
    viewed = synthetic_walks(tmp / "viewed.npz", persons=5, walks=6, frames=40)
    ss = load_npz(viewed)
    ss.view = np.array(["000", "000", "090", "090", "180", "180"] * 5)
    save_npz(ss, viewed)
    grid = tmp / "grid.yaml"
    small = {"dataset": f"npz:{data}", "max_persons": 0, "epochs": 1, "hidden": 16, "heads": 2, "threads": 1,
             "small_model": True}
    prof = {"name": "browser-test", "notebooks": {
        "01_skeletons_hierarchy": [{"dataset": f"npz:{data}", "max_frames": 8, "trim": 2, "max_persons": 0}],
        "02_clustering": [dict(small, eps_grid=[0.6], min_samples_grid=[2])],
        "03_meta_transformation": [small],
        "04_hard_skeleton_mining": [dict(small, epochs=2, n_clips=4)],
        "05_main_results": [{"dataset": f"npz:{data}", "results_roots": [], "train_root": "{results}/runs",
                             "epochs": 1, "max_persons": 0, "hidden": 16, "heads": 2}],
        "11_cross_view": [{"dataset": f"npz:{viewed}", "train_values": ["180"], "eval_values": ["000", "090"],
                           "epochs": 1, "max_persons": 0, "hidden": 16, "heads": 2, "threads": 1}],
        "12_casia_b": [{}],
        "13_tsne": [dict(small, persons=4, per_person=10)],
        "15_paper_vs_code": [{"results_roots": ["{results}/runs"]}],
        "16_beyond": [{"results_roots": ["{results}/runs"], "epochs": 1}],
    }}
    rows = {"dataset": f"npz:{data}", "results_roots": [], "train_root": "{results}/runs", "epochs": 1,
            "max_persons": 0, "hidden": 16, "heads": 2}
    for stem in rr.BOOK_NOTEBOOKS:
        prof["notebooks"].setdefault(stem, [rows])
    assert set(prof["notebooks"]) == set(rr.BOOK_NOTEBOOKS)
    grid.write_text(json.dumps(prof))
    results = tmp / "results"
    outcomes = rr.rerun(str(grid), results, progress=False)
    assert rr.report_outcomes(outcomes) == 0
    book = tmp / "book"
    shutil.copytree(ROOT / "book", book, ignore=shutil.ignore_patterns("_build", "notebooks", "results.md"))
    assert site.assemble(results, book, roots=[results / "runs"]) == []
    assert site.build_book(book) == 0
    return book / "_build" / "html"


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    drv = make_browser(str(tmp_path_factory.mktemp("chromium-profile")))
    yield drv
    drv.quit()


PAGES = ["intro.html"] + [f"notebooks/{stem}.html" for stem in rr.BOOK_NOTEBOOKS] + ["results.html"]


def _wait(drv, script, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        v = drv.execute_script(script)
        if v:
            return v
        time.sleep(0.25)
    return drv.execute_script(script)


def test_pages_render_offline(built_book, browser):
    shots = built_book.parent / "screenshots"
    shots.mkdir(exist_ok=True)
    for page in PAGES:
        browser.get((built_book / page).as_uri())
        n_plots = browser.execute_script("return document.querySelectorAll('.plotly-graph-div').length")
        if n_plots:
            rendered = _wait(browser, "return Array.from(document.querySelectorAll('.plotly-graph-div'))"
                                      ".every(d => d.querySelector('svg.main-svg, canvas'))")
            assert rendered, f"{page}: a plotly figure did not render"
        full_page_screenshot(browser, shots / (page.replace("/", "_").replace(".html", ".png")))
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, f"{page}: console errors {errors}"
    assert (shots / "notebooks_04_hard_skeleton_mining.png").exists()
    keep = ROOT / "book" / "_build" / "screenshots"          # CI artefact, next to the real build
    shutil.copytree(shots, keep, dirs_exist_ok=True)


# Results tables (report.Table) each page must show: measured + quoted-only tables.
EXPECTED_TABLES = {"01_skeletons_hierarchy": 1, "03_meta_transformation": 1, "05_main_results": 6,
                   "06_ablation": 2, "07_levels": 3, "08_heads_embedding": 4, "09_dbscan": 4,
                   "10_sequence_length": 1, "12_casia_b": 1, "13_tsne": 1, "14_baselines": 2,
                   "15_paper_vs_code": 3, "16_beyond": 7}

PAGE_JS = """
const art = document.querySelector('main') || document.body;
const tables = Array.from(art.querySelectorAll('table.himpc-table')).filter(t => !t.closest('.widget-output, .jupyter-widgets'));
const pipes = Array.from(art.querySelectorAll('p')).map(p => p.textContent).filter(t => /\\|\\s*-{3}|^\\s*\\|.*\\|/.test(t));
const figs = Array.from(document.querySelectorAll('.plotly-graph-div')).map(g => ({
  bars: (g.data || []).filter(t => t.type === 'bar').map(t => ({name: t.name, x: t.x, y: t.y, yaxis: t.yaxis || 'y'})),
  heatmaps: (g.data || []).filter(t => t.type === 'heatmap').map(t => ({y: t.y, x: t.x})),
  ranges: Object.fromEntries(Object.entries(g.layout || {}).filter(([k, v]) => k.startsWith('yaxis'))
                              .map(([k, v]) => [k.replace('axis', ''), v.range || null]))}));
return {tables: tables.length, pipes: pipes, figs: figs, text: art.innerText};
"""


def page_report(browser) -> dict:
    """What a page says: its results tables, pipe-text paragraphs, figure data and text."""
    return browser.execute_script(PAGE_JS)


def check_page(page: str, rep: dict) -> None:
    stem = page.split("/")[-1].replace(".html", "")
    assert not rep["pipes"], f"{page}: pipe text instead of a table: {rep['pipes'][:2]}"
    if stem in EXPECTED_TABLES:
        assert rep["tables"] == EXPECTED_TABLES[stem], f"{page}: {rep['tables']} tables, expected {EXPECTED_TABLES[stem]}"
    for fig in rep["figs"]:
        for tr in fig["bars"]:
            cats = [str(c) for c in tr["x"]]
            assert len(cats) == len(set(cats)), f"{page}: bar trace {tr['name']!r} repeats a category: {cats}"
            rng = fig["ranges"].get(tr["yaxis"])
            if rng and rng[1] == 100:
                assert all(v is None or v <= 100 for v in tr["y"]), f"{page}: {tr['name']!r} above 100%"


def test_pages_say_what_they_must(built_book, browser):
    for page in PAGES:
        browser.get((built_book / page).as_uri())
        _wait(browser, "return Array.from(document.querySelectorAll('.plotly-graph-div')).every(d => d.data)")
        check_page(page, page_report(browser))


def test_hsm_dropdown_changes_the_figure(built_book, browser):
    browser.get((built_book / "notebooks/04_hard_skeleton_mining.html").as_uri())
    _wait(browser, "return document.querySelector('.updatemenu-header-group')")
    js_z = ("const d = Array.from(document.querySelectorAll('.plotly-graph-div'))"
            ".find(g => g.layout && g.layout.updatemenus && g.layout.updatemenus.length && g.data[0].type === 'heatmap');"
            "return d ? JSON.stringify(d.data.map(t => t.z)) : null;")
    before = browser.execute_script(js_z)
    assert before
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    def click(selector, i):            # a real mouse click, as a reader would
        el = browser.find_elements(By.CSS_SELECTOR, selector)[i]
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", el)
        ActionChains(browser).move_to_element(el).click().perform()

    click(".updatemenu-header-group", 0)
    assert _wait(browser, "return document.querySelectorAll('.updatemenu-dropdown-button').length > 1"), "dropdown did not open"
    click(".updatemenu-dropdown-button", 1)
    after = _wait(browser, js_z.replace("return d ?", "return d && JSON.stringify(d.data.map(t => t.z)) !== "
                                                  + json.dumps(before) + " ?"))
    assert after and after != before, "choosing another clip in the dropdown did not change the heat maps"
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def test_hsm_inspector_renders_from_saved_widget_state(built_book, browser):
    """The live-notebook inspector (ipywidgets) is shown in the static page from its saved state."""
    browser.get((built_book / "notebooks/04_hard_skeleton_mining.html").as_uri())
    n = _wait(browser, "return document.querySelectorAll('.widget-dropdown select, .widget-slider').length")
    assert n and n >= 3, "the ipywidgets inspector did not render (no dropdowns / sliders from the widget state)"
    labels = browser.execute_script("return Array.from(document.querySelectorAll('.widget-label')).map(e => e.textContent)")
    assert {"person", "clip", "level"} <= set(labels), labels
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
