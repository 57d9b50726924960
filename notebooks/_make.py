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
import json
from pathlib import Path

import numpy as np
from IPython.display import HTML, Markdown, display

from himpc import report, viz

viz.use_book_renderer()"""

RUN_PARAMS = """\
data = None              # data folder (default: $HIMPC_DATA)
model = "models/kgbd-hi-mpch-split0.safetensors"   # the reference model this page inspects
small_model = False      # True: train a small, labelled model now instead (no weights needed)
results_dir = "results/book/{stem}"   # where this notebook writes its outputs
# used only with small_model = True:
dataset = "KGBD"         # KGBD | npz:<file> | authors:<NAME>
preset = "hi-mpch"
max_persons = 8          # 0: every person
epochs = 2
hidden = 64
heads = 4
threads = 1
split_seed = 0"""

OPEN_RUN = """\
from himpc.experiments import inspection_run

run, snapshots, what = inspection_run(
    model, data, small_model, results_dir, preset=preset, dataset=dataset, max_persons=max_persons,
    epochs=epochs, hidden=hidden, heads=heads, threads=threads, split_seed=split_seed)
display(Markdown(what))"""

SAVE = """\
Path(results_dir).mkdir(parents=True, exist_ok=True)
_ = Path(results_dir, "outputs.json").write_text(json.dumps(outputs, indent=1, default=str))"""


def nb(stem: str, title: str, intro: str, params: str, cells: list[tuple]) -> nbformat.NotebookNode:
    """A notebook: title and intro, a hidden setup cell, the (visible) ``parameters`` cell, then ``cells``.

    A cell is ``(kind, source)`` with kind ``md``, ``code`` (input folded: ``hide-input``),
    ``text`` (only its output: ``remove-input``) or ``plumb`` (removed from the page:
    ``remove-cell``)."""
    setup = new_code_cell(SETUP)
    setup.metadata["tags"] = ["remove-cell"]
    out = [new_markdown_cell(f"# {title}\n\n{intro}"), setup]
    p = new_code_cell(params.replace("{stem}", stem))
    p.metadata["tags"] = ["parameters"]
    out.append(p)
    tags = {"code": ["hide-input"], "text": ["remove-input"], "plumb": ["remove-cell"]}
    for kind, src in cells:
        if kind == "md":
            out.append(new_markdown_cell(src))
        else:
            c = new_code_cell(src)
            c.metadata["tags"] = tags[kind]
            out.append(c)
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
max_persons = 0          # persons in the split overview (0: all)""",
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
display(Markdown(f"{ss.num_walks} walks of {len(persons)} persons, layout `{ss.layout.name}` "
                 f"({ss.layout.num_joints} joints); below: `{ss.walk_names[w]}`, "
                 f"{len(walk)} frames."))"""),
         ("md", "## A walk in 3D\n\nDrag the slider (or press play) to move through the frames; "
                "drag the scene to rotate it."),
         ("code", "viz.skeleton_figure(walk, ss.layout, title=f'{ss.walk_names[w]}', max_frames=max_frames)"),
         ("md", "## Three levels of the same skeleton\n\nComponents and limbs are the averages of their "
                "joints (`himpc.hierarchy.build_hierarchy`); the slider moves through the frames of one clip."),
         ("code", "viz.hierarchy_figure(walk[trim:trim + seq_len], ss.layout)"),
         ("md", "## Cutting a walk into clips"),
         ("code", "viz.clip_cutting_figure(len(walk), seq_len, trim)"),
         ("md", "## The split\n\nPer person, one walk is the probe, two the gallery, the rest is "
                "(unlabelled) training data."),
         ("code", """\
cfg = make_config(None, dataset=dataset, split_seed=split_seed, seq_len=seq_len, trim=trim,
                  max_persons=max_persons)
split = build_split(cfg, data)
parts = ("train", "gallery", "probe")
display(report.Table(["part", "walks", "clips", "persons"],
                     [[k, split.info["walks"][k], split.info["clips"][k], split.info["persons"][k]]
                      for k in parts]))
