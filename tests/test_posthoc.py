"""Beyond the protocol: k-reciprocal re-ranking equals its dense definition; walk-level features."""

import numpy as np
import pytest
import torch

from himpc.clustering import jaccard_distance_dense
from himpc.metrics import evaluate_rank
from himpc.posthoc import rerank_distances, walk_features


def _clusters(rng, n_id, per, dim, noise):
    centres = rng.normal(size=(n_id, dim))
    x = np.repeat(centres, per, 0) + noise * rng.normal(size=(n_id * per, dim))
    return x.astype(np.float32), np.repeat(np.arange(n_id), per)


def test_rerank_equals_the_dense_definition():
    rng = np.random.default_rng(0)
    x, ids = _clusters(rng, 12, 6, 16, 0.7)
    perm = rng.permutation(len(x))
    x, ids = x[perm], ids[perm]
    p = 24
    got = rerank_distances(x[:p], x[p:], k1=8, k2=3, lam=0.3)
    xn = torch.nn.functional.normalize(torch.from_numpy(x), dim=1).double()
    d = torch.cdist(xn[:p], xn[p:]).pow(2).numpy()
    d /= d.max(0, keepdims=True)
    jac = jaccard_distance_dense(xn.float(), k1=8, k2=3, normalize=False)[:p, p:]
    np.testing.assert_allclose(got, 0.7 * jac + 0.3 * d, atol=2e-5)
    assert got.shape == (p, len(x) - p) and got.dtype == np.float32


def test_rerank_helps_on_clustered_features():
    """Well-separated identities with noisy clips: re-ranking raises mAP (its known effect)."""
    rng = np.random.default_rng(1)
    x, ids = _clusters(rng, 30, 10, 32, 1.1)
    probe = np.arange(len(x)) % 10 < 3
    base = evaluate_rank(torch.cdist(torch.from_numpy(x[probe]), torch.from_numpy(x[~probe])).numpy(),
                         ids[probe], ids[~probe])
    rr = evaluate_rank(rerank_distances(x[probe], x[~probe]), ids[probe], ids[~probe])
    assert rr["mAP"] > base["mAP"] + 1.0


def test_walk_features_are_walk_means_in_order_of_appearance():
    f = np.arange(12, dtype=np.float32).reshape(6, 2)
    walk = np.array([7, 7, 3, 3, 3, 9])
    person = np.array(["a", "a", "b", "b", "b", "a"])
    wf, wp = walk_features(f, walk, person)
    np.testing.assert_allclose(wf, [[1, 2], [6, 7], [10, 11]])
    assert list(wp) == ["a", "b", "a"]


def test_beyond_protocol_has_every_row_and_its_fused_rows_match_training(tmp_path):
    """A trained run read by `himpc eval --beyond`: every evaluation of EVALUATIONS, the fused row equal
    to the fused metrics training recorded (cosine of per-level unit features = Euclidean there)."""
    from himpc import engine
    from himpc.config import make_config
    from himpc.report.inspection import load_run
    from himpc.posthoc import EVALUATIONS, beyond_protocol
    from tests.test_engine import SMALL, synthetic_walks

    ds = f"npz:{synthetic_walks(tmp_path / 'w.npz')}"
    res = engine.train(make_config("hi-mpc+", dataset=ds, epochs=1, **SMALL), None, tmp_path / "r", progress=False)
    out = beyond_protocol(load_run(tmp_path / "r"))
    assert set(out) == set(EVALUATIONS.values())
    fused = out[EVALUATIONS["fused"]]["metrics"]
    assert fused == {k: pytest.approx(v, abs=0.01) for k, v in res["metrics"]["fused"].items()}
    assert out[EVALUATIONS["fused-walk"]]["probes"] == res["split"]["walks"]["probe"]
