"""Encoders, heads, MSMR and prototypes: batched levels equal separate per-level MLPs."""

import pytest
import torch

from himpc.config import Config, make_config
from himpc.hierarchy import build_hierarchy, flatten_levels
from himpc.layouts import get_layout
from himpc.model import HiMPCModel, Prototypes
from himpc.objective import batch_loss, level_weights


def _inputs(n=7, f=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    clips = torch.randn(n, f, 20, 3, generator=g)
    return flatten_levels(build_hierarchy(clips, get_layout("kinect-v1-20"), "JCL"))


def test_batched_levels_equal_separate_mlps():
    torch.manual_seed(0)
    x = _inputs()
    m = HiMPCModel([60, 30, 15], hidden=16, heads=3)
    z = m.encode_frames(x)
    for lv, d in enumerate([60, 30, 15]):
        xi = x[lv, ..., :d]
        ref = torch.relu(xi @ m.w1[lv, :d] + m.b1[lv]) @ m.w2[lv] + m.b2[lv]
        assert torch.allclose(z[lv], ref, atol=1e-5)
        # padded input columns are zero, so padded weight rows get no gradient
    z.sum().backward()
    assert m.w1.grad[1, 30:].abs().max() == 0 and m.w1.grad[2, 15:].abs().max() == 0


def test_heads_msmr_and_pooling():
    torch.manual_seed(0)
    x = _inputs()
    m = HiMPCModel([60, 30, 15], hidden=8, heads=4)
    z = m.encode_frames(x)
    v = m.pool(z)
    assert torch.allclose(v, z.mean(2))
    vh = m.transform(v)                                   # [L, M, B, h]
    assert torch.allclose(vh[1, 2], v[1] @ m.heads[1, 2], atol=1e-5)
    # transforming frames then pooling equals transforming the instance (linearity)
    assert torch.allclose(m.transform(z).mean(3), vh, atol=1e-4)
    feats = m.level_features(x)                           # V^l = mean over heads (Eq. 10)
    assert torch.allclose(feats, vh.mean(1), atol=1e-4)
    msmr = m.msmr(feats)
    assert msmr.shape == (7, 24) and torch.allclose(msmr[:, 8:16], feats[1])


def test_dpc_has_fixed_identity_head():
    m = HiMPCModel([60], hidden=8, heads=8, meta_heads=False)
    assert m.num_heads == 1 and not any(p is m.heads for p in m.parameters())
    v = torch.randn(1, 5, 8)
    assert torch.allclose(m.transform(v)[:, 0], v)


def test_prototypes_are_cluster_means():
    inst = torch.tensor([[[0.0, 0.0], [2.0, 2.0], [5.0, 1.0], [9.0, 9.0]]])
    labels = torch.tensor([[0, 0, 1, -1]])
    p = Prototypes(1, 2)
    p.update(inst, labels)
    assert p.protos[0].tolist() == [[1.0, 1.0], [5.0, 1.0]]
    assert p.num_prototypes == [2] and bool(p.active[0])
    p.update(inst, torch.tensor([[0, 0, 0, -1]]))         # a single cluster cannot be contrasted
    assert not bool(p.active[0])


def test_level_weights_paper_and_code():
    act = torch.tensor([True, True, True])
    paper = level_weights(Config(levels="JCL", heads=8), act, 8)
    code = level_weights(Config(levels="JCL", heads=8, joint_loss_divide_by_m=False), act, 8)
    assert torch.allclose(paper, torch.full((3,), 1 / 24))
    assert torch.allclose(code, torch.tensor([1 / 3, 1 / 24, 1 / 24]))
    part = level_weights(Config(levels="JCL", heads=8), torch.tensor([True, False, True]), 8)
    assert part[1] == 0 and torch.allclose(part.sum(), torch.tensor(2 / 16))


def _clustered(n_per=32, k=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(k, 1, 20, 3, generator=g)
    clips = centres.repeat_interleave(n_per, 0).expand(-1, 6, -1, -1) + 0.3 * torch.randn(k * n_per, 6, 20, 3, generator=g)
    labels = torch.arange(k).repeat_interleave(n_per)
    return clips, labels


def test_loss_decreases_hi_mpch():
    torch.manual_seed(0)
    cfg = make_config("hi-mpch", hidden=32, heads=4, head_init="orthogonal")
    clips, truth = _clustered()
    x = flatten_levels(build_hierarchy(clips, get_layout("kinect-v1-20"), "JCL"))
    m = HiMPCModel([60, 30, 15], hidden=32, heads=4, head_init="orthogonal")
    protos = Prototypes(3, 32)
    labels = truth.expand(3, -1)
    with torch.no_grad():
        protos.update(m.pool(m.encode_frames(x)), labels)
    opt = torch.optim.Adam(m.parameters(), lr=3.5e-3)
    losses = []
    for _ in range(60):
        out = batch_loss(m, protos, x, labels, cfg)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(out.loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_loss_decreases_dpc_and_importance_shape():
    torch.manual_seed(1)
    cfg = make_config("dpc", hidden=16, hsm=True)
    clips, truth = _clustered(k=3)
    x = flatten_levels(build_hierarchy(clips, get_layout("kinect-v1-20"), "J"))
    m = HiMPCModel([60], hidden=16, meta_heads=False)
    protos = Prototypes(1, 16)
    with torch.no_grad():
        protos.update(m.pool(m.encode_frames(x)), truth[None])
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    first = None
    for _ in range(40):
        out = batch_loss(m, protos, x, truth[None], cfg, return_importance=True)
        first = first if first is not None else out.loss.item()
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    assert out.importance.shape == (1, 1, 96, 6)
    assert out.loss.item() < first


def test_momentum_memory_moves_present_clusters_only():
    p = Prototypes(2, 3)
    inst = torch.randn(2, 10, 3)
    lab = torch.tensor([[0, 0, 1, 1, 1, 2, 2, 2, 2, -1], [0, 1, 0, 1, 0, 1, 0, 1, -1, -1]])
    p.update(inst, lab)
    before = p.protos.clone()
    batch = torch.randn(2, 4, 3)
    blab = torch.tensor([[1, 1, -1, 2], [0, -1, -1, -1]])
    p.momentum_update(batch, blab, 0.2)
    want = before.clone()
    want[0, 1] = 0.2 * before[0, 1] + 0.8 * batch[0, :2].mean(0)
    want[0, 2] = 0.2 * before[0, 2] + 0.8 * batch[0, 3]
    want[1, 0] = 0.2 * before[1, 0] + 0.8 * batch[1, 0]
    torch.testing.assert_close(p.protos, want)        # cluster 0 of level J and 1 of C untouched; padding too


def test_training_with_a_cluster_memory_changes_prototypes_within_an_epoch(tmp_path):
    from test_engine import SMALL, synthetic_walks
    from himpc.engine import Trainer
    from himpc.splits import build_split
    cfg = make_config("hi-mpch", dataset=f"npz:{synthetic_walks(tmp_path / 'w.npz')}", epochs=1,
                      memory_momentum=0.2, **SMALL)
    tr = Trainer(cfg, build_split(cfg, None), tmp_path / "run", progress=False)
    labels = tr.recluster()[0]
    start = tr.protos.protos.clone()
    loss, n = tr.train_epoch(0, labels)
    assert n > 0 and loss == loss and not torch.equal(start, tr.protos.protos)
    with pytest.raises(ValueError, match="memory_momentum"):
        make_config("hi-mpch", memory_momentum=1.0)