viz.split_overview_figure(split)"""),
         ("md", "## What this page says"),
         ("text", """\
c = split.info["clips"]
display(Markdown(
    f"Split {split_seed} cuts the walks into {c['train']:,} training, {c['gallery']:,} gallery and "
    f"{c['probe']:,} probe clips of F = {seq_len} frames after dropping {trim} frames at each end; "
    f"every frame is centred on `{split.info['root_joint']}`, joint 0 of the files, as the "
    "authors' code does."))"""),
         ("plumb", """\
outputs = {"walks": int(ss.num_walks), "persons": len(persons),
           "split": {k: split.info[k] for k in ("walks", "clips", "persons")}}
""" + SAVE)]),

    "02_clustering": nb(
        "02_clustering", "Clustering (Alg. 1, Sec. 5.4.3)",
        "Every epoch re-clusters the training clips of each level: k-reciprocal Jaccard distances, then "
        "DBSCAN. This page shows what that did during the reference model's training (clusters, outliers "
        "and purity against the true identities, for analysis only: training never sees them), the "
        "Jaccard distances of the trained model's features, and the effect of `eps` and `min_samples`.",
        RUN_PARAMS + """
eps_grid = [0.4, 0.5, 0.6, 0.7, 0.8]
min_samples_grid = [2, 3, 4, 6]""",
        [("code", OPEN_RUN),
         ("md", "## Clusters during training\n\nFrom the run's own log: one point per epoch."),
         ("code", """\
hist = run.history
ep = [h["epoch"] + 1 for h in hist]
levels = [viz.LEVEL_NAMES[k] for k in run.levels]
series = {f"clusters, {n}": [h["clusters"][k] for h in hist] for k, n in zip(run.levels, levels)}
series |= {f"purity, {n}": [h["purity"].get(k) for h in hist] for k, n in zip(run.levels, levels)}
viz.line_figure(ep, series, title="clusters (left axis) and purity (right axis) per level",
                xaxis="epoch", secondary=[s for s in series if s.startswith("purity")])"""),
         ("code", """\
viz.line_figure(ep, {f"outliers, {n}": [h["outliers"][k] for h in hist]
                     for k, n in zip(run.levels, levels)},
                title="clips left out as outliers per epoch", xaxis="epoch", yaxis="clips")"""),
         ("md", "## Jaccard distances: same person vs different persons\n\nAll pairs of training clips "
                "that share k-reciprocal neighbours (the sparse graph DBSCAN sees), joint level."),
         ("code", """\
from himpc.inspection import dbscan_sweep, jaccard_by_identity, train_features

feats = train_features(run, "encoder")
pairs = jaccard_by_identity(run, feats, level=0)
viz.histogram_figure(pairs, title=f"{levels[0]} level, trained model", xaxis="Jaccard distance",
                     vline=run.cfg.dbscan_eps, range_=(0.0, 1.0))"""),
         ("md", "## eps and min_samples\n\nDBSCAN on the same graphs for every pair of values; the "
                "paper's KGBD setting is eps 0.6, min_samples 4."),
         ("code", """\
sweep = dbscan_sweep(run, feats, eps_grid, min_samples_grid)
n_true = len(set(run.split.train.person))
for name, res in sweep.items():
    viz.heatmap_figure(res["clusters"], eps_grid, min_samples_grid, text_fmt=".0f",
                       title=f"{viz.LEVEL_NAMES[name]} level: clusters ({n_true} true persons)",
                       xaxis="eps", yaxis="min_samples").show()
    viz.heatmap_figure(res["purity"], eps_grid, min_samples_grid, xaxis="eps", yaxis="min_samples",
                       title=f"{viz.LEVEL_NAMES[name]} level: purity").show()"""),
         ("md", "## What this page says"),
         ("text", """\
