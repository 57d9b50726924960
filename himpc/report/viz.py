"""Plotly figure builders for the research book and the notebooks.

Every function returns a :class:`plotly.graph_objects.Figure`; none of them computes
anything the package does not already provide (the hierarchy comes from
:func:`himpc.hierarchy.build_hierarchy`, HSM importances from :mod:`himpc.report.inspection`).
Interactivity lives in the figure itself (plotly's own sliders and dropdowns), so a
static HTML page built from an executed notebook stays interactive.

Figures are shown through the ``himpc`` renderer (:func:`use_book_renderer`): it emits the
plotly JSON (for JupyterLab) and an HTML ``<div>`` that calls ``Plotly.newPlot`` on a
plotly.js the page already loaded (the book ships it in ``_static``, never from a CDN).
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from ..hierarchy import LEVEL_NAMES, build_hierarchy
from ..layouts import COMPONENT_NAMES, LIMB_NAMES, Layout
from .table import Table

PART_COLOURS = {"train": "#4C78A8", "gallery": "#F58518", "probe": "#54A24B"}
SOURCE_COLOURS = {"paper": "#9D9D9D", "ours": "#4C78A8"}

# Bones as pairs of joint names, per joint-naming scheme (the layouts of himpc.layouts).
_SDK_BONES = (
    ("HipCenter", "Spine"), ("Spine", "ShoulderCenter"), ("ShoulderCenter", "Head"),
    ("ShoulderCenter", "ShoulderLeft"), ("ShoulderLeft", "ElbowLeft"), ("ElbowLeft", "WristLeft"),
    ("WristLeft", "HandLeft"), ("ShoulderCenter", "ShoulderRight"), ("ShoulderRight", "ElbowRight"),
    ("ElbowRight", "WristRight"), ("WristRight", "HandRight"), ("HipCenter", "HipLeft"),
    ("HipLeft", "KneeLeft"), ("KneeLeft", "AnkleLeft"), ("AnkleLeft", "FootLeft"),
    ("HipCenter", "HipRight"), ("HipRight", "KneeRight"), ("KneeRight", "AnkleRight"),
    ("AnkleRight", "FootRight"),
)
_V2_BONES = (
    ("SpineBase", "SpineMid"), ("SpineMid", "SpineShoulder"), ("SpineShoulder", "Neck"), ("Neck", "Head"),
    ("SpineShoulder", "ShoulderLeft"), ("ShoulderLeft", "ElbowLeft"), ("ElbowLeft", "WristLeft"),
    ("WristLeft", "HandLeft"), ("HandLeft", "HandTipLeft"), ("WristLeft", "ThumbLeft"),
    ("SpineShoulder", "ShoulderRight"), ("ShoulderRight", "ElbowRight"), ("ElbowRight", "WristRight"),
    ("WristRight", "HandRight"), ("HandRight", "HandTipRight"), ("WristRight", "ThumbRight"),
    ("SpineBase", "HipLeft"), ("HipLeft", "KneeLeft"), ("KneeLeft", "AnkleLeft"), ("AnkleLeft", "FootLeft"),
    ("SpineBase", "HipRight"), ("HipRight", "KneeRight"), ("KneeRight", "AnkleRight"), ("AnkleRight", "FootRight"),
)
_COCO14_BONES = (
    ("Nose", "Neck"), ("Neck", "RShoulder"), ("RShoulder", "RElbow"), ("RElbow", "RWrist"),
    ("Neck", "LShoulder"), ("LShoulder", "LElbow"), ("LElbow", "LWrist"), ("Neck", "RHip"),
    ("RHip", "RKnee"), ("RKnee", "RAnkle"), ("Neck", "LHip"), ("LHip", "LKnee"), ("LKnee", "LAnkle"),
    ("RHip", "LHip"),
)
_COCO18_BONES = (
    ("Nose", "Neck"), ("Neck", "RShoulder"), ("RShoulder", "RElbow"), ("RElbow", "RWrist"),
    ("Neck", "LShoulder"), ("LShoulder", "LElbow"), ("LElbow", "LWrist"), ("Neck", "RHip"),
    ("RHip", "RKnee"), ("RKnee", "RAnkle"), ("Neck", "LHip"), ("LHip", "LKnee"), ("LKnee", "LAnkle"),
    ("Nose", "REye"), ("REye", "REar"), ("Nose", "LEye"), ("LEye", "LEar"),
)
_BODY25_BONES = (
    ("Nose", "Neck"), ("Neck", "RShoulder"), ("RShoulder", "RElbow"), ("RElbow", "RWrist"),
    ("Neck", "LShoulder"), ("LShoulder", "LElbow"), ("LElbow", "LWrist"), ("Neck", "MidHip"),
    ("MidHip", "RHip"), ("RHip", "RKnee"), ("RKnee", "RAnkle"), ("MidHip", "LHip"), ("LHip", "LKnee"),
    ("LKnee", "LAnkle"), ("Nose", "REye"), ("REye", "REar"), ("Nose", "LEye"), ("LEye", "LEar"),
    ("LAnkle", "LBigToe"), ("LBigToe", "LSmallToe"), ("LAnkle", "LHeel"),
    ("RAnkle", "RBigToe"), ("RBigToe", "RSmallToe"), ("RAnkle", "RHeel"),
)
_COCO17_BONES = (
    ("nose", "left_eye"), ("left_eye", "left_ear"), ("nose", "right_eye"), ("right_eye", "right_ear"),
    ("left_shoulder", "right_shoulder"), ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"), ("left_shoulder", "left_hip"),
    ("right_shoulder", "right_hip"), ("left_hip", "right_hip"), ("left_hip", "left_knee"),
    ("left_knee", "left_ankle"), ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
    ("nose", "left_shoulder"),
)
BONES: dict[str, tuple[tuple[str, str], ...]] = {
    "kinect-v1-20": _SDK_BONES,
    "kinect-v1-20-sdk": _SDK_BONES,
    "kinect-v2-25": _V2_BONES,
    "coco-14": _COCO14_BONES,
    "openpose-body25": _BODY25_BONES,
    "openpose-coco18": _COCO18_BONES,
    "coco-17": _COCO17_BONES,
}


def bone_indices(layout: Layout) -> list[tuple[int, int]]:
    """Bones of ``layout`` as joint-index pairs.

    Known layouts use :data:`BONES`; another layout uses the first naming scheme whose
    joint names it all has, else no bones (joints are still drawn).
    """
    pairs = BONES.get(layout.name)
    if pairs is None:
        names = set(layout.joints)
        pairs = next((b for b in BONES.values() if all(a in names and c in names for a, c in b)), ())
    return [(layout.index(a), layout.index(b)) for a, b in pairs]


# ----------------------------------------------------------------------------- renderer
_PLOTLY_CONFIG = {"responsive": True, "displaylogo": False}


class _BookRenderer(pio.base_renderers.MimetypeRenderer):
    """Plotly JSON for JupyterLab plus an HTML div that uses the page's own plotly.js."""

    def to_mimebundle(self, fig_dict: dict) -> dict:
        div = pio.to_html(fig_dict, include_plotlyjs=False, full_html=False, config=_PLOTLY_CONFIG,
                          validate=False)
        return {"application/vnd.plotly.v1+json": {"data": fig_dict.get("data", []),
                                                   "layout": fig_dict.get("layout", {}),
                                                   "config": _PLOTLY_CONFIG},
                "text/html": div}


