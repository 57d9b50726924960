"""Where a result came from: code version, machine, libraries, memory."""

from __future__ import annotations

import os
import platform
import resource
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch


def git_commit() -> str:
    """The checkout's commit (with ``-dirty`` if it has uncommitted changes), or ``unknown``."""
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (sha + ("-dirty" if dirty else "")) if sha else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def environment() -> dict:
    """Code version, libraries and machine; ``cpu_capability`` is the vector ISA torch's CPU kernels use
    (``AVX512``, ``AVX2``, ...): CPUs of one core count differ several-fold in speed by it."""
    cuda = torch.cuda.is_available()
    return {
        "git_commit": git_commit(), "python": sys.version.split()[0], "torch": torch.__version__,
        "numpy": np.__version__, "platform": platform.platform(), "processor": platform.machine(),
        "cpu_threads": torch.get_num_threads(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cuda": cuda,
        "gpu": torch.cuda.get_device_name(0) if cuda else None, "run_on": worker_context(),
    }


def worker_context() -> dict:
    """Where this process runs: host, process id, the device ``auto`` picks and, inside a Dask worker,
    the worker's and the scheduler's addresses."""
    ctx = {"host": socket.gethostname(), "pid": os.getpid(),
           "device": "cuda" if torch.cuda.is_available() else "cpu"}
    try:
        from distributed import get_worker
        worker = get_worker()
    except (ImportError, ValueError):
        return ctx
    ctx.update(worker=worker.address, scheduler=worker.scheduler.address)
    return ctx


def peak_memory_mb() -> float:
    """Peak resident memory of this process (MB); on CUDA also reported separately by callers."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kb / 1024.0, 1)