first, last = hist[0], hist[-1]
k = run.levels[0]
same, diff = pairs["same person"], pairs["different persons"]
eps = run.cfg.dbscan_eps
display(Markdown(
    f"Over {len(hist)} epochs the {levels[0]} level went from {first['clusters'][k]} to "
    f"{last['clusters'][k]} clusters for {n_true} training persons, its purity from "
    f"{first['purity'][k]:.2f} to {last['purity'][k]:.2f}, and its outliers from "
    f"{first['outliers'][k]:,} to {last['outliers'][k]:,}. With the trained model, "
    f"{(same <= eps).mean():.0%} of the same-person pairs in the graph are within eps = {eps} and "
    f"{(diff <= eps).mean():.0%} of the different-person pairs."))"""),
         ("plumb", """\
outputs = {"model": str(model), "eps_grid": eps_grid, "min_samples_grid": min_samples_grid,
           "sweep": {k: {m: v.tolist() for m, v in d.items()} for k, d in sweep.items()},
           "history": run.history}
""" + SAVE)]),

    "03_meta_transformation": nb(
        "03_meta_transformation", "Meta-transformation (Sec. 3.2)",
        "The M heads map instances and prototypes into M subspaces (Eq. 3-4). Here, with the reference "
        "model: how often each head places a training clip nearest to its own cluster's meta-prototype, "
        "how often the heads agree, and one clip against every meta-prototype in each subspace.",
        RUN_PARAMS + """
n_clips = 2000           # training clips sampled for the head statistics
clip = 0                 # sampled clip shown in detail""",
        [("code", OPEN_RUN),
         ("code", """\
from himpc.inspection import head_agreement, prototype_similarities

rng = np.random.default_rng(0)
n = len(run.split.train)
idx = np.sort(rng.choice(n, size=min(n_clips, n), replace=False))
sims = prototype_similarities(run, idx)                 # [L, M, B, C]
agree = head_agreement(sims, run.labels[:, idx].numpy())
M = sims.shape[1]
viz.heatmap_figure(agree["hit"], [f"head {m + 1}" for m in range(M)],
                   [viz.LEVEL_NAMES[k] for k in run.levels],
                   title="inlier clips whose nearest meta-prototype is their own cluster")"""),
         ("code", """\
display(report.Table(
    ["level", "all heads pick the same prototype"],
    [[viz.LEVEL_NAMES[k], f"{a:.3f}"] for k, a in zip(run.levels, agree["agree"])]))"""),
         ("md", "## One clip against every meta-prototype, per head"),
         ("code", """\
i = int(idx[clip])
for lv, name in enumerate(run.levels):
    s = sims[lv, :, clip]
    top = np.argsort(-np.nan_to_num(s.mean(0), nan=-np.inf))[:30]
    title = (f"{viz.LEVEL_NAMES[name]} level, clip {run.clip_label(i)} "
             f"(pseudo label {int(run.labels[lv, i])}): the 30 nearest meta-prototypes")
    viz.heatmap_figure(s[:, top], [str(c) for c in top], [f"head {m + 1}" for m in range(M)],
                       title=title, xaxis="meta-prototype", text_fmt=".1f",
                       colorscale="RdBu").show()"""),
         ("md", "## What this page says"),
         ("text", """\
hit = np.nanmean(agree["hit"], axis=1)
display(Markdown("; ".join(
    f"{viz.LEVEL_NAMES[k]} level: each head puts {h:.0%} of {len(idx):,} sampled inlier clips "
    f"nearest to their own cluster, and all {M} heads agree on {a:.0%}"
    for k, h, a in zip(run.levels, hit, agree["agree"])) + "."))"""),
         ("plumb", """\
outputs = {"model": str(model), "clips": idx.tolist(), "hit": agree["hit"].tolist(),
           "agree": agree["agree"].tolist()}
""" + SAVE)]),

    "04_hard_skeleton_mining": nb(
        "04_hard_skeleton_mining", "Hard skeleton mining (Sec. 3.3, 5.5, Fig. 7)",
        "HSM weighs the F frames of a clip by how informative they are (Eq. 6-8): the least certain "
        "frames of a correctly placed clip, the most certain frames of a misplaced one. Below, the "
        "importance of every frame, head and level of real KGBD training clips under the reference model.",
        RUN_PARAMS + "\nn_clips = 8              # clips offered in the figure's dropdown",
        [("code", OPEN_RUN),
         ("code", """\
from himpc.inspection import hsm_importance

rng = np.random.default_rng(0)
inliers = np.flatnonzero((run.labels >= 0).all(0).numpy())
idx = np.sort(rng.choice(inliers, size=min(n_clips, len(inliers)), replace=False))
delta = hsm_importance(run, idx)                       # [L, M, B, F], NaN: outlier at that level
labels = [run.clip_label(i) for i in idx]"""),
         ("md", "## Importance per level (choose the clip in the dropdown)\n\nRows are the heads and "
                "their mean, columns the frames."),
         ("code", "viz.hsm_heatmap_figure(delta, run.levels, labels)"),
         ("md", "## The frames of the first clip, coloured by importance"),
         ("code", """\
mean = np.nanmean(delta[0, :, 0], axis=0)
viz.hsm_clip_figure(run.split.train.clips[idx[0]], run.split.train.layout, mean,
                    title=f"{labels[0]}, {viz.LEVEL_NAMES[run.levels[0]]} level (mean over heads)")"""),
         ("md", "## Inspector (live)\n\nIn a running notebook: choose person, clip, level, head and the "
                "training epoch (the saved snapshots of the reference run)."),
         ("code", """\
from himpc.inspection import HSMInspector

inspector = HSMInspector(run, snapshots, data)
inspector.widget()"""),
         ("md", "## What this page says"),
         ("text", """\
top = np.nanmax(delta, axis=-1)                         # [L, M, B]
F = delta.shape[-1]
per_level = ", ".join(f"{np.nanmean(top[lv]):.2f} at the {viz.LEVEL_NAMES[k]} level"
                      for lv, k in enumerate(run.levels))
display(Markdown(
    f"Over these {len(idx)} clips, the largest frame weight averages {per_level} (uniform weights "
    f"would be {1 / F:.2f}, one frame alone 1.00): HSM concentrates the frame-level contrast on "
    "a few frames of each clip."))"""),
         ("plumb", """\
outputs = {"model": str(model), "clips": idx.tolist(),
           "delta": np.where(np.isnan(delta), None, delta).tolist()}
""" + SAVE)]),
}

