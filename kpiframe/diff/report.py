"""The diff report for tools (JSON) and for people (blocks of text and tables, shown in a terminal or Markdown)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from kpiframe.diff.model import ColumnChange, DiffReport, EntityPeriod, FieldChange, ObjectChange, PeriodValue, Series
from kpiframe.engine import QueryResult
from kpiframe.load.names import NodeKey

MARKER = "<!-- kpiframe-diff -->"  # lets a CI job find and update its earlier comment
STATUS_MARK = {"added": "+", "removed": "-", "changed": "~", "affected": "!"}
MAX_LISTED = 12


# --- JSON -----------------------------------------------------------------------------------------------
def to_json(report: DiffReport) -> dict[str, Any]:
    return {
        "base": vars(report.base),
        "head": vars(report.head),
        "grain": report.grain,
        "periods": report.periods,
        "breaking": bool(report.breaking),
        "summary": summary(report),
        "notes": report.notes,
        "changes": [_change_json(c, report) for c in report.changes],
        "series": {name: _series_json(s) for name, s in report.series.items()},
    }


def summary(report: DiffReport) -> dict[str, int]:
    counts = {
        status: sum(c.status == status for c in report.changes)
        for status in ("added", "removed", "changed", "affected")
    }
    return {**counts, "breaking": len(report.breaking)}


def _change_json(change: ObjectChange, report: DiffReport) -> dict[str, Any]:
    return {
        "kind": change.kind,
        "name": change.name,
        "status": change.status,
        "path": change.path,
        "breaking": change.breaking,
        "meaning_changed": change.meaning_changed,
        "reasons": change.reasons,
        "fields": [vars(f) for f in change.fields],
        "sql": change.sql,
        "columns": [vars(c) for c in change.columns],
        "generated": change.generated,
        "downstream": change.downstream,
        "tables": change.tables,
        "values": {
            name: [_period_json(p) for p in report.series[name].periods]
            for name in change.series
            if name in report.series
        },
    }


def _series_json(series: Series) -> dict[str, Any]:
    return {
        "kind": series.kind,
        "old_label": series.old_label,
        "new_label": series.new_label,
        "unit": series.unit,
        "entity": series.entity,
        "error": series.error,
        "periods": [_period_json(p) for p in series.periods],
    }


def _period_json(period: PeriodValue) -> dict[str, Any]:
    found: dict[str, Any] = {
        "period": period.period,
        "old": period.old,
        "new": period.new,
        "delta": period.delta,
        "delta_pct": period.delta_pct,
    }
    if isinstance(period, EntityPeriod):
        found.update(
            left=period.left,
            entered=period.entered,
            left_examples=period.left_examples,
            entered_examples=period.entered_examples,
        )
    return found


# --- blocks for people ----------------------------------------------------------------------------------
@dataclass
class Block:
    """A heading (level 2 or 3), a paragraph, a bullet list, or a table; text may use **bold** and `code`."""

    kind: str  # heading | text | bullets | table
    text: str = ""
    level: int = 3
    items: list[str] = field(default_factory=list)
    table: QueryResult | None = None
    collapsed: bool = False  # a long table: folded away in a PR comment


def blocks(report: DiffReport) -> list[Block]:
    found = [
        Block("heading", f"kpiframe diff: {report.base.label} → {report.head.label}", level=2),
        Block("text", _headline(report)),
    ]
    found += [Block("text", f"_{note}_") for note in report.notes]
    if not report.changes:
        return [*found, Block("text", "No definition changes.")]
    found.append(Block("table", table=_overview(report)))
    for change in report.changes:
        found += _change_blocks(change, report)
    found += _impact_blocks(report)
    return found


def _headline(report: DiffReport) -> str:
    counts = summary(report)
    parts = [f"{counts[s]} {s}" for s in ("changed", "added", "removed") if counts[s]]
    head = f"**{counts['breaking']} breaking**" if counts["breaking"] else "**nothing breaking**"
    return " · ".join([head, *parts]) + f" · grain {report.grain}, last {report.periods} periods"


def _overview(report: DiffReport) -> QueryResult:
    rows = [
        (STATUS_MARK[c.status], c.kind, c.name, c.status, "yes" if c.breaking else "no", _listed(c.tables) or "-")
        for c in report.changes
    ]
    return QueryResult(["", "kind", "name", "status", "breaking", "published tables downstream"], rows)


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_LISTED])
    return shown + (f" … (+{len(names) - MAX_LISTED})" if len(names) > MAX_LISTED else "")


def _change_blocks(change: ObjectChange, report: DiffReport) -> list[Block]:
    verdict = "**breaking**" if change.breaking else "not breaking"
    where = f" ({change.path})" if change.path else ""
    items = [_field(f) for f in change.fields]
    items += [f"SQL: {line}" for line in change.sql]
    items += [_column(c) for c in change.columns]
    items += [f"generates {line}" for line in change.generated]
    items += [f"{'why' if change.breaking else 'why not'}: {reason}" for reason in change.reasons]
    downstream = [f"{key.kind} {key.name}" for key in map(NodeKey.parse, change.downstream)]
    if downstream:
        items.append(f"downstream: {_listed(downstream)}")
    if change.series:
        items.append(f"value impact: {', '.join(change.series)}")
    return [
        Block(
            "heading", f"{STATUS_MARK[change.status]} {change.kind} `{change.name}` {change.status}{where}: {verdict}"
        ),
        Block("bullets", items=items),
    ]


def _field(change: FieldChange) -> str:
    old, new = change.old, change.new
    if isinstance(old, list) and isinstance(new, list) and all(isinstance(v, str) for v in [*old, *new]):
        removed, added = [v for v in old if v not in new], [v for v in new if v not in old]
        if removed or added:  # a list of names: say which left and which came
            parts = ([f"removed {', '.join(f'`{v}`' for v in removed)}"] if removed else []) + (
                [f"added {', '.join(f'`{v}`' for v in added)}"] if added else []
            )
            return f"`{change.path}`: {'; '.join(parts)}"
    return f"`{change.path}`: {_value(old)} → {_value(new)}"


def _column(change: ColumnChange) -> str:
    if change.change == "retyped":
        return f"column `{change.column}` retyped: {change.old_type} → {change.new_type}"
    kind = change.old_type or change.new_type
    return f"column `{change.column}` {change.change}" + (f" ({kind})" if kind else "")


def _value(value: Any) -> str:
    if value is None:
        return "∅"
    if isinstance(value, dict):  # an item added or removed: its fields that are set
        value = {k: v for k, v in value.items() if v not in (None, [], {})}
    text = json.dumps(value, ensure_ascii=False, default=str) if isinstance(value, (dict, list)) else str(value)
    return f"`{text}`" if len(text) <= 120 else f"`{text[:119]}…`"


def _impact_blocks(report: DiffReport) -> list[Block]:
    metrics = [s for s in report.series.values() if s.kind == "metric"]
    definitions = [s for s in report.series.values() if s.kind == "definition"]
    found: list[Block] = []
    if metrics:
        found.append(Block("heading", f"Value impact: {report.base.label} → {report.head.label}"))
        rows = [
            (
                s.name,
                period_label(p.period, report.grain),
                _number(p.old, s.unit),
                _number(p.new, s.unit),
                _number(p.delta, s.unit, delta=True),
                _percent(p.delta_pct),
            )
            for s in metrics
            for p in s.periods
        ]
        found.append(
            Block(
                "table",
                text=f"values of {len(metrics)} metrics",
                collapsed=len(rows) > 30,
                table=QueryResult(["metric", "period", "base", "head", "Δ", "Δ %"], rows),
            )
        )
        errors = [f"`{s.name}`: {s.error}" for s in metrics if s.error]
        if errors:
            found.append(Block("bullets", items=[f"could not compute {e}" for e in errors]))
    for series in definitions:
        found.append(Block("heading", f"Who qualifies: {series.name}"))
        items = [_entity_line(series, p, report.grain) for p in series.periods if isinstance(p, EntityPeriod)]
        found.append(Block("bullets", items=items or [f"could not compute: {series.error}"]))
    return found


def period_label(period: str, grain: str) -> str:
    """2026-07-01 as people name it at the grain: 2026-07, 2026-Q3, 2026 (other grains: the start date)."""
    try:
        start = date.fromisoformat(period)
    except ValueError:
        return period
    if grain == "month":
        return f"{start:%Y-%m}"
    if grain == "quarter":
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    return str(start.year) if grain == "year" else period


def _entity_line(series: Series, period: EntityPeriod, grain: str) -> str:
    entity = series.entity or "entity"
    plural = "entities" if entity == "entity" else f"{entity}s"
    change = f" ({_percent(period.delta_pct)})" if period.delta_pct is not None else ""
    leave = f"1 {entity} leaves" if period.left == 1 else f"{period.left:,} {plural} leave"
    enter = "1 enters" if period.entered == 1 else f"{period.entered:,} enter"
    line = (
        f"{series.name}, {period_label(period.period, grain)}: {_number(period.old)} → "
        f"{_number(period.new)}{change}: {leave}, {enter}"
    )
    examples = []
    if period.left_examples:
        examples.append("leaving " + ", ".join(f"`{e}`" for e in period.left_examples))
    if period.entered_examples:
        examples.append("entering " + ", ".join(f"`{e}`" for e in period.entered_examples))
    return line + (f" (e.g. {'; '.join(examples)})" if examples else "")


def _number(value: float | None, unit: str | None = None, delta: bool = False) -> str:
    if value is None:
        return "∅"
    sign = "+" if delta and value > 0 else ""
    if unit == "percent":
        return f"{sign}{value * 100:,.2f} {'pts' if delta else '%'}".replace("-", "−")
    if isinstance(value, int) or (float(value).is_integer() and unit in (None, "count")):
        return f"{sign}{value:,.0f}".replace("-", "−")
    return f"{sign}{value:,.2f}".replace("-", "−")


def _percent(value: float | None) -> str:
    return "∅" if value is None else f"{value * 100:+.1f} %".replace("-", "−")
