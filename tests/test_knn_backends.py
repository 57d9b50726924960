"""faiss k-NN backends (himpc.knn_backends) against the hand-written exact search (issue 27)."""

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from himpc.clustering import cluster_features, knn
from himpc.config import make_config
from himpc.knn_backends import recall_at_k

pytest.importorskip("faiss")


def _clustered(n=3000, d=32, centres=60, spread=0.25, seed=0):
    g = torch.Generator().manual_seed(seed)
    c = torch.randn(centres, d, generator=g)
    x = c[torch.randint(0, centres, (n,), generator=g)] + spread * torch.randn(n, d, generator=g)
    return torch.nn.functional.normalize(x, dim=1)


def test_faiss_flat_gives_the_exact_lists_up_to_fp32_ties(caplog):
    x = _clustered()
    x[7] = x[8]                                                  # an exact duplicate: a true tie
    d0, i0 = knn(x, 21)
    with caplog.at_level("INFO", logger="himpc.clustering"):
        d1, i1 = knn(x, 21, backend="faiss-flat")
    assert "searched exactly" not in caplog.text                 # faiss's lists, not the fallback's
    assert torch.equal(i1[:, 0], torch.arange(len(x))) and (d1[:, 0] == 0).all()     # itself first
    assert (i1[7, :2] == torch.tensor([7, 8])).all() and (i1[8, :2] == torch.tensor([8, 7])).all()
    differ = i0 != i1
    assert differ.float().mean() < 1e-3                         # the same lists, but for near-ties
    assert torch.allclose(d0, d1, atol=1e-6)                    # where they differ, the distances tie
    assert (d1[:, 1:] >= d1[:, :-1]).all()                      # increasing distance


@pytest.mark.parametrize("backend, extra", [("faiss-hnsw", {"ef_search": 64}), ("faiss-ivf", {"nprobe": 16})])
def test_approximate_backends_find_most_neighbours_of_clustered_features(backend, extra):
    x = _clustered(n=4000)
    _, exact = knn(x, 21)
    _, got = knn(x, 21, backend=backend, **extra)
    assert torch.equal(got[:, 0], torch.arange(len(x)))
    assert recall_at_k(got.numpy(), exact.numpy()) > 0.9


def test_the_search_parameters_trade_recall_on_unclustered_vectors():
    """Random unit vectors are the hard case for an approximate index: fewer cells searched, or a
    smaller HNSW beam, finds fewer of the exact neighbours (N large enough that one cell holds more
    than k + margin vectors: shorter lists are completed exactly)."""
    x = torch.nn.functional.normalize(torch.randn(20000, 32, generator=torch.Generator().manual_seed(1)), dim=1)
    _, exact = knn(x, 21)
    r = {p: recall_at_k(knn(x, 21, backend="faiss-ivf", nprobe=p)[1].numpy(), exact.numpy()) for p in (1, 64)}
    assert r[1] < 0.6 < r[64]
    h = {e: recall_at_k(knn(x, 21, backend="faiss-hnsw", ef_search=e)[1].numpy(), exact.numpy()) for e in (8, 128)}
    assert h[8] < h[128]


def test_recall_counts_the_neighbours_found():
    exact = np.array([[0, 1, 2, 3], [1, 0, 2, 3]])
    assert recall_at_k(exact, exact) == 1.0
    assert recall_at_k(np.array([[0, 1, 9, 8], [1, 3, 2, 0]]), exact) == pytest.approx(4 / 6)


def test_clusters_from_faiss_flat_match_the_exact_path():
    x = _clustered(n=2000, spread=0.35)
    ref = cluster_features(x, eps=0.6, min_samples=4)
    got = cluster_features(x, eps=0.6, min_samples=4, knn_backend="faiss-flat")
    assert ref.num_clusters > 5 and adjusted_rand_score(ref.labels, got.labels) > 0.999


def test_the_switch_is_a_config_field_that_refuses_unknown_backends():
    assert make_config("hi-mpch").knn_backend == "exact"
    assert make_config("hi-mpch", knn_backend="faiss-ivf", knn_nprobe=4).knn_nprobe == 4
    with pytest.raises(ValueError, match="knn_backend must be one of exact | faiss-flat"):
        make_config("hi-mpch", knn_backend="annoy")
    with pytest.raises(ValueError, match="unknown knn_backend"):
        knn(_clustered(n=100), 5, backend="annoy")


def test_the_benchmark_page_shows_what_its_result_file_says(tmp_path):
    from himpc.report import bench_report, viz
    rows = [{"n": n, "data": d, "backend": b, "params": {}, "seconds": s, "peak_rss_mb": 300, "recall_at_k": r}
            for n, d, b, s, r in [(100000, "random", "exact", 27.3, 1.0), (31000, "random", "exact", 3.6, 1.0),
                                  (31000, "random", "faiss-hnsw", 7.9, 0.52),
                                  (1000000, "random", "faiss-ivf", 170.0, 0.05)]]
    f = tmp_path / "knn.json"
    f.write_text(__import__("json").dumps({"synthetic": rows, "k": 21, "dim": 256, "threads": 2,
                                           "machine": {"processor": "x86_64"}, "kgbd": [
        {"level": "J", "backend": "faiss-flat", "n": 31762, "clusters": 1100, "outliers": 8000,
         "recall_at_k": 1.0, "ari_vs_exact": 0.9999, "knn_seconds": 3.4, "cluster_seconds": 9.0},
        {"level": "J", "backend": "exact", "n": 31762, "clusters": 1100, "outliers": 8000,
         "recall_at_k": 1.0, "ari_vs_exact": 1.0, "knn_seconds": 2.0, "cluster_seconds": 8.0}]}))
    assert bench_report.load_benchmark(tmp_path / "none.json") is None
    b = bench_report.load_benchmark(f)
    s = bench_report.scaling_series(b)
    assert s["exact, random"] == {"n": [31000, 100000], "seconds": [3.6, 27.3], "recall": [1.0, 1.0],
                                  "peak_mb": [300, 300]}
    fig = viz.scaling_figure(s)
    assert [t.name for t in fig.data] == ["exact, random", "faiss-hnsw, random", "faiss-ivf, random"]
    assert fig.layout.xaxis.type == "log" and list(fig.data[1].customdata) == [0.52]
    t = bench_report.synthetic_table(b)
    assert [r[:3] + r[4:6] for r in t.rows] == [["31,000", "random", "exact", "3.60", "1.000"],
                                                ["31,000", "random", "faiss-hnsw", "7.90", "0.520"],
                                                ["100,000", "random", "exact", "27.30", "1.000"],
                                                ["1,000,000", "random", "faiss-ivf", "170.00", "0.050"]]
    assert bench_report.kgbd_table(b).rows[0][5] == "0.9999"
    said = bench_report.scaling_sentences(b).split("\n\n")
    assert said == ["Random vectors, N = 100,000: the exact search 27.3 s.",
                    "Random vectors, N = 1,000,000 (no brute-force search run): faiss-ivf 170 s at recall 0.050, "
                    "peak 0.3 GB.",
                    "On KGBD's training clips (31,762, the reference model's features), faiss-flat: DBSCAN labels at "
                    "ARI 0.9999 or more against the exact path's on every level, recall 1.0000 or more, k-NN 1.70× "
                    "the exact search's time."]