RESULT_PARAMS = """\
data = None
dataset = "KGBD"
results_roots = ["results/kgbd"]   # finished runs: <root>/<run name>/split<seed>/result.json
train_root = None        # set: (re)run the rows below into this folder first (skips finished)
splits = [0, 1, 2]       # splits of runs made here and of the commands for rows not measured yet
epochs = 40              # epoch budget of the runs made here and of those commands
max_persons = 0          # 0: every person (the paper's setting); >0 with a small h / M: a SMOKE run
hidden = 256
heads = 8
threads = 0
command = ""             # recorded in every result written here
# runs that differ from a row only in these fields, shown as their own labelled rows:
variants = {"hip-centred, the earlier default": {"root_joint": "HipCenter"}}
results_dir = "results/book/{stem}\""""

TRAIN_ROWS = """\
from himpc.experiments import ensure_row_runs

roots = ([train_root] if train_root else []) + list(results_roots)
scale = dict(max_persons=max_persons, hidden=hidden, heads=heads)   # cut down: shown as SMOKE
budget = dict(splits=splits, epochs=epochs)
if train_root:
    over = dict(epochs=epochs, threads=threads, dataset=dataset, **scale)
    for ours in ROWS:
        ensure_row_runs(ours, train_root, splits, data, command=command, reuse=results_roots,
                        **over)"""