def use_book_renderer() -> None:
    """Make ``fig.show()`` (and a figure as a cell's last value) use the ``himpc`` renderer."""
    pio.renderers["himpc"] = _BookRenderer()
    pio.renderers.default = "himpc"


# ----------------------------------------------------------------------------- skeletons
def _xyz(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kinect camera coordinates (x right, y up, z depth) -> plot axes (x, depth, up); 2D keypoints
    (x right, y down, as in the image) stand in the plane of zero depth, head up."""
    if points.shape[-1] == 2:
        return points[..., 0], np.zeros_like(points[..., 0]), -points[..., 1]
    return points[..., 0], points[..., 2], points[..., 1]


def _bone_lines(points: np.ndarray, bones: Sequence[tuple[int, int]]) -> tuple[list, list, list]:
    x, y, z = _xyz(points)
    xs: list = []
    ys: list = []
    zs: list = []
    for a, b in bones:
        xs += [float(x[a]), float(x[b]), None]
        ys += [float(y[a]), float(y[b]), None]
        zs += [float(z[a]), float(z[b]), None]
    return xs, ys, zs


def _skeleton_traces(points: np.ndarray, layout: Layout, colour: str = "#4C78A8", name: str = "skeleton",
                     labels: Optional[Sequence[str]] = None, show_bones: bool = True,
                     size: int = 4, scene: str = "scene", opacity: float = 1.0) -> list[go.Scatter3d]:
    """Bones (one line trace) and joints (one marker trace) of one frame [J, 3]."""
    bones = bone_indices(layout) if show_bones else []
    bx, by, bz = _bone_lines(points, bones)
    x, y, z = _xyz(points)
    text = list(labels) if labels is not None else list(layout.joints)
    return [
        go.Scatter3d(x=bx, y=by, z=bz, mode="lines", line=dict(color=colour, width=5), opacity=opacity,
                     name=f"{name} bones", hoverinfo="skip", showlegend=False, scene=scene),
        go.Scatter3d(x=x, y=y, z=z, mode="markers", marker=dict(size=size, color=colour), opacity=opacity,
                     name=name, text=text, hovertemplate="%{text}<extra></extra>", showlegend=False,
                     scene=scene),
    ]


def _scene(points: np.ndarray) -> dict:
    """Fixed, equal-aspect axis ranges that hold every frame (so the slider does not rescale)."""
    x, y, z = _xyz(points.reshape(-1, 3))
    lo = np.array([np.nanmin(x), np.nanmin(y), np.nanmin(z)])
    hi = np.array([np.nanmax(x), np.nanmax(y), np.nanmax(z)])
    mid, half = (lo + hi) / 2, max(float(np.max(hi - lo)) / 2, 1e-3) * 1.1
    axes = {}
    for k, m, title in zip(("xaxis", "yaxis", "zaxis"), mid, ("x", "depth", "up")):
        axes[k] = dict(range=[float(m - half), float(m + half)], title=title, showbackground=False)
    return dict(aspectmode="cube", camera=dict(eye=dict(x=1.6, y=-1.6, z=0.6)), **axes)


def _frame_slider(n: int, prefix: str = "frame ", labels: Optional[Sequence[Any]] = None,
                  with_buttons: bool = True) -> dict:
    steps = [dict(method="animate", label=str(labels[t] if labels is not None else t),
                  args=[[str(t)], dict(mode="immediate", frame=dict(duration=0, redraw=True),
                                       transition=dict(duration=0))]) for t in range(n)]
    out: dict = {"sliders": [dict(active=0, steps=steps, currentvalue=dict(prefix=prefix), pad=dict(t=30))]}
    if with_buttons:
        out["updatemenus"] = [dict(type="buttons", showactive=False, x=0.0, y=0.0, xanchor="right",
                                   yanchor="top", pad=dict(t=30, r=10), buttons=[
            dict(label="play", method="animate",
                 args=[None, dict(frame=dict(duration=80, redraw=True), fromcurrent=True,
                                  transition=dict(duration=0))]),
            dict(label="pause", method="animate",
                 args=[[None], dict(mode="immediate", frame=dict(duration=0, redraw=False))])])]
    return out


def skeleton_figure(walk: np.ndarray, layout: Layout, title: str = "", max_frames: int = 120,
                    start: int = 0) -> go.Figure:
    """A walk [T, J, 3] as a 3D skeleton with plotly's own frame slider (and play / pause).

    At most ``max_frames`` frames from ``start`` are embedded (the figure carries every frame).
    """
    walk = np.asarray(walk, dtype=float)[start:start + max_frames]
    if walk.ndim != 3 or walk.shape[1] != layout.num_joints:
        raise ValueError(f"walk must be [T, {layout.num_joints}, 3], got {walk.shape}")
    fig = go.Figure(data=_skeleton_traces(walk[0], layout),
                    frames=[go.Frame(data=_skeleton_traces(walk[t], layout), name=str(t))
                            for t in range(len(walk))])
    labels = [start + t for t in range(len(walk))]
    fig.update_layout(title=title, scene=_scene(walk), height=520, margin=dict(l=0, r=0, t=40, b=0),
                      **_frame_slider(len(walk), labels=labels))
    return fig


def _level_labels(level: str, layout: Layout) -> list[str]:
    return {"J": list(layout.joints), "C": list(COMPONENT_NAMES), "L": list(LIMB_NAMES)}[level]


def _level_traces(points: np.ndarray, layout: Layout, levels: str, colours: Sequence[str]) -> list:
    parts = build_hierarchy(points[None], layout, levels)
    traces: list = []
    for i, (lv, p) in enumerate(zip(levels, parts)):
        scene = "scene" if i == 0 else f"scene{i + 1}"
        if lv != "J":   # the joint skeleton, faint, under the body parts
            traces += _skeleton_traces(points, layout, "#BBBBBB", "joints", scene=scene, size=2, opacity=0.5)
        pts = p[0].numpy()
        traces += _skeleton_traces(pts, layout, colours[i], LEVEL_NAMES[lv], _level_labels(lv, layout),
                                   show_bones=(lv == "J"), size=4 if lv == "J" else 7, scene=scene)
    return traces


def hierarchy_figure(clip: np.ndarray, layout: Layout, levels: str = "JCL",
                     title: str = "Joint, component and limb levels (Sec. 3.1)") -> go.Figure:
    """Joint / component / limb positions side by side for the frames of ``clip`` [F, J, 3] (or one frame [J, 3]).

    Component and limb positions are the averages of their joints, from
    :func:`himpc.hierarchy.build_hierarchy`; a frame slider moves all levels together.
    """
    clip = np.asarray(clip, dtype=float)
    if clip.ndim == 2:
        clip = clip[None]
    colours = ("#4C78A8", "#E45756", "#72B7B2")
    n = len(levels)
    fig = make_subplots(rows=1, cols=n, specs=[[{"type": "scene"}] * n],
                        subplot_titles=[f"{LEVEL_NAMES[lv]} level ({len(_level_labels(lv, layout))} parts)"
                                        for lv in levels], horizontal_spacing=0.01)
    for tr in _level_traces(clip[0], layout, levels, colours):
        fig.add_trace(tr)
    scene = _scene(clip)
    fig.update_layout({("scene" if i == 0 else f"scene{i + 1}"): scene for i in range(n)})
    fig.update_layout(title=title, height=460, margin=dict(l=0, r=0, t=60, b=0))
    if len(clip) > 1:
        fig.frames = [go.Frame(data=_level_traces(clip[t], layout, levels, colours), name=str(t))
                      for t in range(len(clip))]
        fig.update_layout(**_frame_slider(len(clip), with_buttons=False))
    return fig


# ----------------------------------------------------------------------------- clips and the split
def clip_cutting_figure(walk_length: int, seq_len: int, trim: int, title: str = "") -> go.Figure:
    """How one walk of ``walk_length`` frames is cut: trimmed ends, F-frame clips, dropped remainder
    (the rule of :func:`himpc.data.protocols.make_clips`)."""
    usable = max(walk_length - 2 * trim, 0)
    n = usable // seq_len
    segs = [("trimmed", 0, min(trim, walk_length), "#DDDDDD")]
    for k in range(n):
        segs.append((f"clip {k}", trim + k * seq_len, seq_len, "#4C78A8" if k % 2 == 0 else "#72B7B2"))
    rest = usable - n * seq_len
    if rest:
        segs.append(("dropped", trim + n * seq_len, rest, "#F2CF5B"))
    if walk_length > trim:
        segs.append(("trimmed", walk_length - min(trim, walk_length - trim), min(trim, walk_length - trim), "#DDDDDD"))
    fig = go.Figure()
    for name, x0, w, colour in segs:
        fig.add_trace(go.Bar(x=[w], y=["walk"], base=[x0], orientation="h", marker_color=colour,
                             name=name, showlegend=False, hovertemplate=f"{name}: frames {x0}-{x0 + w - 1}<extra></extra>"))
    fig.update_layout(barmode="overlay", height=180, xaxis_title="frame", margin=dict(l=40, r=10, t=40, b=40),
                      title=title or f"{walk_length} frames -> {n} clips of F={seq_len} (trim {trim} at each end)")
    return fig


def split_overview_figure(split: Any, title: str = "Clips per person in each part of the split") -> go.Figure:
    """Stacked bars: clips of every person in train / gallery / probe (a :class:`~himpc.data.protocols.ClipSplit`)."""
    persons = sorted(set(split.train.person) | set(split.gallery.person) | set(split.probe.person))
    fig = go.Figure()
    for part in ("train", "gallery", "probe"):
        cs = getattr(split, part)
        counts = [int(np.sum(cs.person == p)) for p in persons]
        fig.add_trace(go.Bar(x=persons, y=counts, name=f"{part} ({len(cs)} clips)", marker_color=PART_COLOURS[part]))
    fig.update_layout(barmode="stack", title=title, xaxis_title="person", yaxis_title="clips", height=380,
                      margin=dict(l=50, r=10, t=50, b=80))
    return fig


# ----------------------------------------------------------------------------- hard skeleton mining
def hsm_heatmap_figure(delta: np.ndarray, levels: str, clip_labels: Sequence[str],
                       title: str = "Hard skeleton mining: frame importance delta (Eq. 7-8)",
                       zmax: Optional[float] = None) -> go.Figure:
    """Importance heat maps, one per level, with a dropdown that chooses the clip.

    ``delta`` [L, M, B, F] (NaN where a clip is an outlier at that level). Each heat map has the
    M heads and their mean as rows and the F frames as columns. The dropdown restyles every level
    at once, so the figure stays interactive in a static page.
    """
    delta = np.asarray(delta, dtype=float)
    L, M, B, F = delta.shape
    if L != len(levels) or B != len(clip_labels):
        raise ValueError(f"delta {delta.shape} does not match levels {levels!r} and {len(clip_labels)} clip labels")
    rows = [f"head {m + 1}" for m in range(M)] + ["mean"]
    frames = [f"f{j + 1}" for j in range(F)]

    def z_of(lv: int, b: int) -> list:
        d = delta[lv, :, b]
        with np.errstate(invalid="ignore"):
            mean = np.nanmean(d, axis=0) if not np.isnan(d).all() else np.full(F, np.nan)
        z = np.vstack([d, mean[None]])
        return [[None if not math.isfinite(v) else round(float(v), 4) for v in r] for r in z]

    top = zmax if zmax is not None else float(np.nanmax(delta)) if np.isfinite(delta).any() else 1.0
    fig = make_subplots(rows=1, cols=L, subplot_titles=[f"{LEVEL_NAMES[lv]} level" for lv in levels],
                        horizontal_spacing=0.06)
    for lv in range(L):
        fig.add_trace(go.Heatmap(z=z_of(lv, 0), x=frames, y=rows, zmin=0.0, zmax=top, colorscale="Viridis",
                                 showscale=(lv == L - 1), name=LEVEL_NAMES[levels[lv]],
                                 hovertemplate="%{y}, %{x}: delta=%{z:.3f}<extra></extra>"),
                      row=1, col=lv + 1)
    buttons = [dict(label=str(lab), method="restyle", args=[{"z": [z_of(lv, b) for lv in range(L)]},
                                                            list(range(L))])
               for b, lab in enumerate(clip_labels)]
    fig.update_layout(title=dict(text=title, y=0.98, yref="container", yanchor="top"), height=380 + 12 * M,
                      margin=dict(l=60, r=20, t=130, b=40),
                      updatemenus=[dict(buttons=buttons, direction="down", x=0.0, xanchor="left", y=1.24,
                                        yanchor="top", showactive=True, active=0)],
                      annotations=list(fig.layout.annotations) + [
                          dict(text="clip:", x=-0.05, xref="paper", y=1.21, yref="paper", showarrow=False,
                               xanchor="right")])
    fig.update_yaxes(autorange="reversed")
    return fig


def hsm_clip_figure(clip: np.ndarray, layout: Layout, delta_mean: np.ndarray, title: str = "") -> go.Figure:
    """The frames of one clip [F, J, 3] side by side, coloured by their (head-mean) importance [F]."""
    clip = np.asarray(clip, dtype=float)
    F = len(clip)
    fig = make_subplots(rows=1, cols=F, specs=[[{"type": "scene"}] * F],
                        subplot_titles=[f"f{j + 1}: {delta_mean[j]:.2f}" if np.isfinite(delta_mean[j]) else f"f{j + 1}"
                                        for j in range(F)], horizontal_spacing=0.0)
    lo, hi = np.nanmin(delta_mean), np.nanmax(delta_mean)
    for j in range(F):
        w = 0.5 if not np.isfinite(delta_mean[j]) or hi <= lo else (delta_mean[j] - lo) / (hi - lo)
        colour = f"rgb({int(60 + 195 * w)},{int(80 * (1 - w))},{int(200 * (1 - w))})"
        for tr in _skeleton_traces(clip[j], layout, colour, f"f{j + 1}", scene="scene" if j == 0 else f"scene{j + 1}"):
            fig.add_trace(tr)
    scene = _scene(clip)
    for k in ("xaxis", "yaxis", "zaxis"):       # six small scenes: their tick labels would collide
        scene[k].update(showticklabels=False, title="")
    fig.update_layout({("scene" if j == 0 else f"scene{j + 1}"): scene for j in range(F)})
    fig.update_layout(title=title, height=320, margin=dict(l=0, r=0, t=60, b=0))
    return fig


# ----------------------------------------------------------------------------- numbers
def metric_bar_figure(rows: Sequence[Mapping[str, Any]], metrics: Sequence[str] = ("R1", "mAP"),
                      title: str = "", group_key: str = "label", series_key: str = "series") -> go.Figure:
    """Grouped bars, one subplot per metric: one trace per series (paper quoted; ours at each budget),
    one bar per method in each trace, error bars = std over splits, percentage axes 0-100.

    ``rows``: dicts with ``label`` (x category), ``series`` (see :func:`himpc.report.series_name`;
    falls back to ``source``) and per metric a number or ``{"mean": .., "std": ..}``.  A method
    that appears twice in one series would stack two numbers on one bar: refused.
    """
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=list(metrics))
    key = lambda r: r.get(series_key) or r["source"]                    # noqa: E731
    series = list(dict.fromkeys(key(r) for r in rows))
    colours = {s: SOURCE_COLOURS["paper"] if s.startswith("paper") else px_colour(i)
               for i, s in enumerate(x for x in series if not x.startswith("paper"))}
    colours.update({s: SOURCE_COLOURS["paper"] for s in series if s.startswith("paper")})
    for ci, m in enumerate(metrics):
        for s in series:
            sel = [r for r in rows if key(r) == s and r.get(m) is not None]
            cats = [r[group_key] for r in sel]
            if len(cats) != len(set(cats)):
                raise ValueError(f"series {s!r} holds a category twice ({cats}); label the rows apart")
            vals = [r[m]["mean"] if isinstance(r[m], Mapping) else r[m] for r in sel]
            errs = [r[m].get("std", 0.0) if isinstance(r[m], Mapping) else 0.0 for r in sel]
            hover = [f"{r[group_key]}: %{{y:.1f}}<br>{r.get('detail', s)}<extra></extra>" for r in sel]
            fig.add_trace(go.Bar(x=cats, y=vals, name=s, legendgroup=s, showlegend=(ci == 0),
                                 marker_color=colours[s], hovertemplate=hover,
                                 error_y=dict(type="data", array=errs, visible=any(errs))),
                          row=1, col=ci + 1)
        fig.update_yaxes(range=[0, 100], title_text=f"{m} (%)", row=1, col=ci + 1)
    longest = max((len(str(r[group_key])) for r in rows), default=8)   # vertical tick labels need room
    fig.update_xaxes(tickangle=-90)
    fig.update_layout(barmode="group", title=dict(text=title, y=0.98), height=340 + 6 * longest,
                      margin=dict(l=50, r=10, t=90, b=30 + 6 * longest),
                      legend=dict(orientation="h", x=0, y=1.12, yanchor="bottom"))   # above: never on labels
    return fig


def trace_figure(traces: Mapping[str, Sequence[tuple[int, float, float]]], title: str = "",
                 reference: Optional[Mapping[str, float]] = None, reference_name: str = "paper (quoted)",
                 highlight: Optional[str] = None) -> go.Figure:
    """Rank-1 and mAP against the epoch for several runs (``{name: [(epoch, R1, mAP), ...]}``);
    ``reference`` ``{"R1": .., "mAP": ..}``: a dashed level line on each panel (quoted numbers);
    ``highlight``: the name of one trace drawn bold (a mean), the others thin."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=["Rank-1", "mAP"])
    for i, (name, pts) in enumerate(traces.items()):
        ep = [p[0] for p in pts]
        width = 2 if highlight is None else 4 if name == highlight else 1.5
        for col in (1, 2):
            fig.add_trace(go.Scatter(x=ep, y=[p[col] for p in pts], mode="lines+markers", name=name,
                                     legendgroup=name, showlegend=(col == 1),
                                     line=dict(color=px_colour(i), width=width)), row=1, col=col)
    epochs = [p[0] for pts in traces.values() for p in pts]
    for col, metric in ((1, "R1"), (2, "mAP")):
        if reference and metric in reference and epochs:
            fig.add_trace(go.Scatter(x=[min(epochs), max(epochs)], y=[reference[metric]] * 2, mode="lines",
                                     name=reference_name, legendgroup="reference", showlegend=(col == 1),
                                     line=dict(color="#555555", dash="dash")), row=1, col=col)
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(title=title, height=380, margin=dict(l=50, r=10, t=60, b=110),
                      legend=dict(orientation="h", y=-0.3))
    return fig


def px_colour(i: int) -> str:
    """The i-th colour of the book's palette."""
    palette = ["#4C78A8", "#F58518", "#54A24B", "#B279A2", "#E45756", "#72B7B2"]
    return palette[i % len(palette)]


def line_figure(x: Sequence[Any], series: Mapping[str, Sequence[float]], title: str = "", xaxis: str = "",
                yaxis: str = "", secondary: Iterable[str] = ()) -> go.Figure:
    """Simple named lines over a shared x (training curves, sweeps); ``secondary`` series on a right axis."""
    secondary = set(secondary)
    fig = make_subplots(specs=[[{"secondary_y": bool(secondary)}]])
    for name, ys in series.items():
        fig.add_trace(go.Scatter(x=list(x), y=list(ys), mode="lines+markers", name=name),
                      secondary_y=(name in secondary) if secondary else None)
    fig.update_layout(title=title, xaxis_title=xaxis, yaxis_title=yaxis, height=360, showlegend=True,
                      margin=dict(l=50, r=10, t=50, b=50))
    if len(series) > 4:                   # many series: the legend below, so the plot keeps its width
        fig.update_layout(height=360 + 20 * len(series), legend=dict(orientation="h", x=0, y=-0.15,
                                                                     yanchor="top"))
    return fig


def scaling_figure(series: Mapping[str, Mapping[str, Sequence[float]]], title: str = "") -> go.Figure:
    """Seconds against N on log-log axes, one line per ``"backend, data"`` series
    (``{"n", "seconds", "recall"}``): a colour per backend, solid for random, dotted for clustered data."""
    fig = go.Figure()
    backends = list(dict.fromkeys(name.split(",")[0] for name in series))
    for name, s in series.items():
        fig.add_scatter(x=list(s["n"]), y=list(s["seconds"]), name=name, mode="lines+markers",
                        line=dict(color=px_colour(backends.index(name.split(",")[0])),
                                  dash="dot" if name.endswith("clustered") else "solid"),
                        customdata=list(s["recall"]), hovertemplate="N %{x:,}: %{y:.2f} s, recall %{customdata:.3f}")
    fig.update_layout(title=title, xaxis_title="N (vectors)", yaxis_title="seconds (index build + search)",
                      xaxis_type="log", yaxis_type="log", height=420, margin=dict(l=50, r=10, t=50, b=50))
    return fig


def heatmap_figure(z: np.ndarray, x: Sequence[Any], y: Sequence[Any], title: str = "", xaxis: str = "",
                   yaxis: str = "", text_fmt: str = ".2f", colorscale: str = "Blues") -> go.Figure:
    """A labelled heat map with values printed in the cells (sweeps such as eps x min_samples)."""
    z = np.asarray(z, dtype=float)
    text = [[format(v, text_fmt) if np.isfinite(v) else "" for v in r] for r in z]
    fig = go.Figure(go.Heatmap(z=z, x=[str(v) for v in x], y=[str(v) for v in y], text=text,
                               texttemplate="%{text}", colorscale=colorscale))
    fig.update_layout(title=title, xaxis_title=xaxis, yaxis_title=yaxis, height=360,
                      margin=dict(l=60, r=10, t=50, b=50))
    return fig


def histogram_figure(values: Mapping[str, np.ndarray], title: str = "", xaxis: str = "", nbins: int = 50,
                     vline: Optional[float] = None, range_: Optional[tuple[float, float]] = None,
                     log_y: bool = False) -> go.Figure:
    """Overlaid density histograms (e.g. Jaccard distances of same / different person pairs).

    Binned here, not in the browser: the page carries nbins numbers per series, whatever the
    number of values.  ``log_y``: a logarithmic density axis (empty bins are simply not drawn)."""
    arrays = {k: np.asarray(v, dtype=float).ravel() for k, v in values.items()}
    allv = np.concatenate([a for a in arrays.values() if a.size] or [np.zeros(1)])
    edges = np.histogram_bin_edges(allv, bins=nbins, range=range_)
    centres = (edges[:-1] + edges[1:]) / 2
    fig = go.Figure()
    for name, a in arrays.items():
        dens = np.histogram(a, bins=edges, density=True)[0] if a.size else np.zeros(nbins)
        fig.add_trace(go.Bar(x=centres.round(4), y=dens.round(5), width=float(edges[1] - edges[0]), opacity=0.6,
                             name=f"{name} ({a.size:,} pairs)"))
    if vline is not None:
        fig.add_vline(x=vline, line_dash="dash", annotation_text=f"eps = {vline}")
    fig.update_layout(barmode="overlay", title=title, xaxis_title=xaxis, height=340,
                      yaxis_title="density (log scale)" if log_y else "density", margin=dict(l=50, r=10, t=50, b=50))
    if log_y:
        fig.update_yaxes(type="log")
    return fig


def html_table(header: Sequence[str], rows: Sequence[Sequence[Any]], caption: str = "") -> str:
    """A small HTML table (escaped), for ``IPython.display.HTML`` (see :class:`himpc.report.Table`)."""
    return Table(list(header), [list(r) for r in rows], caption)._repr_html_()


def matrix_dropdown_figure(matrices: dict[str, np.ndarray], rows: Sequence[str], cols: Sequence[str],
                           title: str = "", xaxis: str = "gallery", yaxis: str = "probe",
                           zmax: float = 100.0) -> go.Figure:
    """Heat maps of several [P, G] matrices (e.g. method x metric of Table 4), one shown at a time,
    chosen with a dropdown that works in the static book.  NaN cells stay empty."""
    if not matrices:
        raise ValueError("no matrices to show")

    def clean(m: np.ndarray) -> list:
        return [[None if not math.isfinite(float(v)) else round(float(v), 2) for v in r] for r in np.asarray(m, float)]

    names = list(matrices)
    first = clean(matrices[names[0]])
    fig = go.Figure(go.Heatmap(z=first, x=list(cols), y=list(rows), zmin=0.0, zmax=zmax, colorscale="Viridis",
                               text=first, texttemplate="%{text}", hovertemplate=f"{yaxis} %{{y}}, {xaxis} %{{x}}: %{{z}}<extra></extra>"))
    buttons = [dict(label=n, method="restyle", args=[{"z": [clean(matrices[n])], "text": [clean(matrices[n])]}, [0]])
               for n in names]
    fig.update_layout(title=dict(text=title, y=0.98, yref="container", yanchor="top"), height=480,
                      margin=dict(l=70, r=20, t=130, b=50), xaxis_title=xaxis, yaxis_title=yaxis,
                      updatemenus=[dict(buttons=buttons, direction="down", x=0.0, xanchor="left", y=1.2,
                                        yanchor="top", showactive=True, active=0)])
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category")
    return fig


def embedding_figure(points: dict[str, np.ndarray], labels: Sequence[str], title: str = "") -> go.Figure:
    """2-D embeddings (e.g. t-SNE, Fig. 8) of several representations of the same clips, coloured by
    person; a dropdown switches the representation (one trace per person, so the legend works).
    Every person has its own colour and marker (26 colours, then the next marker shape), so no two
    persons look alike."""
    from plotly.colors import qualitative
    names = list(points)
    labels = np.asarray(labels).astype(str)
    persons = sorted(set(labels.tolist()))
    colours, shapes = qualitative.Alphabet, ("circle", "square", "diamond", "triangle-up", "x", "cross")
    fig = go.Figure()
    for i, p in enumerate(persons):
        xy = np.asarray(points[names[0]])[labels == p]
        marker = dict(size=6, color=colours[i % len(colours)], symbol=shapes[(i // len(colours)) % len(shapes)])
        fig.add_trace(go.Scattergl(x=xy[:, 0], y=xy[:, 1], mode="markers", name=p, marker=marker))
    buttons = []
    for n in names:
        xy = np.asarray(points[n])
        buttons.append(dict(label=n, method="restyle",
                            args=[{"x": [xy[labels == p, 0].round(3).tolist() for p in persons],
                                   "y": [xy[labels == p, 1].round(3).tolist() for p in persons]}]))
    fig.update_layout(title=dict(text=title, y=0.98, yref="container", yanchor="top"), height=580,
                      margin=dict(l=40, r=20, t=130, b=40),
                      updatemenus=[dict(buttons=buttons, direction="down", x=0.0, xanchor="left", y=1.15,
                                        yanchor="top", showactive=True, active=0)])
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    return fig
