"""The series of some metrics over a range: the CTEs a metric request needs, and the rows that combine them.

A `SeriesBuilder` turns metric names into expressions over columns, registering in a `QueryContext` the
scans (metric_scan.py; non_additive.py for a measure with `non_additive:`), the conversion CTEs
(conversion.py) and the windowed and shifted series (series_history.py) that hold those columns; `finish`
left-joins every part to the time spine and computes the ratio and derived metrics over them, level by
level (see metric_query.py for the shape of the whole SELECT).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from sqlglot import exp

from kpiframe.errors import QueryError
from kpiframe.semantic.layer import Measure, SemanticLayer, reached_metrics
from kpiframe.sql import series_history as history
from kpiframe.sql.calendar import ALL_TIME, Calendar, offset_window, shift_fits_grain
from kpiframe.sql.conversion import conversion_calculation, conversions_select
from kpiframe.sql.custom_grains import custom_grains, split_custom_grain
from kpiframe.sql.date_parts import is_date_part
from kpiframe.sql.expressions import col, replace_columns, safe_divide, safe_divisions, shared_expression
from kpiframe.sql.metric_filters import MetricValues, no_metric_values
from kpiframe.sql.metric_scan import DatasetScan, Leaf, ScanShape
from kpiframe.sql.non_additive import non_additive_select
from kpiframe.sql.offsets import column_name, is_pulled, window
from kpiframe.sql.time_grains import label_grain, label_grains, time_grain_columns
from kpiframe.sql.time_spine import PERIOD, SPINE, RunOn, in_range

if TYPE_CHECKING:  # the request's type; metric_query imports this module
    from kpiframe.sql.metric_query import MetricRequest


@dataclass
class Part:
    """One input of the combined rows: a CTE with period, dimensions and some value columns."""

    cte: str
    columns: list[str]
    fill: dict[str, int | float] = field(default_factory=dict)  # value of a column where the CTE has no row


@dataclass
class QueryContext:
    """What every series of one request shares: the CTEs registered so far and what bounds the spine."""

    ctes: list[tuple[str, exp.Select]] = field(default_factory=list)
    inputs: list[tuple[str, exp.Select]] = field(default_factory=list)  # scans of models, placed first
    scans: list[str] = field(default_factory=list)  # scans whose periods bound the spine
    value_sources: list[str] = field(default_factory=list)  # CTEs whose dimension values the spine takes
    counter: int = 0
    history: bool = False  # some series reads earlier periods: a window or a shift
    # window offsets, each with those of the offsets that read it (an offset of an offset): widen the spine
    shifts: list[tuple[tuple[int, str], ...]] = field(default_factory=list)
    # cumulative metrics whose series run on past the last data (query: cumulative_past_data: true)
    run_ons: list[RunOn] = field(default_factory=list)
    where: exp.Expr | None = None  # the request's filter, checked against the allow-list of filters.py
    # some metric read (however deep) has `join_to_timespine: true`: the range reaches the time spine's ends
    join_to_timespine: bool = False
    values: MetricValues = no_metric_values  # a metric per entity a filter names (kpiframe.sql.metric_filters)
    # the request's daily series of one metric (at grain `all`: a cumulative metric's value is its last day's)
    daily: Callable[[str], exp.Select] | None = None

    def name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}_{self.counter}"


class SeriesBuilder:
    """Builds the series of some metrics over [start, end], registering the CTEs it needs."""

    def __init__(
        self,
        layer: SemanticLayer,
        calendar: Calendar,
        request: MetricRequest,
        context: QueryContext,
        start: date | None,
        end: date | None,
    ) -> None:
        self.layer, self.calendar, self.request, self.context = layer, calendar, request, context
        self.start, self.end = start, end
        self.leaves: dict[tuple[str, str | None, int | float | None], Leaf] = {}
        self.parts: list[Part] = []
        self.dim_names = list(request.dimensions)
        self.periodic = request.grain != ALL_TIME  # else one row per dimension combination, no period
        # ratio and derived metrics computed once as a column: name -> (column, level that has it)
        self.columns: dict[str, tuple[str, int]] = {}
        # levels[k]: the columns computed from level k (level 0: the combined rows) by level k + 1
        self.levels: list[list[tuple[str, exp.Expr]]] = []
        self.shifted_by: tuple[tuple[int, str], ...] = ()  # the window offsets that read this series
        self.shift_days = 0  # by a date part over all time: the days an input offset moves the rows forward

    # --- metric values as expressions over columns -------------------------------------------------------
    def value(self, name: str) -> tuple[exp.Expr, int]:
        """The metric as an expression, and the lowest level whose rows have every column it reads."""
        spec = self.layer.metric(name)
        # a simple or conversion metric (the load refuses it on others); a cumulative metric over a count
        # distinct reads its base metric's measure without the base's value (distinct_window.py)
        base = self.layer.metric(spec.metric or "") if spec.type == "cumulative" else spec
        if spec.join_to_timespine or base.join_to_timespine:
            self.context.join_to_timespine = True
        if spec.type == "simple":
            measure = self.layer.measures[spec.measure or ""]
            leaf = self._leaf(measure, spec.filter, spec.empty_value(measure.agg))
            leaf.metrics.add(name)
            return col(leaf.column), 0  # an empty count or sum is made 0 (or fill_nulls_with) in the combined rows
        if spec.type == "ratio":
            numerator, above = self.reference(spec.numerator or "")
            denominator, below = self.reference(spec.denominator or "")
            return safe_divide(numerator, denominator), max(above, below)
        if spec.type == "cumulative":
            return history.cumulative(self, name), 0
        if spec.type == "conversion":
            return self._conversion(name), 0
        return self._derived(name)

    def reference(self, name: str) -> tuple[exp.Expr, int]:
        """A column holding the metric, and its level: a ratio or derived metric is computed once."""
        if self.layer.metric(name).type not in ("ratio", "derived"):
            return self.value(name)  # already a column of the combined rows
        if name not in self.columns:
            expression, level = self.value(name)
            while len(self.levels) <= level:
                self.levels.append([])
            column = f"v_{name}"
            self.levels[level].append((column, expression))
            self.columns[name] = (column, level + 1)
        column, level = self.columns[name]
        return col(column), level

    def outputs(self, names: tuple[str, ...]) -> list[tuple[str, exp.Expr]]:
        """The metrics' values; one that some other metric reads (so a column already) is read from it."""
        values = [(name, self.value(name)[0]) for name in names]
        return [(name, col(self.columns[name][0]) if name in self.columns else value) for name, value in values]

    def add_part(self, cte: str, column: str, fill: dict[str, int | float] | None = None) -> None:
        """A CTE of one value column (a window, a shift), joined to the spine's rows by `finish`."""
        self.parts.append(Part(cte, [column], fill or {}))

    def shifted(self, metric: str, offset: str) -> exp.Expr:
        """The metric's value one period (or one year, or an offset) earlier (series_history.py)."""
        return history.shifted(self, metric, offset)

    def _derived(self, name: str) -> tuple[exp.Expr, int]:
        spec = self.layer.metric(name)
        inputs = {i.alias or i.metric: i for i in spec.inputs}
        tree = shared_expression(spec.expr or "")  # replace_columns copies it
        level = 0

        def substitute(column: exp.Column) -> exp.Expr:
            nonlocal level
            item = inputs.get(column.name)
            if item is not None and item.offset:
                # within moved rows (shift_days) every offset moves them on: moves_rows checked it is of days
                if self.shift_days or moves_rows(self.layer, self.request, item.offset, item.metric):
                    return self._moved_forward(item.metric, item.offset)
                if not self.periodic:
                    raise QueryError(
                        f"derived metric '{name}' reads '{item.metric}' {item.offset} earlier: over all time "
                        "there is no earlier period",
                        code="KF423",
                        hint="ask for a grain (--grain month)",
                    )
                return self.shifted(item.metric, item.offset)
            reference, at = self.reference(item.metric if item is not None else column.name)
            level = max(level, at)
            return reference

        expression = safe_divisions(replace_columns(tree, substitute), copy=False)  # a copy already
        return expression, level

    def _moved_forward(self, metric: str, offset: str) -> exp.Expr:
        """The metric `offset` earlier where its periods cannot be shifted (moves_rows): its rows counted on
        their day moved forward by the offset, in that day's period, part or label, as MetricFlow reads a
        metric's day `offset` back for each day and groups the days."""
        column = column_name(offset, metric)
        if any(column in part.columns for part in self.parts):
            return col(column)
        count, _ = offset_window(offset)  # in days: checked by metric_query
        sub = SeriesBuilder(self.layer, self.calendar, self.request, self.context, self.start, self.end)
        sub.shift_days = self.shift_days + count
        query = sub.finish([(column, value) for _, value in sub.outputs((metric,))])
        cte = self.context.name(f"offset_{metric}")
        self.context.ctes.append((cte, query))
        self.add_part(cte, column)
        return col(column)

    # --- scans -------------------------------------------------------------------------------------------
    def _leaf(self, measure: Measure, metric_filter: str | None, empty: int | float | None) -> Leaf:
        # metrics that differ only in what they answer over no rows share the aggregate's scan, not its column
        key = (measure.name, metric_filter, empty)
        if key not in self.leaves:
            self.leaves[key] = Leaf(f"m{len(self.leaves) + 1}_{measure.name}", measure, metric_filter, empty)
        return self.leaves[key]

    def shape(self, start: date | None, end: date | None) -> ScanShape:
        """What the scans of this series group by and keep, between `start` and `end`."""
        grain = self.request.grain if self.periodic else None
        context = self.context
        return ScanShape(grain, tuple(self.dim_names), context.where, start, end, self.shift_days, context.values)

    def _scans(self) -> list[Part]:
        # a non-additive measure keeps only the rows of its chosen time: one scan per measure and filter
        groups: dict[tuple[str, str, str | None, str | None], list[Leaf]] = {}
        for leaf in self.leaves.values():
            key = (leaf.measure.name, leaf.filter) if leaf.measure.non_additive else (None, None)
            groups.setdefault((leaf.measure.dataset, leaf.measure.time_name, *key), []).append(leaf)
        shape = self.shape(self.start, self.end)
        scan = DatasetScan(self.layer, self.calendar, shape, self.leaves.values())
        parts = []
        for (dataset, _, alone, _), leaves in groups.items():
            cte = self.context.name(f"scan_{dataset}")
            select = non_additive_select(scan, leaves) if alone else scan.select(dataset, leaves)
            self.context.inputs.append((cte, select))
            self.context.scans.append(cte)
            values = cte
            if self.dim_names and (self.start or self.end):
                # the spine has every combination the data has, whatever the range asked
                values = self.context.name(f"values_{dataset}")
                self.context.inputs.append((values, scan.select(dataset, leaves, values_only=True)))
            self.context.value_sources.append(values)
            fill = {leaf.column: leaf.empty for leaf in leaves if leaf.empty is not None}
            parts.append(Part(cte, [leaf.column for leaf in leaves], fill))
        return parts

    def _conversion(self, name: str) -> exp.Expr:
        """The conversions credited to the base events (a CTE of their own, kpiframe.sql.conversion), or
        their rate: over the base measure, aggregated as a simple metric's would be."""
        spec = self.layer.metric(name)
        column = f"cv_{name}"
        if not any(column in part.columns for part in self.parts):
            shape = self.shape(self.start, self.end)
            cte = self.context.name(f"conversions_{name}")
            self.context.inputs.append((cte, conversions_select(self.layer, self.calendar, shape, spec, column)))
            self.context.scans.append(cte)
            self.context.value_sources.append(cte)
            empty = spec.empty_value(self.layer.measures[spec.conversion_measure or ""].agg)
            self.parts.append(Part(cte, [column], {} if empty is None else {column: empty}))
        if conversion_calculation(spec) == "conversions":
            return col(column)
        base = self._leaf(self.layer.measures[spec.base_measure or ""], spec.base_filter, None)
        base.metrics.add(name)
        return safe_divide(col(column), col(base.column))

    def subseries(self, metric: str, shifted_by: tuple[tuple[int, str], ...] = ()) -> str:
        """A CTE with the series of one metric, unbounded below so windows and shifts see history."""
        if not self.periodic:  # no period, so no earlier one: compare refuses before this (KF423)
            raise AssertionError("a series over earlier periods at grain all")
        self.context.history = True
        sub = SeriesBuilder(self.layer, self.calendar, self.request, self.context, None, self.end)
        sub.shifted_by = shifted_by
        query = sub.finish(sub.outputs((metric,)))
        cte = self.context.name(f"series_{metric}")
        self.context.ctes.append((cte, query))
        return cte

    # --- assembling --------------------------------------------------------------------------------------
    def finish(self, outputs: list[tuple[str, exp.Expr]], in_range: bool = False) -> exp.Select:
        """The series: one row per spine row (of the range asked, if `in_range`), the outputs beside it."""
        parts = self._scans() + self.parts
        keys = [PERIOD, *self.dim_names] if self.periodic else list(self.dim_names)
        rows = self._combine(parts, keys, in_range and self.periodic)
        for index, columns in enumerate(self.levels):
            # every column of the level below, and the metrics computed from them
            projections = [e.as_(c, quoted=True, copy=False) for c, e in columns]
            level = exp.select(exp.Star(), *projections).from_(rows, copy=False)
            rows = level.subquery(f"level_{index + 1}", copy=False)
        select = exp.select(*[col(k) for k in keys], *[e.as_(n, quoted=True, copy=False) for n, e in outputs])
        select = select.from_(rows, copy=False)
        if not keys:  # over all time without dimensions: one row
            return select
        return select.order_by(*[exp.Ordered(this=col(k), nulls_first=False) for k in keys], copy=False)

    def _combine(self, parts: list[Part], keys: list[str], range_only: bool) -> exp.Expr:
        """The spine's rows with every part's columns beside them, NULL dimension values matching NULL.

        A series read by a window or a shift spans the whole spine, so that it has its history; the
        request's own series keeps the periods of the range asked.
        """
        combined = exp.select(*[col(k, "k") for k in keys]).from_(
            exp.table_(SPINE, quoted=True).as_("k", quoted=True), copy=False
        )
        dims = keys[1:] if self.periodic else keys
        for index, part in enumerate(parts):
            alias = f"p{index + 1}"
            matches: list[exp.Expr] = (
                [exp.EQ(this=col(PERIOD, "k"), expression=col(PERIOD, alias))] if self.periodic else []
            )
            matches += [exp.NullSafeEQ(this=col(k, "k"), expression=col(k, alias)) for k in dims]
            on = exp.and_(*matches, copy=False) if matches else exp.true()  # all time, no dimension: one row each
            table = exp.table_(part.cte, quoted=True).as_(alias, quoted=True, copy=False)
            join = exp.Join(this=table, on=on, side="LEFT")
            combined = combined.join(join, copy=False)
            values = [
                _fill_when_empty(col(c, alias), part.fill.get(c)).as_(c, quoted=True, copy=False) for c in part.columns
            ]
            combined = combined.select(*values, copy=False)
        if range_only:
            combined = combined.where(in_range(col(PERIOD, "k")), copy=False)
        return combined.subquery("combined", copy=False)