COMPARE = """\
rows = report.comparison_rows({table!r}, "KGBD", roots, {metrics!r}, scales=[scale],
                              budget=budget, variants=variants)
rows = [r for r in rows if {keep}]
display(report.comparison_table(rows, {metrics!r}))
shown = [r for r in rows if r["source"] == "paper" or r["splits"]]
viz.metric_bar_figure(shown, metrics={bars!r}, title={title!r}).show()
all_rows = all_rows + rows"""

CLOSE = [("md", "## What this page says"),
         ("text", "display(Markdown(report.summary_sentences(all_rows)))"),
         ("md", "### Commands"),
         ("text", "display(Markdown(report.commands_markdown(all_rows)))")]

SAVE_ROWS = """\
outputs = [{k: v for k, v in r.items() if k != "measured"} for r in all_rows]
""" + SAVE


def results_nb(stem: str, title: str, intro: str, rows_src: str, sections: list[tuple],
               quoted: str = "") -> nbformat.NotebookNode:
    """A paper-table page: (re)run the rows if asked, then per table the quoted and measured rows,
    a bar chart, what the page says (computed), the commands, and the datasets only quoted."""
    cells = [("plumb", rows_src + "\nall_rows = []"), ("plumb", TRAIN_ROWS)]
    for heading, table, metrics, bars, chart_title, *keep in sections:
        cells += [("md", f"## {heading}"),
                  ("code", COMPARE.format(table=table, metrics=metrics, bars=bars, title=chart_title,
                                          keep=keep[0] if keep else "True"))]
    cells += CLOSE
    if quoted:
        cells += [("md", "## Other datasets (quoted only)"), ("code", quoted)]
    cells += [("plumb", SAVE_ROWS)]
    return nb(stem, title, intro, RESULT_PARAMS, cells)


def table_rows(*tables) -> str:
    keys = ", ".join(repr(t) for t in tables)
    return (f"ROWS = [r[\"ours\"] for t in ({keys},)\n"
            "        for r in report.paper_table(t)[\"rows\"] if r.get(\"ours\")]")


QUOTED = "display(report.quoted_only_table({t}, {sets!r}, ['R1', 'mAP']))"
OTHER = ["BIWI-S", "BIWI-W", "IAS-A", "IAS-B", "KS20"]

NOTEBOOKS["05_main_results"] = results_nb(
    "05_main_results", "Main comparison (Tables 2-3)",
    "The paper's numbers (quoted from `book/paper_results.yaml`, labelled) beside ours (measured from "
    "`result.json` files, mean ± standard deviation over the random splits, budget and splits on every "
    "row). Only KGBD is available here; the paper picks its best epoch on the test set, we report the "
    "last epoch of a budget fixed in advance.",
    table_rows(3) + "\nROWS += [{\"baseline\": \"raw\", \"level\": \"msmr\"}]",
    [("KGBD (Table 3)", 3, ["R1", "R5", "R10", "mAP"], ["R1", "mAP"], "KGBD: paper vs ours")],
    quoted="\n".join([QUOTED.format(t=2, sets=["BIWI-S", "BIWI-W", "IAS-A"]),
                      QUOTED.format(t=3, sets=["IAS-B", "KS20"])]))

NOTEBOOKS["06_ablation"] = results_nb(
    "06_ablation", "Ablation (Table 6)",
    "Each component of the method switched on in turn (Table 6): raw skeletons, direct prototype "
    "contrast (DPC), meta-prototype contrast (MPC), the hierarchy with MSMR (Hi) and hard skeleton "
    "mining (HSM). Single levels (Table 7) are on the levels page.",
    table_rows(6),
    [("Table 6 on KGBD", 6, ["R1", "mAP"], ["R1", "mAP"], "KGBD ablation: paper vs ours")],
    quoted=QUOTED.format(t=6, sets=OTHER))

