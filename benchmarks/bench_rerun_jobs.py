"""Wall time of a profile slice on a LocalCluster of 1 worker vs N workers, in one run, and whether
both give the same numbers (every result.json's metrics and loss history).

Each run starts from an empty results folder; the 1-worker cluster gets all cores as OpenMP
threads, the N-worker one cores / N each (himpc.rerun.executor).  Needs HIMPC_DATA for KGBD profiles.
Usage:
    python benchmarks/bench_rerun_jobs.py [--profile smoke] [--only 01_skeletons_hierarchy ...] [--jobs 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from himpc.store import numbers_under
from himpc.rerun import rerun

SLICE = ["01_skeletons_hierarchy", "02_clustering", "03_meta_transformation", "04_hard_skeleton_mining",
         "13_tsne", "15_paper_vs_code"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="smoke")
    ap.add_argument("--only", nargs="+", default=SLICE)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="himpc-bench-rerun-"))
    wall, found = {}, {}
    try:
        for jobs in (1, args.jobs):
            res = base / f"jobs{jobs}"
            t0 = time.perf_counter()
            outcomes = rerun(args.profile, res, jobs=jobs, only=args.only, progress=False)
            wall[jobs] = time.perf_counter() - t0
            bad = [o for o in outcomes if o.status != "ok"]
            if bad:
                raise SystemExit(f"{len(bad)} job(s) failed with --jobs {jobs}: "
                                 + "; ".join(f"{o.job.notebook}: {o.error}" for o in bad))
            found[jobs] = numbers_under(res)
            print(f"--jobs {jobs}: {len(outcomes)} notebooks in {wall[jobs]:.1f} s", flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    same = found[1] == found[args.jobs]
    print(f"profile {args.profile}, notebooks {', '.join(args.only)}; {os.cpu_count()} cores")
    print(f"wall time --jobs {args.jobs} / --jobs 1 = {wall[args.jobs] / wall[1]:.2f} "
          f"(speed-up x{wall[1] / wall[args.jobs]:.2f}); result files: {len(found[1])}, "
          f"same numbers: {same}")


if __name__ == "__main__":
    main()
