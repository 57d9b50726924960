"""Precision switch (fp32 / bf16), the exact shortcuts of the prototype contrast, CUDA paths."""

from __future__ import annotations

import logging
import re

import pytest
import torch

from himpc import engine, precision
from himpc.config import make_config
from himpc.losses import contrast_logits, prototype_logits
from himpc.model import HiMPCModel, Prototypes
from himpc.objective import batch_loss
from test_engine import SMALL, synthetic_walks

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _setup(device="cpu", C=7, seed=0):
    torch.manual_seed(seed)
    model = HiMPCModel([60, 30, 15], hidden=32, heads=4).to(device)
    protos = Prototypes(3, 32).to(device)
    lab = torch.arange(40).remainder(C)
    lab[3] = -1
    protos.update(torch.randn(3, 40, 32, device=device), torch.stack([lab, lab, lab.remainder(C - 2)]).to(device))
    x = torch.randn(3, 16, 6, 60, device=device)
    labels = torch.randint(0, C - 2, (3, 16), device=device)
    return model, protos, x, labels


def test_shortcuts_equal_the_explicit_contrast():
    """z . (p H H^T) = (z H) . (p H) for every head, and instance logits = mean of frame logits."""
    model, protos, x, _ = _setup()
    z = model.encode_frames(x)
    frames, inst = contrast_logits(z, model.contrast_keys(protos.protos), protos.mask, tau=3.0)
    p_hat = model.transform_prototypes(protos.protos)
    ref_frames = prototype_logits(model.transform(z), p_hat, protos.mask, 3.0)
    ref_inst = prototype_logits(model.transform(model.pool(z)), p_hat, protos.mask, 3.0)
    real = protos.mask[:, None, None, :]
    assert torch.allclose(frames[real[..., None, :].expand_as(frames)], ref_frames[real[..., None, :].expand_as(frames)],
                          rtol=1e-4, atol=1e-3)
    assert torch.allclose(inst[real.expand_as(inst)], ref_inst[real.expand_as(inst)], rtol=1e-4, atol=1e-3)
    assert (inst[~real.expand_as(inst)] < -1e30).all()              # padded prototypes masked
    assert (frames[~real[..., None, :].expand_as(frames)] < -1e30).all()


def test_bf16_loss_matches_fp32_within_bf16_tolerance():
    model, protos, x, labels = _setup()
    cfg = make_config("hi-mpch", hidden=32, heads=4)
    l32 = batch_loss(model, protos, x, labels, cfg).loss
    l16 = batch_loss(model, protos, x, labels, cfg, precision="bf16").loss
    assert l16.dtype == torch.float32
    assert abs(l16.item() - l32.item()) <= 0.02 * abs(l32.item())
    l16.backward()                                                  # grads reach the fp32 weights
    assert model.heads.grad is not None and model.heads.grad.dtype == torch.float32


def test_bf16_without_native_support_falls_back_with_a_measured_warning(caplog, monkeypatch):
    precision._CACHE.clear()
    monkeypatch.setattr(precision, "native_bf16", lambda device: False)
    with caplog.at_level(logging.WARNING, logger="himpc.precision"):
        used = precision.effective_precision("bf16", torch.device("cpu"))
        again = precision.effective_precision("bf16", torch.device("cpu"))
    assert used == again == "fp32"
    warnings = [r.getMessage() for r in caplog.records if "bf16" in r.getMessage()]
    assert len(warnings) == 1 and re.search(r"measured [0-9.]+x the time of fp32", warnings[0])
    precision._CACHE.clear()
    with pytest.raises(ValueError, match="precision"):
        precision.effective_precision("fp8", torch.device("cpu"))


def test_checkpoint_resumes_in_the_other_precision(tmp_path):
    ds = f"npz:{synthetic_walks(tmp_path / 'w.npz')}"
    cfg = make_config("hi-mpch", dataset=ds, epochs=1, precision="bf16", **SMALL)
    engine.train(cfg, None, tmp_path / "r", progress=False)
    res = engine.train(cfg.replace(precision="fp32", epochs=2), None, tmp_path / "r", progress=False)
    assert len(res["history"]) == 2 and res["precision"] == "fp32"


@cuda
@pytest.mark.parametrize("prec, tol", [("fp32", 1e-3), ("bf16", 0.02)])
def test_cuda_step_matches_cpu(prec, tol):
    import copy
    cfg = make_config("hi-mpch", hidden=32, heads=4)
    model, protos, x, labels = _setup("cpu")
    l_cpu = batch_loss(model, protos, x, labels, cfg, precision="fp32").loss.item()
    dev = torch.device("cuda")
    used = precision.effective_precision(prec, dev)
    assert used == (prec if precision.native_bf16(dev) or prec == "fp32" else "fp32")
    m = copy.deepcopy(model).to(dev)
    out = batch_loss(m, copy.deepcopy(protos).to(dev), x.to(dev), labels.to(dev), cfg, precision=used)
    out.loss.backward()
    assert abs(out.loss.item() - l_cpu) <= tol * abs(l_cpu) and m.heads.grad.dtype == torch.float32


@cuda
def test_cuda_training_run(tmp_path):
    ds = f"npz:{synthetic_walks(tmp_path / 'w.npz')}"
    res = engine.train(make_config("hi-mpch", dataset=ds, epochs=2, device="cuda", precision="bf16", **SMALL),
                       None, tmp_path / "r", progress=False)
    assert res["device"].startswith("cuda") and res["metrics"]["msmr"]["R1"] >= 0
