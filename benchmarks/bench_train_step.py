"""Time one Hi-MPCh training step (forward + backward) at paper settings, all in one run:

* the fp32 and bf16 matmul roofs of the contrast's shape on this device,
* the step in fp32 with the exact shortcuts (FLOPs counted by torch, GFLOP/s, % of roof),
* the step as it was before the shortcuts (same loss, ratio),
* the step in bf16 (ratio to fp32; on a device without native bf16 it is emulated and slow),
* the looped oracle (level by level, head by head): the same loss within rounding.

Usage: python benchmarks/bench_train_step.py [--clusters 1150] [--batch 256] [--device cpu|cuda]
       python benchmarks/bench_train_step.py --compare-cpu-tuning   (himpc/cpu.py on vs off)
       python benchmarks/bench_train_step.py --peak-memory          (each variant's step, fresh processes)
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
from himpc.losses import hsm_importance, prototype_logits
from himpc.objective import batch_loss, level_weights
from himpc.precision import native_bf16


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


def previous_loss(model: HiMPCModel, protos: Prototypes, x: torch.Tensor, labels: torch.Tensor, cfg) -> torch.Tensor:
    """The batched step before the exact shortcuts: every frame transformed by every head, and a
    separate matmul for the instance logits (four contrast matmuls instead of one)."""
    tau = cfg.temperature
    valid = (labels >= 0) & protos.active[:, None]
    w = level_weights(cfg, protos.active, model.num_heads)
    z = model.encode_frames(x)
    p_hat = model.transform_prototypes(protos.protos)
    inst = prototype_logits(model.transform(model.pool(z)), p_hat, protos.mask, tau)
    frames = prototype_logits(model.transform(z), p_hat, protos.mask, tau)
    L, M, B, Fr, C = frames.shape
    pred = inst.argmax(-1)                                     # Eq. 6-9 as hi_mpch_loss, with the CE of
    sims = frames.gather(-1, pred[..., None, None].expand(L, M, B, Fr, 1)).squeeze(-1) * tau   # the whole tensor
    delta = hsm_importance(sims.detach(), pred, labels.clamp(min=0))
    target = labels.clamp(min=0)[:, None, :, None].expand(L, M, B, Fr)
    ce = F.cross_entropy(frames.reshape(-1, C), target.reshape(-1), reduction="none").view(L, M, B, Fr)
    per_level = ((delta * ce).sum((1, 3)) * valid).sum(1) / valid.sum(1).clamp(min=1)
    return (per_level * w).sum()


def matmul_roof(dtype: torch.dtype, dev: torch.device, m: int, k: int, n: int, batch: int) -> float:
    """GFLOP/s of one batched matmul of the contrast's shape in ``dtype`` (best of 3)."""
    a = torch.randn(batch, m, k, device=dev, dtype=dtype)
    b = torch.randn(batch, k, n, device=dev, dtype=dtype)
    torch.bmm(a, b)
    best = float("inf")
    for _ in range(3):
        _sync(dev)
        t = time.perf_counter()
        torch.bmm(a, b)
        _sync(dev)
        best = min(best, time.perf_counter() - t)
    return 2 * batch * m * k * n / best / 1e9


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def step_flops(fn) -> int:
    """FLOPs of one forward + backward, counted by torch's FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as fc:
        fn().backward()
    return fc.get_total_flops()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clusters", type=int, default=1150)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--skip-looped", action="store_true", help="leave out the slow looped oracle")
    ap.add_argument("--compare-cpu-tuning", action="store_true",
                    help="run twice in fresh processes, HIMPC_CPU_TUNING=0 and 1, and print the ratio")
    ap.add_argument("--peak-memory", action="store_true",
                    help="the peak memory of one step of each variant, each in a fresh process")
    ap.add_argument("--only", choices=list(VARIANTS), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.compare_cpu_tuning:
        compare_cpu_tuning()
        return
    if a.peak_memory:
        peak_memory([x for x in sys.argv[1:] if x != "--peak-memory"])
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
    if a.only:                                   # one step of one variant (for --peak-memory)
        fn = {"fp32": lambda: batch_loss(model, protos, x, labels, cfg).loss,
              "bf16": lambda: batch_loss(model, protos, x, labels, cfg, precision="bf16").loss,
              "before": lambda: previous_loss(model, protos, x, labels, cfg)}[a.only]
        base = _peak_mb(dev)
        fn().backward()
        print(f"peak {_peak_mb(dev) - base:.0f}")
        return

    def timed(fn, repeats: int = a.repeats) -> tuple[float, float]:
        best, val = float("inf"), 0.0
        for _ in range(repeats):
            model.zero_grad()
            _sync(dev)
            t = time.perf_counter()
            loss = fn()
            loss.backward()
            _sync(dev)
            best, val = min(best, time.perf_counter() - t), loss.item()
        return best, val

    bf16_native = native_bf16(dev)
    print(f"device {dev}, B={a.batch}, F={cfg.seq_len}, C={a.clusters}, h={cfg.hidden}, M={cfg.heads}, L=3, "
          f"threads {torch.get_num_threads()}, native bf16: {bf16_native}")
    shape = (a.batch * cfg.seq_len, cfg.hidden, a.clusters, 3 * cfg.heads)
    roof32 = matmul_roof(torch.float32, dev, *shape)
    roof16 = matmul_roof(torch.bfloat16, dev, *shape)
    print(f"matmul roof of the contrast shape [{shape[3]}] x [{shape[0]}, {shape[1]}] x [{shape[1]}, {shape[2]}]: "
          f"fp32 {roof32:.0f} GFLOP/s, bf16 {roof16:.0f} GFLOP/s (bf16/fp32 x{roof16 / roof32:.2f})")
    step = lambda p: (lambda: batch_loss(model, protos, x, labels, cfg, precision=p).loss)   # noqa: E731
    flops_new = step_flops(step("fp32"))
    flops_old = step_flops(lambda: previous_loss(model, protos, x, labels, cfg))
    t_new, l_new = timed(step("fp32"))
    t_old, l_old = timed(lambda: previous_loss(model, protos, x, labels, cfg))
    t_bf, l_bf = timed(step("bf16"), a.repeats if bf16_native else 1)
    print(f"fp32 step (exact shortcuts) {t_new:.3f} s, {flops_new / 1e9:.1f} GFLOP, "
          f"{flops_new / t_new / 1e9:.0f} GFLOP/s ({100 * flops_new / t_new / 1e9 / roof32:.0f}% of the fp32 roof)")
    print(f"fp32 step (before: frames transformed per head, 4 matmuls) {t_old:.3f} s, {flops_old / 1e9:.1f} GFLOP "
          f"| shortcuts x{t_old / t_new:.2f} faster, loss {l_new:.5f} vs {l_old:.5f}")
    print(f"bf16 step {t_bf:.3f} s ({flops_new / t_bf / 1e9:.0f} GFLOP/s, "
          f"{100 * flops_new / t_bf / 1e9 / roof16:.0f}% of the bf16 roof) | bf16 vs fp32 x{t_new / t_bf:.2f} "
          f"| loss {l_bf:.5f} vs fp32 {l_new:.5f}{'' if bf16_native else '  [bf16 emulated on this device]'}")
    if not a.skip_looped:
        t_l, l_l = timed(looped_loss_fn(model, protos, x, labels, cfg), 1)
        print(f"looped oracle (level by level, head by head) {t_l:.3f} s | batched x{t_l / t_new:.2f} faster "
              f"| loss {l_new:.5f} vs oracle {l_l:.5f}")


def looped_loss_fn(model, protos, x, labels, cfg):
    return lambda: looped_loss(model, protos, x, labels, cfg)


VARIANTS = {"before": "fp32, before the shortcuts (4 matmuls, fp32 log-softmax of the whole tensor)",
            "fp32": "fp32, shortcuts + chunked cross-entropy", "bf16": "bf16, shortcuts + chunked cross-entropy"}


def _peak_mb(dev: torch.device) -> float:
    """Peak memory so far: CUDA's allocator, or the process's resident high-water mark on CPU."""
    if dev.type == "cuda":
        return torch.cuda.max_memory_allocated(dev) / 2**20
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_memory(args: list[str]) -> None:
    """One step of each variant in a fresh process: memory above the inputs' (model, prototypes, batch)."""
    for name, what in VARIANTS.items():
        env = {**os.environ, "HIMPC_CPU_TUNING": "0"}          # malloc tuning keeps freed blocks: not a peak
        out = subprocess.run([sys.executable, __file__, *args, "--only", name], capture_output=True, text=True,
                             check=True, env=env).stdout
        print(f"peak memory of one step, {what}: {float(re.search(r'peak ([0-9.]+)', out).group(1)):.0f} MB")


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
