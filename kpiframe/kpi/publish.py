"""Status and explanations as warehouse tables for BI tools: `metrics.kpi_status`, `metrics.kpi_explain`.

Each run replaces its own snapshot (the rows of the same tree, scenario and as-of day; or of the same
metric, period and comparison) and keeps the others, so a dashboard can show how projections moved.
Statements are sqlglot trees, run in one transaction through the warehouse adapter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlglot import exp

from kpiframe.build.runs import ensure_table
from kpiframe.engine import Warehouse

STATUS_COLUMNS = {
    "tree": "VARCHAR",
    "node": "VARCHAR",
    "role": "VARCHAR",
    "ksf": "VARCHAR",
    "metric": "VARCHAR",
    "dimension": "VARCHAR",
    "period": "VARCHAR",
    "grain": "VARCHAR",
    "actual": "DOUBLE",
    "target": "DOUBLE",
    "attainment": "DOUBLE",
    "gap": "DOUBLE",
    "projection": "DOUBLE",
    "projected_attainment": "DOUBLE",
    "status": "VARCHAR",
    "owner": "VARCHAR",
    "direction": "VARCHAR",
    "cadence": "VARCHAR",
    "benchmark": "VARCHAR",
    "scenario": "VARCHAR",
    "target_source": "VARCHAR",
    "as_of": "DATE",
}
STATUS_KEY = ("tree", "scenario", "as_of")
EXPLAIN_COLUMNS = {
    "metric": "VARCHAR",
    "period": "VARCHAR",
    "vs": "VARCHAR",
    "baseline_period": "VARCHAR",
    "driver": "VARCHAR",
    "driver_metric": "VARCHAR",
    "path": "VARCHAR",
    "baseline_value": "DOUBLE",
    "actual_value": "DOUBLE",
    "contribution": "DOUBLE",
    "share": "DOUBLE",
    "total_change": "DOUBLE",
    "method": "VARCHAR",
    "as_of": "DATE",
    # which days were compared (whole periods, like for like, target) and the days each row was read over;
    # a table published by an older kpiframe gains these columns (ensure_table)
    "rule": "VARCHAR",
    "baseline_rule": "VARCHAR",
    "baseline_start": "DATE",
    "baseline_end": "DATE",
    "actual_start": "DATE",
    "actual_end": "DATE",
}
EXPLAIN_KEY = ("metric", "period", "vs")


def publish_rows(
    warehouse: Warehouse,
    schema: str,
    name: str,
    columns: dict[str, str],
    rows: Sequence[dict[str, Any]],
    key: Sequence[str],
) -> int:
    """Create the table if needed, delete the rows of the same snapshot key, insert these rows."""
    table = ensure_table(warehouse, schema, name, columns)
    with warehouse.transaction():
        for snapshot in sorted({tuple(_literal(row[k], columns[k]).sql() for k in key) for row in rows}):
            sample = next(r for r in rows if tuple(_literal(r[k], columns[k]).sql() for k in key) == snapshot)
            condition = exp.and_(*[_equals(k, sample[k], columns[k]) for k in key])
            warehouse.execute(exp.Delete(this=table.copy(), where=exp.Where(this=condition)))
        if rows:
            values = exp.Values(
                expressions=[
                    exp.Tuple(expressions=[_literal(row.get(c), kind) for c, kind in columns.items()]) for row in rows
                ]
            )
            into = exp.Schema(this=table.copy(), expressions=[exp.to_identifier(c, quoted=True) for c in columns])
            warehouse.execute(exp.Insert(this=into, expression=values))
    return len(rows)


def _equals(column: str, value: Any, kind: str) -> exp.Expr:
    target = exp.column(column, quoted=True)
    if value is None:
        return exp.Is(this=target, expression=exp.Null())
    return exp.EQ(this=target, expression=_literal(value, kind))


def _literal(value: Any, kind: str) -> exp.Expr:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):  # NaN/inf: no number for BI
        return exp.Null()
    if kind == "DOUBLE":
        return exp.cast(exp.Literal.number(repr(float(value))), "DOUBLE")
    if kind == "DATE":
        day = value.date() if isinstance(value, datetime) else value
        return exp.cast(exp.Literal.string(day.isoformat() if isinstance(day, date) else str(day)), "DATE")
    return exp.Literal.string(str(value))
