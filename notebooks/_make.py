"""Write the book's notebooks (plain .ipynb) from the cell lists below: ``python notebooks/_make.py``.

Every notebook: a title, one setup cell, exactly one cell tagged ``parameters`` (papermill injects
its values after it), then cells that only call :mod:`himpc`.  Every notebook writes
``<results_dir>/outputs.json`` with what it measured, for ``himpc rerun``.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = """\
import json, os
from pathlib import Path
import numpy as np
from IPython.display import HTML, Markdown, display
from himpc import viz
viz.use_book_renderer()"""

RUN_PARAMS = """\
data = None              # data folder (default: $HIMPC_DATA)
dataset = "KGBD"         # KGBD | npz:<file> | authors:<NAME>
results_dir = "results/book/{stem}"   # where this notebook writes its outputs (and its run)
run_dir = None           # an existing run folder to inspect; None: train a small one into results_dir/run
preset = "hi-mpch"
max_persons = 8          # 0: every person (the paper's setting)
epochs = 2
hidden = 64
heads = 4
threads = 1
split_seed = 0"""

TRAIN_RUN = """\
from himpc.experiments import train_with_snapshots
from himpc.inspection import load_run
if run_dir is None:
    run_dir = f"{results_dir}/run"
    snapshots = train_with_snapshots(preset, run_dir, data, dataset=dataset, max_persons=max_persons, epochs=epochs,
                                     hidden=hidden, heads=heads, threads=threads, split_seed=split_seed)
else:
    snapshots = sorted(Path(run_dir, "snapshots").glob("epoch*.pt"), key=lambda p: int(p.stem[5:]))
run = load_run(run_dir, data)
print(f"run {run_dir}: epoch {run.epoch}, levels {run.levels}, {len(run.split.train)} training clips, "
      f"M={run.model.num_heads}, h={run.cfg.hidden}")"""


def nb(stem: str, title: str, intro: str, params: str, cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    out = [new_markdown_cell(f"# {title}\n\n{intro}"), new_code_cell(SETUP)]
    p = new_code_cell(params.replace("{stem}", stem))
    p.metadata["tags"] = ["parameters"]
    out.append(p)
    for kind, src in cells:
        out.append(new_markdown_cell(src) if kind == "md" else new_code_cell(src))
    for i, c in enumerate(out):              # stable ids: regenerating does not change unchanged notebooks
        c["id"] = f"{stem[:2]}-{i:02d}"
    book = new_notebook(cells=out)
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    book.metadata["language_info"] = {"name": "python"}
    return book


NOTEBOOKS = {
    "01_skeletons_hierarchy": nb(
        "01_skeletons_hierarchy", "Skeletons and the hierarchy (Sec. 3.1)",
        "Real KGBD walks as 3D skeletons, the joint / component / limb levels the model works on, "
        "how walks are cut into clips and how persons' walks are split into training, gallery and probe.",
        """\
