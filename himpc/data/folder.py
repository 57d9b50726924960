"""Import a folder of per-walk text files (the files a lab has) into the generic ``.npz`` format.

One file per walk, CSV / semicolon / whitespace separated, in one of two shapes (detected per file
from its column count):

* **one frame per row**: J x 3 numbers (x1 y1 z1 x2 y2 z2 ...), J the layout's joint count;
* **one joint per row**: 3 numbers, optionally after a joint name (``Head;0.1;0.2;2.9``, as KGBD
  files are), J rows per frame in the layout's joint order.

A first line that is not numeric is taken as a header and skipped.  The person (required),
view and condition of each walk come from its path (relative to the folder, ``/``-separated)
through a regular expression with named groups, e.g.
``sub(?P<person>\\d+)/Run(?P<condition>\\d+)``.

Nothing is mixed in silently: a file whose path does not match, that is empty, whose rows have
the wrong column count, that holds a non-finite value, or that is shorter than ``min_frames`` is
skipped, with the file (and line) and the reason in the returned report (``strict=True`` refuses
instead).  Persons with fewer walks than the walk-split protocol needs are named in the report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import numpy as np

from ..layouts import Layout
from .skeletons import DataError, SkeletonSet

_SPLIT = re.compile(r"[,;\s]+")


@dataclass
class ImportReport:
    """What :func:`import_folder` read and what it skipped (file, reason)."""

    read: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    few_walks: dict[str, int] = field(default_factory=dict)      # person -> walks, below the protocol's need

    def summary(self) -> str:
        lines = [f"read {len(self.read)} walk file(s), skipped {len(self.skipped)}"]
        lines += [f"  skipped {f}: {why}" for f, why in self.skipped]
        if self.few_walks:
            lines.append("persons with fewer than 3 walks (the walk-split protocol needs 1 probe + 2 gallery "
                         "walks; use a by-field protocol or drop them): "
                         + ", ".join(f"{p} ({n})" for p, n in sorted(self.few_walks.items())))
        return "\n".join(lines)


def _rows(path: Path) -> list[tuple[int, list[str]]]:
    text = path.read_text(encoding="utf-8", errors="replace")
    return [(i + 1, [t for t in _SPLIT.split(line.strip()) if t]) for i, line in enumerate(text.splitlines())
            if line.strip()]


def _number(tok: str) -> bool:
    try:
        float(tok)
        return True
    except ValueError:
        return False


def read_walk(path: Union[str, Path], layout: Layout) -> np.ndarray:
    """Frames [T, J, 3] of one walk file; raises :class:`DataError` naming the file and line."""
    path = Path(path)
    rows = _rows(path)
    if rows and not all(_number(t) for t in rows[0][1][-3:]):
        rows = rows[1:]                                   # a header line
    if not rows:
        raise DataError(f"{path}: empty file")
    j = layout.num_joints
    counts = [(line, toks, sum(_number(t) for t in toks)) for line, toks in rows]
    first = counts[0][2]
    if first not in (3, j * 3):
        raise DataError(f"{path}, line {counts[0][0]}: {first} numeric columns; layout {layout.name!r} needs "
                        f"{j * 3} (one frame per row) or 3 (one joint per row)")
    for line, _, c in counts:
        if c != first:
            raise DataError(f"{path}, line {line}: {c} numeric columns where the file's rows have {first}")
    if first == j * 3:                                    # one frame per row
        frames = np.asarray([[float(t) for t in toks if _number(t)] for _, toks, _ in counts]).reshape(-1, j, 3)
    else:                                                 # one joint per row, maybe after a name
        if len(rows) % j:
            raise DataError(f"{path}: {len(rows)} joint rows are not a whole number of frames of {j} joints")
        frames = np.asarray([[float(t) for t in toks[-3:]] for _, toks, _ in counts]).reshape(-1, j, 3)
    bad = ~np.isfinite(frames).all(axis=(1, 2))
    if bad.any():
        raise DataError(f"{path}: frame {int(np.flatnonzero(bad)[0])} holds a non-finite coordinate")
    return frames.astype(np.float32)


def import_folder(folder: Union[str, Path], pattern: str, layout: Layout, glob: str = "**/*",
                  suffixes: tuple[str, ...] = (".txt", ".csv", ".tsv", ".dat"), min_frames: int = 26,
                  strict: bool = False, progress: bool = True) -> tuple[SkeletonSet, ImportReport]:
    """Read every walk file under ``folder`` into a :class:`SkeletonSet` (see the module doc)."""
    from tqdm.auto import tqdm
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder")
    try:
        rx = re.compile(pattern)
    except re.error as err:
        raise DataError(f"--pattern {pattern!r} is not a regular expression: {err}") from err
    if "person" not in rx.groupindex:
        raise DataError(f"--pattern {pattern!r} needs a named group 'person', e.g. (?P<person>\\d+)")
    files = sorted(p for p in folder.glob(glob) if p.is_file() and p.suffix.lower() in suffixes)
    if not files:
        raise DataError(f"{folder}: no files matching {glob} with suffix {', '.join(suffixes)}")
    report = ImportReport()
    walks, fields = [], {"person": [], "view": [], "condition": [], "name": []}
    for f in tqdm(files, desc="import", unit="file", disable=not progress):
        rel = f.relative_to(folder).as_posix()
        m = rx.search(rel)
        try:
            if m is None:
                raise DataError(f"{rel}: path does not match the pattern {pattern!r}")
            frames = read_walk(f, layout)
            if len(frames) < min_frames:
                raise DataError(f"{rel}: {len(frames)} frames, fewer than min_frames = {min_frames}")
        except DataError as err:
            if strict:
                raise
            report.skipped.append((rel, str(err).replace(f"{f}", rel)))
            continue
        walks.append(frames)
        report.read.append(rel)
        g = m.groupdict()
        for k in ("person", "view", "condition"):
            fields[k].append(g.get(k))
        fields["name"].append(rel)
    if not walks:
        raise DataError(f"{folder}: no walk could be read\n" + report.summary())
    persons, counts = np.unique(fields["person"], return_counts=True)
    report.few_walks = {str(p): int(n) for p, n in zip(persons, counts) if n < 3}
    offsets = np.concatenate([[0], np.cumsum([len(w) for w in walks])])
    opt = {k: (np.array(fields[k]) if all(v is not None for v in fields[k]) else None) for k in ("view", "condition")}
    ss = SkeletonSet(positions=np.concatenate(walks), walk_offsets=offsets, person=np.array(fields["person"]),
                     layout=layout, walk_names=np.array(fields["name"]), source=str(folder), **opt)
    return ss, report
