"""Numeric precision of the training step and of encoding: ``fp32`` or ``bf16`` (mixed).

``bf16`` runs the matrix products under :func:`torch.autocast` in bfloat16; softmax and
cross-entropy are computed in fp32 over the bf16 logits, and the weights and Adam state stay
fp32 (autocast never changes a parameter's dtype), so a checkpoint written in one precision
resumes in the other.

Where it is used: the training step (encoder and the prototype contrast of Eq. 5 / 9; the frame
cross-entropy reads the bf16 logits level by level into fp32, :func:`himpc.losses.frame_cross_entropy`),
encoding the training clips for clustering, and the k-NN of the clustering (bf16 candidates
re-ranked with fp32 distances, :func:`himpc.clustering.knn`).  Evaluation encodes in fp32 (seconds;
the reported metrics never carry bf16 rounding).

bf16 pays only where the hardware multiplies bf16 natively: CUDA GPUs of compute capability
8.0 and later, and x86 CPUs with AVX512-BF16 or AMX (a 2-core AVX512-BF16 EPYC: the contrast's
matmul 2.8-3.1x the fp32 rate).  Elsewhere torch emulates it, which is *slower* than fp32
(measured on a 2-core AVX2 CPU: ~30x).  Asking for ``bf16`` on such a device measures the ratio
once, logs a warning with it and falls back to fp32; the run's result records the precision it
actually used, and the report labels and groups runs by that.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Iterator

import torch

log = logging.getLogger("himpc.precision")

_CACHE: dict[tuple[str, str], str] = {}


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` multiplies bf16 matrices in hardware."""
    if device.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False))
    if device.type == "cpu":
        cpu = torch.cpu
        return bool(getattr(cpu, "_is_avx512_bf16_supported", lambda: False)()
                    or getattr(cpu, "_is_amx_tile_supported", lambda: False)())
    return False


def bf16_slowdown(device: torch.device, n: int = 384, repeats: int = 3) -> float:
    """Measured time of a bf16 matmul over an fp32 one on ``device`` (> 1: bf16 is slower)."""
    a = torch.randn(n, n, device=device)
    times = {}
    for dt in (torch.float32, torch.bfloat16):
        x = a.to(dt)
        x @ x
        best = float("inf")
        for _ in range(repeats):
            if device.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            x @ x
            if device.type == "cuda":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t)
        times[dt] = best
    return times[torch.bfloat16] / max(times[torch.float32], 1e-9)


def effective_precision(requested: str, device: torch.device) -> str:
    """The precision a run uses: ``requested``, or ``fp32`` (with one warning) where bf16 is emulated."""
    if requested not in ("fp32", "bf16"):
        raise ValueError(f"precision must be 'fp32' or 'bf16', got {requested!r}")
    key = (requested, str(device))
    if key in _CACHE:
        return _CACHE[key]
    used = requested
    if requested == "bf16" and not native_bf16(device):
        ratio = bf16_slowdown(device)
        log.warning("precision=bf16: %s has no native bf16 matrix unit; a bf16 matmul measured %.1fx the time "
                    "of fp32 here, so this run uses fp32", device, ratio)
        used = "fp32"
    _CACHE[key] = used
    return used


@contextlib.contextmanager
def autocast(precision: str, device: torch.device) -> Iterator[None]:
    """bf16 autocast for ``precision == "bf16"``, a no-op for ``fp32``."""
    if precision == "bf16":
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
            yield
    else:
        yield