data = None              # data folder (default: $HIMPC_DATA)
dataset = "KGBD"
results_dir = "results/book/{stem}"
person_index = 0         # which person (sorted names)
walk_in_person = 0       # which of that person's walks
max_frames = 60          # frames embedded in the skeleton figure
seq_len = 6              # F
trim = 10
split_seed = 0
max_persons = 8          # persons shown in the split overview (0: all)""",
        [("code", """\
from himpc.config import make_config
from himpc.data import load_dataset
from himpc.splits import build_split
ss = load_dataset(dataset, data, seq_len=seq_len, progress=False)
persons = sorted(set(ss.person))
who = persons[person_index]
walks = [w for w in range(ss.num_walks) if ss.person[w] == who]
w = walks[walk_in_person]
walk = ss.walk(w)
print(f"{ss.num_walks} walks of {len(persons)} persons, layout {ss.layout.name} ({ss.layout.num_joints} joints)")
print(f"showing {ss.walk_names[w]}: {len(walk)} frames")"""),
         ("md", "## A walk in 3D\n\nDrag the slider (or press play) to move through the frames; drag the scene to rotate it."),
         ("code", "viz.skeleton_figure(walk, ss.layout, title=f'{ss.walk_names[w]}', max_frames=max_frames)"),
         ("md", "## Three levels of the same skeleton\n\nComponents and limbs are the averages of their joints "
                "(`himpc.hierarchy.build_hierarchy`); the slider moves through the frames of one clip."),
         ("code", "viz.hierarchy_figure(walk[trim:trim + seq_len], ss.layout)"),
         ("md", "## Cutting a walk into clips"),
         ("code", "viz.clip_cutting_figure(len(walk), seq_len, trim)"),
         ("md", "## The split\n\nPer person, one walk is the probe, two the gallery, the rest is (unlabelled) training data."),
         ("code", """\
cfg = make_config(None, dataset=dataset, split_seed=split_seed, seq_len=seq_len, trim=trim, max_persons=max_persons)
split = build_split(cfg, data)
display(HTML(viz.html_table(["part", "walks", "clips", "persons"],
    [[k, split.info["walks"][k], split.info["clips"][k], split.info["persons"][k]] for k in ("train", "gallery", "probe")])))
viz.split_overview_figure(split)"""),
         ("code", """\
Path(results_dir).mkdir(parents=True, exist_ok=True)
_ = Path(results_dir, "outputs.json").write_text(json.dumps({"walks": int(ss.num_walks), "persons": len(persons),
    "split": {k: split.info[k] for k in ("walks", "clips", "persons")}}, indent=1))""")]),

    "02_clustering": nb(
        "02_clustering", "Clustering (Alg. 1, Sec. 5.4.3)",
        "k-reciprocal Jaccard distances and DBSCAN on every level of the training clips, cluster counts "
        "and purity against the true identities (for analysis only; training never sees them), and the "
        "effect of `eps` and `min_samples`.",
        RUN_PARAMS + """
eps_grid = [0.4, 0.5, 0.6, 0.7, 0.8]
min_samples_grid = [2, 3, 4, 6]""",
        [("code", TRAIN_RUN),
         ("md", "## Clusters during training"),
         ("code", """\
hist = run.history
ep = [h["epoch"] + 1 for h in hist]
viz.line_figure(ep, {f"clusters {k}": [h["clusters"][k] for h in hist] for k in run.levels} |
                {f"purity {k}": [h["purity"].get(k) for h in hist] for k in run.levels},
                title="clusters and purity per level", xaxis="epoch", secondary=[f"purity {k}" for k in run.levels])"""),
         ("md", "## Jaccard distances: same person vs different persons"),
         ("code", """\
from himpc.clustering import jaccard_distance_dense
from himpc.inspection import train_features
feats = train_features(run, "encoder")
truth = run.split.train.person
same = truth[:, None] == truth[None, :]
off = ~np.eye(len(truth), dtype=bool)
d = jaccard_distance_dense(feats[0], k1=run.cfg.k1, k2=run.cfg.k2, normalize=run.cfg.jaccard_normalize)
viz.histogram_figure({"same person": d[same & off], "different persons": d[~same]},
                     title=f"{viz.LEVEL_NAMES[run.levels[0]]} level", xaxis="Jaccard distance", vline=run.cfg.dbscan_eps)"""),
         ("md", "## eps and min_samples"),
         ("code", """\
from himpc.clustering import cluster_features
from himpc.engine import cluster_purity
sweep = {}
for lv, name in enumerate(run.levels):
    n = np.zeros((len(min_samples_grid), len(eps_grid))); pur = np.zeros_like(n)
    for i, ms in enumerate(min_samples_grid):
        for j, eps in enumerate(eps_grid):
            r = cluster_features(feats[lv], eps=eps, min_samples=ms, k1=run.cfg.k1, k2=run.cfg.k2,
                                 normalize=run.cfg.jaccard_normalize)
            n[i, j], pur[i, j] = r.num_clusters, cluster_purity(np.asarray(r.labels), truth)
    sweep[name] = {"clusters": n.tolist(), "purity": pur.tolist()}
    viz.heatmap_figure(n, eps_grid, min_samples_grid, title=f"{viz.LEVEL_NAMES[name]} level: clusters "
                       f"({len(set(truth))} true persons)", xaxis="eps", yaxis="min_samples", text_fmt=".0f").show()
    viz.heatmap_figure(pur, eps_grid, min_samples_grid, title=f"{viz.LEVEL_NAMES[name]} level: purity",
                       xaxis="eps", yaxis="min_samples").show()"""),
         ("code", """\
_ = Path(results_dir, "outputs.json").write_text(json.dumps({"run": str(run_dir), "eps_grid": eps_grid,
    "min_samples_grid": min_samples_grid, "sweep": sweep, "history": run.history}, indent=1))""")]),

    "03_meta_transformation": nb(
        "03_meta_transformation", "Meta-transformation (Sec. 3.2)",
        "The M heads map instances and prototypes into M subspaces (Eq. 3-4). Here: how similar each "
        "training clip is to every meta-prototype in each subspace, and how consistent the heads are.",
        RUN_PARAMS + "\nclip = 0                 # training clip shown in detail",
        [("code", TRAIN_RUN),
         ("code", """\
from himpc.inspection import head_agreement, prototype_similarities
idx = np.arange(len(run.split.train))
sims = prototype_similarities(run, idx)                 # [L, M, N, C]
agree = head_agreement(sims, run.labels.numpy())
M = sims.shape[1]
viz.heatmap_figure(agree["hit"], [f"head {m + 1}" for m in range(M)], [viz.LEVEL_NAMES[l] for l in run.levels],
                   title="fraction of inlier clips whose most similar meta-prototype is their own cluster")"""),
         ("code", """\
display(HTML(viz.html_table(["level", "all heads pick the same prototype"],
    [[viz.LEVEL_NAMES[l], f"{a:.3f}"] for l, a in zip(run.levels, agree["agree"])])))"""),
         ("md", "## One clip against every meta-prototype, per head"),
         ("code", """\
for lv, name in enumerate(run.levels):
    s = sims[lv, :, clip]
    keep = ~np.isnan(s).all(0)
    viz.heatmap_figure(s[:, keep], [str(c) for c in np.flatnonzero(keep)], [f"head {m + 1}" for m in range(M)],
                       title=f"{viz.LEVEL_NAMES[name]} level, clip {run.clip_label(clip)} (pseudo label "
                             f"{int(run.labels[lv, clip])})", xaxis="meta-prototype", text_fmt=".1f",
                       colorscale="RdBu").show()"""),
         ("code", """\
_ = Path(results_dir, "outputs.json").write_text(json.dumps({"run": str(run_dir), "hit": agree["hit"].tolist(),
    "agree": agree["agree"].tolist()}, indent=1))""")]),

    "04_hard_skeleton_mining": nb(
        "04_hard_skeleton_mining", "Hard skeleton mining (Sec. 3.3, 5.5, Fig. 7)",
        "HSM weighs the F frames of a clip by how informative they are (Eq. 6-8): the least certain "
        "frames of a correctly placed clip, the most certain frames of a misplaced one. Below, the importance "
        "delta of every frame, head and level for real training clips.",
        RUN_PARAMS + "\nn_clips = 8              # clips offered in the figure's dropdown",
        [("code", TRAIN_RUN),
         ("code", """\
from himpc.inspection import hsm_importance
rng = np.random.default_rng(0)
idx = np.sort(rng.choice(len(run.split.train), size=min(n_clips, len(run.split.train)), replace=False))
delta = hsm_importance(run, idx)                       # [L, M, B, F], NaN: outlier at that level
labels = [run.clip_label(i) for i in idx]"""),
         ("md", "## Importance per level (choose the clip in the dropdown)\n\nRows are the heads and their mean, "
                "columns the frames; an empty map means the clip is an outlier at that level."),
         ("code", "viz.hsm_heatmap_figure(delta, run.levels, labels)"),
         ("md", "## The frames of the first clip, coloured by importance"),
         ("code", """\
lv = 0
with np.errstate(invalid="ignore"):
    mean = np.nanmean(delta[lv, :, 0], axis=0) if not np.isnan(delta[lv, :, 0]).all() else np.full(delta.shape[-1], np.nan)
viz.hsm_clip_figure(run.split.train.clips[idx[0]], run.split.train.layout, mean,
                    title=f"{labels[0]}, {viz.LEVEL_NAMES[run.levels[lv]]} level (mean over heads)")"""),
         ("md", "## Inspector (live)\n\nIn a running notebook: choose person, clip, level, head and epoch."),
         ("code", """\
import ipywidgets as W
from himpc.inspection import clips_of_person
runs = {}
def run_at(e):
    if e not in runs:
        runs[e] = run if e == run.epoch or not snapshots else load_run(run_dir, data, checkpoint=snapshots[e - 1], split=run.split)
    return runs[e]
persons = sorted(set(run.split.train.person))
w_person = W.Dropdown(options=persons, description="person")
w_clip = W.IntSlider(0, 0, max(len(clips_of_person(run, persons[0])) - 1, 0), description="clip")
w_level = W.Dropdown(options=[(viz.LEVEL_NAMES[l], i) for i, l in enumerate(run.levels)], description="level")
w_head = W.Dropdown(options=[("mean", -1)] + [(f"head {m + 1}", m) for m in range(run.model.num_heads)], description="head")
w_epoch = W.IntSlider(run.epoch, 1, max(run.epoch, 1), description="epoch")
out = W.Output()
def show(*_):
    w_clip.max = max(len(clips_of_person(run, w_person.value)) - 1, 0)
    i = int(clips_of_person(run, w_person.value)[w_clip.value])
    d = hsm_importance(run_at(w_epoch.value), [i])[w_level.value, :, 0]
    row = np.nanmean(d, 0) if w_head.value < 0 and not np.isnan(d).all() else d[max(w_head.value, 0)]
    out.clear_output(wait=True)
    with out:
        display(HTML(viz.html_table(["frame"] + [f"f{j + 1}" for j in range(len(row))],
            [["delta"] + ["outlier" if np.isnan(v) else f"{v:.3f}" for v in row]],
            caption=f"{run.clip_label(i)}, epoch {w_epoch.value}")))
for w in (w_person, w_clip, w_level, w_head, w_epoch):
    w.observe(show, "value")
show()
W.VBox([W.HBox([w_person, w_clip, w_level]), W.HBox([w_head, w_epoch]), out])"""),
         ("code", """\
_ = Path(results_dir, "outputs.json").write_text(json.dumps({"run": str(run_dir), "clips": idx.tolist(),
    "delta": np.where(np.isnan(delta), None, delta).tolist()}, indent=1))""")]),
}

