"""Full-page screenshots of built book pages in headless chromium with the network off.

    python scripts/book_screenshot.py book/_build/html/notebooks/04_hard_skeleton_mining.html docs/hsm_page.png

Also used by tests/test_book_browser.py (``make_browser``, ``full_page_screenshot``).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


def make_browser(profile_dir: str, width: int = 1280, height: int = 1600):
    """Headless chromium that cannot reach the network (proxy to a closed port), console logs kept."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    if not (CHROMIUM and DRIVER):
        raise SystemExit("chromium and chromedriver are needed: apt-get install -y chromium chromium-driver")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
              "--disable-dev-shm-usage", "--enable-unsafe-swiftshader", "--use-angle=swiftshader",
              f"--window-size={width},{height}", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
              f"--user-data-dir={profile_dir}"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(DRIVER), options=opts)


def full_page_screenshot(drv, path: Path, width: int = 1280, settle: float = 0.3) -> None:
    """Screenshot of the whole page (the window grows to the page height, then shrinks back)."""
    height = drv.execute_script("return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)")
    drv.set_window_size(width, min(int(height) + 100, 16000))
    time.sleep(settle)
    drv.save_screenshot(str(path))
    drv.set_window_size(width, 1600)


def main(page: str, out: str) -> None:
    with tempfile.TemporaryDirectory() as prof:
        drv = make_browser(prof)
        try:
            drv.get(Path(page).resolve().as_uri())
            time.sleep(3.0)                    # plotly and the widget manager draw after load
            full_page_screenshot(drv, Path(out), settle=1.0)
        finally:
            drv.quit()
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