def moves_rows(layer: SemanticLayer, request: MetricRequest, offset: str, metric: str) -> bool:
    """Whether a derived metric reads its input `offset` earlier by moving the input's rows forward (so each
    row counts in the period, date part or label of its day `offset` later) instead of shifting periods:
    for an offset of whole days ('5 days'; a month back from 31 March and from 28 March is one day) where
    periods cannot be shifted: over all time by a per-row column (a date part, custom grain, another time's
    period or a label of metric time), by a label of metric time, or at a grain the offset does not move
    whole periods of ('5 days' by month: MetricFlow sums the days shifted). The input must read earlier
    periods only through offsets of days (whose rows move on), not as a cumulative metric does, whose
    history the moved rows would not carry."""
    if not _of_days(offset):
        return False
    for spec in reached_metrics(layer, [metric]):
        if spec.type == "cumulative" or not all(_of_days(i.offset) for i in spec.inputs if i.offset):
            return False
    if request.grain == ALL_TIME:
        return bool(per_row_columns(layer, request))
    count, unit = offset_window(offset)
    return bool(label_grains(request.dimensions)) or not shift_fits_grain(count, unit, request.grain)


def _of_days(offset: str) -> bool:
    """An offset of whole days or weeks ('5 days', '2 weeks'), which moves every day onto one other day."""
    return is_pulled(offset) and window(offset) is not None and offset_window(offset)[1] == "DAY"


def per_row_columns(layer: SemanticLayer, request: MetricRequest) -> list[str]:
    """The group-bys computed from each row's time: date parts, custom grains, another time's periods and
    labels of metric time."""
    grains = custom_grains(layer.files.config)
    periods = time_grain_columns(layer, request.metrics, request.dimensions)
    return [
        name
        for name in request.dimensions
        if is_date_part(name) or split_custom_grain(name, grains) or name in periods or label_grain(name)
    ]


def _fill_when_empty(value: exp.Expr, fill: int | float | None) -> exp.Expr:
    """A count or sum over no rows is 0, not NULL; an average or a median over none stays NULL; a metric's
    `fill_nulls_with` chooses either (`fill`, None: NULL)."""
    if fill is not None:
        return exp.Coalesce(this=value, expressions=[exp.Literal.number(fill)])
    return value
