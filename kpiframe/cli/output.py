"""Rendering results for people (boxed tables, cli/text_table.py) and for machines (CSV, JSON, Markdown)."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import shutil
import sys
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from kpiframe.engine import QueryResult
from kpiframe.errors import KpiframeError

if TYPE_CHECKING:
    from kpiframe.load.loaded import LoadedProject
    from kpiframe.sql.coverage import PeriodCoverage

FORMATS = ("table", "csv", "json", "markdown")
UNWRAPPED = 100_000  # piped tables keep one line per row, however wide: tools read them line by line

# A metric's `format:`, spreadsheet style: literal text, then #,##0 with optional .00 decimals, then literal
# text (a % there shows the value times 100), e.g. "#,##0", "#,##0.00", "0.0%", "€#,##0", '#,##0 "EUR"'
_PATTERN = re.compile(r"^(?P<prefix>[^#0.,%]*)(?P<whole>[#0,]*0|#[#,]*)(?:\.(?P<decimals>[0#]+))?(?P<suffix>[^#0.,]*)$")


def render(
    result: QueryResult,
    fmt: str,
    title: str | None = None,
    units: dict[str, str] | None = None,
    formats: dict[str, str] | None = None,
) -> str:
    """Machines get raw values (csv, json); people get values shown in their unit or format (table,
    markdown). `formats` maps a column to its metric's `format:` (see metric_formats)."""
    if fmt == "csv":
        return _csv(result)
    if fmt == "json":
        return json.dumps([{k: _plain(v) for k, v in row.items()} for row in result.as_dicts()], indent=2)
    shown = _Shown(units or {}, formats or {}, result)
    if fmt == "markdown":
        return _markdown(result, shown)
    return _table(result, title, shown)


def render_query(
    result: QueryResult,
    fmt: str,
    coverage: Mapping[date, PeriodCoverage],
    units: dict[str, str] | None = None,
    formats: dict[str, str] | None = None,
) -> str:
    """A metric query's rows, saying which periods have not ended on the last day with data (`coverage`,
    by period start). Machines get a last column `period_complete` (true, false, or empty/null when there
    is no data to tell); people get a * on such a period and a footnote line with its days of data."""
    if result.columns[:1] != ["period_start"]:  # a query over all time (--grain all): no period to flag
        return render(result, fmt, units=units, formats=formats)
    if fmt in ("csv", "json"):
        flagged = [(*row, _complete(coverage, row[0])) for row in result.rows]
        return render(QueryResult([*result.columns, "period_complete"], flagged), fmt)
    star = "\\*" if fmt == "markdown" else "*"  # a bare * starts a list item or an emphasis in Markdown
    open_periods = sorted({row[0] for row in result.rows if _complete(coverage, row[0]) is False})
    marked = [(f"{row[0]} {star}" if row[0] in open_periods else row[0], *row[1:]) for row in result.rows]
    text = render(QueryResult(result.columns, marked), fmt, units=units, formats=formats)
    notes = [f"{star} {in_progress(coverage[start])}" for start in open_periods]
    if not notes:
        return text
    return "\n".join([text, *([""] if fmt == "markdown" else []), *notes])  # a table ends at a blank line


def rounded(result: QueryResult, decimals: int) -> QueryResult:
    """The rows with every float and Decimal rounded to `decimals` places (MetricFlow's --decimals)."""

    def cell(value: Any) -> Any:
        if isinstance(value, float) and math.isfinite(value):
            return round(value, decimals)
        if isinstance(value, Decimal) and value.is_finite():
            return round(value, decimals)
        return value

    return QueryResult(result.columns, [tuple(cell(v) for v in row) for row in result.rows])


def in_progress(period: PeriodCoverage) -> str:
    """'2026-10-01 in progress: 51 of 92 days of data (to 2026-11-20)'."""
    if period.days_with_data == 0:
        return f"{period.start} has no data yet (data to {period.data_through})"
    return (
        f"{period.start} in progress: {period.days_with_data} of {period.days} days of data (to {period.data_through})"
    )


def _complete(coverage: Mapping[date, PeriodCoverage], start: Any) -> bool | None:
    period = coverage.get(start)
    return None if period is None else period.complete


