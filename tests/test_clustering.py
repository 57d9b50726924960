"""Alg. 1 clustering: sparse k-reciprocal Jaccard graph (Zhong et al. 2017) + DBSCAN."""

import logging
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from himpc.clustering import (
    ClusterResult,
    _jaccard_pairs,
    cluster_features,
    cluster_levels,
    dbscan_labels,
    jaccard_distance_dense,
    jaccard_graph,
    knn,
    relabel,
)


def blobs(n, seed, centers=8, dim=32, spread=1.0, dtype=torch.float64):
    """Gaussian clusters (shuffled order), the structure the real features have."""
    g = torch.Generator().manual_seed(seed)
    cent = 2.0 * torch.randn(centers, dim, generator=g, dtype=dtype)
    lab = torch.randint(0, centers, (n,), generator=g)
    return cent[lab] + spread * torch.randn(n, dim, generator=g, dtype=dtype), lab


def as_dense(g: sp.csr_matrix) -> np.ndarray:
    """The graph as a dense matrix, absent pairs = 1 (nothing shared)."""
    out = np.ones(g.shape)
    coo = g.tocoo()
    out[coo.row, coo.col] = coo.data
    return out


def assert_graph_matches(g, dense, max_distance, atol=1e-10):
    coo = g.tocoo()
    assert np.allclose(coo.data, dense[coo.row, coo.col], atol=atol, rtol=0)  # every stored entry
    assert coo.data.max(initial=0) <= max_distance
    stored = np.zeros(dense.shape, dtype=bool)
    stored[coo.row, coo.col] = True
    must = dense <= max_distance - atol
    if max_distance >= 1.0:
        must &= dense < 1.0 - atol  # distance exactly 1: nothing shared, not stored
    assert not (must & ~stored).any(), "dense entries <= max_distance missing from the graph"
    assert np.array_equal(g.diagonal(), np.zeros(g.shape[0]))
    assert abs(g - g.T).max() == 0


# ------------------------------------------------------------------ sparse == dense
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("k2", [1, 6])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sparse_graph_equals_dense_reference(normalize, k2, seed):
    x, _ = blobs(300, seed)
    dense = jaccard_distance_dense(x, k1=20, k2=k2, normalize=normalize)
    for max_distance in (1.0, 0.6):
        g = jaccard_graph(x, k1=20, k2=k2, normalize=normalize, max_distance=max_distance)
        assert_graph_matches(g, dense, max_distance)


def test_cluster_contrast_rank_width():
    x, _ = blobs(300, 6)
    dense = jaccard_distance_dense(x, rank_width=20)  # faiss index.search(x, k1)
    assert_graph_matches(jaccard_graph(x, rank_width=20), dense, 1.0)
    assert np.abs(dense - jaccard_distance_dense(x)).max() > 0.01  # it does change things


def test_graph_threads_chunks_and_numpy_input_agree():
    x, _ = blobs(300, 5)
    ref = jaccard_graph(x)
    for kw in ({"workers": 1, "chunk_terms": 1000}, {"workers": 3, "chunk_terms": 20000}, {"knn_chunk": 50}):
        g = jaccard_graph(x.numpy(), **kw)
        assert np.array_equal(g.indptr, ref.indptr) and np.array_equal(g.indices, ref.indices)
        assert np.array_equal(g.data, ref.data)
    g = jaccard_graph(x.clone().requires_grad_(True), normalize=False)  # a live model output
    assert (g != jaccard_graph(x, normalize=False)).nnz == 0


def test_float32_packed_sums_equal_float64_sums():
    x, _ = blobs(300, 3)
    g64 = jaccard_graph(x)
    g32 = jaccard_graph(x.float())
    assert abs(g64 - g32).max() < 1e-5  # same neighbours here; float32 encodings
    # the packed-int64 accumulation itself, on identical (float32-representable) encodings
    q = sp.random(200, 200, density=0.1, format="csr", random_state=0, dtype=np.float64)
    q.data = q.data.astype(np.float32).astype(np.float64) + 1e-3
    q.sort_indices()
    r64 = _jaccard_pairs(q, 1.0, 500)
    q32 = q.astype(np.float32)
    r32 = _jaccard_pairs(q32, 1.0, 500)
    assert np.array_equal(r64[0], r32[0]) and np.array_equal(r64[1], r32[1])
    assert np.allclose(r64[2], r32[2], atol=1e-6)


