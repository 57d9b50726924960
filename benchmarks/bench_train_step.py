"""Time one Hi-MPCh training step: batched over levels and heads vs a Python loop over both.

Prints seconds per step and the speed-up ratio; the two must give the same loss.
Usage: python benchmarks/bench_train_step.py [--clusters 1300] [--batch 256] [--device cpu]
       python benchmarks/bench_train_step.py --compare-cpu-tuning   (himpc/cpu.py on vs off)
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

from himpc.config import make_config
from himpc.model import HiMPCModel, Prototypes
from himpc.objective import batch_loss, level_weights


def looped_loss(model: HiMPCModel, protos: Prototypes, x: torch.Tensor, labels: torch.Tensor, cfg) -> torch.Tensor:
    """The same Eq. 9 written level by level and head by head (reference, slow)."""
    tau = cfg.temperature
    w = level_weights(cfg, protos.active, model.num_heads)
    total = x.new_zeros(())
    for lv in range(model.num_levels):
        d = model.in_dims[lv]
        z = torch.relu(x[lv, ..., :d] @ model.w1[lv, :d] + model.b1[lv]) @ model.w2[lv] + model.b2[lv]
        v = z.mean(1)
        c = int(protos.mask[lv].sum())
        p = protos.protos[lv, :c]
        lab = labels[lv]
        for m in range(model.num_heads):
            hm = model.heads[lv, m]
            ph = p @ hm
            inst = (v @ hm) @ ph.T / tau
            frames = (z @ hm) @ ph.T / tau                      # [B, F, C]
            pred = inst.argmax(-1)
            sims = frames.gather(-1, pred[:, None, None].expand(-1, z.shape[1], 1)).squeeze(-1) * tau
            sign = torch.where(pred == lab, -1.0, 1.0)[:, None]
            delta = torch.softmax(sign * sims.detach(), -1)
            ce = F.cross_entropy(frames.reshape(-1, c), lab.repeat_interleave(z.shape[1]), reduction="none")
            total = total + w[lv] * (delta * ce.view_as(delta)).sum(-1).mean()
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clusters", type=int, default=1300)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--compare-cpu-tuning", action="store_true",
                    help="run twice in fresh processes, HIMPC_CPU_TUNING=0 and 1, and print the ratio")
    a = ap.parse_args()
    if a.compare_cpu_tuning:
        compare_cpu_tuning()
        return
    torch.manual_seed(0)
    dev = torch.device(a.device)
    cfg = make_config("hi-mpch")
    model = HiMPCModel([60, 30, 15], cfg.hidden, cfg.heads).to(dev)
    protos = Prototypes(3, cfg.hidden).to(dev)
    n = a.clusters * 4
    inst = torch.randn(3, n, cfg.hidden, device=dev)
    protos.update(inst, torch.arange(n, device=dev).remainder(a.clusters).expand(3, -1))
    x = torch.randn(3, a.batch, cfg.seq_len, 60, device=dev)
    x[1, ..., 30:] = 0
    x[2, ..., 15:] = 0
    labels = torch.randint(0, a.clusters, (3, a.batch), device=dev)

    def timed(fn) -> tuple[float, float]:
        best, val = float("inf"), 0.0
        for _ in range(a.repeats):
            model.zero_grad()
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            loss = fn()
            loss.backward()
            if dev.type == "cuda":
                torch.cuda.synchronize()
            best, val = min(best, time.perf_counter() - t), loss.item()
        return best, val

    t_b, l_b = timed(lambda: batch_loss(model, protos, x, labels, cfg).loss)
    t_l, l_l = timed(lambda: looped_loss(model, protos, x, labels, cfg))
    print(f"device {dev}, B={a.batch}, F={cfg.seq_len}, C={a.clusters}, h={cfg.hidden}, M={cfg.heads}, L=3")
    print(f"batched step {t_b:.3f} s | looped step {t_l:.3f} s | speed-up x{t_l / t_b:.2f} | "
          f"loss {l_b:.5f} vs {l_l:.5f}")


def compare_cpu_tuning() -> None:
    """The batched step in two fresh processes: CPU tuning off, then on (see himpc/cpu.py)."""
    args = [a for a in sys.argv[1:] if a != "--compare-cpu-tuning"]
    times = {}
    for flag in ("0", "1"):
        out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True,
                             env={**os.environ, "HIMPC_CPU_TUNING": flag}).stdout
        times[flag] = float(re.search(r"batched step ([0-9.]+) s", out).group(1))
        print(f"HIMPC_CPU_TUNING={flag}: batched step {times[flag]:.3f} s")
    print(f"speed-up from himpc/cpu.py: x{times['0'] / times['1']:.2f}")


if __name__ == "__main__":
    main()
