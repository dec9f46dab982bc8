"""A metric request (metrics × dimensions × grain × filters) compiled into one sqlglot SELECT.

Shape of the SQL, chosen so that its size grows linearly with the number of metrics:
  * one scan per (dataset, time column): every measure of that dataset (with a given metric filter) is
    one aggregate with its own FILTER, however many metrics use it, joined only many-to-one to the
    datasets that carry the requested dimensions (metric_scan.py); a semi-additive measure (`non_additive:`,
    a balance) keeps only the rows of its last or first day and scans alone (non_additive.py);
  * windowed (cumulative) and shifted (period-over-period) series are CTEs of their own;
  * every part is left-joined to the time spine (time_spine.py): one row per period of the range (with a
    metric of `join_to_timespine: true`, reaching kpi_project.yml's `calendar: time_spine:`) and
    dimension combination, so metrics from different datasets meet without a chain of full outer joins,
    and a period without rows still has its row (counts and sums 0, cumulative metrics carried); the
    zero of an empty count or sum (or a metric's `fill_nulls_with`) is filled in there, once per column;
  * ratio and derived metrics are expressions over those columns. One that another metric (or a
    comparison) reads is computed once, as a column `v_<name>` of a level above (`SELECT *, ... FROM`
    the level below); the others are computed in the last SELECT. A metric's inputs are referred to by
    column, never copied into it, so each metric's expression appears once in the SQL.

This module holds the request and assembles the SELECT; the series and their CTEs are built in series.py
(values, scans, combining) and series_history.py (windows and shifts).

At grain `all` the same shape has no period: the scans group by the dimensions alone (a count distinct is
distinct over the whole range), the spine is the dimension combinations (or one row), and what reads
earlier periods (cumulative metrics, offsets, comparisons) is refused (KF423).

Without a metric, a request is a query of the dimensions' values (dimension_values.py); one that asks for
metric time (a grain, `metric_time__extract_dow`) lists the periods of kpi_project.yml's `calendar:
time_spine:` instead, as MetricFlow lists its time spine table's, crossed with those values.

A date part in the dimensions (`metric_time__extract_dow`, kpiframe.sql.date_parts) is a column of the
scans like a dimension; what reads earlier periods is refused by it (KF428), but a derived metric's input
offset of whole days, whose rows are moved forward instead (kpiframe.sql.series.moves_rows, which also
answers such an offset at a grain it does not move whole periods of: '5 days' by month).
A custom grain (`metric_time__alien_day`, kpiframe.sql.custom_grains) is answered and refused alike (KF432),
and with a metric of `join_to_timespine: true` the spine lists every value of the time spine model.
A label of metric time (`metric_time__quarter` beside a grain of week, kpiframe.sql.time_grains) is a column
of the scans too, each row's own day's quarter; the spine lists the (week, quarter) pairs of its days, and a
cumulative metric takes each pair's value from its daily series (series_history._from_days).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from sqlglot import exp

from kpiframe.errors import QueryError
from kpiframe.load.specs import ZERO_WHEN_EMPTY as ZERO_WHEN_EMPTY  # read by kpiframe.diff
from kpiframe.load.specs import TimeSpineSpec
from kpiframe.semantic.layer import SemanticLayer, reached_metrics
from kpiframe.sql.calendar import (
    ALL_TIME,
    GRAINS,
    REQUEST_GRAINS,
    Calendar,
    date_series,
    is_coarser_or_equal,
    period_end,
)
from kpiframe.sql.custom_grains import (
    custom_grains,
    grain_value,
    not_a_period_grain,
    spine_day,
    spine_table,
    split_custom_grain,
)
from kpiframe.sql.date_parts import MARK, METRIC_TIME, date_part, is_date_part, require_part
from kpiframe.sql.dimension_values import compile_dimension_values
from kpiframe.sql.expressions import col, safe_divide
from kpiframe.sql.filters import filter_date_parts, filter_dimensions, parse_query_filter
from kpiframe.sql.metric_filters import MetricValues, computing, metric_value_names, metric_value_suggestions
from kpiframe.sql.series import QueryContext, SeriesBuilder, moves_rows, per_row_columns
from kpiframe.sql.series_history import day_columns
from kpiframe.sql.subday_grains import is_subday, refuse_year_compare, spine_periods, time_spine_range
from kpiframe.sql.time_grains import label_grain, label_grains, label_name
from kpiframe.sql.time_spine import PERIOD, Reach, spine_ctes, whole_range_ctes
from kpiframe.suggest import unknown

COMPARE_SUFFIX = {"previous": "previous", "year": "year_ago"}
SPINE_GRAIN_VALUES = "spine_grain_values"  # the custom grain values of the time spine (join_to_timespine)


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
    min_max: bool = False  # the first and last value of each column instead of the rows (no metric)
    # a daily series that a coarser period reads (a cumulative metric's period_agg): without --start/--end
    # it spans whole periods of this grain, from the first day of the first to the last day of the last
    whole_periods_of: str | None = None


def compile_request(layer: SemanticLayer, request: MetricRequest) -> exp.Select:
    """Compile `request` into a SELECT whose columns are period_start, the dimensions, the metrics.

    At grain `all` (ALL_TIME) there is no period: one row per dimension combination, each metric
    aggregated over the whole range asked (--start/--end bound the rows' days), so no period_start.

    `min_max`: the least and greatest value of each column of a query without metric (`<column>__min`,
    `<column>__max`, one row): what a date picker or a filter's range needs, MetricFlow's min_max_only."""
    if request.min_max:
        return _min_max(layer, request)
    if not request.metrics:  # no metric: the time spine's periods, or the distinct values of the dimensions
        days = _time_spine(layer.files.config.calendar.time_spine)
        if days is not None and _asks_time(request):
            return _time_spine_periods(layer, request, days)
        if request.dimensions:
            return compile_dimension_values(layer, request, _metric_values(layer))
    _check(layer, request)
    config = layer.files.config
    calendar = Calendar(config.calendar.week_start, config.calendar.fiscal_year_start_month)
    # the daily series a cumulative metric's periods (or all time) take their value from: every day of the
    # periods asked (kpiframe.sql.series_history._from_days)
    last_day = period_end(request.end, request.grain) if request.end and request.grain in GRAINS else request.end
    # labels (metric_time__quarter) and custom grains of metric time are the days' own: each period reads them
    # from its days
    of_days = day_columns(config, request.dimensions)
    others = tuple(name for name in request.dimensions if name not in of_days)
    whole = request.grain if request.grain in GRAINS and request.grain != "day" else None
    daily = replace(request, grain="day", compare=None, end=last_day, dimensions=others, whole_periods_of=whole)
    context = QueryContext(
        values=_metric_values(layer), daily=lambda name: compile_request(layer, replace(daily, metrics=(name,)))
    )
    if request.where:
        # typed at query time: only declared dimensions, their date parts, metrics per entity and plain
        # operators (a YAML filter is trusted)
        allowed = filter_dimensions(layer, request.metrics) | filter_date_parts(layer, request.metrics)
        allowed |= metric_value_names(layer, request.where)
        suggestions = metric_value_suggestions(layer, request.where)
        context.where = parse_query_filter(request.where, allowed, suggestions=suggestions)
    builder = SeriesBuilder(layer, calendar, request, context, request.start, request.end)
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
        values = _spine_grain_values(layer, dims) if context.join_to_timespine else None
        sources = [*context.value_sources, *([values[0]] if values else [])]
        spine = [*([values] if values else []), *whole_range_ctes(sources, dims)]
    else:
        time_spine = _time_spine(config.calendar.time_spine) if context.join_to_timespine else None
        if time_spine is not None and is_subday(request.grain):  # its every hour (second, ...): bounded
            time_spine_range(time_spine, request.grain, request.start, request.end)
        spine = spine_ctes(
            context.scans,
            context.value_sources,
            dims,
            request.grain,
            calendar,
            request.start,
            request.end,
            Reach(
                history=context.history,
                shifts=tuple(context.shifts),
                time_spine=time_spine,
                whole_periods_of=request.whole_periods_of,
                run_ons=tuple(context.run_ons),
                time_spine_end=config.calendar.time_spine.end if config.calendar.time_spine else None,
            ),
        )
    # the spine reads every scan and every series reads the spine; built as nodes (with_ parses each name)
    ctes = [
        exp.CTE(this=cte, alias=exp.TableAlias(this=exp.to_identifier(cte_name)))
        for cte_name, cte in [*context.inputs, *spine, *context.ctes]
    ]
    query.set("with_", exp.With(expressions=ctes))
    return query


def _spine_grain_values(layer: SemanticLayer, dims: list[str]) -> tuple[str, exp.Query] | None:
    """With a metric of `join_to_timespine: true` grouped by custom grains of metric_time alone, every
    distinct value of the time spine model within its first and last day (MetricFlow lists each one), as a
    CTE of the spine's values; None for other requests."""
    config = layer.files.config
    grains = custom_grains(config)
    found = [split_custom_grain(name, grains) for name in dims]
    if not dims or any(f is None or f[0] != METRIC_TIME for f in found):
        return None
    spine = config.calendar.time_spine
    assert spine is not None
    columns = [grain_value(config, "s", f[1]).as_(name, quoted=True) for name, f in zip(dims, found, strict=True) if f]
    select = exp.select(*columns).distinct().from_(spine_table(config).as_("s", quoted=True), copy=False)
    days = _time_spine(spine)
    if days is not None:
        day = spine_day(spine, "s")
        select = select.where(exp.Between(this=day, low=_day(days[0]), high=_day(days[1])), copy=False)
    return SPINE_GRAIN_VALUES, select


def _asks_time(request: MetricRequest) -> bool:
    """Whether the request asks for metric time: a period, or a date part of metric_time."""
    return request.grain != ALL_TIME or any(_of_metric_time(name) for name in request.dimensions)


def _time_spine_periods(layer: SemanticLayer, request: MetricRequest, spine: tuple[date, date]) -> exp.Select:
    """metric_time without a metric (MetricFlow's `mf query --group-by metric_time__day` lists its time spine):
    the periods (and date parts of metric_time) holding a day of kpi_project.yml's `calendar: time_spine:`,
    within --start/--end, crossed with the distinct values of the other dimensions, filtered by --where."""
    if request.compare:
        raise QueryError(
            f"--compare {request.compare} without a metric: the time spine's periods have no value to compare",
            code="KF415",
            hint="add --metric NAME",
        )
    check_labels(request)
    times = _spine_days(layer, request, spine)
    others = tuple(name for name in request.dimensions if not _of_metric_time(name))
    if request.where and not others:
        raise QueryError(
            "--where without a metric or a dimension: the time spine's periods have no dimension to filter",
            code="KF415",
            hint="add --metric NAME, or --by the dimension the filter names",
        )
    names = [*([PERIOD] if request.grain != ALL_TIME else []), *request.dimensions]
    source = {name: "v" if name in others else "k" for name in names}
    select = exp.select(*[exp.column(name, table=source[name], quoted=True) for name in names])
    select = select.from_(times.subquery("k", copy=False), copy=False)
    if others:
        values = compile_dimension_values(
            layer, replace(request, dimensions=others, grain=ALL_TIME, start=None, end=None)
        )
        values.set("order", None)  # the whole answer is ordered
        select = select.join(exp.Join(this=values.subquery("v", copy=False), kind="CROSS"), copy=False)
    ordering = [
        exp.Ordered(this=exp.column(name, table=source[name], quoted=True), nulls_first=False) for name in names
    ]
    return select.order_by(*ordering, copy=False)


def _spine_days(layer: SemanticLayer, request: MetricRequest, spine: tuple[date, date]) -> exp.Select:
    """SELECT DISTINCT the period and the date parts of metric_time of the time spine's days (first, last)
    in range: a day at a time, so a week holding the spine's first day is its first period."""
    config = layer.files.config.calendar
    calendar = Calendar(config.week_start, config.fiscal_year_start_month)
    if is_subday(request.grain):
        return _spine_instants(request, spine, calendar)
    day = exp.column("day", table="d", quoted=True)
    period = calendar.period_start(day, request.grain if request.grain != ALL_TIME else "day")
    columns = [period.as_(PERIOD, quoted=True)] if request.grain != ALL_TIME else []
    for name in filter(_of_metric_time, request.dimensions):
        columns.append(_of_day(day, name, calendar).as_(name, quoted=True))
    days = date_series(_day(spine[0]), _day(spine[1]), "day", "day").subquery("d", copy=False)
    select = exp.select(*columns).distinct().from_(days, copy=False)
    bounds = [
        op(this=period.copy(), expression=_day(bound))
        for op, bound in ((exp.GTE, request.start), (exp.LTE, request.end))
        if bound is not None
    ]
    return select.where(exp.and_(*bounds), copy=False) if bounds else select


def _spine_instants(request: MetricRequest, spine: tuple[date, date], calendar: Calendar) -> exp.Select:
    """Every hour (second, ...) of the time spine's days within the bounds, and their date parts."""
    first, last = time_spine_range(spine, request.grain, request.start, request.end)
    instants = spine_periods(first, last, request.grain, calendar, PERIOD).subquery("d", copy=False)
    period = exp.column(PERIOD, table="d", quoted=True)
    parts = [
        _of_day(period, name, calendar).as_(name, quoted=True) for name in filter(_of_metric_time, request.dimensions)
    ]
    return exp.select(period, *parts).from_(instants, copy=False)


def _of_metric_time(name: str) -> bool:
    """A date part or a label of metric time (metric_time__extract_dow, metric_time__quarter)."""
    return (is_date_part(name) and name.startswith(METRIC_TIME + MARK)) or label_grain(name) is not None


def _of_day(day: exp.Expr, name: str, calendar: Calendar) -> exp.Expr:
    """The date part or the label `name` of metric time of a spine's day (or hour)."""
    grain = label_grain(name)
    if grain is not None:
        return calendar.period_start(day.copy(), grain)
    return date_part(day.copy(), require_part(name)[1])


def _day(value: date) -> exp.Expr:
    return exp.Cast(this=exp.Literal.string(value.isoformat()), to=exp.DataType.build("DATE"))


def _time_spine(spine: TimeSpineSpec | None) -> tuple[date, date] | None:
    """kpi_project.yml's `calendar: time_spine:` as (first day, last day); unset, None (KF205 warned)."""
    if spine is None or spine.start is None or spine.end is None:
        return None
    return spine.start, spine.end


def check_date_parts(layer: SemanticLayer, request: MetricRequest) -> None:
    """A date part is the part of each row's own day: what reads an earlier period's rows is refused, since
    the shifted rows' part is not the part the answer's row shows (KF428). So is a label of metric time
    (metric_time__quarter beside weeks), but for a cumulative metric, whose days carry their label."""
    refused = per_row_columns(layer, request)
    if not refused:
        return
    # but what each day carries (a label, a custom grain of metric time): a cumulative metric reads it from its days
    carried = day_columns(layer.files.config, refused)
    parts = [name for name in refused if name not in carried]
    grains = custom_grains(layer.files.config)
    code = "KF432" if split_custom_grain(refused[0], grains) else "KF428"  # refused as a date part is
    by = _kind_of_column(refused[0], code)
    if request.compare:
        raise QueryError(
            f"--compare {request.compare} by {by} ({refused[0]}): the earlier period's rows have other values",
            code=code,
            hint="compare periods without the date part, or query the two ranges with --start/--end",
        )
    for spec in reached_metrics(layer, request.metrics):
        # whole days back: the rows move forward (SeriesBuilder._moved_forward), taking their day's columns
        inputs = spec.inputs if spec.type == "derived" else []
        shifted = [i for i in inputs if i.offset and not moves_rows(layer, request, i.offset, i.metric)]
        accumulates = spec.type == "cumulative" and (parts or is_subday(request.grain))
        if accumulates or shifted:
            what = (
                "accumulates earlier periods"
                if spec.type == "cumulative"
                else f"reads '{shifted[0].metric}' {shifted[0].offset} earlier"
            )
            raise QueryError(
                f"metric '{spec.name}' {what}: it has no value by {by} ({refused[0]})",
                code=code,
                hint="ask for it by a grain (metric_time__day, --grain month), or by the date part alone when "
                "it reads days or weeks back ('5 days'), or for its input metrics by the date part",
            )


def check_labels(request: MetricRequest) -> None:
    """A label of metric time is a coarser grain than the period (each period's days have one label, or a
    few: a week straddling two quarters has a row in each); a finer one is KF414."""
    for name, grain in label_grains(request.dimensions).items():
        if request.grain != ALL_TIME and not is_coarser_or_equal(grain, request.grain):
            raise QueryError(
                f"'{name}' is finer than the request's grain {request.grain}",
                code="KF414",
                hint=f"ask for the finer grain as the period and the coarser as a label: --grain {grain} "
                f"--by {label_name(request.grain)}",
            )


def _kind_of_column(name: str, code: str) -> str:
    if code == "KF432":
        return "a custom grain"
    if is_date_part(name):
        return "a date part"
    return "another grain of metric time" if label_grain(name) else "another time's period"


def _min_max(layer: SemanticLayer, request: MetricRequest) -> exp.Select:
    if request.metrics or not (request.dimensions or _asks_time(request)):
        raise QueryError(
            "--min-max takes dimensions (or metric_time) and no metric: it gives the first and last value of each",
            code="KF434",
            hint="drop --metric (ask for --by DIMENSION --min-max), or drop --min-max",
        )
    values = compile_request(layer, replace(request, min_max=False))
    bounds: list[exp.Expr] = []
    for name in values.named_selects:
        bounds.append(exp.Min(this=col(name)).as_(f"{name}__min", quoted=True, copy=False))
        bounds.append(exp.Max(this=col(name)).as_(f"{name}__max", quoted=True, copy=False))
    return exp.select(*bounds).from_(values.subquery("v", copy=False), copy=False)


def _metric_values(layer: SemanticLayer) -> MetricValues:
    """The query of a metric per entity a filter names: the metric over all time by the entity."""

    def compile_values(metric: str, group_by: str) -> exp.Select:
        with computing(metric):
            return compile_request(layer, MetricRequest((metric,), (group_by,), ALL_TIME))

    return compile_values


def _check(layer: SemanticLayer, request: MetricRequest) -> None:
    if not request.metrics:
        raise QueryError("no metric asked for", code="KF401", hint="pass --metric NAME, or --by alone for values")
    if request.grain in custom_grains(layer.files.config):
        raise not_a_period_grain(request.grain)
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
    check_labels(request)
    check_date_parts(layer, request)
    refuse_year_compare(request.grain, request.compare)
    if request.compare and request.grain == ALL_TIME:
        raise QueryError(
            f"--compare {request.compare} over all time: there is no earlier period to compare with",
            code="KF423",
            hint="ask for a grain (--grain month), or query the two ranges with --start/--end",
        )
