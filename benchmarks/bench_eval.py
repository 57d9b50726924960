"""Benchmark of the re-ID evaluation (:func:`himpc.metrics.evaluate_features`) at KGBD's size.

One KGBD split has ~15.7K probe and ~31.5K gallery clips, and a Hi-MPCh run evaluates four
feature sets (three levels and MSMR) at every traced epoch, so this cost recurs in every run.
Prints the seconds of one evaluation on one thread and on ``--threads`` threads (probe chunks
spread over them), their ratio, and checks that both give the same numbers.

    .venv/bin/python benchmarks/bench_eval.py [--probes 15700] [--gallery 31500] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from himpc.metrics import evaluate_features


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--probes", type=int, default=15700)
    ap.add_argument("--gallery", type=int, default=31500)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--persons", type=int, default=164)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((args.persons, args.dim)).astype(np.float32)
    gid, pid = rng.integers(0, args.persons, args.gallery), rng.integers(0, args.persons, args.probes)
    fg = centres[gid] + 2.0 * rng.standard_normal((args.gallery, args.dim)).astype(np.float32)
    fp = centres[pid] + 2.0 * rng.standard_normal((args.probes, args.dim)).astype(np.float32)
    print(f"P = {args.probes} probes x G = {args.gallery} gallery, {args.dim}-d, "
          f"{torch.get_num_threads()} torch threads")
    seconds, results = {}, {}
    for workers in (1, args.threads):
        t = time.perf_counter()
        results[workers] = evaluate_features(fp, fg, pid, gid, workers=workers)
        seconds[workers] = time.perf_counter() - t
        r = results[workers]
        print(f"  {workers} worker(s): {seconds[workers]:6.2f} s   R1 {r['R1']:.3f}  mAP {r['mAP']:.3f}")
    same = all(results[1][k] == results[args.threads][k] for k in ("R1", "R5", "R10", "mAP", "cmc"))
    print(f"ratio 1 / {args.threads} workers: x{seconds[1] / seconds[args.threads]:.2f}; "
          f"identical results: {same}")


if __name__ == "__main__":
    main()