RESULT_PARAMS = """\
data = None
dataset = "KGBD"
results_roots = ["results/kgbd"]   # folders of finished runs (<root>/<run name>/split<seed>/result.json)
train_root = None        # set: (re)run the rows below into this folder first (skips finished splits)
splits = [0]
epochs = 1
max_persons = 4          # 0: every person (the paper's setting)
hidden = 32
heads = 2
threads = 1
command = ""             # recorded in every result written here
results_dir = "results/book/{stem}\""""

TRAIN_ROWS = """\
from himpc import report
from himpc.experiments import ensure_row_runs
roots = ([train_root] if train_root else []) + list(results_roots)
scale = dict(max_persons=max_persons, hidden=hidden, heads=heads)   # runs at this (smoke) scale are shown too
if train_root:
    over = dict(epochs=epochs, threads=threads, dataset=dataset, **scale)
    for ours in ROWS:
        ensure_row_runs(ours, train_root, splits, data, command=command, reuse=results_roots, **over)"""

NOTEBOOKS["05_main_results"] = nb(
    "05_main_results", "Main comparison (Tables 2-3)",
    "The paper's numbers (quoted from `book/paper_results.yaml`, labelled) beside ours (measured from "
    "`result.json` files, mean ± standard deviation over the random splits). Only KGBD is available here.",
    RESULT_PARAMS,
    [("code", """\
from himpc import report
ROWS = [r["ours"] for r in report.paper_table(3)["rows"] if r.get("ours")] + [{"baseline": "raw", "level": "msmr"}]"""),
     ("code", TRAIN_ROWS),
     ("md", "## KGBD (Table 3)"),
     ("code", """\
metrics = ["R1", "R5", "R10", "mAP"]
rows = report.comparison_rows(3, "KGBD", roots, metrics, scales=[scale])
display(Markdown(report.comparison_markdown(rows, metrics)))"""),
     ("code", """\
viz.metric_bar_figure([dict(r, source=r["source"] if r["source"] == "paper" else "ours") for r in rows
                       if r["source"] == "paper" or r["splits"]], metrics=["R1", "mAP"], title="KGBD: paper vs ours")"""),
     ("md", "Commands that produced the measured rows:"),
     ("code", "display(Markdown(report.commands_markdown(rows)))"),
     ("md", "## Other datasets (quoted only)"),
     ("code", """\
display(Markdown(report.quoted_only_markdown(2, ["BIWI-S", "BIWI-W", "IAS-A"], ["R1", "mAP"])))
display(Markdown(report.quoted_only_markdown(3, ["IAS-B", "KS20"], ["R1", "mAP"])))"""),
     ("code", """\
Path(results_dir).mkdir(parents=True, exist_ok=True)
_ = Path(results_dir, "outputs.json").write_text(json.dumps([{k: v for k, v in r.items() if k != "measured"} for r in rows], indent=1, default=str))""")])

