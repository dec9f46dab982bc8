"""A cumulative metric over a count_distinct: the distinct values of the rows of its window or of its
grain-to-date span, counted again for every period.

A running sum of per-period distinct counts would count a guest who booked on two days of a 2-day window
twice; so each period of the spine is joined to the rows themselves (the dataset's rows one by one, under
the request's filter and dimensions, unbounded below so the first periods see their history) whose period
lies in its window, and the values are counted once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlglot import exp

from kpiframe.semantic.layer import Measure, SemanticLayer
from kpiframe.sql.calendar import Calendar, interval, offset_window, period_type
from kpiframe.sql.expressions import col
from kpiframe.sql.metric_scan import DatasetScan, Leaf, ScanShape
from kpiframe.sql.time_spine import PERIOD, SPINE

VALUE = "kf_value"


def value_column(dims: Sequence[str]) -> str:
    """The name of the rows' counted value: kf_value, with underscores appended while that is also the name
    of a requested dimension (or the period), compared without case as DuckDB and Spark resolve names."""
    taken = {name.lower() for name in (PERIOD, *dims)}
    name = VALUE
    while name.lower() in taken:
        name += "_"
    return name


@dataclass(frozen=True)
class DistinctWindow:
    """Which rows a period counts: those of the `window` ('2 days') before it, or (`grain_to_date`) those
    from the start of its month, quarter or year; `empty` is what a period without rows answers."""

    window: str | None
    grain_to_date: str | None
    empty: int | float | None


def distinct_rows(
    layer: SemanticLayer, calendar: Calendar, shape: ScanShape, measure: Measure, metric: str | None = None
) -> exp.Select:
    """The measure's rows: its expression as kf_value (value_column), their period and the request's
    dimensions. `metric` (the cumulative metric) is named when a dimension does not apply to the rows."""
    value = value_column(shape.dimensions)
    known = [Leaf(value, measure, None, None, {metric})] if metric else []
    return DatasetScan(layer, calendar, shape, known).rows(measure.dataset, measure.time, {value: measure.expr})


def distinct_window_select(
    rows: str, dims: list[str], column: str, spec: DistinctWindow, calendar: Calendar, grain: str
) -> exp.Select:
    """Each spine row with the count of distinct values of the rows (CTE `rows`) of its window."""
    period, row_period = col(PERIOD, "k"), col(PERIOD, "r")
    if spec.grain_to_date:
        first: exp.Expr = exp.GTE(this=row_period, expression=calendar.period_start(period.copy(), spec.grain_to_date))
    else:
        count, unit = offset_window(spec.window or "")
        back = exp.Cast(this=exp.Sub(this=period.copy(), expression=interval(count, unit)), to=period_type(grain))
        first = exp.GT(this=row_period, expression=back)
    matches = [first, exp.LTE(this=row_period.copy(), expression=period.copy())]
    matches += [exp.NullSafeEQ(this=col(d, "k"), expression=col(d, "r")) for d in dims]
    distinct: exp.Expr = exp.Count(this=exp.Distinct(expressions=[col(value_column(dims), "r")]))
    if spec.empty != 0:  # a window without rows answers the metric's fill_nulls_with (NULL unless a number)
        none = exp.EQ(this=exp.Count(this=col(PERIOD, "r")), expression=exp.Literal.number(0))
        fill = exp.Null() if spec.empty is None else exp.Literal.number(spec.empty)
        distinct = exp.Case(ifs=[exp.If(this=none, true=fill)], default=distinct)
    keys = [period.copy(), *[col(d, "k") for d in dims]]
    joined = exp.Join(this=exp.table_(rows, quoted=True).as_("r", quoted=True), on=exp.and_(*matches), side="LEFT")
    select = exp.select(*keys, distinct.as_(column, quoted=True))
    select = select.from_(exp.table_(SPINE, quoted=True).as_("k", quoted=True), copy=False).join(joined, copy=False)
    return select.group_by(*[k.copy() for k in keys], copy=False)
