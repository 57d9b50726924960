"""Batch reruns of the book's notebooks with papermill (the site is built by :mod:`himpc.rerun.site`).

``himpc rerun --profile smoke|paper|<grid.yaml>`` executes every (notebook, parameter set) of a
profile into ``<results>/notebooks/<notebook>/<slug>.ipynb`` (the slug is made from the
parameters), each run with its own ``results_dir`` (``<results>/notebooks/<notebook>/<slug>/``)
so runs are independent and can go in parallel: on a LocalCluster of ``--jobs`` workers or on the
Dask cluster at ``--scheduler`` (:mod:`himpc.rerun.executor`).  A run whose ``record.json`` says
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
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..store import write_json

ROOT = Path(__file__).resolve().parents[2]      # the checkout: notebooks/, book/, _config.yml, _toc.yml
NOTEBOOKS = ROOT / "notebooks"                   # the source a person edits (no outputs)
BOOK = ROOT / "book"                             # the book's other sources; _config.yml and _toc.yml at ROOT
PROFILES = BOOK / "profiles"
BOOK_NOTEBOOKS = tuple(sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")))


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
    from ..provenance import worker_context
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
    ``jobs`` workers (:mod:`himpc.rerun.executor`); returns one :class:`Outcome` per job (skipped ones
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
