"""Batch reruns of the book's notebooks with papermill, and the book build.

``himpc rerun --profile smoke|paper|<grid.yaml>`` executes every (notebook, parameter set) of a
profile into ``<results>/notebooks/<notebook>/<slug>.ipynb`` (the slug is made from the
parameters), each run with its own ``results_dir`` (``<results>/notebooks/<notebook>/<slug>/``)
so runs are independent and can go in parallel: on a LocalCluster of ``--jobs`` workers or on the
Dask cluster at ``--scheduler`` (:mod:`himpc.executor`).  A run whose ``record.json`` says
it succeeded with the same parameters and the same code version is skipped, so an interrupted
rerun picks up where it stopped.  Failures are listed at the end (notebook, parameters, cell)
and the exit status is non-zero.

Profile / grid YAML::

    name: smoke
    defaults: {threads: 1}            # given to every notebook that has the parameter
    notebooks:
      01_skeletons_hierarchy: [{}]                       # a list of parameter sets
      02_clustering: {grid: {max_persons: [4, 8]}}      # or a grid (cartesian product)
    resources:                        # optional: Dask resources a job holds while it runs
      05_main_results: {GPU: 1}       # (workers started with `dask worker ... --resources GPU=1`)

String values may use ``{results}`` (the results folder).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from .results import write_json

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
BOOK = ROOT / "book"                  # the book's sources; _config.yml and _toc.yml are at ROOT
PROFILES = BOOK / "profiles"


# ----------------------------------------------------------------------------- profiles
def load_profile(spec: str) -> dict:
    """A profile by name (``book/profiles/<name>.yaml``) or a path to a YAML grid."""
    import yaml
    path = Path(spec)
    if not path.suffix:
        path = PROFILES / f"{spec}.yaml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in PROFILES.glob("*.yaml")))
        raise FileNotFoundError(f"no profile {spec!r} (known: {known}; or give a YAML file)")
    prof = yaml.safe_load(path.read_text()) or {}
    if not isinstance(prof.get("notebooks"), dict):
        raise ValueError(f"{path}: a profile needs a 'notebooks' mapping (notebook name -> parameter sets)")
    prof.setdefault("name", path.stem)
    res = prof.get("resources") or {}
    bad = [k for k, v in res.items() if k not in prof["notebooks"] or not isinstance(v, dict)
           or not all(isinstance(a, (int, float)) for a in v.values())]
    if bad:
        raise ValueError(f"{path}: 'resources' maps a notebook of the profile to Dask resources such as "
                         f"{{GPU: 1}}; not understood for {bad}")
    return prof


def _expand(entry: Any) -> list[dict]:
    if entry is None:
        return [{}]
    if isinstance(entry, dict) and "grid" in entry:
        grid = entry["grid"]
        base = {k: v for k, v in entry.items() if k != "grid"}
        keys = list(grid)
        return [dict(base, **dict(zip(keys, combo))) for combo in itertools.product(*(grid[k] for k in keys))]
    if isinstance(entry, dict):
        return [entry]
    if isinstance(entry, list):
        return [p for e in entry for p in _expand(e)]
    raise ValueError(f"parameter sets must be a mapping, a list of mappings or {{grid: ...}}, got {entry!r}")


def slug(params: dict) -> str:
    """A file-name-safe name for a parameter set (``default`` for none); long ones end in a hash."""
    if not params:
        return "default"
    text = "_".join(f"{k}={json.dumps(v, sort_keys=True) if not isinstance(v, str) else v}"
                    for k, v in sorted(params.items()))
    s = re.sub(r"[^A-Za-z0-9.=,+-]+", "-", re.sub(r"[\[\]{}\"' ]", "", text)).strip("-")
    if len(s) > 80:
        s = s[:64].rstrip("-") + "-" + hashlib.sha1(text.encode()).hexdigest()[:10]
    return s


def code_version(notebook: Path) -> str:
    """Hash of the package sources, the notebook and the quoted paper numbers."""
    h = hashlib.sha256()
    for p in sorted((ROOT / "himpc").rglob("*.py")) + [notebook, BOOK / "paper_results.yaml"]:
        if p.exists():
            h.update(p.relative_to(ROOT).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


class NotebookError(ValueError):
    """A book notebook that papermill cannot parameterise as intended."""


def check_notebook(path: Path) -> None:
    """Exactly one cell tagged ``parameters`` (papermill would silently use the first of two)."""
    cells = json.loads(Path(path).read_text())["cells"]
    n = sum("parameters" in c.get("metadata", {}).get("tags", []) for c in cells)
    if n != 1:
        raise NotebookError(f"notebook {Path(path).stem} has {n} cells tagged 'parameters'; it needs exactly one")


def notebook_parameters(path: Path) -> dict:
    import logging
    import papermill
    logging.getLogger("papermill").setLevel(logging.WARNING)     # not an "Input Notebook" line per notebook
    check_notebook(path)
    return {k: v for k, v in papermill.inspect_notebook(str(path)).items()}


@dataclass
class Job:
    notebook: str
    params: dict
    results: Path
    input: Path = field(init=False)
    slug: str = field(init=False)

    def __post_init__(self) -> None:
        self.input = NOTEBOOKS / f"{self.notebook}.ipynb"
        self.slug = slug(self.params)

    @property
    def folder(self) -> Path:
        return self.results / "notebooks" / self.notebook

    @property
    def output(self) -> Path:
        return self.folder / f"{self.slug}.ipynb"

    @property
    def run_dir(self) -> Path:
        return self.folder / self.slug

    @property
    def record_file(self) -> Path:
        return self.run_dir / "record.json"

    def full_params(self) -> dict:
        p = {k: (v.replace("{results}", str(self.results)) if isinstance(v, str) else v) for k, v in self.params.items()}
        p["results_dir"] = str(self.run_dir)
        return p

    def done(self, version: str) -> bool:
        try:
            rec = json.loads(self.record_file.read_text())
        except (OSError, ValueError):
            return False
        return rec.get("status") == "ok" and rec.get("code_version") == version and rec.get("parameters") == self.params


def plan(profile: dict, results: Path, only: Optional[list[str]] = None) -> list[Job]:
    """The jobs of ``profile``: one per (notebook, parameter set)."""
    jobs = []
    defaults = profile.get("defaults") or {}
    for name, entry in profile["notebooks"].items():
        if only and name not in only:
            continue
        path = NOTEBOOKS / f"{name}.ipynb"
        if not path.exists():
            raise FileNotFoundError(f"profile names notebook {name!r}, but {path} does not exist")
        known = notebook_parameters(path)
        for params in _expand(entry):
            unknown = sorted(set(params) - set(known))
            if unknown:
                raise ValueError(f"{name}: unknown parameter(s) {unknown}; the notebook has {sorted(known)}")
            full = {k: v for k, v in defaults.items() if k in known}
            full.update(params)
            jobs.append(Job(name, full, results))
    return jobs


# ----------------------------------------------------------------------------- execution
@dataclass
class Outcome:
    job: Job
    status: str               # ok | skipped | failed
    seconds: float = 0.0
    error: str = ""
    cell: Optional[int] = None
    cell_source: str = ""


def _kernel_manager_class():
    """Kernels whose local TCP traffic is CurveZMQ-encrypted where pyzmq supports it: safer, and
    ipykernel >= 7 then no longer prints an 'unencrypted TCP' warning for every executed notebook."""
    import zmq
    from jupyter_client.manager import KernelManager

    class EncryptedKernelManager(KernelManager):
        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            if zmq.has("curve"):
                self.transport_encryption = "auto"
    return EncryptedKernelManager


def execute(job: Job, version: str, kernel: str = "python3", timeout: Optional[int] = None,
            env: Optional[dict] = None) -> Outcome:
    """Run one job (on whichever machine calls it): the executed notebook is written under a temporary
    name and renamed when complete; ``record.json``, written last, marks the job done."""
    import papermill
    from papermill.exceptions import PapermillExecutionError
    from .provenance import worker_context
    import logging
    logging.getLogger("papermill").setLevel(logging.WARNING)
    os.environ.update(env or {})            # e.g. HIMPC_DATA as the client resolved it; the kernel inherits it
    job.run_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rec = {"notebook": job.notebook, "parameters": job.params, "code_version": version, "slug": job.slug,
           "output": str(job.output), "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "python": sys.executable,
           "run_on": worker_context()}
    partial = job.output.with_name(f".{job.output.stem}.partial.ipynb")
    try:
        papermill.execute_notebook(str(job.input), str(partial), parameters=job.full_params(),
                                   kernel_name=kernel, cwd=str(ROOT), progress_bar=False, log_output=False,
                                   execution_timeout=timeout, kernel_manager_class=_kernel_manager_class())
    except PapermillExecutionError as err:
        src = err.source or _cell_source(partial, err.cell_index)
        out = Outcome(job, "failed", time.perf_counter() - t0, f"{err.ename}: {err.evalue}", err.cell_index, src)
    except Exception as err:  # noqa: BLE001 - a broken kernel, a missing file: report, go on with the others
        out = Outcome(job, "failed", time.perf_counter() - t0, f"{type(err).__name__}: {err}")
    else:
        out = Outcome(job, "ok", time.perf_counter() - t0)
    if partial.exists():                    # a failed one too: its error cell is what the reader needs
        os.replace(partial, job.output)
    rec.update(status=out.status, seconds=round(out.seconds, 1), error=out.error, cell=out.cell)
    write_json(job.record_file, rec)
    return out


def _cell_source(nb_path: Path, index: Optional[int]) -> str:
    try:
        cells = json.loads(nb_path.read_text())["cells"]
        return "".join(cells[index]["source"]) if index is not None else ""
    except (OSError, ValueError, IndexError, KeyError, TypeError):
        return ""


def rerun(profile: str, results: Path, jobs: int = 1, only: Optional[list[str]] = None, force: bool = False,
          progress: bool = True, timeout: Optional[int] = None, scheduler: Optional[str] = None,
          data: Optional[str] = None) -> list[Outcome]:
    """Execute the profile's notebooks on the Dask cluster at ``scheduler`` or on a LocalCluster of
    ``jobs`` workers (:mod:`himpc.executor`); returns one :class:`Outcome` per job (skipped ones
    included).  ``data`` (default ``$HIMPC_DATA``) is handed to every worker's kernels."""
    from .executor import Task, run_tasks
    prof = load_profile(profile)
    results = Path(results).resolve()
    todo = plan(prof, results, only)
    versions = {j.notebook: code_version(j.input) for j in todo}
    data = data or os.environ.get("HIMPC_DATA")
    env = {"HIMPC_DATA": str(Path(data).resolve())} if data else {}
    resources = prof.get("resources") or {}
    outcomes: list[Outcome] = []
    tasks = []
    for j in todo:
        if not force and j.done(versions[j.notebook]):
            outcomes.append(Outcome(j, "skipped"))
        else:
            tasks.append(Task(f"{j.notebook}/{j.slug}", execute, (j, versions[j.notebook]),
                              {"timeout": timeout, "env": env}, output=j.record_file,
                              resources=resources.get(j.notebook)))
    if outcomes and progress:
        print(f"{len(outcomes)} of {len(todo)} notebooks already done with this code (skipped)")
    for res in run_tasks(tasks, scheduler, jobs, progress=progress, desc=f"rerun {prof['name']}"):
        job = res.task.args[0]
        outcomes.append(res.value if res.ok else Outcome(job, "failed", error=res.error))
    return outcomes


