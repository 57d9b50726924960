"""Time one full KGBD epoch at the paper's settings: re-clustering (per level and stage: k-NN,
k-reciprocal sets, encoding, Jaccard, DBSCAN) and one pass of training, in one run.  The levels
cluster side by side (one thread each); the same features are also clustered one level after
another, and both times printed.

By default the epoch starts from the reference model (models/kgbd-hi-mpch-split0.safetensors), so
the cluster count (~1,150 per level) is that of a trained run; ``--untrained`` starts from scratch.
Needs HIMPC_DATA.  Usage:
    python benchmarks/bench_epoch.py [--precision both|fp32|bf16] [--device cpu|cuda] [--threads N]
``both`` (the default) times fp32, then bf16, from the same start and prints their ratios.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from himpc.config import make_config
from himpc.clustering import cluster_levels
from himpc.engine import Trainer, encode
from himpc.splits import build_split

MODEL = Path(__file__).resolve().parents[1] / "models" / "kgbd-hi-mpch-split0.safetensors"


def one_epoch(cfg, split, start: dict | None) -> dict:
    """Re-cluster and train one epoch from ``start`` (a model state), timing every stage."""
    trainer = Trainer(cfg, split, Path("/tmp/himpc-bench-epoch"), progress=False)
    if start is not None:
        trainer.model.load_state_dict(start)
    labels, clusters, outliers, t_cluster, _ = trainer.recluster()
    print(f"[{trainer.precision}] clustering {t_cluster:.1f} s, clusters {clusters}, outliers {outliers}")
    for lv, stages in trainer.cluster_stages.items():
        print(f"  {lv}: " + ", ".join(f"{k} {v:.2f} s" for k, v in stages.items()))
    serial_levels(trainer)
    t = time.perf_counter()
    loss, n = trainer.train_epoch(0, labels)
    t_train = time.perf_counter() - t
    steps = -(-n // cfg.batch_size)
    print(f"[{trainer.precision}] training {t_train:.1f} s: {n:,} clips, {steps} steps, "
          f"{t_train / max(steps, 1):.3f} s per step, loss {loss:.3f}")
    return {"epoch_seconds": round(t_cluster + t_train, 1), "cluster_seconds": round(t_cluster, 1),
            "train_seconds": round(t_train, 1), "device": str(trainer.device), "precision": trainer.precision}


def serial_levels(trainer: Trainer) -> None:
    """Cluster the epoch's features again, the levels one after another and side by side (as the
    epoch does, one thread each): prints both times and checks that the labels are the same."""
    cfg = trainer.cfg
    v = encode(trainer.model, trainer.x_train, trainer.device, kind="encoder", precision=trainer.precision)
    timed, res = {}, {}
    for threads in (1, len(cfg.levels)):
        t = time.perf_counter()
        res[threads] = cluster_levels(v, cfg.dbscan_eps, cfg.dbscan_min_samples, cfg.k1, cfg.k2,
                                      cfg.jaccard_normalize, threads=threads, precision=trainer.precision,
                                      rank_width=cfg.k1 if cfg.knn_list_k1 else None)
        timed[threads] = time.perf_counter() - t
    same = all((a.labels == b.labels).all() for a, b in zip(res[1], res[len(cfg.levels)]))
    print(f"[{trainer.precision}] k-NN + Jaccard + DBSCAN of the {len(cfg.levels)} levels: one after another "
          f"{timed[1]:.1f} s, side by side {timed[len(cfg.levels)]:.1f} s (x{timed[1] / timed[len(cfg.levels)]:.2f}); "
          f"same labels: {same}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--precision", default="both", choices=["both", "fp32", "bf16"])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--untrained", action="store_true")
    ap.add_argument("--data")
    a = ap.parse_args()
    cfg = make_config("hi-mpch", device=a.device, threads=a.threads, epochs=1)
    t = time.perf_counter()
    split = build_split(cfg, a.data)
    start = None
    if not a.untrained and MODEL.exists():
        from himpc.reference import load_reference
        start = load_reference(MODEL).model.state_dict()
    print(f"split built in {time.perf_counter() - t:.1f} s: {len(split.train):,} training clips; device {a.device}, "
          f"threads {torch.get_num_threads()}, start: {'untrained' if start is None else MODEL.name}")
    out = {p: one_epoch(cfg.replace(precision=p), split, start)
           for p in (("fp32", "bf16") if a.precision == "both" else (a.precision,))}
    for r in out.values():
        print(json.dumps(r))
    if len(out) == 2 and out["bf16"]["precision"] == "bf16":
        f, b = out["fp32"], out["bf16"]
        print(f"bf16 / fp32 in this run: epoch x{f['epoch_seconds'] / b['epoch_seconds']:.2f} faster "
              f"(clustering x{f['cluster_seconds'] / b['cluster_seconds']:.2f}, "
              f"training x{f['train_seconds'] / b['train_seconds']:.2f})")


if __name__ == "__main__":
    main()