NOTEBOOKS["06_ablation"] = nb(
    "06_ablation", "Ablation (Table 6)",
    "Each component of the method switched on in turn (Table 6): raw skeletons, direct prototype "
    "contrast (DPC), meta-prototype contrast (MPC), the hierarchy with MSMR (Hi) and hard skeleton mining "
    "(HSM). Single levels (Table 7) are in the levels notebook.",
    RESULT_PARAMS,
    [("code", """\
from himpc import report
ROWS = [r["ours"] for r in report.paper_table(6)["rows"]]"""),
     ("code", TRAIN_ROWS),
     ("md", "## Table 6 on KGBD"),
     ("code", """\
metrics = ["R1", "mAP"]
rows = report.comparison_rows(6, "KGBD", roots, metrics, scales=[scale])
display(Markdown(report.comparison_markdown(rows, metrics)))"""),
     ("code", """\
viz.metric_bar_figure([r for r in rows if r["source"] == "paper" or r["splits"]], metrics=metrics,
                      title="KGBD ablation: paper vs ours")"""),
     ("md", "Commands that produced the measured rows:"),
     ("code", "display(Markdown(report.commands_markdown(rows)))"),
     ("md", "## Other datasets (quoted only)"),
     ("code", """\
display(Markdown(report.quoted_only_markdown(6, ["BIWI-S", "BIWI-W", "IAS-A", "IAS-B", "KS20"])))"""),
     ("code", """\
Path(results_dir).mkdir(parents=True, exist_ok=True)
_ = Path(results_dir, "outputs.json").write_text(json.dumps([{k: v for k, v in r.items() if k != "measured"} for r in rows], indent=1, default=str))""")])


