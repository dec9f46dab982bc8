"""Rendering results for people (rich tables) and for machines (CSV, JSON, Markdown)."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from kpiframe.engine import QueryResult

FORMATS = ("table", "csv", "json", "markdown")


def render(result: QueryResult, fmt: str, title: str | None = None, units: dict[str, str] | None = None) -> str:
    """Machines get raw values (csv, json); people get values shown in their unit (table, markdown)."""
    if fmt == "csv":
        return _csv(result)
    if fmt == "json":
        return json.dumps([{k: _plain(v) for k, v in row.items()} for row in result.as_dicts()], indent=2)
    if fmt == "markdown":
        return _markdown(result, units or {})
    return _table(result, title, units or {})


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def _display(value: Any, unit: str | None = None) -> str:
    if value is None:
        return "∅"
    if unit == "percent" and isinstance(value, (int, float, Decimal)):
        return f"{float(value) * 100:.2f} %"
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 10 else f"{value:,.2f}"
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


def _markdown(result: QueryResult, units: dict[str, str]) -> str:
    lines = ["| " + " | ".join(result.columns) + " |", "|" + "---|" * len(result.columns)]
    lines += ["| " + " | ".join(_display(v, units.get(c)) for c, v in zip(result.columns, row, strict=True)) + " |"
              for row in result.rows]
    return "\n".join(lines)


def _table(result: QueryResult, title: str | None, units: dict[str, str]) -> str:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for index, column in enumerate(result.columns):
        numeric = any(isinstance(r[index], (int, float, Decimal)) and not isinstance(r[index], bool)
                      for r in result.rows)
        table.add_column(column, justify="right" if numeric else "left")
    for row in result.rows:
        table.add_row(*[_display(v, units.get(c)) for c, v in zip(result.columns, row, strict=True)])
    console = Console(record=True, width=200)
    with console.capture() as capture:
        console.print(table)
    return capture.get().rstrip()
