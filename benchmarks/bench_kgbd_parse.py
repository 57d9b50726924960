"""Time parsing the raw KGBD data (no cache): ``python benchmarks/bench_kgbd_parse.py PATH``.

PATH is KGBD.tar.gz, a folder holding it, or an unpacked KGBD folder.  Also times the
walk-split protocol (F = 6) and a load from the .npz cache.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from himpc.data import load_kgbd, walk_split  # noqa: E402


def main(path: str) -> None:
    t0 = time.perf_counter()
    ss = load_kgbd(path, progress=False, use_cache=False)
    dt = time.perf_counter() - t0
    n = len(ss.positions)
    print(f"parse (no cache): {dt:.2f} s for {ss.num_walks} walks, {n} frames, {n * 20} lines: "
          f"{n / dt:,.0f} frames/s")
    with tempfile.TemporaryDirectory() as tmp:
        load_kgbd(path, cache_dir=tmp, progress=False)
        t0 = time.perf_counter()
        load_kgbd(path, cache_dir=tmp, progress=False)
        print(f"load from cache: {time.perf_counter() - t0:.2f} s")
    t0 = time.perf_counter()
    sp = walk_split(ss, seed=0, seq_len=6, trim=10)
    print(f"walk_split F=6 seed 0: {time.perf_counter() - t0:.2f} s, clips {sp.info['clips']}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/kgbd/KGBD.tar.gz")
