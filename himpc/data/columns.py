"""Delimited text as labs export it: which cells of a row are the joint coordinates.

A lab's export carries more than joints: frame numbers, timestamps, tracking states, measures its
own tool derived, header and comment rows.  This module reads one such file into its header and
data rows (:func:`read_table`) and decides which columns hold the joints, in the layout's joint
order (:func:`choose_columns`), from a :class:`ColumnSpec`:

* ``auto`` (the default): a header whose names are joints and axes (``HipCenter_X``, ``head.x``,
  ``Hip-Left Y``, ``left_knee_y``...; case, ``_ . - space`` ignored) is mapped onto the layout, or,
  without ``--layout``, onto the known layout it covers completely; without such a header, every
  numeric cell of a row is a coordinate (the row must hold J x 3 of them, or J x 2 for 2D);
* index ranges, half-open and 0-based as in Python: ``0:54``, ``2:56,60:63``;
* header names, comma-separated, in layout order: ``Head_X,Head_Y,Head_Z,...``;
* ``re:<regex>``: the header names that match, in file order.

Every fault names the file, the line and the column: ragged rows, non-numeric or empty cells,
NaN or infinite values, a header name that is not there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..layouts import LAYOUTS, Layout
from .skeletons import DataError

AXES = "xyz"
DELIMITERS = {"comma": ",", "semicolon": ";", "tab": "\t", "whitespace": None, ",": ",", ";": ";",
              "\\t": "\t", "\t": "\t", "|": "|"}


@dataclass(frozen=True)
class ColumnSpec:
    """How to find the joint columns (see the module doc); ``dims`` 3 (x, y, z) or 2 (x, y)."""

    columns: str = "auto"
    delimiter: str = "auto"          # auto | comma | semicolon | tab | whitespace | any one character
    comment: str = "#"               # rows starting with it are skipped
    skip_rows: int = 0               # rows skipped at the top before anything else (a title block)
    dims: Optional[int] = None       # None: 3, or what a named header says


@dataclass
class Table:
    """One file's rows: ``header`` (one name per column, or None; a first row of words that does not
    have one per column is skipped as a title) and ``rows`` as (1-based line, cells)."""

    path: Path
    delimiter: Optional[str]
    header: Optional[list[str]]
    rows: list[tuple[int, list[str]]]


@dataclass
class Choice:
    """The chosen columns (file order indices, in layout joint order x [y [z]]) and how they were found."""

    indices: list[int]
    layout: Layout
    dims: int
    how: str
    names: Optional[list[str]] = None


def is_number(tok: str) -> bool:
    try:
        float(tok)
        return True
    except ValueError:
        return False


def sniff_delimiter(lines: Sequence[str]) -> Optional[str]:
    """The delimiter of these lines: the first of ``, ; tab |`` present in every line, else whitespace."""
    for d in (",", ";", "\t", "|"):
        if lines and all(d in line for line in lines):
            return d
    return None


def _split(line: str, delimiter: Optional[str]) -> list[str]:
    return line.split() if delimiter is None else [c.strip() for c in line.split(delimiter)]


def read_table(path: Path, spec: ColumnSpec = ColumnSpec()) -> Table:
    """Header and data rows of a delimited text file (blank and comment rows dropped)."""
    text = Path(path).read_text(encoding="utf-8-sig", errors="replace")
    lines = [(i + 1, line.rstrip("\r\n")) for i, line in enumerate(text.splitlines())][spec.skip_rows:]
    lines = [(n, line) for n, line in lines if line.strip() and not (spec.comment and line.lstrip().startswith(spec.comment))]
    if not lines:
        raise DataError(f"{path}: empty file (no data rows)")
    if spec.delimiter == "auto":
        delim = sniff_delimiter([line for _, line in lines[:20]])
    elif spec.delimiter in DELIMITERS:
        delim = DELIMITERS[spec.delimiter]
    elif len(spec.delimiter) == 1:
        delim = spec.delimiter
    else:
        raise DataError(f"--delimiter {spec.delimiter!r}: use auto, comma, semicolon, tab, whitespace or one character")
    rows = [(n, _split(line, delim)) for n, line in lines]
    header = None
    first = rows[0][1]
    if sum(is_number(c) for c in first) < max(1, len(first) // 2):      # mostly words: a header row
        header, rows = first, rows[1:]
        if not rows:
            raise DataError(f"{path}: a header row and no data rows")
        if len(header) != len(rows[0][1]):       # a title, not column names: its names would be misplaced
            header = None
    return Table(Path(path), delim, header, rows)


def _norm(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _joint_axis_columns(header: Sequence[str], layout: Layout, dims: int) -> Optional[list[int]]:
    """Indices of ``<joint><axis>`` header names (normalised) for every joint and axis, else None."""
    where = {_norm(h): i for i, h in enumerate(header)}
    out = []
    for j in layout.joints:
        for a in AXES[:dims]:
            i = where.get(_norm(j) + a)
            if i is None:
                i = where.get(_norm(j) + "pos" + a)           # Head_PosX
            if i is None:
                return None
            out.append(i)
    return out


def named_header(header: Sequence[str], layout: Optional[Layout], dims: Optional[int]) -> Optional[Choice]:
    """The joint columns a named header gives for ``layout`` (or the largest known layout it covers)."""
    candidates = [layout] if layout is not None else sorted(LAYOUTS.values(), key=lambda x: -x.num_joints)
    for lay in candidates:
        for d in ([dims] if dims else [3, 2]):
            idx = _joint_axis_columns(header, lay, d)
            if idx is not None:
                return Choice(idx, lay, d, f"named header mapped to layout {lay.name!r}", [header[i] for i in idx])
    return None


def _ranges(text: str, width: int, path: Path) -> list[int]:
    out = []
    for part in text.split(","):
        a, sep, b = part.strip().partition(":")
        try:
            lo = int(a) if a else 0
            hi = (int(b) if b else width) if sep else lo + 1
        except ValueError:
            raise DataError(f"--columns {text!r}: {part!r} is not a range like 0:54 or an index") from None
        if not 0 <= lo < hi <= width:
            raise DataError(f"{path}: --columns {part.strip()!r} is outside the file's {width} columns (0:{width})")
        out.extend(range(lo, hi))
    return out


def choose_columns(table: Table, spec: ColumnSpec, layout: Optional[Layout]) -> Choice:
    """Which columns of ``table`` are the joints (see the module doc); :class:`DataError` naming the file."""
    path, header, width = table.path, table.header, len(table.rows[0][1])
    cols = spec.columns.strip()
    if cols == "auto":
        if header is not None:
            got = named_header(header, layout, spec.dims)
            if got is not None:
                return got
        if layout is None:
            raise DataError(f"{path}: no header names joints of a known layout; give --layout (or --layout-spec) "
                            "and, if the rows hold more than the joints, --columns")
        dims = spec.dims or 3
        numeric = [i for i, c in enumerate(table.rows[0][1]) if is_number(c)]
        need = layout.num_joints * dims
        if len(numeric) != need:
            names = f" (header: {', '.join(header[:8])}{', ...' if len(header) > 8 else ''})" if header else ""
            raise DataError(f"{path}, line {table.rows[0][0]}: {len(numeric)} numeric columns; layout "
                            f"{layout.name!r} needs {need} ({layout.num_joints} joints x {dims}). Say which "
                            f"columns hold the joints with --columns (e.g. 0:{need}, names, or re:<regex>){names}")
        return Choice(numeric, layout, dims, f"all {need} numeric columns")
    if layout is None:
        raise DataError("--columns needs --layout or --layout-spec (the joints the columns hold, in order)")
    dims = spec.dims or 3
    if cols.startswith("re:"):
        if header is None:
            raise DataError(f"{path}: --columns {cols!r} selects header names but the file has no header row")
        try:
            rx = re.compile(cols[3:])
        except re.error as err:
            raise DataError(f"--columns {cols!r}: not a regular expression: {err}") from None
        idx, how = [i for i, h in enumerate(header) if rx.search(h)], f"header names matching {cols[3:]!r}"
    elif re.fullmatch(r"[\d:,\s]+", cols):
        idx, how = _ranges(cols, width, path), f"columns {cols}"
    else:
        if header is None:
            raise DataError(f"{path}: --columns names header columns but the file has no header row")
        where = {h: i for i, h in enumerate(header)}
        names = [c.strip() for c in cols.split(",")]
        missing = [n for n in names if n not in where]
        if missing:
            raise DataError(f"{path}: header has no column {missing[0]!r} (it has: {', '.join(header)})")
        idx, how = [where[n] for n in names], "named columns"
    need = layout.num_joints * dims
    if len(idx) != need:
        raise DataError(f"{path}: --columns {cols!r} selects {len(idx)} columns; layout {layout.name!r} needs "
                        f"{need} ({layout.num_joints} joints x {dims})")
    return Choice(idx, layout, dims, how, [header[i] for i in idx] if header else None)


def _column(table: Table, i: int) -> str:
    return f"column {i}" + (f" ({table.header[i]!r})" if table.header else "")


def frames_from(table: Table, choice: Choice) -> np.ndarray:
    """Frames [T, J, dims] of the chosen columns; every ragged row, bad cell or NaN named by line."""
    out = numeric_cells(table, choice.indices)
    return out.reshape(len(table.rows), choice.layout.num_joints, choice.dims)


def numeric_cells(table: Table, indices: Sequence[int]) -> np.ndarray:
    """float32 [rows, len(indices)] of those columns; every ragged row, bad cell or NaN named by line."""
    width = len(table.header) if table.header is not None else len(table.rows[0][1])
    what = "the header has" if table.header is not None else "the first row has"
    for line, cells in table.rows:
        if len(cells) != width:
            raise DataError(f"{table.path}, line {line}: {len(cells)} cells where {what} {width} (a ragged row)")
    cells = np.asarray([row for _, row in table.rows], dtype=object)[:, list(indices)].astype(str)
    try:
        out = cells.astype(np.float64)                       # one C-level conversion of every cell
    except ValueError:                                       # find the first bad cell to name it
        bad = next((r, k) for r in range(len(cells)) for k in range(cells.shape[1]) if not is_number(cells[r, k]))
        c = str(cells[bad])
        raise DataError(f"{table.path}, line {table.rows[bad[0]][0]}, {_column(table, indices[bad[1]])}: "
                        + ("empty cell" if not c else f"{c!r} is not a number")) from None
    finite = np.isfinite(out)
    if not finite.all():
        r, k = np.argwhere(~finite)[0]
        raise DataError(f"{table.path}, line {table.rows[r][0]}, {_column(table, indices[k])}: "
                        f"{cells[r, k]} (NaN or infinite coordinate)")
    return out.astype(np.float32)