NOTEBOOKS["07_levels"] = results_nb(
    "07_levels", "Skeleton levels (Table 7, Fig. 5)",
    "Each level alone against their combination (MSMR, Eq. 10). Table 7 evaluates the levels of the "
    "jointly trained Hi-MPC / Hi-MPCh models; Fig. 5 trains a model on one level only.",
    table_rows(7, "figure5"),
    [("Table 7: single levels vs MSMR, with and without HSM", 7, ["R1", "mAP"], ["R1", "mAP"],
      "KGBD levels: paper vs ours"),
     ("Fig. 5: models trained on one level", "figure5", ["R1", "mAP"], ["R1", "mAP"],
      "KGBD single-level models")],
    quoted=QUOTED.format(t=7, sets=OTHER))

NOTEBOOKS["08_heads_embedding"] = results_nb(
    "08_heads_embedding", "Meta-transformation heads M and embedding size h (Tables 8-9)",
    "How many meta-transformation heads (Eq. 3-4) and how wide an embedding the method needs.",
    table_rows(8, 9),
    [("Table 8: heads M = 1, 4, 8, 16", 8, ["R1", "mAP"], ["R1", "mAP"], "KGBD: heads M"),
     ("Table 9: embedding size h = 64, 128, 256, 512", 9, ["R1", "mAP"], ["R1", "mAP"],
      "KGBD: embedding size h")],
    quoted="\n".join(QUOTED.format(t=t, sets=OTHER) for t in (8, 9)))

NOTEBOOKS["09_dbscan"] = results_nb(
    "09_dbscan", "DBSCAN min_samples and eps (Tables 10-11)",
    "The clustering that makes the pseudo labels (Alg. 1): minimum samples and maximum distance. "
    "The clustering page shows what these do to the clusters themselves.",
    table_rows(10, 11),
    [("Table 10: min_samples = 1, 2, 3, 4", 10, ["R1", "mAP"], ["R1", "mAP"], "KGBD: min_samples"),
     ("Table 11: eps = 0.4, 0.6, 0.8, 1.0", 11, ["R1", "mAP"], ["R1", "mAP"], "KGBD: eps")],
    quoted="\n".join(QUOTED.format(t=t, sets=OTHER) for t in (10, 11)))

NOTEBOOKS["10_sequence_length"] = results_nb(
    "10_sequence_length", "Sequence length F (Fig. 6)",
    "Clips of F = 4, 6, 8, 10 frames. Longer clips mean fewer clips (the walks are cut without "
    "overlap), so training set, gallery and probe all change with F. The paper shows this figure as "
    "bars without printed numbers, so only ours are shown.",
    table_rows("figure6"),
    [("Fig. 6: sequence length", "figure6", ["R1", "mAP"], ["R1", "mAP"], "KGBD: sequence length F")])

NOTEBOOKS["14_baselines"] = results_nb(
    "14_baselines", "Baselines: raw clip distance, D13, D16",
    "No learning: the Euclidean distance between raw (root-centred) clips, and the hand-crafted "
    "anthropometric descriptors D13 and D16 (Sec. 2.1.1). Every learned number in this book should be "
    "read next to these, measured on the same splits.",
    "ROWS = [{\"baseline\": b, \"level\": \"msmr\"} for b in (\"raw\", \"d13\", \"d16\")]",
    [("Raw skeletons (Table 6 row 1)", 6, ["R1", "R5", "R10", "mAP"], ["R1", "mAP"],
      "KGBD raw clip distance", 'r["label"].startswith("Baseline")'),
     ("D13 and D16 (Table 3)", 3, ["R1", "R5", "R10", "mAP"], ["R1", "mAP"], "KGBD descriptors",
      'r["label"] in ("D13", "D16")')])


