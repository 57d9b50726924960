"""Walk-aware pseudo labels (himpc.walk_labels) and the combined method's preset."""

import numpy as np
import pytest
import torch

from himpc import engine
from himpc.config import make_config
from himpc.walk_labels import mutual_nearest_pairs, walk_means, walk_merge_labels
from tests.test_engine import SMALL, synthetic_walks


def test_walk_means_are_normalised_centroids_of_unit_clip_features():
    f = torch.tensor([[[2.0, 0.0], [0.0, 5.0], [3.0, 4.0]]])          # [L=1, N=3, h=2]
    got = walk_means(f, torch.tensor([0, 0, 1]), 2)
    want0 = torch.nn.functional.normalize(torch.tensor([1.0, 1.0]), dim=0)   # (1,0) + (0,1), normalised
    assert torch.allclose(got[0, 0], want0) and torch.allclose(got[0, 1], torch.tensor([0.6, 0.8]))


def test_mutual_nearest_walks_pair_and_others_stay_alone():
    # walks 0 and 1 are each other's nearest; 2 is nearest to 1 but 1 prefers 0; 3 far from all
    x = torch.tensor([[1.0, 0.0], [0.98, 0.2], [0.8, 0.6], [-1.0, 0.1]])
    x = torch.nn.functional.normalize(x, dim=1)
    cls = mutual_nearest_pairs(x[None])[0]
    assert cls[0] == cls[1] and len({int(c) for c in cls}) == 3
    assert sorted(cls.tolist()) == [0, 0, 1, 2]                          # numbered 0..C-1


def test_levels_merge_on_their_own():
    a = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0], [0.1, 0.99]]), dim=1)
    b = a[[0, 2, 1, 3]]                                                  # level 2 pairs other walks
    cls = mutual_nearest_pairs(torch.stack([a, b]))
    assert cls[0, 0] == cls[0, 1] and cls[0, 2] == cls[0, 3] and cls[0, 0] != cls[0, 2]
    assert cls[1, 0] == cls[1, 2] and cls[1, 1] == cls[1, 3] and cls[1, 0] != cls[1, 1]


def test_clips_of_a_walk_share_its_class():
    rng = np.random.default_rng(0)
    walk = np.repeat(np.array(["p0/1", "p0/2", "p1/1", "p1/2"]), [5, 4, 6, 3])
    centre = {"p0": np.array([1.0, 0.0, 0.0]), "p1": np.array([0.0, 1.0, 0.0])}
    f = np.stack([centre[w[:2]] + rng.normal(0, 0.05, 3) for w in walk])
    labels = walk_merge_labels(torch.tensor(f, dtype=torch.float32)[None].expand(3, -1, -1), walk)
    assert labels.shape == (3, len(walk)) and (labels >= 0).all()
    for lv in range(3):
        person = np.array([w[:2] for w in walk])
        for p in ("p0", "p1"):
            assert len(set(labels[lv, person == p].tolist())) == 1       # both walks of a person merged
        assert labels[lv, 0] != labels[lv, -1]
    with pytest.raises(ValueError, match="walk ids"):
        walk_merge_labels(torch.zeros(1, 3, 2), walk)


def test_fused_merge_gives_every_level_the_merge_of_the_levels_together():
    def unit(*degrees):
        return torch.tensor([[np.cos(np.radians(d)), np.sin(np.radians(d))] for d in degrees], dtype=torch.float32)
    a, b = unit(0, 10, 90, 100), unit(0, 60, 50, 110)     # level 0 pairs walks (0, 1), (2, 3); level 1 (1, 2)
    walk = np.repeat(np.array(["w0", "w1", "w2", "w3"]), 2)
    feats = torch.stack([a, b])[:, np.repeat(np.arange(4), 2)]            # two clips per walk: 0-1, 2-3, ...
    own = walk_merge_labels(feats, walk)
    assert own[1, 2] == own[1, 4] and own[1, 0] != own[1, 2]             # level 1 alone pairs walks 1 and 2
    fused = walk_merge_labels(feats, walk, fused=True)
    assert torch.equal(fused[0], fused[1])
    assert fused[0, 0] == fused[0, 2] and fused[0, 4] == fused[0, 6] and fused[0, 0] != fused[0, 4]


def test_a_single_walk_is_one_class():
    assert mutual_nearest_pairs(torch.ones(2, 1, 4)).tolist() == [[0], [0]]


def test_combined_preset_trains_on_merged_walks(tmp_path):
    ds = f"npz:{synthetic_walks(tmp_path / 'w.npz')}"
    cfg = make_config("hi-mpc+", dataset=ds, epochs=2, **SMALL)
    assert cfg.pseudo_labels == "walk-merge" and cfg.hsm and cfg.levels == "JCL"
    res = engine.train(cfg, None, tmp_path / "plus", progress=False)
    n_walks = res["split"]["walks"]["train"]
    for h in res["history"]:
        assert h["outliers"]["J"] == 0 and n_walks / 2 <= h["clusters"]["J"] < n_walks   # some walks merged
    assert set(res["metrics"]) >= {"msmr", "fused"}


def test_combined_preset_trains_with_motion_channels_and_fused_merging(tmp_path):
    ds = f"npz:{synthetic_walks(tmp_path / 'w.npz')}"
    cfg = make_config("hi-mpc+", dataset=ds, epochs=1, motion_scale=10.0, walk_merge_on="fused", **SMALL)
    res = engine.train(cfg, None, tmp_path / "lever", progress=False)
    h = res["history"][-1]
    assert h["clusters"]["J"] == h["clusters"]["C"] == h["clusters"]["L"]   # one merge for all levels
    run = engine.Trainer(cfg, engine.build_split(cfg, None), tmp_path / "again", progress=False)
    assert run.x_train.shape[-1] == 2 * engine.level_inputs(run.split.train, cfg.levels).shape[-1]
    assert np.isfinite(res["metrics"]["fused"]["mAP"])


def test_unknown_pseudo_labels_are_refused():
    with pytest.raises(ValueError, match="pseudo_labels must be one of dbscan | walk | walk-merge | identity"):
        make_config("hi-mpch", pseudo_labels="kmeans")