def metric_formats(graph: LoadedProject) -> dict[str, str]:
    """Each metric's `format:`, also for its comparison columns; a pattern kpiframe cannot apply is an
    error rather than silently ignored."""
    found: dict[str, str] = {}
    for name, located in graph.metrics.items():
        pattern = getattr(located.spec, "format", None)
        if not pattern:
            continue
        if not _PATTERN.match(pattern):
            raise KpiframeError(
                f"metric '{name}' has format {pattern!r}, which kpiframe cannot apply",
                code="KF430",
                location=located.location,
                hint='use a pattern like "#,##0", "#,##0.00", "0.0%" or "€#,##0" (text around '
                "#,##0 is kept; % multiplies by 100), or remove format:",
            )
        found[name] = found[f"{name}__previous"] = found[f"{name}__year_ago"] = pattern
    return found


def apply_format(value: float | int | Decimal, pattern: str) -> str:
    """`value` shown as the spreadsheet-style `pattern` (checked by metric_formats)."""
    parts = _PATTERN.match(pattern)
    if parts is None:
        return str(value)
    prefix, suffix = parts["prefix"].replace('"', ""), parts["suffix"].replace('"', "")
    number = float(value) * (100 if "%" in suffix else 1)
    grouping = "," if "," in parts["whole"] else ""
    return f"{prefix}{number:{grouping}.{len(parts['decimals'] or '')}f}{suffix}"


class _Shown:
    """How people see a column: its metric's format, else its unit, with one number of decimals per column
    so that its values line up: four where every value is below 10 (a rate, a share), else two."""

    def __init__(self, units: dict[str, str], formats: dict[str, str], result: QueryResult) -> None:
        self.units, self.formats = units, formats
        self.fine = {column for index, column in enumerate(result.columns) if _small(r[index] for r in result.rows)}

    def __call__(self, column: str, value: Any) -> str:
        pattern = self.formats.get(column)
        if pattern and isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
            return apply_format(value, pattern)
        return _display(value, self.units.get(column), column in self.fine)


def _small(values: Iterable[Any]) -> bool:
    """Whether a column holds floats, every finite one below 10 in size."""
    floats = [v for v in values if isinstance(v, float) and math.isfinite(v)]
    return bool(floats) and all(abs(v) < 10 for v in floats)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def _display(value: Any, unit: str | None = None, fine: bool = False) -> str:
    if value is None:
        return "∅"
    if unit == "percent" and isinstance(value, (int, float, Decimal)):
        return f"{float(value) * 100:.2f} %"
    if isinstance(value, float):
        return f"{value:,.4f}" if fine and unit != "currency" else f"{value:,.2f}"
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(_plain(value))


def _csv(result: QueryResult) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow(["" if v is None else _plain(v) for v in row])
    return buffer.getvalue().rstrip("\n")


def _markdown(result: QueryResult, shown: _Shown) -> str:
    lines = ["| " + " | ".join(_cell(c) for c in result.columns) + " |", "|" + "---|" * len(result.columns)]
    lines += [
        "| " + " | ".join(_cell(shown(c, v)) for c, v in zip(result.columns, row, strict=True)) + " |"
        for row in result.rows
    ]
    return "\n".join(lines)


def _cell(text: str) -> str:
    """A Markdown table cell holding `text` as one cell of one row: a `|` is written \\| (backslashes just
    before it doubled, so that they stay text) and a line break <br>."""
    piped = re.sub(r"(\\*)\|", lambda m: m.group(1) * 2 + "\\|", text)
    return re.sub(r"\r\n|\r|\n", "<br>", piped)


def _width() -> int:
    """COLUMNS when set; else the terminal's width; else (piped) no wrapping at all."""
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return UNWRAPPED


def _table(result: QueryResult, title: str | None, shown: _Shown) -> str:
    from kpiframe.cli.text_table import boxed

    right = [
        any(isinstance(r[index], (int, float, Decimal)) and not isinstance(r[index], bool) for r in result.rows)
        for index in range(len(result.columns))
    ]
    rows = [[shown(c, v) for c, v in zip(result.columns, row, strict=True)] for row in result.rows]
    return boxed(result.columns, rows, right, title, _width())