CROSS_PARAMS = """\
data = None
dataset = None           # data with a per-walk view / condition field (npz:<file>); None: quoted
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
    display(Markdown("_Not measured here: {missing} "
                     "Set `dataset` (and `data`) to measure the matrix._"))
    measured = None
else:
    from himpc.experiments import cross_field_run

    measured = cross_field_run(preset, f"{{results_dir}}/run", data, dataset, field, train_values,
                               eval_values, epochs=epochs, max_persons=max_persons, hidden=hidden,
                               heads=heads, threads=threads)
    mats = {{f"{{lv}} {{m}} (measured)": measured.metrics[lv][m]
            for lv in measured.metrics for m in ("R1", "mAP")}}
    display(viz.matrix_dropdown_figure(mats, measured.values, measured.values,
                                       title=f"{{dataset}}: probe vs gallery {{field}} (measured)",
                                       xaxis=f"gallery {{field}}", yaxis=f"probe {{field}}"))"""),
            ("plumb", """\
outputs = {"measured": None if measured is None else
           {lv: {m: np.where(np.isnan(a), None, a).tolist() for m, a in d.items()}
            for lv, d in measured.metrics.items()},
           "values": None if measured is None else measured.values}
""" + SAVE)]


NOTEBOOKS["11_cross_view"] = nb(
    "11_cross_view", "Cross-view re-ID (Table 4)",
    "Probe walks seen from one view, gallery walks from another (KS20's CVE setup). KS20 is not "
    "available here: the numbers below are **quoted** from the paper. With a dataset that has a "
    "per-walk `view` field (the generic `.npz` format, or the authors' KS20 files), set `dataset` and "
    "the notebook trains once and measures every probe/gallery view pair (`himpc.crossfield`).",
    CROSS_PARAMS.format(field="view", values='["0", "30", "90", "130", "180"]'),
    [("code", """\
tab = report.paper_table(4)
views = tab["views"]
quoted = {f"{r['method']}, {m} (quoted)":
          report.quoted_pair_matrix(4, "KS20", r["method"], m, views)
          for r in sorted(tab["rows"], key=lambda r: r["method"] != "Hi-MPCh")
          for m in tab["metrics"]}
viz.matrix_dropdown_figure(quoted, [f"{v}°" for v in views], [f"{v}°" for v in views],
                           title="KS20 cross-view, paper Table 4 (quoted): method and metric",
                           xaxis="gallery view", yaxis="probe view")"""),
    ] + cross_cells("no dataset with views is available in this environment."))

NOTEBOOKS["12_casia_b"] = nb(
    "12_casia_b", "RGB-estimated skeletons: CASIA-B (Table 5)",
    "3D skeletons estimated from RGB video, probe and gallery under walking conditions (normal, bags, "
    "clothes). CASIA-B is not available here: the numbers are **quoted**. With the estimated skeletons "
    "as an `.npz` with a per-walk `condition` field (or the authors' CASIA-B files), set `dataset` to "
    "measure them.",
    CROSS_PARAMS.format(field="condition", values='["nm", "bg", "cl"]'),
    [("code", 'display(report.conditions_table(5, "CASIA-B"))'),
    ] + cross_cells("CASIA-B is not available in this environment."))

NOTEBOOKS["13_tsne"] = nb(
    "13_tsne", "t-SNE of the learned representations (Fig. 8)",
    "Gallery clips of KGBD persons under the reference model, embedded with t-SNE: the raw skeletons, "
    "each level's representation and MSMR (Eq. 10). Colours are the true persons (used only to colour "
    "the plot).",
    RUN_PARAMS + "\npersons = 20             # persons shown\nper_person = 25          # clips per person",
    [("code", OPEN_RUN),
     ("code", """\
from himpc.inspection import tsne_embeddings

points, who = tsne_embeddings(run, persons=persons, per_person=per_person)
viz.embedding_figure(points, who, title=f"t-SNE of gallery clips, {len(set(who))} persons "
                                        "(choose the representation)")"""),
     ("md", "## What this page says"),
     ("text", """\
from himpc.inspection import neighbour_agreement

agree = neighbour_agreement(points, who)
shares = ", ".join(f"{k} {v:.0%}" for k, v in agree.items())
display(Markdown(f"Share of clips whose nearest neighbour in the 2-D map is the same person: "
                 f"{shares}."))"""),
     ("plumb", """\
outputs = {"model": str(model), "persons": sorted(set(who.tolist())),
           "points": {k: v.round(3).tolist() for k, v in points.items()}}
""" + SAVE)])


