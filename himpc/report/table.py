"""The book's table type and the formatting of its cells and sentences."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence


@dataclass
class Table:
    """A table for the book: rendered as an HTML ``<table>`` in notebooks and the built site
    (``_repr_html_``), as Markdown for text (:meth:`to_markdown`)."""

    header: list[str]
    rows: list[list[str]]
    caption: str = ""
    note: str = ""                     # one sentence above the table (e.g. "quoted from the paper")

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in self.header)
        body = "".join("<tr>" + "".join(_td(c) for c in r) + "</tr>" for r in self.rows)
        cap = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        note = f"<p><em>{html.escape(self.note)}</em></p>" if self.note else ""
        return f'{note}<table class="himpc-table">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'

    def to_markdown(self) -> str:
        lines = ([f"_{self.note}_", ""] if self.note else []) + [
            "| " + " | ".join(map(str, self.header)) + " |", "|" + "---|" * len(self.header)]
        return "\n".join(lines + ["| " + " | ".join(map(str, r)) + " |" for r in self.rows])


_NUMBER = re.compile(r"^[-+−]?[0-9.,]+%?( ± [0-9.]+)?$|^—$")


def _td(cell: Any) -> str:
    """A table cell.  A number (``52.1 ± 1.8``, ``—``) is right-aligned (class ``num``) and breaks, in a
    narrow column, only before its ``±`` (never inside ``52.1`` or ``± 1.8``)."""
    text = str(cell)
    if not _NUMBER.match(text):
        return f"<td>{html.escape(text)}</td>"
    parts = text.split(" ± ")
    inner = " ".join(f'<span class="nw">{html.escape(p)}</span>' for p in [parts[0]] + [f"± {x}" for x in parts[1:]])
    return f'<td class="num">{inner}</td>'


def fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, Mapping):
        return f"{v['mean']:.1f} ± {v['std']:.1f}" if v.get("std") else f"{v['mean']:.1f}"
    return f"{v:.1f}"


def bullets(lines: Sequence[str]) -> str:
    """A markdown list of ``lines``; a line opening with a list marker (Table 6's "+ DPC") is escaped."""
    return "\n".join("- " + (re.sub(r"^([+*-]) ", r"\\\1 ", line)) for line in lines)
