"""The built book in a real browser (Debian's chromium, headless, network off), from file://.

Builds the book from a smoke rerun on synthetic data (KGBD is not needed), then for every page:
plotly figures rendered (SVG / canvas present), no console errors; on the HSM page the clip
dropdown changes the figure.  A screenshot of each page is kept under ``book/_build/screenshots``.
Skipped with the reason when chromium, chromedriver or selenium is missing.
"""

import json
import shutil
import time
from pathlib import Path

import pytest

from himpc import rerun as rr

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
selenium = pytest.importorskip("selenium", reason="selenium is not installed (pip install -r requirements.txt)")

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not (CHROMIUM and DRIVER), reason=(
    "chromium / chromedriver not found: `apt-get install -y chromium chromium-driver` (Debian) to run the browser test"))]


@pytest.fixture(scope="module")
def built_book(tmp_path_factory, monkeypatch_module):
    from test_engine import synthetic_walks
    tmp = tmp_path_factory.mktemp("book")
    data = synthetic_walks(tmp / "walks.npz", persons=5, walks=5, frames=40)
    grid = tmp / "grid.yaml"
    small = {"dataset": f"npz:{data}", "max_persons": 0, "epochs": 1, "hidden": 16, "heads": 2, "threads": 1}
    prof = {"name": "browser-test", "notebooks": {
        "01_skeletons_hierarchy": [{"dataset": f"npz:{data}", "max_frames": 8, "trim": 2, "max_persons": 0}],
        "02_clustering": [dict(small, eps_grid=[0.6], min_samples_grid=[2])],
        "03_meta_transformation": [small],
        "04_hard_skeleton_mining": [dict(small, epochs=2, n_clips=4)],
        "05_main_results": [{"dataset": f"npz:{data}", "results_roots": [], "train_root": "{results}/runs",
                             "epochs": 1, "max_persons": 0, "hidden": 16, "heads": 2}],
        "06_ablation": [{"dataset": f"npz:{data}", "results_roots": [], "train_root": "{results}/runs",
                         "epochs": 1, "max_persons": 0, "hidden": 16, "heads": 2}],
    }}
    grid.write_text(json.dumps(prof))
    results = tmp / "results"
    outcomes = rr.rerun(str(grid), results, progress=False)
    assert rr.report_outcomes(outcomes) == 0
    book = tmp / "book"
    shutil.copytree(ROOT / "book", book, ignore=shutil.ignore_patterns("_build", "notebooks", "results.md"))
    assert rr.assemble(results, book, roots=[results / "runs"]) == []
    assert rr.build_book(book) == 0
    return book / "_build" / "html"


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
              "--disable-dev-shm-usage", "--enable-unsafe-swiftshader", "--use-angle=swiftshader",
              "--window-size=1280,1600", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
              f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(DRIVER), options=opts)
    yield drv
    drv.quit()


PAGES = ["intro.html", "notebooks/01_skeletons_hierarchy.html", "notebooks/02_clustering.html",
         "notebooks/03_meta_transformation.html", "notebooks/04_hard_skeleton_mining.html",
         "notebooks/05_main_results.html", "notebooks/06_ablation.html", "results.html"]


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
        browser.save_screenshot(str(shots / (page.replace("/", "_").replace(".html", ".png"))))
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, f"{page}: console errors {errors}"
    assert (shots / "notebooks_04_hard_skeleton_mining.png").exists()
    keep = ROOT / "book" / "_build" / "screenshots"          # CI artefact, next to the real build
    shutil.copytree(shots, keep, dirs_exist_ok=True)


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
