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
Path(results_dir, "outputs.json").write_text(json.dumps({"walks": int(ss.num_walks), "persons": len(persons),
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
Path(results_dir, "outputs.json").write_text(json.dumps({"run": str(run_dir), "eps_grid": eps_grid,
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
Path(results_dir, "outputs.json").write_text(json.dumps({"run": str(run_dir), "hit": agree["hit"].tolist(),
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
Path(results_dir, "outputs.json").write_text(json.dumps({"run": str(run_dir), "clips": idx.tolist(),
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
if train_root:
    over = dict(epochs=epochs, max_persons=max_persons, hidden=hidden, heads=heads, threads=threads, dataset=dataset)
    for ours in ROWS:
        ensure_row_runs(ours, train_root, splits, data, command=command, **over)"""

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
rows = report.comparison_rows(3, "KGBD", roots, metrics)
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
Path(results_dir, "outputs.json").write_text(json.dumps([{k: v for k, v in r.items() if k != "measured"} for r in rows], indent=1, default=str))""")])

NOTEBOOKS["06_ablation"] = nb(
    "06_ablation", "Ablation (Tables 6-7)",
    "Each component of the method switched on in turn (Table 6): raw skeletons, direct prototype "
    "contrast (DPC), meta-prototype contrast (MPC), the hierarchy with MSMR (Hi) and hard skeleton mining "
    "(HSM); then each level alone (Table 7, from the same Hi-MPC and Hi-MPCh runs).",
    RESULT_PARAMS,
    [("code", """\
from himpc import report
ROWS = [r["ours"] for r in report.paper_table(6)["rows"]]"""),
     ("code", TRAIN_ROWS),
     ("md", "## Table 6 on KGBD"),
     ("code", """\
metrics = ["R1", "mAP"]
rows = report.comparison_rows(6, "KGBD", roots, metrics)
display(Markdown(report.comparison_markdown(rows, metrics)))"""),
     ("code", """\
viz.metric_bar_figure([r for r in rows if r["source"] == "paper" or r["splits"]], metrics=metrics,
                      title="KGBD ablation: paper vs ours")"""),
     ("md", "## Table 7 on KGBD: single levels vs MSMR"),
     ("code", """\
rows7 = report.comparison_rows(7, "KGBD", roots, metrics)
display(Markdown(report.comparison_markdown(rows7, metrics)))"""),
     ("md", "Commands that produced the measured rows:"),
     ("code", "display(Markdown(report.commands_markdown(rows + rows7)))"),
     ("md", "## Other datasets (quoted only)"),
     ("code", """\
display(Markdown(report.quoted_only_markdown(6, ["BIWI-S", "BIWI-W", "IAS-A", "IAS-B", "KS20"])))"""),
     ("code", """\
Path(results_dir).mkdir(parents=True, exist_ok=True)
Path(results_dir, "outputs.json").write_text(json.dumps([{k: v for k, v in r.items() if k != "measured"} for r in rows + rows7], indent=1, default=str))""")])


def main() -> None:
    for stem, book in NOTEBOOKS.items():
        nbformat.validate(book)
        nbformat.write(book, HERE / f"{stem}.ipynb")
        print(f"wrote notebooks/{stem}.ipynb")


if __name__ == "__main__":
    main()