NOTEBOOKS["15_paper_vs_code"] = nb(
    "15_paper_vs_code", "Paper vs the authors' code",
    "Where the authors' released code departs from the paper's text, or decides what the paper leaves "
    "open, each choice is a named switch (`--set name=value`; `--preset official-code` sets them all). "
    "This page lists them with the file and line of the code, and shows what they change on KGBD, "
    "measured side by side on the same split and budget. The probe/gallery trace is a record only: "
    "no model or epoch is chosen on it.",
    """\
results_roots = ["results/kgbd"]   # finished runs (searched recursively)
split = 0                # the split every variant below ran on
epochs = 20              # their common, fixed budget
results_dir = "results/book/{stem}\"""",
    [("md", "## The switches"),
     ("code", """\
from himpc.config import OFFICIAL_CODE_SWITCHES

display(report.Table(["switch", "our default", "authors' code", "where / what"],
                     [[k, str(a), str(b), w] for k, (a, b, w) in OFFICIAL_CODE_SWITCHES.items()]))"""),
     ("md", "## Centring: the raw clip distance, hip vs head\n\nNo learning, three splits: every frame "
            "centred on the hip centre (this project's earlier default) or on the head (joint 0 of the "
            "KGBD files, as the authors' code)."),
     ("code", """\
raw = report.comparison_rows(6, "KGBD", results_roots, ["R1", "R5", "R10", "mAP"],
                             variants={"hip-centred": {"root_joint": "HipCenter"}})
raw = [r for r in raw if r["label"].startswith("Baseline")]
display(report.comparison_table(raw, ["R1", "R5", "R10", "mAP"]))"""),
     ("md", "## Hi-MPCh, one switch at a time"),
     ("code", """\
variants = {
    "paper-literal, hip-centred (earlier default)":
        {"preset": "hi-mpch", "set": {"root_joint": "HipCenter"}},
    "paper-literal, head-centred (default)": {"preset": "hi-mpch"},
    "head-centred, HSM on dot products / tau (code)":
        {"preset": "hi-mpch", "set": {"hsm_scale_by_tau": True}},
    "official-code (every switch as the code)": {"preset": "hi-mpch,official-code"},
}
rows = report.side_by_side(variants, results_roots, split=split, epochs=epochs)
display(report.side_by_side_table(rows))"""),
     ("code", """\
done = [r for r in rows if r["measured"]]
traced = {r["label"]: r["trace"] for r in done if r["trace"]}
if traced:
    viz.trace_figure(traced, title=f"probe/gallery trace, split {split} (a record, not a selection)"
                     ).show()
curves = {f"purity J, {r['label']}": [h["purity"]["J"] for h in r["history"]] for r in done}
curves |= {f"HSM weight, {r['label']}": [h.get("hsm_max_weight") for h in r["history"]]
           for r in done if any(h.get("hsm_max_weight") for h in r["history"])}
viz.line_figure(list(range(1, epochs + 1)), curves, xaxis="epoch",
                title="training side: joint-level purity and the largest HSM frame weight")"""),
     ("md", "## What this page says"),
     ("text", """\
display(Markdown(report.side_by_side_sentences(rows, raw)))"""),
     ("md", "### Commands"),
     ("text", """\
cmds = [r["command"] for r in rows if r.get("command")]
todo = [r["to_measure"] for r in rows if not r["measured"]]
display(Markdown("```text\\n" + "\\n".join(cmds + todo) + "\\n```" if cmds or todo else ""))"""),
     ("plumb", """\
outputs = [{k: v for k, v in r.items() if k != "history"} for r in rows]
""" + SAVE)])


def main() -> None:
    for stem, book in NOTEBOOKS.items():
        nbformat.validate(book)
        nbformat.write(book, HERE / f"{stem}.ipynb")
        print(f"wrote notebooks/{stem}.ipynb")


if __name__ == "__main__":
    main()
