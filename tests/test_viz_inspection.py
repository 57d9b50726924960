"""Figure builders (himpc.report.viz) and run inspection (himpc.report.inspection) on a tiny synthetic run."""

import numpy as np
import plotly.graph_objects as go
import pytest

from himpc import engine
from himpc.report import viz
from himpc.config import make_config
from himpc.data import load_dataset
from himpc.report.inspection import RunError, head_agreement, hsm_importance, load_run, prototype_similarities
from himpc.layouts import LAYOUTS, get_layout
from test_engine import SMALL, synthetic_walks


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    dataset = f"npz:{synthetic_walks(tmp / 'walks.npz', persons=5, walks=5, frames=40)}"
    cfg = make_config("hi-mpch", dataset=dataset, epochs=2, **SMALL)
    engine.train(cfg, None, tmp / "r", progress=False)
    return tmp / "r", dataset


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_bones_cover_every_joint(name):
    lay = get_layout(name)
    bones = viz.bone_indices(lay)
    touched = {j for b in bones for j in b}
    assert touched == set(range(lay.num_joints))
    assert len(bones) == lay.num_joints - 1 or name in ("coco-14", "coco-17")   # a tree, or + a hip bar


def test_skeleton_and_hierarchy_figures(tiny_run):
    _, dataset = tiny_run
    ss = load_dataset(dataset)
    walk = ss.walk(0)
    fig = viz.skeleton_figure(walk, ss.layout, max_frames=10)
    assert isinstance(fig, go.Figure) and len(fig.frames) == 10
    assert len(fig.layout.sliders[0].steps) == 10
    assert fig.data[0].x.count(None) == len(viz.bone_indices(ss.layout))
    h = viz.hierarchy_figure(walk[:3], ss.layout)
    names = {t.name for t in h.data}
    assert {"joint", "component", "limb"} <= names and len(h.frames) == 3
    comp = next(t for t in h.data if t.name == "component")
    assert len(comp.x) == 10 and len(next(t for t in h.data if t.name == "limb").x) == 5
    cut = viz.clip_cutting_figure(40, 6, 2)
    assert sum(1 for t in cut.data if "clip" in t.hovertemplate) == 6


def test_hsm_importance_and_heatmap(tiny_run):
    run_dir, _ = tiny_run
    run = load_run(run_dir)
    assert run.epoch == 2 and run.labels.shape == (3, len(run.split.train))
    idx = np.arange(min(6, len(run.split.train)))
    delta = hsm_importance(run, idx)
    L, M, B, F = delta.shape
    assert (L, M, B, F) == (3, 2, len(idx), run.cfg.seq_len)
    ok = ~np.isnan(delta)
    # outliers (label -1) and only they are NaN; every valid row is a softmax over frames
    outlier = (run.labels[:, idx].numpy() < 0) | ~run.protos.active.numpy()[:, None]
    assert np.array_equal(np.isnan(delta).all(axis=(1, 3)), outlier)
    np.testing.assert_allclose(np.nansum(delta, -1)[ok.all(-1)], 1.0, rtol=1e-5)
    fig = viz.hsm_heatmap_figure(delta, run.levels, [run.clip_label(i) for i in idx])
    menu = fig.layout.updatemenus[0]
    assert len(menu.buttons) == len(idx) and len(fig.data) == 3
    # each button restyles all three heat maps with that clip's (M + 1) x F importances
    z = menu.buttons[1].args[0]["z"]
    assert len(z) == 3 and len(z[0]) == M + 1 and len(z[0][0]) == F
    sims = prototype_similarities(run, idx)
    assert sims.shape[:3] == (3, 2, len(idx))
    agree = head_agreement(sims, run.labels[:, idx].numpy())
    assert agree["hit"].shape == (3, 2)


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(RunError, match="no checkpoint"):
        load_run(tmp_path)


def test_renderer_emits_html_without_plotlyjs():
    viz.use_book_renderer()
    import plotly.io as pio
    bundle = pio.renderers["himpc"].to_mimebundle(go.Figure(go.Bar(y=[1, 2])).to_dict())
    assert "Plotly.newPlot" in bundle["text/html"] and "cdn" not in bundle["text/html"].lower()
    assert "application/vnd.plotly.v1+json" in bundle


def test_metric_bars():
    fig = viz.metric_bar_figure([{"label": "Hi-MPCh", "source": "paper", "R1": 56.9, "mAP": 10.2},
                                 {"label": "Hi-MPCh", "source": "ours", "R1": {"mean": 50, "std": 2}, "mAP": None}])
    assert len(fig.data) == 4


def test_embedding_figure_gives_every_person_its_own_look_and_a_dropdown_per_representation():
    rng = np.random.default_rng(0)
    who = [f"P{i:02d}" for i in range(30) for _ in range(3)]
    points = {"raw": rng.normal(size=(90, 2)), "MSMR": rng.normal(size=(90, 2))}
    fig = viz.embedding_figure(points, who)
    looks = {(t.marker.color, t.marker.symbol) for t in fig.data}
    assert len(fig.data) == 30 and len(looks) == 30                  # 30 > 26 colours: shapes tell them apart
    (menu,) = fig.layout.updatemenus
    assert [b.label for b in menu.buttons] == ["raw", "MSMR"]
    assert len(menu.buttons[1].args[0]["x"]) == 30


def test_histogram_densities_and_log_axis():
    from himpc.report import viz
    rng = np.random.default_rng(0)
    fig = viz.histogram_figure({"same": rng.uniform(0, 1, 100), "diff": np.ones(5000) * 0.99}, nbins=10,
                               range_=(0.0, 1.0), log_y=True)
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis.title.text == "density (log scale)"
    widths = [b.width for b in fig.data]
    for bar in fig.data:                                   # each series integrates to 1 over its bins
        assert abs(sum(bar.y) * widths[0] - 1.0) < 1e-3
    assert viz.histogram_figure({"a": np.zeros(3)}).layout.yaxis.type in (None, "linear", "-")
