"""A boxed table for the terminal: a bold header grid over light rows, one line per row.

Written here rather than drawn by rich: importing rich and laying out its table were ~25 ms of every
`kpiframe query`, a tenth of a first answer. Text is shown as it is (no markup), and a table wider than
the terminal shrinks its widest columns, ending cut values with '…'.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

ELLIPSIS = "…"
SHORT = 12  # cells of a date with its in-progress mark ("2026-10-01 *"), a short code or label
NARROW = 8  # what longer text keeps before numbers and dates give way


def cell_width(text: str) -> int:
    """Terminal cells `text` takes: wide East Asian characters two, combining marks none."""
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text
    )


def boxed(
    header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool], title: str | None, width: int
) -> str:
    """The table fitted into `width` cells; `right`: which columns align right (numbers)."""
    header = [one_line(h) for h in header]
    rows = [[one_line(c) for c in row] for row in rows]
    values = [max([0] + [cell_width(r[i]) for r in rows]) for i in range(len(header))]
    widths = [max(cell_width(h), v) for h, v in zip(header, values, strict=True)]
    # numbers, dates and short labels keep their values whole as long as longer text can give way
    floors = [v if r or v <= SHORT else min(v, NARROW) for v, r in zip(values, right, strict=True)]
    widths = _fitted(_fitted(widths, floors, width), [1] * len(widths), width)
    lines = [] if title is None else [_centred(title, sum(widths) + 3 * len(widths) + 1)]
    lines.append("┏" + "┳".join("━" * (w + 2) for w in widths) + "┓")
    lines.append(_line(header, widths, right, "┃"))
    lines.append("┡" + "╇".join("━" * (w + 2) for w in widths) + "┩")
    lines += [_line(row, widths, right, "│") for row in rows]
    lines.append("└" + "┴".join("─" * (w + 2) for w in widths) + "┘")
    return "\n".join(lines)


def _fitted(widths: list[int], floors: list[int], width: int) -> list[int]:
    """Narrow the widest column above its floor, one cell at a time, until the table fits `width`."""
    fitted = list(widths)
    while sum(fitted) + 3 * len(fitted) + 1 > width:
        above = [i for i, (w, f) in enumerate(zip(fitted, floors, strict=True)) if w > f]
        if not above:
            break
        fitted[max(above, key=lambda i: fitted[i])] -= 1
    return fitted


def one_line(text: str) -> str:
    """A cell as one line of plain text: line breaks and tabs become spaces, other control characters
    (an escape sequence in a CRM export would recolour or clear the terminal) '\ufffd'."""
    return "".join(" " if ch in "\r\n\t" else "\ufffd" if unicodedata.category(ch) == "Cc" else ch for ch in text)


def _line(cells: Sequence[str], widths: list[int], right: Sequence[bool], bar: str) -> str:
    shown = [_padded(_cut(c, w), w, r) for c, w, r in zip(cells, widths, right, strict=True)]
    return f"{bar} " + f" {bar} ".join(shown) + f" {bar}"


def _cut(text: str, width: int) -> str:
    if cell_width(text) <= width:
        return text
    kept = ""
    for ch in text:
        if cell_width(kept + ch) > width - 1:
            break
        kept += ch
    return kept + ELLIPSIS


def _padded(text: str, width: int, right: bool) -> str:
    gap = " " * (width - cell_width(text))
    return gap + text if right else text + gap


def _centred(text: str, width: int) -> str:
    gap = max(width - cell_width(text), 0)
    return " " * (gap // 2) + text