def test_float32_graph_close_to_float32_dense():
    x, _ = blobs(300, 4, dtype=torch.float32)
    dense = jaccard_distance_dense(x)
    g = as_dense(jaccard_graph(x))
    assert np.mean(np.abs(g - dense) > 1e-4) < 1e-3


# ------------------------------------------------------------------------------ kNN
def brute_knn(x, k):
    d = torch.cdist(x.double(), x.double()) ** 2
    d.fill_diagonal_(-1.0)
    o = torch.sort(d, dim=1, stable=True).indices  # ties: lower index first
    return o[:, :k]


@pytest.mark.parametrize("chunk", [16, 64, 1000])
def test_knn_exact_self_first(chunk):
    x, _ = blobs(300, 7)
    dist, idx = knn(x, 21, chunk=chunk)
    assert torch.equal(idx, brute_knn(x, 21))
    assert torch.equal(idx[:, 0], torch.arange(300))
    assert (dist[:, 0] == 0).all() and (dist[:, 1:] >= dist[:, :-1]).all()
    ref = (x[idx] - x[:, None]).pow(2).sum(-1)
    assert torch.allclose(dist, ref, atol=1e-9)


def test_knn_ties_broken_by_index():
    # small integers: every distance is exact, so ties are exact; 4 points per value
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 3, (50, 4), generator=g).float().repeat(4, 1)[torch.randperm(200, generator=g)]
    for chunk in (8, 33, 500):
        _, idx = knn(x, 21, chunk=chunk)
        assert torch.equal(idx, brute_knn(x, 21)), chunk


