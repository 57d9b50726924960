"""Import a folder of per-walk files (the files a lab has) into the generic ``.npz`` format.

One walk per file (or, for OpenPose, per folder of frame files), in one of these shapes:

* **delimited text** (``fmt="table"``; any delimiter, header and comment rows, extra columns):
  one frame per row, the joint columns chosen as :mod:`himpc.data.columns` says (a named header
  such as ``HipCenter_X`` is mapped onto the layout by itself; else ``--columns 2:62``, names or a
  regex), or **one joint per row** (3 numbers, optionally after a joint name: ``Head;0.1;0.2;2.9``,
  as KGBD files are), J rows per frame in the layout's joint order;
* **2D keypoints** of a pose estimator (``fmt="openpose"`` / ``"coco17"``, :mod:`himpc.data.keypoints`).

The person (required), view and condition of each walk come from its path (relative to the
folder, ``/``-separated) through a regular expression with named groups, e.g.
``sub(?P<person>\\d+)/Run(?P<condition>\\d+)``.

Nothing is mixed in silently: a walk whose path does not match, that is empty, whose rows are ragged,
that holds a non-numeric, empty or non-finite cell, whose layout differs from the walks before it, or
that is shorter than ``min_frames`` is skipped, with the file, line, column and reason in the report
(``strict=True``: all or nothing, every fault listed).  Persons with fewer walks than the walk-split
protocol needs are named in the report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import numpy as np

from ..layouts import Layout
from .columns import Choice, ColumnSpec, choose_columns, is_number, frames_from, named_header, numeric_cells, read_table
from .keypoints import KeypointOptions, read_keypoint_walk
from .skeletons import DataError, SkeletonSet

@dataclass
class ImportReport:
    """What :func:`import_folder` read and what it skipped (file, reason); per file, what was detected."""

    read: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    few_walks: dict[str, int] = field(default_factory=dict)      # person -> walks, below the protocol's need
    detected: dict[str, dict] = field(default_factory=dict)      # file -> what read_walk found

    def summary(self) -> str:
        lines = [f"read {len(self.read)} walk file(s), skipped {len(self.skipped)}"]
        lines += [f"  skipped {f}: {why}" for f, why in self.skipped]
        if self.few_walks:
            lines.append("persons with fewer than 3 walks (the walk-split protocol needs 1 probe + 2 gallery "
                         "walks; use a by-field protocol or drop them): "
                         + ", ".join(f"{p} ({n})" for p, n in sorted(self.few_walks.items())))
        return "\n".join(lines)

    def inspection(self) -> str:
        """One line per file: rows, columns, the chosen columns, the layout, the frames kept."""
        out = []
        for f, d in self.detected.items():
            who = f", person {d['person']}" if d.get("person") is not None else ""
            lay = f"layout {d['layout']} ({d['joints']} joints x {d['dims']}); {d['frames']} frames{who}"
            if "frames_read" in d:                           # 2D keypoints
                out.append(f"{f}: {d['how']}; {d['frames_read']} frames read, {d['frames_dropped']} dropped, "
                           f"{d['keypoints_interpolated']:.1%} of keypoints interpolated; {lay}")
                continue
            cols = d["chosen"] if len(d["chosen"]) <= 6 else d["chosen"][:3] + ["..."] + d["chosen"][-2:]
            out.append(f"{f}: {d['rows']} rows x {d['columns']} columns"
                       + (f" (header: {d['header']})" if d.get("header") else "")
                       + f", delimiter {d['delimiter']!r}; joints from {d['how']}: {', '.join(map(str, cols))}; {lay}")
        out += [f"{f}: SKIPPED, {why}" for f, why in self.skipped]
        return "\n".join(out)


def read_walk_detected(path: Union[str, Path], layout: Optional[Layout] = None,
                       spec: ColumnSpec = ColumnSpec()) -> tuple[np.ndarray, dict]:
    """Frames [T, J, dims] of one walk file and what was detected in it (rows, columns, the joint
    columns and how they were found, the layout); :class:`DataError` naming the file and line.

    Besides the column choices of :mod:`himpc.data.columns`, a file of **one joint per row** (3
    numbers, or 2, optionally after a joint name: ``Head;0.1;0.2;2.9`` as KGBD files are) holds J rows
    per frame in the layout's joint order."""
    path = Path(path)
    table = read_table(path, spec)
    dims = spec.dims or 3
    first = table.rows[0][1]
    numeric = sum(is_number(c) for c in first)
    if (spec.columns == "auto" and layout is not None and numeric == dims and layout.num_joints > 1
            and (table.header is None or named_header(table.header, layout, spec.dims) is None)):
        j = layout.num_joints
        if len(table.rows) % j:
            raise DataError(f"{path}: {len(table.rows)} joint rows are not a whole number of frames of {j} joints")
        width = len(first)
        choice = Choice(list(range(width - dims, width)), layout, dims, f"one joint per row, the last {dims} cells")
        frames = numeric_cells(table, choice.indices).reshape(-1, j, dims)
    else:
        choice = choose_columns(table, spec, layout)
        frames = frames_from(table, choice)
    info = {"rows": len(table.rows), "columns": len(first), "header": ", ".join(table.header[:6]) + (
                ", ..." if len(table.header) > 6 else "") if table.header else None,
            "delimiter": {None: "whitespace"}.get(table.delimiter, table.delimiter),
            "how": choice.how, "chosen": choice.names or choice.indices, "layout": choice.layout.name,
            "joints": choice.layout.num_joints, "dims": choice.dims, "frames": len(frames)}
    return frames, info | {"layout_object": choice.layout}


