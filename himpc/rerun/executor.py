"""Where batch jobs run: a Dask cluster, or a ``LocalCluster`` on this machine.

Every fan-out of the project (the notebooks of a ``himpc rerun`` profile, the splits of ``himpc
train`` / ``himpc baseline``) goes through :func:`run_tasks`:

* ``scheduler="tcp://HOST:PORT"`` (or a scheduler file written by ``dask scheduler
  --scheduler-file``) submits to a running cluster: dask-jobqueue on SLURM/PBS/SGE,
  dask-kubernetes, or ``dask scheduler`` / ``dask worker`` started by hand;
* no scheduler starts a ``LocalCluster`` of ``jobs`` single-threaded worker processes, each with
  ``cores // jobs`` OpenMP threads, so ``--jobs 1`` and ``--jobs N`` share one code path.

A task that names ``resources`` (``{"GPU": 1}``) runs only on a worker started with
``--resources GPU=1`` and holds it while it runs, so two trainings never share a GPU (on a
``LocalCluster`` the requests are dropped: ``--jobs`` is the limit there).  A task lost with its
worker is rescheduled by Dask (``distributed.scheduler.allowed-failures``) and, since every job
resumes from what it already wrote (checkpoints, ``record.json``), no finished work is redone.
Errors a user can fix (a missing data folder, a bad parameter) come back as one message, not a
traceback.  The first result file a worker reports must exist where the client looks; if not,
the results folder is not shared and :class:`ResultsNotShared` says so.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

from ..provenance import worker_context

log = logging.getLogger(__name__)


class ExecutorError(RuntimeError):
    """The cluster cannot run the jobs (unreachable scheduler, no worker with a needed resource)."""


class ResultsNotShared(ExecutorError):
    """A worker wrote a result file that the client cannot see."""


@dataclass
class Task:
    """One job: ``fn(*args, **kwargs)`` on a worker; ``output`` is the file it writes last."""
    name: str
    fn: Callable[..., Any]
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    output: Optional[Path] = None
    resources: Optional[dict] = None


@dataclass
class TaskResult:
    task: Task
    ok: bool
    value: Any = None
    error: str = ""
    where: dict = field(default_factory=dict)      # host, device, worker and scheduler addresses


def user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions whose message is the whole story (the data command's, a bad parameter's)."""
    from ..engine import CheckpointMismatch
    from ..reference import ReferenceError
    return (ValueError, FileNotFoundError, CheckpointMismatch, ReferenceError)


def _on_worker(fn: Callable[..., Any], args: tuple, kwargs: dict) -> tuple[bool, Any, str, dict]:
    where = worker_context()
    try:
        return True, fn(*args, **kwargs), "", where
    except user_errors() as err:
        return False, None, f"{type(err).__name__}: {err}", where


def _local_threads(jobs: int) -> dict:
    n = str(max(1, (os.cpu_count() or 1) // jobs))
    return {k: n for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}


class Executor:
    """A Dask client: connected to ``scheduler``, or to a new ``LocalCluster`` of ``jobs`` workers."""

    def __init__(self, scheduler: Optional[str] = None, jobs: int = 1, connect_timeout: float = 5.0) -> None:
        self.scheduler, self.jobs, self.connect_timeout = scheduler, max(1, int(jobs or 1)), connect_timeout
        self.cluster = None
        self.client = None

    @property
    def local(self) -> bool:
        return self.scheduler is None

    def __enter__(self) -> "Executor":
        from distributed import Client, LocalCluster
        if not log.isEnabledFor(logging.DEBUG):       # Dask's own INFO lines are noise here (-v shows them)
            logging.getLogger("distributed").setLevel(logging.WARNING)
        if self.local:
            self.cluster = LocalCluster(n_workers=self.jobs, threads_per_worker=1, processes=True,
                                        dashboard_address=None, silence_logs=logging.ERROR,
                                        env=_local_threads(self.jobs))
            self.client = Client(self.cluster)
            return self
        target = str(self.scheduler)
        kw = {"scheduler_file": target} if Path(target).is_file() else {"address": target}
        try:
            self.client = Client(timeout=self.connect_timeout, **kw)
        except (OSError, TimeoutError) as err:
            raise ExecutorError(f"cannot reach the Dask scheduler at {target} within {self.connect_timeout:g} s "
                                f"({type(err).__name__}); start it with `dask scheduler` or check the address"
                                ) from None
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    @property
    def address(self) -> str:
        return self.client.scheduler.address if self.client is not None else ""

    def _check_resources(self, tasks: Sequence[Task]) -> None:
        wanted = {k: v for t in tasks for k, v in (t.resources or {}).items()}
        workers = self.client.scheduler_info(n_workers=-1).get("workers", {}) if wanted else {}
        if not workers:                   # none joined yet (a batch queue): the tasks wait for them
            return
        for name, amount in wanted.items():
            if not any(w.get("resources", {}).get(name, 0) >= amount for w in workers.values()):
                raise ExecutorError(f"no worker of the scheduler at {self.address} offers {name}={amount:g} "
                                    f"(start workers with `dask worker {self.address} --resources "
                                    f"{name}={amount:g}`, or drop `resources` from the profile)")

    def submit(self, task: Task):
        resources = None if self.local else task.resources
        return self.client.submit(_on_worker, task.fn, task.args, task.kwargs, pure=False, resources=resources,
                                  key=f"himpc-{task.name}-{uuid.uuid4().hex[:8]}")

    def run(self, tasks: Sequence[Task], progress: bool = True, desc: str = "jobs") -> Iterator[TaskResult]:
        """Submit every task and yield their results as they complete (with a progress bar)."""
        from distributed import as_completed
        from tqdm.auto import tqdm
        if not tasks:
            return
        self._check_resources(tasks)
        futures = {self.submit(t): t for t in tasks}
        checked = False
        bar = tqdm(total=len(tasks), desc=desc, disable=not progress, unit="job")
        try:
            for fut in as_completed(futures):
                task = futures[fut]
                try:
                    ok, value, error, where = fut.result()
                except Exception as err:  # noqa: BLE001 - a bug or a worker lost too often: report, go on
                    ok, value, error, where = False, None, f"{type(err).__name__}: {err}", {}
                res = TaskResult(task, ok, value, error, where)
                if ok and not checked and task.output is not None:
                    checked = True
                    if not Path(task.output).exists():
                        for f in futures:
                            f.cancel()
                        raise ResultsNotShared(
                            f"worker {where.get('worker', '?')} on host {where.get('host', '?')} wrote "
                            f"{task.output}, but this client does not see it: the results folder must be "
                            "shared by the client and every worker (a path on the cluster's shared filesystem)")
                bar.set_postfix_str(f"{task.name}: {'ok' if ok else 'failed'}")
                bar.update(1)
                yield res
        finally:
            bar.close()
            for f in futures:
                f.release()


def run_tasks(tasks: Sequence[Task], scheduler: Optional[str] = None, jobs: int = 1, progress: bool = True,
              desc: str = "jobs") -> list[TaskResult]:
    """Run ``tasks`` on the cluster at ``scheduler`` or on a LocalCluster of ``jobs`` workers."""
    with Executor(scheduler, jobs) as ex:
        return list(ex.run(tasks, progress=progress, desc=desc))