def sweep_nb(stem: str, title: str, intro: str, tables: list[tuple[int | str, str]]) -> nbformat.NotebookNode:
    """A notebook for paper tables/figures whose rows are configurations of one method (Tables 7-11,
    Fig. 5-6): (re)run the rows, then paper (quoted) beside ours (measured) for each table."""
    keys = ", ".join(repr(t) for t, _ in tables)
    cells = [("code", f"""\
from himpc import report
TABLES = [{keys}]
ROWS = [r["ours"] for t in TABLES for r in report.paper_table(t)["rows"] if r.get("ours")]"""),
             ("code", TRAIN_ROWS)]
    for t, heading in tables:
        cells += [("md", f"## {heading}"),
                  ("code", f"""\
tab = report.paper_table({t!r})
if tab.get("note"):
    display(Markdown("_" + tab["note"] + "_"))
rows = report.comparison_rows({t!r}, "KGBD", roots, ["R1", "mAP"], scales=[scale])
display(Markdown(report.comparison_markdown(rows, ["R1", "mAP"])))
viz.metric_bar_figure([r for r in rows if r["source"] == "paper" or r["splits"]], metrics=["R1", "mAP"],
                      title=f"KGBD: {{tab['caption']}}").show()
all_rows = globals().get("all_rows", []) + rows""")]
    cells += [("md", "Commands that produced the measured rows:"),
              ("code", "display(Markdown(report.commands_markdown(all_rows)))"),
              ("md", "## Other datasets (quoted only)"),
              ("code", "\n".join(f"display(Markdown(report.quoted_only_markdown({t}, "
                                  f"['BIWI-S', 'BIWI-W', 'IAS-A', 'IAS-B', 'KS20'], ['R1', 'mAP'])))"
                                  for t, _ in tables if isinstance(t, int))
               or "display(Markdown('_The paper shows this figure as bar charts only; nothing to quote._'))"),
              ("code", """\
Path(results_dir).mkdir(parents=True, exist_ok=True)
_ = Path(results_dir, "outputs.json").write_text(json.dumps([{k: v for k, v in r.items() if k != "measured"} for r in all_rows], indent=1, default=str))""")]
    return nb(stem, title, intro, RESULT_PARAMS, cells)