def read_walk(path: Union[str, Path], layout: Optional[Layout] = None, spec: ColumnSpec = ColumnSpec()) -> np.ndarray:
    """Frames [T, J, dims] of one walk file (:func:`read_walk_detected`)."""
    return read_walk_detected(path, layout, spec)[0]


FORMATS = ("table", "openpose", "coco17")


def walk_units(folder: Path, glob: str, fmt: str, suffixes: tuple[str, ...]) -> list[Path]:
    """The walks under ``folder``: files (``table``: text with ``suffixes``; ``coco17``: .json), or for
    ``openpose`` the folders that hold .json frame files."""
    if fmt == "openpose":
        dirs = {f.parent for f in folder.glob(glob) if f.is_file() and f.suffix.lower() == ".json"}
        return sorted(dirs)
    want = (".json",) if fmt == "coco17" else suffixes
    return sorted(p for p in folder.glob(glob) if p.is_file() and p.suffix.lower() in want)


def import_folder(folder: Union[str, Path], pattern: str, layout: Optional[Layout] = None, glob: str = "**/*",
                  suffixes: tuple[str, ...] = (".txt", ".csv", ".tsv", ".dat"), min_frames: int = 26,
                  strict: bool = False, progress: bool = True, spec: ColumnSpec = ColumnSpec(),
                  fmt: str = "table", keypoints: KeypointOptions = KeypointOptions()
                  ) -> tuple[Optional[SkeletonSet], ImportReport]:
    """Read every walk under ``folder`` into a :class:`SkeletonSet` (see the module doc).

    ``fmt``: ``table`` (delimited text, columns chosen by ``spec``), ``openpose`` or ``coco17``
    (2D keypoints, :mod:`himpc.data.keypoints`).  Every walk must come out in one layout and
    coordinate count (the first walk read fixes them).  ``strict``: all or nothing, every faulty
    walk named in one :class:`DataError`.  The report's ``detected`` says what each file held."""
    from tqdm.auto import tqdm
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder")
    if fmt not in FORMATS:
        raise DataError(f"unknown --format {fmt!r} ({' | '.join(FORMATS)})")
    try:
        rx = re.compile(pattern)
    except re.error as err:
        raise DataError(f"--pattern {pattern!r} is not a regular expression: {err}") from err
    if "person" not in rx.groupindex:
        raise DataError(f"--pattern {pattern!r} needs a named group 'person', e.g. (?P<person>\\d+)")
    units = walk_units(folder, glob, fmt, suffixes)
    if not units:
        what = "folders of .json frames" if fmt == "openpose" else (
            ".json files" if fmt == "coco17" else f"files with suffix {', '.join(suffixes)}")
        raise DataError(f"{folder}: no {what} matching {glob}")
    report = ImportReport()
    walks, fields = [], {"person": [], "view": [], "condition": [], "name": []}
    fixed: Optional[tuple[Layout, int]] = None
    for f in tqdm(units, desc="import", unit="walk", disable=not progress):
        rel = f.relative_to(folder).as_posix()
        m = rx.search(rel)
        try:
            if m is None:
                raise DataError(f"{rel}: path does not match the pattern {pattern!r}")
            if fmt == "table":
                frames, info = read_walk_detected(f, layout or (fixed[0] if fixed else None), spec)
            else:
                frames, info = read_keypoint_walk(f, fmt, layout, keypoints)
            lay = info.pop("layout_object")
            if fixed is not None and (lay, frames.shape[2]) != fixed:
                raise DataError(f"{rel}: layout {lay.name!r} x {frames.shape[2]} where the walks before it are "
                                f"{fixed[0].name!r} x {fixed[1]}")
            if len(frames) < min_frames:
                raise DataError(f"{rel}: {len(frames)} frames, fewer than min_frames = {min_frames}")
        except DataError as err:
            report.skipped.append((rel, str(err).replace(f"{f}", rel)))
            continue
        fixed = (lay, frames.shape[2])
        walks.append(frames)
        report.read.append(rel)
        g = m.groupdict()
        report.detected[rel] = info | {"person": g["person"]}
        for k in ("person", "view", "condition"):
            fields[k].append(g.get(k))
        fields["name"].append(rel)
    if strict and report.skipped:
        raise DataError(f"{folder}: {len(report.skipped)} of {len(units)} walks could not be read, so nothing is "
                        f"imported (all or nothing):\n" + "\n".join(f"  {f}: {why}" for f, why in report.skipped))
    if not walks:
        raise DataError(f"{folder}: no walk could be read\n" + report.summary())
    persons, counts = np.unique(fields["person"], return_counts=True)
    report.few_walks = {str(p): int(n) for p, n in zip(persons, counts) if n < 3}
    offsets = np.concatenate([[0], np.cumsum([len(w) for w in walks])])
    opt = {k: (np.array(fields[k]) if all(v is not None for v in fields[k]) else None) for k in ("view", "condition")}
    ss = SkeletonSet(positions=np.concatenate(walks), walk_offsets=offsets, person=np.array(fields["person"]),
                     layout=fixed[0], walk_names=np.array(fields["name"]), source=str(folder), **opt)
    return ss, report
