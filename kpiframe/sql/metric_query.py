"""A metric request (metrics × dimensions × grain × filters) compiled into one sqlglot SELECT.

Shape of the SQL, chosen so that its size grows linearly with the number of metrics:
  * one scan per (dataset, time column): every measure of that dataset (with a given metric filter) is
    one aggregate with its own FILTER, however many metrics use it, joined only many-to-one to the
    datasets that carry the requested dimensions (metric_scan.py);
  * windowed (cumulative) and shifted (period-over-period) series are CTEs of their own;
  * every part is left-joined to the time spine (time_spine.py): one row per period of the range and
    dimension combination, so metrics from different datasets meet without a chain of full outer joins,
    and a period without rows still has its row (counts and sums 0, cumulative metrics carried); the
    zero of an empty count or sum (or a metric's `fill_nulls_with`) is filled in there, once per column;
  * ratio and derived metrics are expressions over those columns. One that another metric (or a
    comparison) reads is computed once, as a column `v_<name>` of a level above (`SELECT *, ... FROM`
    the level below); the others are computed in the last SELECT. A metric's inputs are referred to by
    column, never copied into it, so each metric's expression appears once in the SQL.

At grain `all` the same shape has no period: the scans group by the dimensions alone (a count distinct is
distinct over the whole range), the spine is the dimension combinations (or one row), and what reads
earlier periods (cumulative metrics, offsets, comparisons) is refused (KF423).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlglot import exp

from kpiframe.errors import QueryError
from kpiframe.load.specs import ZERO_WHEN_EMPTY as ZERO_WHEN_EMPTY  # read by kpiframe.diff
from kpiframe.semantic.layer import Measure, SemanticLayer
from kpiframe.sql.calendar import (
    ALL_TIME,
    REQUEST_GRAINS,
    Calendar,
    grain_step,
    interval,
    is_coarser_or_equal,
    year_step,
)
from kpiframe.sql.conversion import conversion_calculation, conversions_select
from kpiframe.sql.dimension_values import compile_dimension_values
from kpiframe.sql.distinct_window import DistinctWindow, distinct_rows, distinct_window_select
from kpiframe.sql.expressions import col, replace_columns, safe_divide, safe_divisions, shared_expression
from kpiframe.sql.filters import filter_dimensions, parse_query_filter
from kpiframe.sql.metric_scan import DatasetScan, Leaf, ScanShape
from kpiframe.sql.offsets import column_name, is_pulled, pulled_series, target_period, window
from kpiframe.sql.time_spine import PERIOD, SPINE, in_range, spine_ctes, whole_range_ctes
from kpiframe.suggest import unknown

COMPARE_SUFFIX = {"previous": "previous", "year": "year_ago"}


@dataclass(frozen=True)
class MetricRequest:
    """What a user asks: metrics by dimensions at a grain, optionally bounded, filtered, compared."""

    metrics: tuple[str, ...]
    dimensions: tuple[str, ...] = ()
    grain: str = "month"
    start: date | None = None
    end: date | None = None
    where: str | None = None
    compare: str | None = None


@dataclass
class _Part:
    """One input of the combined rows: a CTE with period, dimensions and some value columns."""

    cte: str
    columns: list[str]
    fill: dict[str, int | float] = field(default_factory=dict)  # value of a column where the CTE has no row


@dataclass
class _Context:
    ctes: list[tuple[str, exp.Select]] = field(default_factory=list)
    inputs: list[tuple[str, exp.Select]] = field(default_factory=list)  # scans of models, placed first
    scans: list[str] = field(default_factory=list)  # scans whose periods bound the spine
    value_sources: list[str] = field(default_factory=list)  # CTEs whose dimension values the spine takes
    counter: int = 0
    history: bool = False  # some series reads earlier periods: a window or a shift
    # window offsets, each with those of the offsets that read it (an offset of an offset): widen the spine
    shifts: list[tuple[tuple[int, str], ...]] = field(default_factory=list)
    where: exp.Expr | None = None  # the request's filter, checked against the allow-list of filters.py

    def name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}_{self.counter}"


def compile_request(layer: SemanticLayer, request: MetricRequest) -> exp.Select:
    """Compile `request` into a SELECT whose columns are period_start, the dimensions, the metrics.

    At grain `all` (ALL_TIME) there is no period: one row per dimension combination, each metric
    aggregated over the whole range asked (--start/--end bound the rows' days), so no period_start."""
    if not request.metrics and request.dimensions:  # no metric: the distinct values of the dimensions
        return compile_dimension_values(layer, request)
    _check(layer, request)
    config = layer.files.config
    calendar = Calendar(config.calendar.week_start, config.calendar.fiscal_year_start_month)
    context = _Context()
    if request.where:
        # typed at query time: only declared dimensions and plain operators (a YAML filter is trusted)
        context.where = parse_query_filter(request.where, filter_dimensions(layer, request.metrics))
    builder = _SeriesBuilder(layer, calendar, request, context, request.start, request.end)
    if request.compare:
        suffix = COMPARE_SUFFIX[request.compare]
        outputs: list[tuple[str, exp.Expr]] = []
        for name in request.metrics:
            current, _ = builder.reference(name)  # read three times: computed once, as a column
            previous = builder.shifted(name, request.compare)
            change = safe_divide(exp.Sub(this=current.copy(), expression=previous.copy()), previous.copy())
            outputs += [(name, current), (f"{name}__{suffix}", previous), (f"{name}__change", change)]
    else:
        outputs = builder.outputs(request.metrics)
    query = builder.finish(outputs, in_range=True)
    dims = list(request.dimensions)
    if request.grain == ALL_TIME:
        spine = whole_range_ctes(context.value_sources, dims)
    else:
        spine = spine_ctes(
            context.scans,
            context.value_sources,
            dims,
            request.grain,
            calendar,
            request.start,
            request.end,
            context.history,
            shifts=context.shifts,
        )
    # the spine reads every scan and every series reads the spine; built as nodes (with_ parses each name)
    ctes = [
        exp.CTE(this=cte, alias=exp.TableAlias(this=exp.to_identifier(cte_name)))
        for cte_name, cte in [*context.inputs, *spine, *context.ctes]
    ]
    query.set("with_", exp.With(expressions=ctes))
    return query


def _check(layer: SemanticLayer, request: MetricRequest) -> None:
    if not request.metrics:
        raise QueryError("no metric asked for", code="KF401", hint="pass --metric NAME, or --by alone for values")
    if request.grain not in REQUEST_GRAINS:
        raise QueryError(
            f"unknown grain '{request.grain}'", code="KF402", hint=f"use one of {', '.join(REQUEST_GRAINS)}"
        )
    for name in request.metrics:
        if name not in layer.files.metrics:
            message, hint = unknown("metric", name, layer.files.metrics)
            raise QueryError(message, code="KF104", hint=hint)
    if request.compare not in (None, *COMPARE_SUFFIX):
        raise QueryError(f"unknown comparison '{request.compare}'", code="KF403", hint="use previous or year")
    if request.compare and request.grain == ALL_TIME:
        raise QueryError(
            f"--compare {request.compare} over all time: there is no earlier period to compare with",
            code="KF423",
            hint="ask for a grain (--grain month), or query the two ranges with --start/--end",
        )


class _SeriesBuilder:
    """Builds the series of some metrics over [start, end], registering the CTEs it needs."""

    def __init__(
        self,
        layer: SemanticLayer,
        calendar: Calendar,
        request: MetricRequest,
        context: _Context,
        start: date | None,
        end: date | None,
    ) -> None:
        self.layer, self.calendar, self.request, self.context = layer, calendar, request, context
        self.start, self.end = start, end
        self.leaves: dict[tuple[str, str | None, int | float | None], Leaf] = {}
        self.parts: list[_Part] = []
        self.dim_names = list(request.dimensions)
        self.periodic = request.grain != ALL_TIME  # else one row per dimension combination, no period
        # ratio and derived metrics computed once as a column: name -> (column, level that has it)
        self.columns: dict[str, tuple[str, int]] = {}
        # levels[k]: the columns computed from level k (level 0: the combined rows) by level k + 1
        self.levels: list[list[tuple[str, exp.Expr]]] = []
        self.shifted_by: tuple[tuple[int, str], ...] = ()  # the window offsets that read this series

    # --- metric values as expressions over columns -------------------------------------------------------
    def value(self, name: str) -> tuple[exp.Expr, int]:
        """The metric as an expression, and the lowest level whose rows have every column it reads."""
        spec = self.layer.metric(name)
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
            return self._cumulative(name), 0
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

    def _derived(self, name: str) -> tuple[exp.Expr, int]:
        spec = self.layer.metric(name)
        inputs = {i.alias or i.metric: i for i in spec.inputs}
        tree = shared_expression(spec.expr or "")  # replace_columns copies it
        level = 0

        def substitute(column: exp.Column) -> exp.Expr:
            nonlocal level
            item = inputs.get(column.name)
            if item is not None and item.offset:
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

    # --- scans -------------------------------------------------------------------------------------------
    def _leaf(self, measure: Measure, metric_filter: str | None, empty: int | float | None) -> Leaf:
        # metrics that differ only in what they answer over no rows share the aggregate's scan, not its column
        key = (measure.name, metric_filter, empty)
        if key not in self.leaves:
            self.leaves[key] = Leaf(f"m{len(self.leaves) + 1}_{measure.name}", measure, metric_filter, empty)
        return self.leaves[key]

    def _scans(self) -> list[_Part]:
        groups: dict[tuple[str, str], list[Leaf]] = {}
        for leaf in self.leaves.values():
            groups.setdefault((leaf.measure.dataset, leaf.measure.time_name), []).append(leaf)
        grain = self.request.grain if self.periodic else None
        shape = ScanShape(grain, tuple(self.dim_names), self.context.where, self.start, self.end)
        scan = DatasetScan(self.layer, self.calendar, shape, self.leaves.values())
        parts = []
        for (dataset, _), leaves in groups.items():
            cte = self.context.name(f"scan_{dataset}")
            self.context.inputs.append((cte, scan.select(dataset, leaves)))
            self.context.scans.append(cte)
            values = cte
            if self.dim_names and (self.start or self.end):
                # the spine has every combination the data has, whatever the range asked
                values = self.context.name(f"values_{dataset}")
                self.context.inputs.append((values, scan.select(dataset, leaves, values_only=True)))
            self.context.value_sources.append(values)
            fill = {leaf.column: leaf.empty for leaf in leaves if leaf.empty is not None}
            parts.append(_Part(cte, [leaf.column for leaf in leaves], fill))
        return parts

    def _conversion(self, name: str) -> exp.Expr:
        """The conversions credited to the base events (a CTE of their own, kpiframe.sql.conversion), or
        their rate: over the base measure, aggregated as a simple metric's would be."""
        spec = self.layer.metric(name)
        column = f"cv_{name}"
        if not any(column in part.columns for part in self.parts):
            grain = self.request.grain if self.periodic else None
            shape = ScanShape(grain, tuple(self.dim_names), self.context.where, self.start, self.end)
            cte = self.context.name(f"conversions_{name}")
            self.context.inputs.append((cte, conversions_select(self.layer, self.calendar, shape, spec, column)))
            self.context.scans.append(cte)
            self.context.value_sources.append(cte)
            empty = spec.empty_value(self.layer.measures[spec.conversion_measure or ""].agg)
            self.parts.append(_Part(cte, [column], {} if empty is None else {column: empty}))
        if conversion_calculation(spec) == "conversions":
            return col(column)
        base = self._leaf(self.layer.measures[spec.base_measure or ""], None, None)
        base.metrics.add(name)
        return safe_divide(col(column), col(base.column))

    # --- windows and shifts ------------------------------------------------------------------------------
    def _subseries(self, metric: str, shifted_by: tuple[tuple[int, str], ...] = ()) -> str:
        """A CTE with the series of one metric, unbounded below so windows and shifts see history."""
        if not self.periodic:  # no period, so no earlier one: compare refuses before this (KF423)
            raise AssertionError("a series over earlier periods at grain all")
        self.context.history = True
        sub = _SeriesBuilder(self.layer, self.calendar, self.request, self.context, None, self.end)
        sub.shifted_by = shifted_by
        query = sub.finish(sub.outputs((metric,)))
        cte = self.context.name(f"series_{metric}")
        self.context.ctes.append((cte, query))
        return cte

    def _cumulative(self, name: str) -> exp.Expr:
        spec = self.layer.metric(name)
        if not self.periodic:
            raise QueryError(
                f"cumulative metric '{name}' over all time: it accumulates period by period",
                code="KF423",
                hint=f"ask for a grain (--grain month) and read its last period, or '{spec.metric}' over the range",
            )
        if any(f"c_{name}" in part.columns for part in self.parts):
            return col(f"c_{name}")
        base = spec.metric or ""
        if self.layer.metric(base).type != "simple":
            raise QueryError(f"cumulative metric '{name}' must accumulate a simple metric", code="KF420")
        if self.layer.measures[self.layer.metric(base).measure or ""].agg == "count_distinct":
            return self._distinct_cumulative(name)
        source = self._subseries(base)
        dims = [col(d) for d in self.dim_names]
        partition: list[exp.Expr] = list(dims)
        spec_window: exp.Expr | None = None
        if spec.grain_to_date:
            if not is_coarser_or_equal(spec.grain_to_date, self.request.grain):
                raise QueryError(
                    f"'{name}' accumulates to {spec.grain_to_date}, finer than grain {self.request.grain}", code="KF421"
                )
            partition.append(self.calendar.period_start(col(PERIOD), spec.grain_to_date))
        else:
            spec_window = self._window_frame(name, spec.window or "")
        window = exp.Window(
            this=exp.Sum(this=col(base)),
            partition_by=partition or None,
            order=exp.Order(expressions=[exp.Ordered(this=col(PERIOD))]),
            spec=spec_window,
        )
        column = f"c_{name}"
        query = exp.select(col(PERIOD), *dims, window.as_(column, quoted=True)).from_(exp.table_(source, quoted=True))
        cte = self.context.name(f"cumulative_{name}")
        self.context.ctes.append((cte, query))
        # a combination the base metric never had has no accumulated rows: what the base answers over none
        base_spec = self.layer.metric(base)
        empty = base_spec.empty_value(self.layer.measures[base_spec.measure or ""].agg)
        self.parts.append(_Part(cte, [column], {} if empty is None else {column: empty}))
        return col(column)

    def _distinct_cumulative(self, name: str) -> exp.Expr:
        """A cumulative count_distinct counts the distinct values of its window's rows (distinct_window.py)."""
        spec = self.layer.metric(name)
        base = self.layer.metric(spec.metric or "")
        measure = self.layer.measures[base.measure or ""]
        if base.filter:
            raise QueryError(
                f"cumulative metric '{name}' counts the distinct values of '{base.name}', which has a filter",
                code="KF425",
                hint=f"accumulate a simple metric without a filter over '{measure.name}'",
            )
        if spec.grain_to_date and not is_coarser_or_equal(spec.grain_to_date, self.request.grain):
            raise QueryError(
                f"'{name}' accumulates to {spec.grain_to_date}, finer than grain {self.request.grain}", code="KF421"
            )
        if spec.window:
            self._window_frame(name, spec.window)  # refuses a window finer than the grain (KF421)
        self.context.history = True
        shape = ScanShape(self.request.grain, tuple(self.dim_names), self.context.where, None, self.end)
        rows = self.context.name(f"rows_{measure.dataset}")
        self.context.inputs.append((rows, distinct_rows(self.layer, self.calendar, shape, measure)))
        self.context.scans.append(rows)
        self.context.value_sources.append(rows)
        column = f"c_{name}"
        window = DistinctWindow(spec.window, spec.grain_to_date, base.empty_value(measure.agg))
        cte = self.context.name(f"cumulative_{name}")
        self.context.ctes.append((cte, distinct_window_select(rows, self.dim_names, column, window, self.calendar)))
        self.parts.append(_Part(cte, [column]))
        return col(column)

    def _window_frame(self, name: str, window: str) -> exp.WindowSpec:
        count_text, _, unit = window.strip().partition(" ")
        unit = unit.strip().lower().rstrip("s")
        if not count_text.isdigit() or unit not in ("day", "week", "month", "quarter", "year"):
            raise QueryError(f"'{name}': window '{window}' must look like '7 days' or '3 months'", code="KF422")
        count = int(count_text)
        if not is_coarser_or_equal(unit, self.request.grain):
            raise QueryError(
                f"'{name}': a {window} window cannot be computed at {self.request.grain} grain",
                code="KF421",
                hint=f"query it at {unit} grain or finer",
            )
        step_count, step_unit = grain_step(self.request.grain)
        # periods whose start lies within (current - window, current]: the frame reaches back
        # window minus one period, expressed in the request's grain
        reach: exp.Expr = exp.Sub(this=interval(count, unit), expression=interval(step_count, step_unit))
        return exp.WindowSpec(kind="RANGE", start=reach, start_side="PRECEDING", end="CURRENT ROW")

    def shifted(self, metric: str, offset: str) -> exp.Expr:
        """The metric's value one period (or one year) earlier, aligned on the current period."""
        if is_pulled(offset):
            return self._pulled(metric, offset)
        column = f"s_{offset}_{metric}"
        if any(column in part.columns for part in self.parts):  # asked twice: one shifted series serves both
            return col(column)
        source = self._subseries(metric)
        count, unit = grain_step(self.request.grain) if offset == "previous" else year_step(self.request.grain)
        moved = exp.Cast(
            this=exp.Add(this=col(PERIOD), expression=interval(count, unit)), to=exp.DataType.build("DATE")
        )
        query = exp.select(
            moved.as_(PERIOD, quoted=True), *[col(d) for d in self.dim_names], col(metric).as_(column, quoted=True)
        ).from_(exp.table_(source, quoted=True))
        # a period that does not come back when shifted back (29 February + 1 year = 28 February)
        # has no counterpart: keeping it would give 28 February two earlier values
        back = exp.Cast(
            this=exp.Sub(this=moved.copy(), expression=interval(count, unit)), to=exp.DataType.build("DATE")
        )
        query = query.where(exp.EQ(this=back, expression=col(PERIOD)))
        cte = self.context.name(f"shift_{metric}")
        self.context.ctes.append((cte, query))
        self.parts.append(_Part(cte, [column]))
        return col(column)

    def _pulled(self, metric: str, offset: str) -> exp.Expr:
        """The metric's value at the date an offset window or 'start of <grain>' names (offsets.py)."""
        column = column_name(offset, metric)
        if any(column in part.columns for part in self.parts):
            return col(column)
        target = target_period(offset, col(PERIOD, "k"), self.request.grain, self.calendar, f"'{metric}'")
        shift = window(offset)
        chain = (*self.shifted_by, shift) if shift else self.shifted_by
        if chain and chain not in self.context.shifts:
            self.context.shifts.append(chain)
        source = self._subseries(metric, chain)
        cte = self.context.name(f"offset_{metric}")
        self.context.ctes.append((cte, pulled_series(source, metric, column, self.dim_names, target)))
        self.parts.append(_Part(cte, [column]))
        return col(column)

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

    def _combine(self, parts: list[_Part], keys: list[str], range_only: bool) -> exp.Expr:
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


def _fill_when_empty(value: exp.Expr, fill: int | float | None) -> exp.Expr:
    """A count or sum over no rows is 0, not NULL; an average or a median over none stays NULL; a metric's
    `fill_nulls_with` chooses either (`fill`, None: NULL)."""
    if fill is not None:
        return exp.Coalesce(this=value, expressions=[exp.Literal.number(fill)])
    return value
