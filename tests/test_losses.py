"""Eq. 5-9 on tiny tensors with values computed by hand."""

import math

import pytest
import torch

from himpc.losses import hi_mpc_loss, hi_mpch_loss, hsm_importance, predicted_prototype, prototype_logits


def test_prototype_logits_scale_and_mask():
    q = torch.tensor([[[[1.0, 2.0]]]])                   # [L=1, M=1, B=1, h=2]
    p = torch.tensor([[[[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]]])   # [1, 1, C=3, 2]
    mask = torch.tensor([[True, True, False]])
    out = prototype_logits(q, p, mask, tau=2.0)
    assert out[0, 0, 0, :2].tolist() == [0.5, 1.0]       # (1*1)/2, (2*1)/2
    assert out[0, 0, 0, 2] < -1e30                        # padded prototype never wins


def test_hi_mpc_loss_hand_values():
    # one level, two heads, one instance, two prototypes, label 0
    logits = torch.tensor([[[[2.0, 0.0]], [[0.0, 0.0]]]])   # [1, 2, 1, 2]
    labels = torch.tensor([[0]])
    valid = torch.tensor([[True]])
    # head 1: -log(e^2 / (e^2 + 1)) = log(1 + e^-2) = 0.126928; head 2: log 2 = 0.693147
    expected_sum = math.log(1 + math.exp(-2)) + math.log(2)
    got = hi_mpc_loss(logits, labels, valid, torch.tensor([1.0]))
    assert got.item() == pytest.approx(expected_sum, abs=1e-6)
    # averaged over heads (paper) = sum / M
    got = hi_mpc_loss(logits, labels, valid, torch.tensor([0.5]))
    assert got.item() == pytest.approx(expected_sum / 2, abs=1e-6)


def test_hi_mpc_loss_ignores_outliers():
    logits = torch.tensor([[[[2.0, 0.0], [0.0, 9.0]]]])     # [1, 1, B=2, 2]
    labels = torch.tensor([[0, -1]])
    valid = labels >= 0
    got = hi_mpc_loss(logits, labels, valid, torch.tensor([1.0]))
    assert got.item() == pytest.approx(math.log(1 + math.exp(-2)), abs=1e-6)


def test_eq6_prediction():
    logits = torch.tensor([[[[0.1, 0.7, 0.2]]]])
    assert predicted_prototype(logits).item() == 1


def test_eq8_importance_signs():
    s = torch.tensor([[[[1.0, 2.0, 3.0]]]])               # [L, M, B, F]
    right = hsm_importance(s, torch.tensor([[[4]]]), torch.tensor([[4]]))
    wrong = hsm_importance(s, torch.tensor([[[3]]]), torch.tensor([[4]]))
    z = math.exp(-1) + math.exp(-2) + math.exp(-3)
    # prediction right: delta = softmax(-s): the least certain (hardest positive) frame weighs most
    assert right[0, 0, 0].tolist() == pytest.approx([math.exp(-1) / z, math.exp(-2) / z, math.exp(-3) / z], abs=1e-6)
    # prediction wrong: delta = softmax(s): the most certain frame (hardest negative) weighs most
    assert wrong[0, 0, 0].tolist() == pytest.approx([math.exp(-3) / z, math.exp(-2) / z, math.exp(-1) / z], abs=1e-6)
    assert right.sum(-1).item() == pytest.approx(1.0)


def test_hi_mpch_loss_hand_value():
    # L = M = B = 1, F = 2, C = 2, tau = 1; frame logits f1 = [2, 0], f2 = [0, 0]; label 0
    frame = torch.tensor([[[[[2.0, 0.0], [0.0, 0.0]]]]])
    inst = torch.tensor([[[[1.0, 0.0]]]])                # predicts 0 = label -> I = -1
    labels, valid = torch.tensor([[0]]), torch.tensor([[True]])
    loss, delta = hi_mpch_loss(frame, inst, labels, valid, torch.tensor([1.0]), tau=1.0,
                               return_importance=True)
    d1 = math.exp(-2) / (math.exp(-2) + 1)                # softmax([-2, 0])
    ce1, ce2 = math.log(1 + math.exp(-2)), math.log(2)
    assert delta[0, 0, 0].tolist() == pytest.approx([d1, 1 - d1], abs=1e-6)
    assert loss.item() == pytest.approx(d1 * ce1 + (1 - d1) * ce2, abs=1e-6)


def test_hsm_scale_by_tau_switch():
    frame = torch.tensor([[[[[2.0, 0.0], [0.0, 0.0]]]]])
    inst = torch.tensor([[[[1.0, 0.0]]]])
    labels, valid, w = torch.tensor([[0]]), torch.tensor([[True]]), torch.tensor([1.0])
    _, d_raw = hi_mpch_loss(frame, inst, labels, valid, w, tau=4.0, return_importance=True)
    _, d_tau = hi_mpch_loss(frame, inst, labels, valid, w, tau=4.0, scale_sims_by_tau=True, return_importance=True)
    # raw: sims = logits * tau = [8, 0]; code: sims = logits = [2, 0]
    assert d_raw[0, 0, 0, 0].item() == pytest.approx(math.exp(-8) / (math.exp(-8) + 1), abs=1e-7)
    assert d_tau[0, 0, 0, 0].item() == pytest.approx(math.exp(-2) / (math.exp(-2) + 1), abs=1e-7)


def test_hsm_gradient_switch():
    frame = torch.tensor([[[[[2.0, 0.0], [0.5, 0.0]]]]], requires_grad=True)
    inst = torch.tensor([[[[1.0, 0.0]]]])
    labels, valid, w = torch.tensor([[0]]), torch.tensor([[True]]), torch.tensor([1.0])
    g = []
    for flag in (False, True):
        loss = hi_mpch_loss(frame, inst, labels, valid, w, tau=1.0, grad_through_importance=flag)
        g.append(torch.autograd.grad(loss, frame)[0])
    assert not torch.allclose(g[0], g[1])



@pytest.mark.parametrize("mask_kind", ["all", "prefix", "holes", "empty-level"])
@pytest.mark.parametrize("layout", ["contrast", "contiguous"])
def test_frame_cross_entropy_equals_masked_reference(mask_kind, layout):
    """The fused CE (values and gradient) equals F.cross_entropy over logits whose padded prototypes
    _fill_padded_ masked, on the permuted view contrast_logits returns and on any other layout."""
    from himpc.losses import _fill_padded_, frame_cross_entropy
    torch.manual_seed(0)
    L, M, B, Fr, C = 3, 2, 4, 5, 7
    base = torch.randn(L, B, Fr, M, C, dtype=torch.float64) * 3
    mask = torch.ones(L, C, dtype=torch.bool)
    if mask_kind == "prefix":
        mask[1, 5:] = False
    elif mask_kind == "holes":
        mask[0, [1, 4]] = False
    elif mask_kind == "empty-level":
        mask[2] = False
        mask[1, 6:] = False
    _fill_padded_(base.view(L, B * Fr, M, C), mask)
    assert (base.permute(0, 3, 1, 2, 4)[~mask[:, None, None, None, :].expand(L, M, B, Fr, C)] < -1e300).all()
    target = torch.randint(0, 4, (L, B)).clamp(max=int(mask.sum(1).clamp(min=1).min()) - 1)
    target = torch.where(mask[torch.arange(L)[:, None], target], target, 0)
    target = target[:, None, :, None].expand(L, M, B, Fr)
    x = base.clone().requires_grad_()
    logits = x.permute(0, 3, 1, 2, 4) if layout == "contrast" else x.permute(0, 3, 1, 2, 4).contiguous()
    ce = frame_cross_entropy(logits, target)
    ref_x = base.clone().requires_grad_()
    ref = torch.nn.functional.cross_entropy(ref_x.permute(0, 3, 1, 2, 4).reshape(-1, C), target.reshape(-1),
                                            reduction="none").view_as(ce)
    assert ce.dtype == torch.float32 and torch.allclose(ce, ref.float(), atol=1e-5)
    w = torch.rand_like(ref)
    (ce * w.float()).sum().backward()
    (ref * w).sum().backward()
    assert torch.allclose(x.grad, ref_x.grad, atol=1e-6)
    live = mask.any(1)                 # a level without prototypes has uniform rows (weight 0 in the loss)
    padded = ~mask[live][:, None, None, None, :].expand(int(live.sum()), M, B, Fr, C)
    assert (x.grad.permute(0, 3, 1, 2, 4)[live][padded] == 0).all()


def test_frame_cross_entropy_of_bf16_logits_is_fp32():
    from himpc.losses import frame_cross_entropy
    torch.manual_seed(1)
    logits = torch.randn(1, 2, 3, 4, 50) * 4
    target = torch.randint(0, 50, (1, 2, 3, 4))
    ce16 = frame_cross_entropy(logits.bfloat16(), target)
    ce32 = frame_cross_entropy(logits.bfloat16().float(), target)      # the same rounded logits, in fp32
    assert ce16.dtype == torch.float32 and torch.allclose(ce16, ce32, atol=1e-6)
    x = logits.bfloat16().requires_grad_()
    frame_cross_entropy(x, target).sum().backward()
    assert x.grad.dtype == torch.bfloat16
    ref = logits.bfloat16().float().requires_grad_()
    frame_cross_entropy(ref, target).sum().backward()
    assert torch.allclose(x.grad.float(), ref.grad, rtol=2 ** -7, atol=1e-6)


def test_bf16_gradient_of_a_confident_target_keeps_its_size():
    """p_t = 0.999: the target's gradient p_t - 1 = -1e-3 survives in bf16 (a bf16 softmax minus one
    would round it to 0 or to -4e-3)."""
    from himpc.losses import frame_cross_entropy
    logits = torch.zeros(1, 1, 1, 1, 11)
    logits[..., 0] = math.log(0.999 / 0.001 * 10)             # p_0 = 0.999, ten others share 0.001
    x = logits.bfloat16().requires_grad_()
    frame_cross_entropy(x, torch.zeros(1, 1, 1, 1, dtype=torch.long)).sum().backward()
    p0 = torch.softmax(logits.bfloat16().float(), -1)[..., 0].item()
    assert x.grad[..., 0].float().item() == pytest.approx(p0 - 1, rel=2 ** -7)