def report_outcomes(outcomes: list[Outcome], stream=None) -> int:
    stream = stream or sys.stdout
    ok = sum(o.status == "ok" for o in outcomes)
    skipped = sum(o.status == "skipped" for o in outcomes)
    failed = [o for o in outcomes if o.status == "failed"]
    print(f"{ok} executed, {skipped} skipped (already done with this code), {len(failed)} failed", file=stream)
    for o in failed:
        print(f"\nFAILED {o.job.notebook} with parameters {json.dumps(o.job.params, sort_keys=True)}", file=stream)
        where = (f"cell {o.cell} of the executed notebook" if o.cell is not None
                 else "before any cell ran")
        print(f"  at {where}: {o.error}", file=stream)
        if o.cell_source:
            first = "\n".join("    | " + line for line in o.cell_source.splitlines()[:6])
            print(first, file=stream)
        print(f"  executed notebook: {o.job.output}", file=stream)
    return 1 if failed else 0


# ----------------------------------------------------------------------------- the book
BOOK_NOTEBOOKS = tuple(sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")))
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


def write_static(book: Path = BOOK) -> Path:
    """plotly.js of the installed plotly, into the book's ``_static`` (served with the site, no CDN)."""
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
    """Copy the newest successful executed notebook of each book notebook into ``book/notebooks``
    and write the results overview page; returns the notebooks missing (never executed)."""
    from .report import overview_markdown
    dest = book / "notebooks"
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
    (book / "results.md").write_text("\n".join(lines) + "\n")
    return missing


def build_book(book: Path = BOOK, strict: bool = True) -> int:
    """``jupyter-book build`` (HTML); warnings that hide broken content fail the build."""
    write_static(book)
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(book), "--builder", "html", "--keep-going",
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
