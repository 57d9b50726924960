"""Benchmark of the re-ID evaluation of a Hi-MPCh model at KGBD's size: three levels and MSMR.

One KGBD split has ~15.7K probe and ~31.5K gallery clips, and a run evaluates four feature sets
(the three levels and their concatenation, MSMR) at every traced epoch, so this cost recurs in
every run.  Prints, in one run, the seconds of

* four :func:`~himpc.metrics.evaluate_features` calls on one thread (the evaluation before
  2026-12-02),
* the same four calls with the probe chunks spread over ``--threads`` threads,
* one :func:`~himpc.metrics.evaluate_levels` pass on those threads (MSMR's distances summed from
  the levels' squared distances: no 768-d float64 matmul),

their ratios, and whether they give the same numbers.

    .venv/bin/python benchmarks/bench_eval.py [--probes 15700] [--gallery 31500] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from himpc.metrics import evaluate_features, evaluate_levels

KEYS = ("R1", "R5", "R10", "mAP", "cmc")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--probes", type=int, default=15700)
    ap.add_argument("--gallery", type=int, default=31500)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--levels", type=int, default=3)
    ap.add_argument("--persons", type=int, default=164)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    gid, pid = rng.integers(0, args.persons, args.gallery), rng.integers(0, args.persons, args.probes)

    def features(ids: np.ndarray) -> np.ndarray:        # per person a centre per level, plus noise
        centres = np.random.default_rng(1).standard_normal((args.levels, args.persons, args.dim))
        return (centres[:, ids] + 3.5 * rng.standard_normal((args.levels, len(ids), args.dim))).astype(np.float32)

    fg, fp = features(gid), features(pid)
    print(f"P = {args.probes} probes x G = {args.gallery} gallery, {args.levels} levels of {args.dim}-d, "
          f"{torch.get_num_threads()} torch threads")

    def separately(workers: int) -> list[dict]:
        sets = [(fp[lv], fg[lv]) for lv in range(args.levels)]
        sets.append((np.concatenate(list(fp), 1), np.concatenate(list(fg), 1)))
        return [evaluate_features(p, g, pid, gid, workers=workers) for p, g in sets]

    def together(workers: int) -> list[dict]:
        levels, joint = evaluate_levels(fp, fg, pid, gid, workers=workers)
        return levels + [joint]

    runs = {"4 x evaluate_features, 1 thread": (separately, 1),
            f"4 x evaluate_features, {args.threads} threads": (separately, args.threads),
            f"evaluate_levels, {args.threads} threads": (together, args.threads)}
    seconds, results = {}, {}
    for name, (fn, workers) in runs.items():
        t = time.perf_counter()
        results[name] = fn(workers)
        seconds[name] = time.perf_counter() - t
        msmr = results[name][-1]
        print(f"  {name:34s} {seconds[name]:6.2f} s   MSMR R1 {msmr['R1']:.3f}  mAP {msmr['mAP']:.4f}")
    base = next(iter(runs))
    for name in list(runs)[1:]:
        same = all(a[k] == b[k] for a, b in zip(results[base], results[name]) for k in KEYS)
        print(f"{base} / {name}: x{seconds[base] / seconds[name]:.2f}; identical results: {same}")


if __name__ == "__main__":
    main()