# ------------------------------------------------------------------ hand-checkable
def two_blobs(n=30, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.tensor([1.0, 0, 0, 0]) + 0.01 * torch.randn(n, 4, generator=g)
    b = torch.tensor([0, 1.0, 0, 0]) + 0.01 * torch.randn(n, 4, generator=g)
    return torch.cat([a, b]).double()


def test_two_separated_blobs():
    x = two_blobs()
    g = jaccard_graph(x, k1=20, k2=6)
    dense = jaccard_distance_dense(x, k1=20, k2=6)
    assert (dense[:30, 30:] == 1).all() and (dense[30:, :30] == 1).all()  # nothing shared
    assert g[:30, 30:].nnz == 0 and g[30:, :30].nnz == 0
    res = cluster_features(x, eps=0.6, min_samples=4)
    assert isinstance(res, ClusterResult)
    assert res.num_clusters == 2 and res.num_outliers == 0
    assert (res.labels[:30] == 0).all() and (res.labels[30:] == 1).all()  # first appearance
    assert res.sizes.tolist() == [30, 30] and res.labels.dtype == np.int64
    assert res.seconds > 0 and {"knn", "jaccard", "dbscan"} <= set(res.timings)


def test_levels_side_by_side_equal_one_at_a_time():
    """Three levels (an [L, N, h] tensor) clustered on their own threads give each level's labels
    alone, in level order, for every thread count and any kwargs passed through."""
    v = torch.stack([blobs(400, seed, centers=6, dtype=torch.float32)[0] for seed in range(3)])
    alone = [cluster_features(v[lv], eps=0.6, min_samples=4, rank_width=20).labels for lv in range(3)]
    assert len({tuple(a) for a in alone}) == 3            # the levels differ: a mix-up would show
    for threads in (1, 2, None):
        res = cluster_levels(v, 0.6, 4, threads=threads, rank_width=20)
        assert [r.labels.tolist() for r in res] == [a.tolist() for a in alone]
    assert cluster_levels(v[:0], 0.6, 4) == []


def test_dbscan_on_hand_made_graph():
    # 0-1-2 chained at 0.3, 3-4 at 0.5, 5 alone; an explicit zero (3, 4) still links
    rows = [0, 1, 1, 2, 3, 4, 0, 2]
    cols = [1, 0, 2, 1, 4, 3, 2, 0]
    vals = [0.3, 0.3, 0.3, 0.3, 0.0, 0.0, 0.9, 0.9]
    g = sp.csr_matrix((vals, (rows, cols)), shape=(6, 6))
    labels = dbscan_labels(g, eps=0.4, min_samples=2)
    assert labels.tolist() == [0, 0, 0, 1, 1, -1]
    assert dbscan_labels(g, eps=0.4, min_samples=3).tolist() == [0, 0, 0, -1, -1, -1]


def test_relabel_first_appearance():
    assert relabel(np.array([5, -1, 2, 5, 0, 2])).tolist() == [0, -1, 1, 0, 2, 1]
    assert relabel(np.array([-1, -1])).tolist() == [-1, -1]


# ------------------------------------------------------------------ degenerate cases
def test_fewer_samples_than_k1(caplog):
    x, _ = blobs(12, 0, centers=2, dim=8)
    with caplog.at_level(logging.WARNING, logger="himpc.clustering"):
        g = jaccard_graph(x, k1=20, k2=6)
    assert "reducing k1" in caplog.text
    assert_graph_matches(g, jaccard_distance_dense(x, k1=20, k2=6), 1.0)
    res = cluster_features(x, eps=0.6, min_samples=2)
    assert len(res.labels) == 12


@pytest.mark.parametrize("n", [1, 2, 3])
def test_tiny_inputs(n):
    x = torch.randn(n, 5, dtype=torch.float64)
    g = jaccard_graph(x)
    assert g.shape == (n, n) and np.array_equal(g.diagonal(), np.zeros(n))
    assert_graph_matches(g, jaccard_distance_dense(x), 1.0)
    res = cluster_features(x, eps=0.6, min_samples=1)
    assert (res.labels >= 0).all()  # min_samples=1: every point is core
    res = cluster_features(x, eps=0.6, min_samples=n + 1)
    assert res.num_clusters == 0 and res.num_outliers == n


def test_all_outliers_is_returned(caplog):
    x = torch.randn(200, 64, generator=torch.Generator().manual_seed(1))  # no structure
    with caplog.at_level(logging.WARNING, logger="himpc.clustering"):
        res = cluster_features(x, eps=0.05, min_samples=4)
    assert res.num_clusters == 0 and res.num_outliers == 200
    assert (res.labels == -1).all() and res.sizes.shape == (0,)
    assert "no cluster" in caplog.text


def test_single_cluster():
    x = torch.randn(100, 16, generator=torch.Generator().manual_seed(2)) * 0.01 + 1.0
    res = cluster_features(x, eps=0.6, min_samples=4)
    assert res.num_clusters == 1 and res.num_outliers <= 5  # a blob's rim may stay outlier
    assert res.sizes.tolist() == [100 - res.num_outliers] and set(res.labels) <= {-1, 0}


def test_duplicate_rows():
    # exact copies (ties everywhere): matches the dense reference and copies share a cluster
    g = torch.Generator().manual_seed(3)
    base = torch.randint(0, 4, (30, 6), generator=g).double()
    x = torch.cat([base, base, base, base[:10]])[torch.randperm(100, generator=g)]
    # unnormalised small integers: exact distances, so exact ties, broken alike by both
    assert_graph_matches(jaccard_graph(x, normalize=False), jaccard_distance_dense(x, normalize=False), 1.0)
    graph = jaccard_graph(x)  # normalised: ties only up to rounding, which may differ
    assert abs(graph - graph.T).max() == 0 and np.array_equal(graph.diagonal(), np.zeros(100))
    res = cluster_features(x, eps=0.6, min_samples=2)
    same = (x[:, None] == x[None]).all(-1).numpy()
    lab = res.labels
    assert all(len(set(lab[same[i]])) == 1 for i in range(100))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nonfinite_features_raise(bad):
    x = torch.randn(50, 8)
    x[7, 3] = bad
    with pytest.raises(ValueError, match="NaN or inf"):
        cluster_features(x, eps=0.6, min_samples=4)
    with pytest.raises(ValueError, match="NaN or inf"):
        jaccard_graph(x.numpy())


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="2-D"):
        jaccard_graph(torch.randn(10))
    with pytest.raises(ValueError, match="empty"):
        jaccard_graph(torch.randn(0, 4))


# --------------------------------------------------------------------------- memory
def traced_peak(n):
    x, _ = blobs(n, 0, centers=n // 100, dim=64, spread=1.5, dtype=torch.float32)
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # e.g. sklearn's unsorted-graph EfficiencyWarning
            g = jaccard_graph(x, knn_chunk=1024, chunk_terms=1 << 18, workers=1)
            labels = dbscan_labels(g, 0.6, 4)
        return g, labels, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_is_linear_in_n():
    """numpy/scipy allocations only (torch's kNN blocks, chunk^2, are not traced)."""
    n = 5000
    g, labels, peak = traced_peak(n)
    assert g.nnz < 400 * n
    assert peak < 0.5 * n * n * 4, f"peak {peak / 1e6:.1f} MB"  # half one float32 N x N
    _, _, peak_small = traced_peak(n // 4)
    assert peak < 6 * peak_small  # x4 samples: linear ~x4, quadratic would be x16
    assert (labels >= 0).sum() > n // 2