NOTEBOOKS["07_levels"] = sweep_nb(
    "07_levels", "Skeleton levels (Table 7, Fig. 5)",
    "Each level alone against their combination (MSMR, Eq. 10). Table 7 evaluates the levels of the "
    "jointly trained Hi-MPC / Hi-MPCh models; Fig. 5 trains a model on one level only.",
    [(7, "Table 7: single levels vs MSMR, with and without HSM"), ("figure5", "Fig. 5: models trained on one level")])

NOTEBOOKS["08_heads_embedding"] = sweep_nb(
    "08_heads_embedding", "Meta-transformation heads M and embedding size h (Tables 8-9)",
    "How many meta-transformation heads (Eq. 3-4) and how wide an embedding the method needs.",
    [(8, "Table 8: heads M = 1, 4, 8, 16"), (9, "Table 9: embedding size h = 64, 128, 256, 512")])

NOTEBOOKS["09_dbscan"] = sweep_nb(
    "09_dbscan", "DBSCAN min_samples and eps (Tables 10-11)",
    "The clustering that makes the pseudo labels (Alg. 1): minimum samples and maximum distance. "
    "The clustering notebook shows what these do to the clusters themselves.",
    [(10, "Table 10: min_samples = 1, 2, 3, 4"), (11, "Table 11: eps = 0.4, 0.6, 0.8, 1.0")])

NOTEBOOKS["10_sequence_length"] = sweep_nb(
    "10_sequence_length", "Sequence length F (Fig. 6)",
    "Clips of F = 4, 6, 8, 10 frames. Longer clips mean fewer clips (the walks are cut without overlap), "
    "so training set, gallery and probe all change with F.",
    [("figure6", "Fig. 6: sequence length")])

CROSS_PARAMS = """\
data = None
dataset = None           # a dataset with a per-walk view / condition field (npz:<file> or authors:<NAME>); None: quoted only
field = "{field}"
train_values = []        # values of `field` to train on (empty: every value not evaluated)
eval_values = {values}
preset = "hi-mpch"
epochs = 30
max_persons = 0
hidden = 256
heads = 8
threads = 0
results_dir = "results/book/{{stem}}\""""

def cross_cells(missing: str) -> list[tuple[str, str]]:
    """Tables 4-5: train once on some values of the field, measure every probe/gallery pair, save."""
    return [("code", f"""\
if dataset is None:
    display(Markdown("_Not measured here: {missing} Set `dataset` (and `data`) to measure the matrix._"))
    measured = None
else:
    from himpc.experiments import cross_field_run
    measured = cross_field_run(preset, f"{{results_dir}}/run", data, dataset, field, train_values, eval_values,
                               epochs=epochs, max_persons=max_persons, hidden=hidden, heads=heads, threads=threads)
    mats = {{f"{{lv}} {{m}} (measured)": measured.metrics[lv][m] for lv in measured.metrics for m in ("R1", "mAP")}}
    display(viz.matrix_dropdown_figure(mats, measured.values, measured.values, title=f"{{dataset}}: probe vs gallery {{field}} (measured)",
                                       xaxis=f"gallery {{field}}", yaxis=f"probe {{field}}"))"""),
            ("code", """\
Path(results_dir).mkdir(parents=True, exist_ok=True)
_ = Path(results_dir, "outputs.json").write_text(json.dumps({"measured": None if measured is None else
    {lv: {m: np.where(np.isnan(a), None, a).tolist() for m, a in d.items()} for lv, d in measured.metrics.items()},
    "values": None if measured is None else measured.values}, indent=1))""")]


