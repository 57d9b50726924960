"""Sec. 3.1 hierarchy as joint-group centroids, layouts, and the config object."""

import json

import pytest
import torch

from himpc.config import Config, make_config
from himpc.hierarchy import build_hierarchy, level_matrices, with_motion
from himpc.layouts import LayoutError, get_layout, layout_from_spec


@pytest.mark.parametrize("name,j", [("kinect-v1-20", 20), ("kinect-v1-20-sdk", 20), ("kinect-v2-25", 25), ("coco-14", 14)])
def test_partitions_cover_every_joint_once(name, j):
    lay = get_layout(name)
    assert lay.num_joints == j
    for parts, n in ((lay.components, 10), (lay.limbs, 5)):
        flat = sorted(i for g in parts for i in g)
        assert len(parts) == n and flat == list(range(j))


def test_component_and_limb_are_centroids():
    lay = get_layout("kinect-v1-20-sdk")
    x = torch.arange(2 * 20 * 3, dtype=torch.float32).view(2, 20, 3)
    jnt, comp, limb = build_hierarchy(x, lay, "JCL")
    assert torch.equal(jnt, x)
    # torso component = mean(HipCenter, Spine) = joints 0 and 1 in SDK order
    assert torch.allclose(comp[:, 4], (x[:, 0] + x[:, 1]) / 2)
    # left leg limb = mean of joints 12..15
    assert torch.allclose(limb[:, 0], x[:, 12:16].mean(1))


def test_motion_channels_are_scaled_frame_displacements():
    x = torch.randn(4, 6, 5, 3)                                    # [N, F, parts, 3]
    (out,) = with_motion([x], 10.0)
    assert out.shape == (4, 6, 5, 6) and torch.equal(out[..., :3], x)
    assert torch.allclose(out[:, 3, :, 3:], 10.0 * (x[:, 3] - x[:, 2]))
    assert torch.equal(out[:, 0, :, 3:], out[:, 1, :, 3:])           # frame 0 repeats frame 1's
    (single,) = with_motion([x[:, :1]], 10.0)
    assert torch.equal(single[..., 3:], torch.zeros(4, 1, 5, 3))     # one frame: no motion
    with pytest.raises(ValueError, match="motion_scale must be >= 0"):
        make_config("hi-mpch", motion_scale=-1.0)


def test_kgbd_and_sdk_orders_agree():
    sdk, kg = get_layout("kinect-v1-20-sdk"), get_layout("kinect-v1-20")
    perm = [sdk.joints.index(n) for n in kg.joints]      # kgbd frame = sdk frame[perm]
    x = torch.randn(3, 20, 3)
    a = build_hierarchy(x, sdk, "CL")
    b = build_hierarchy(x[:, perm], kg, "CL")
    assert all(torch.allclose(u, v) for u, v in zip(a, b))
    # default root: the hip centre (the authors' joint 0 of the raw order, the head, is root_joint=joint0)
    assert kg.root == "HipCenter" and kg.root_indices() == (11,) and sdk.root == "HipCenter"


def test_custom_spec_and_errors():
    spec = get_layout("coco-14").to_spec()
    assert layout_from_spec(json.dumps(spec)).components == get_layout("coco-14").components
    with pytest.raises(LayoutError, match="unknown layout"):
        get_layout("kinect-v3")
    bad = dict(spec, limbs=spec["limbs"][:4])
    with pytest.raises(LayoutError, match="5 groups"):
        layout_from_spec(bad)
    with pytest.raises(ValueError, match="unknown level"):
        level_matrices(get_layout("coco-14"), "JX")


def test_config_defaults_and_presets():
    c = Config()
    assert (c.hidden, c.heads, c.seq_len, c.lr, c.batch_size) == (256, 8, 6, 3.5e-4, 256)
    assert (c.dbscan_eps, c.dbscan_min_samples, c.temperature) == (0.6, 4, 16.0)
    assert Config(dataset="authors:IAS:A").dbscan_eps == 0.8
    assert Config(dataset="authors:BIWI:Still").dbscan_eps == 0.6
    d = make_config("dpc")
    assert d.levels == "J" and not d.meta_heads and not d.hsm
    o = make_config("hi-mpch,official-code")
    assert not o.joint_loss_divide_by_m and o.inlier_all_levels and o.hsm
    assert Config.from_dict(o.to_dict()) == o
    assert o.model_hash() == o.replace(epochs=99).model_hash() != o.replace(hidden=128).model_hash()
    with pytest.raises(ValueError):
        Config(levels="JJ")
    with pytest.raises(ValueError, match="unknown preset"):
        make_config("nope")


def test_model_differences_treats_new_fields_as_defaults():
    c = Config()
    stored = c.to_dict()
    assert c.model_differences(stored) == []
    older = {k: v for k, v in stored.items() if k not in ("pseudo_labels", "knn_list_k1")}
    assert c.model_differences(older) == []                     # written before those switches existed
    assert c.replace(pseudo_labels="walk").model_differences(older) == ["pseudo_labels"]
    assert c.replace(epochs=99, threads=1).model_differences(stored) == []
    assert c.replace(hidden=64).model_differences(stored) == ["hidden"]
