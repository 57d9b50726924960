"""Tests for himpc.metrics (paper Sec. 4.3): CMC with pessimistic ties, sklearn-exact AP."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.metrics import average_precision_score

from himpc.metrics import _rank_and_ap, evaluate_features, evaluate_levels, evaluate_rank, pairwise_distance

GALLERY = ["a", "b", "a", "c"]


def test_hand_computed_tie_between_true_and_false_match():
    dist = np.array([
        # probe "a": g0 (a) ties with g1 (b) at 1.0 -> pessimistic rank 2 (R1 miss, R5 hit).
        # AP: step {g0,g1}@1.0 -> P=1/2, R=1/2; step {g3}@2.0 adds no TP; step {g2}@3.0 -> P=2/4, R=1.
        #     AP = 1/2*1/2 + 1/2*2/4 = 0.5
        [1.0, 1.0, 3.0, 2.0],
        # probe "b": its only match g1 is strictly nearest -> rank 1, AP = 1.
        [2.0, 0.5, 1.0, 3.0],
    ])
    res = evaluate_rank(dist, ["a", "b"], GALLERY)
    assert res["R1"] == pytest.approx(50.0)      # 1 of 2 probes
    assert res["R5"] == pytest.approx(100.0)
    assert res["R10"] == pytest.approx(100.0)
    assert res["mAP"] == pytest.approx(75.0)     # (0.5 + 1) / 2
    assert res["cmc"] == pytest.approx([50.0, 100.0, 100.0, 100.0])   # min(50, G=4) entries
    assert (res["num_probe"], res["num_gallery"], res["num_skipped"]) == (2, 4, 0)


def test_hand_computed_tie_among_true_matches():
    # probe "a": g1 (b) @0.5 first; g0, g2 (both a) tie @1.0 -> rank 2.
    # AP: step {g1} -> no TP; step {g0,g2}@1.0 -> P=2/3, R 0 -> 1. AP = 2/3
    # (a tie-unaware order would give (1/2 + 2/3)/2 = 7/12).
    res = evaluate_rank(np.array([[1.0, 0.5, 1.0, 2.0]]), ["a"], GALLERY, ranks=(1, 2))
    assert res["R1"] == 0.0 and res["R2"] == 100.0
    assert res["mAP"] == pytest.approx(100 * 2 / 3)


def test_perfect_ranking():
    ids = np.repeat(np.arange(5), 3)
    feats = np.eye(5)[ids] * 10.0 + np.random.default_rng(0).normal(scale=0.01, size=(15, 5))
    res = evaluate_rank(pairwise_distance(feats, feats[::-1].copy()), ids, ids[::-1])
    assert res["R1"] == 100.0 and res["mAP"] == pytest.approx(100.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ap_equals_sklearn_with_many_ties(seed):
    rng = np.random.default_rng(seed)
    g_ids = rng.integers(0, 6, size=40)
    p_ids = rng.choice(np.unique(g_ids), size=60)
    dist = rng.integers(0, 4, size=(60, 40)).astype(np.float64)   # heavy ties
    rank0, ap = _rank_and_ap(dist, p_ids[:, None] == g_ids[None, :])
    for i in range(60):
        y = p_ids[i] == g_ids
        assert ap[i] == pytest.approx(average_precision_score(y, -dist[i]), abs=1e-12)
        # pessimistic rank: wrong items with distance <= best true distance
        assert rank0[i] == np.sum(~y & (dist[i] <= dist[i][y].min()))
    res = evaluate_rank(dist, p_ids, g_ids, chunk_size=7)
    assert res["mAP"] == pytest.approx(100 * ap.mean())
    assert res["R1"] == pytest.approx(100 * np.mean(rank0 == 0))


def test_cmc_monotone_and_consistent():
    rng = np.random.default_rng(3)
    g_ids = rng.integers(0, 20, size=80)
    p_ids = rng.choice(np.unique(g_ids), size=50)
    res = evaluate_rank(rng.random((50, 80)), p_ids, g_ids, ranks=(1, 5, 10, 60))
    cmc = np.asarray(res["cmc"])
    assert len(cmc) == 50 and np.all(np.diff(cmc) >= 0) and cmc[-1] <= 100.0
    assert res["R1"] == cmc[0] and res["R5"] == cmc[4] and res["R10"] == cmc[9]
    assert res["R60"] >= cmc[-1]


def test_unmatched_probe_raises_or_is_skipped():
    dist = np.array([[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0], [0.0, 1.0, 2.0, 3.0]])
    with pytest.raises(ValueError, match=r"1 probe\(s\).*'z'"):
        evaluate_rank(dist, ["a", "z", "c"], GALLERY)
    res = evaluate_rank(dist, ["a", "z", "c"], GALLERY, skip_unmatched=True)
    # probe "a": g0 nearest -> rank 1, AP = (1/1 + 2/3)/2; probe "c": g3 last -> rank 4, AP = 1/4
    assert (res["num_probe"], res["num_skipped"]) == (2, 1)
    assert res["R1"] == 50.0 and res["R5"] == 100.0
    assert res["mAP"] == pytest.approx(100 * ((1 + 2 / 3) / 2 + 1 / 4) / 2)
    with pytest.raises(ValueError):
        evaluate_rank(dist[:1], ["z"], GALLERY, skip_unmatched=True)


def test_every_probe_evaluated_any_hashable_ids():
    # 7 probes, chunk_size 3: the tail chunk (1 probe) must be evaluated too.
    ids = [("p", 1), ("p", 2), ("p", 3), ("p", 1), ("p", 2), ("p", 3), ("p", 1)]
    dist = np.ones((7, 3))
    dist[np.arange(7), [0, 1, 2, 0, 1, 2, 1]] = 0.0   # last probe ranks a wrong item first
    res = evaluate_rank(dist, ids, [("p", 1), ("p", 2), ("p", 3)], chunk_size=3)
    assert res["num_probe"] == 7
    assert res["R1"] == pytest.approx(100 * 6 / 7)


def test_pairwise_distance_matches_scipy():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(13, 8)), rng.normal(size=(9, 8))
    np.testing.assert_allclose(pairwise_distance(a, b, chunk_size=4), cdist(a, b), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(pairwise_distance(a, b, metric="cosine", dtype=np.float64),
                               cdist(a, b, "cosine"), atol=1e-12)
    np.testing.assert_allclose(pairwise_distance(a, b, metric="sqeuclidean", dtype=np.float64),
                               cdist(a, b, "sqeuclidean"), atol=1e-10)
    assert pairwise_distance(a, a).diagonal().min() >= 0.0


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_evaluate_features_chunked_equals_full(metric):
    rng = np.random.default_rng(5)
    # integer features -> many exactly tied distances
    gf, pf = rng.integers(0, 3, size=(70, 4)).astype(np.float32), rng.integers(0, 3, size=(45, 4)).astype(np.float32)
    g_ids = rng.integers(0, 8, size=70)
    p_ids = np.append(rng.choice(np.unique(g_ids), size=44), 99)   # one unmatched probe
    p_ids[:6] = 99                                                   # a chunk of unmatched probes only
    dist = pairwise_distance(pf, gf, metric=metric)
    full = evaluate_rank(dist, p_ids, g_ids, skip_unmatched=True, workers=1)
    for workers in (1, 3):     # chunks of 6 (then 3) probes, on one thread or spread over three
        assert evaluate_features(pf, gf, p_ids, g_ids, metric=metric, skip_unmatched=True,
                                 chunk_size=6, workers=workers) == full
        assert evaluate_rank(dist, p_ids, g_ids, skip_unmatched=True, chunk_size=3, workers=workers) == full
    assert full["num_skipped"] == 7


def test_evaluate_levels_equals_each_level_and_the_concatenation():
    rng = np.random.default_rng(7)
    lv_g = rng.integers(0, 3, size=(3, 70, 4)).astype(np.float32)     # ties within and across levels
    lv_p = rng.integers(0, 3, size=(3, 45, 4)).astype(np.float32)
    g_ids = rng.integers(0, 8, size=70)
    p_ids = np.append(rng.choice(np.unique(g_ids), size=44), 99)
    for workers in (1, 2):
        levels, joint = evaluate_levels(lv_p, lv_g, p_ids, g_ids, skip_unmatched=True, chunk_size=6,
                                        workers=workers)
        for lv in range(3):
            assert levels[lv] == evaluate_features(lv_p[lv], lv_g[lv], p_ids, g_ids, skip_unmatched=True)
        concat = evaluate_features(np.concatenate(lv_p, 1), np.concatenate(lv_g, 1), p_ids, g_ids,
                                   skip_unmatched=True)
        assert joint == concat            # integer features: the two sums are exact, ties included
    assert evaluate_levels(lv_p, lv_g, p_ids, g_ids, skip_unmatched=True, concatenated=False) == (levels, None)
    assert evaluate_levels(lv_p, lv_g, p_ids, g_ids, skip_unmatched=True, per_level=False) == ([], joint)
    with pytest.raises(ValueError, match="nothing to evaluate"):
        evaluate_levels(lv_p, lv_g, p_ids, g_ids, per_level=False, concatenated=False)
    with pytest.raises(ValueError, match="probe / 70 gallery"):
        evaluate_levels(lv_p[:, :40], lv_g, p_ids, g_ids)


def test_non_finite_distances_raise():
    with pytest.raises(ValueError, match="NaN"):
        evaluate_rank(np.array([[np.nan, 1.0, 2.0, 3.0]]), ["a"], GALLERY)
