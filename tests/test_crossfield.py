"""Cross-view / cross-condition matrices (Tables 4-5) on generated walks with a view field."""

from __future__ import annotations

import numpy as np
import pytest

from himpc.config import make_config
from himpc.crossfield import cross_field_matrix
from himpc.data.npz import load_npz, save_npz
from himpc.data.protocols import DataError
from himpc.engine import train
from himpc.report.inspection import load_run
from test_engine import SMALL, synthetic_walks


@pytest.fixture()
def viewed(tmp_path):
    path = synthetic_walks(tmp_path / "walks.npz", persons=5, walks=6, frames=40)
    ss = load_npz(path)
    ss.view = np.array(["000", "000", "090", "090", "180", "180"] * 5)
    save_npz(ss, path)
    return f"npz:{path}"


def test_matrix_over_untrained_views(viewed, tmp_path):
    cfg = make_config("hi-mpch", dataset=viewed, protocol="by-field", by_field="view", probe_values=("000",),
                      gallery_values=("090",), train_values=("180",), epochs=1, **SMALL)
    train(cfg, None, tmp_path / "run", progress=False)
    run = load_run(tmp_path / "run")
    res = cross_field_matrix(run, None)
    assert res.values == ["000", "090"]                     # the training view is left out
    r1 = res.metrics["msmr"]["R1"]
    assert r1.shape == (2, 2) and np.isfinite(r1).all() and ((r1 >= 0) & (r1 <= 100)).all()
    # diagonal: one probe walk per person, the other walk of that view is the gallery
    assert res.counts[0, 0, 0] == res.counts[0, 0, 1] > 0
    # off the diagonal: every walk of the probe view against every walk of the gallery view
    assert res.counts[0, 1, 0] == 2 * res.counts[0, 0, 0]
    with pytest.raises(DataError, match="match no walk"):
        cross_field_matrix(run, None, values=["045"])


def test_walk_split_run_is_refused(tmp_path):
    ds = f"npz:{synthetic_walks(tmp_path / 'w.npz', persons=4, walks=4, frames=40)}"
    train(make_config("hi-mpch", dataset=ds, epochs=1, **SMALL), None, tmp_path / "run", progress=False)
    with pytest.raises(DataError, match="no per-walk 'view' field|by-field run"):
        cross_field_matrix(load_run(tmp_path / "run"), None)
