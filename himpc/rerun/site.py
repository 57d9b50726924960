"""The book's site: the newest executed notebook of each page and the generated pages, staged in the
build folder apart from the sources, then ``jupyter-book build``.

Sources: ``notebooks/*.ipynb`` (no outputs) and ``book/`` (intro, ``_static``, ``_ext``, quoted
numbers).  :func:`assemble` writes the staged source tree ``<book>/_build/src`` (the sources copied,
the executed notebooks from ``<results>/notebooks``, the generated results overview), never beside
the sources; :func:`build_book` builds it into ``<book>/_build/html``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

from .notebooks import BOOK, BOOK_NOTEBOOKS, ROOT

STAGE = Path("_build") / "src"           # under the book folder: what jupyter-book builds


# Warnings that mean content is missing or broken on a page.
BROKEN = (r"unknown_mime_type", r"skipping unknown output mime type", r"image file not readable",
          r"Execution Failed", r"Couldn't find cache key", r"toc\.(not_found|excluded)", r"undefined label",
          r"Unknown target name", r"nonexisting document", r"document isn't included in any toctree",
          r"Output cell contains error", r"mime_type", r"Could not import extension", r"failed to import")


def records(results: Path) -> list[dict]:
    out = []
    for f in Path(results).glob("notebooks/*/*/record.json"):
        try:
            out.append(json.loads(f.read_text()))
        except (OSError, ValueError):
            continue
    return out


def write_static(book: Path) -> Path:
    """plotly.js of the installed plotly, into the staged book's ``_static`` (served with the site, no CDN)."""
    import plotly
    from plotly.offline import get_plotlyjs
    static = book / "_static"
    static.mkdir(parents=True, exist_ok=True)
    target = static / "plotly.min.js"
    stamp = static / "plotly.version"
    if not target.exists() or not stamp.exists() or stamp.read_text() != plotly.__version__:
        target.write_text(get_plotlyjs(), encoding="utf-8")
        stamp.write_text(plotly.__version__)
    return target


PLOTLY_MIME = "application/vnd.plotly.v1+json"


def _book_copy(src: Path, dst: Path) -> None:
    """Copy an executed notebook for the book, dropping the plotly JSON where the output also has the
    HTML div (the JSON is for JupyterLab; the book would report it as an unknown mime type)."""
    nb = json.loads(src.read_text())
    for cell in nb.get("cells", []):
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags:       # papermill's cell: only worth a look when it sets more than paths
            names = {line.split("=")[0].strip() for line in "".join(cell.get("source", "")).splitlines()
                     if "=" in line and not line.lstrip().startswith("#")}
            tags.append("remove-cell" if names <= {"results_dir"} else "hide-input")
        elif "parameters" in tags:              # the page's settings: one click away, not the first thing read
            tags.append("hide-input")
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if PLOTLY_MIME in data and "text/html" in data:
                del data[PLOTLY_MIME]
    dst.write_text(json.dumps(nb, indent=1))


def assemble(results: Path, book: Path = BOOK, roots: Optional[list[Path]] = None) -> list[str]:
    """Stage the site's source tree in ``<book>/_build/src``: the book's sources, the newest successful
    executed notebook of each page, the generated results overview; returns the pages missing (never
    executed).  Nothing is written beside the sources."""
    from ..report.overview import overview_markdown
    stage = book / STAGE
    if stage.exists():
        shutil.rmtree(stage)
    shutil.copytree(book, stage, ignore=shutil.ignore_patterns("_build", "profiles", "notebooks", "results.md"))
    dest = stage / "notebooks"
    dest.mkdir(parents=True, exist_ok=True)
    recs = [r for r in records(results) if r.get("status") == "ok"]
    missing = []
    for stem in BOOK_NOTEBOOKS:
        mine = sorted((r for r in recs if r["notebook"] == stem), key=lambda r: r.get("started", ""))
        if not mine:
            missing.append(stem)
            continue
        _book_copy(Path(mine[-1]["output"]), dest / f"{stem}.ipynb")
    if roots is None:                  # the committed result folders (results/<dataset>...) and this rerun's
        committed = ROOT / "results"
        roots = sorted(d for d in committed.iterdir() if d.is_dir() and d.name not in ("book", "logs")) \
            if committed.is_dir() else []
        roots.append(Path(results))
    lines = ["# Results overview", "",
             "Every `result.json` written by this project's code that the book found: what ran, on what "
             "hardware (CPU ×2: two threads) and in which precision, how long it took (the run's own "
             "process: a resumed run counts the epochs after its checkpoint) and with which commit. Rows "
             "marked SMOKE ran on a few persons and are not comparable with the paper.", ""]
    for root in roots:
        lines += [f"## `{Path(root).relative_to(ROOT) if Path(root).is_relative_to(ROOT) else root}`", "",
                  overview_markdown([root]), ""]
    lines += ["## Executed notebooks", "", "| notebook | parameters | seconds | code version |", "|---|---|---|---|"]
    for r in sorted(recs, key=lambda r: (r["notebook"], r.get("started", ""))):
        lines.append(f"| {r['notebook']} | `{json.dumps(r['parameters'], sort_keys=True)}` | {r.get('seconds')} | "
                     f"{r.get('code_version')} |")
    (stage / "results.md").write_text("\n".join(lines) + "\n")
    return missing


def build_book(book: Path = BOOK, strict: bool = True) -> int:
    """``jupyter-book build`` (HTML) of the tree :func:`assemble` staged; warnings that hide broken
    content fail the build."""
    stage = book / STAGE
    if not (stage / "notebooks").is_dir():
        print(f"nothing staged at {stage}: run assemble (himpc book) first")
        return 1
    write_static(stage)
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(stage), "--builder", "html", "--keep-going",
           "--path-output", str(book),     # else jupyter-book writes next to the _config.yml it finds (ROOT)
           "--config", str(ROOT / "_config.yml"), "--toc", str(ROOT / "_toc.yml")]
    print("$ " + " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    log = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)
    (book / "_build").mkdir(parents=True, exist_ok=True)
    (book / "_build" / "build.log").write_text(log)
    warnings = [line for line in log.splitlines() if "WARNING" in line or "ERROR" in line]
    broken = [w for w in warnings if any(re.search(p, w) for p in BROKEN)] if strict else []
    for w in warnings:
        print(("BROKEN  " if w in broken else "warning ") + w)
    if proc.returncode != 0:
        print(log[-4000:])
        print(f"jupyter-book build failed (exit {proc.returncode}); full log: {book / '_build' / 'build.log'}")
        return proc.returncode or 1
    if broken:
        print(f"{len(broken)} warning(s) hide broken content; failing the build (log: {book / '_build' / 'build.log'})")
        return 1
    index = book / "_build" / "html" / "index.html"
    if not index.exists():
        print(f"jupyter-book reported success but {index} does not exist (log: {book / '_build' / 'build.log'})")
        return 1
    print(f"book built: {index}")
    return 0