NOTEBOOKS["11_cross_view"] = nb(
    "11_cross_view", "Cross-view re-ID (Table 4)",
    "Probe walks seen from one view, gallery walks from another (KS20's CVE setup). KS20 is not "
    "available here: the numbers below are **quoted** from the paper. With a dataset that has a per-walk "
    "`view` field (the generic `.npz` format, or the authors' KS20 files), set `dataset` and the notebook "
    "trains once and measures every probe/gallery view pair (`himpc.crossfield`).",
    CROSS_PARAMS.format(field="view", values='["0", "30", "90", "130", "180"]'),
    [("code", """\
from himpc import report
tab = report.paper_table(4)
views = tab["views"]
quoted = {f"{r['method']}, {m} (quoted)": report.quoted_pair_matrix(4, "KS20", r["method"], m, views)
          for r in sorted(tab["rows"], key=lambda r: r["method"] != "Hi-MPCh") for m in tab["metrics"]}
viz.matrix_dropdown_figure(quoted, [f"{v}°" for v in views], [f"{v}°" for v in views],
                           title="KS20 cross-view, paper Table 4 (quoted): choose method and metric",
                           xaxis="gallery view", yaxis="probe view")"""),
    ] + cross_cells("no dataset with views is available in this environment."))

NOTEBOOKS["12_casia_b"] = nb(
    "12_casia_b", "RGB-estimated skeletons: CASIA-B (Table 5)",
    "3D skeletons estimated from RGB video, probe and gallery under walking conditions (normal, bags, "
    "clothes). CASIA-B is not available here: the numbers are **quoted**. With the estimated skeletons "
    "as an `.npz` with a per-walk `condition` field (or the authors' CASIA-B files), set `dataset` to measure them.",
    CROSS_PARAMS.format(field="condition", values='["nm", "bg", "cl"]'),
    [("code", """\
from himpc import report
display(Markdown(report.conditions_markdown(5, "CASIA-B")))"""),
    ] + cross_cells("CASIA-B is not available in this environment."))

NOTEBOOKS["13_tsne"] = nb(
    "13_tsne", "t-SNE of the learned representations (Fig. 8)",
    "Gallery clips of a few persons, embedded with t-SNE: the raw skeletons, each level's representation "
    "and MSMR (Eq. 10). Colours are the true persons (used only to colour the plot).",
    RUN_PARAMS + "\npersons = 10             # persons shown\nper_person = 40          # clips per person",
    [("code", TRAIN_RUN),
     ("code", """\
from himpc.inspection import tsne_embeddings
points, who = tsne_embeddings(run, persons=persons, per_person=per_person)
viz.embedding_figure(points, who, title=f"t-SNE of gallery clips, {len(set(who))} persons (choose the representation)")"""),
     ("code", """\
_ = Path(results_dir, "outputs.json").write_text(json.dumps({"run": str(run_dir), "persons": sorted(set(who.tolist())),
    "points": {k: v.round(3).tolist() for k, v in points.items()}}, indent=1))""")])

NOTEBOOKS["14_baselines"] = nb(
    "14_baselines", "Baselines: raw clip distance, D13, D16",
    "No learning: the Euclidean distance between raw (root-centred) clips, and the hand-crafted anthropometric "
    "descriptors D13 and D16 (Sec. 2.1.1). Every learned number in this book should be read next to these, "
    "measured on the same splits.",
    RESULT_PARAMS,
    [("code", """\
from himpc import report
ROWS = [{"baseline": b, "level": "msmr"} for b in ("raw", "d13", "d16")]"""),
     ("code", TRAIN_ROWS),
     ("code", """\
metrics = ["R1", "R5", "R10", "mAP"]
rows = [r for r in report.comparison_rows(6, "KGBD", roots, metrics, scales=[scale]) if r["label"].startswith("Baseline")]
rows += [r for r in report.comparison_rows(3, "KGBD", roots, metrics, scales=[scale]) if r["label"] in ("D13", "D16")]
display(Markdown(report.comparison_markdown(rows, metrics)))
viz.metric_bar_figure([r for r in rows if r["source"] == "paper" or r["splits"]], metrics=["R1", "mAP"],
                      title="KGBD baselines: paper vs ours")"""),
     ("md", "Commands that produced the measured rows:"),
     ("code", "display(Markdown(report.commands_markdown(rows)))"),
     ("code", """\
Path(results_dir).mkdir(parents=True, exist_ok=True)
_ = Path(results_dir, "outputs.json").write_text(json.dumps([{k: v for k, v in r.items() if k != "measured"} for r in rows], indent=1, default=str))""")])


def main() -> None:
    for stem, book in NOTEBOOKS.items():
        nbformat.validate(book)
        nbformat.write(book, HERE / f"{stem}.ipynb")
        print(f"wrote notebooks/{stem}.ipynb")


if __name__ == "__main__":
    main()
