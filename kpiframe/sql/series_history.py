"""What reads earlier periods of a series: cumulative metrics (windows, grain to date) and shifted series
(`--compare`, an input's `offset:`).

Each is a CTE of its own over a subseries of one metric (`SeriesBuilder.subseries`, unbounded below so the
first periods asked see their history), added to the builder's parts as a column beside the spine's rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlglot import exp

from kpiframe.errors import QueryError
from kpiframe.load.specs import ProjectSpec
from kpiframe.sql.calendar import (
    SUBDAY_GRAINS,
    grain_step,
    interval,
    is_coarser_or_equal,
    offset_window,
    period_type,
    year_step,
)
from kpiframe.sql.custom_grains import metric_time_grains, with_custom_grains
from kpiframe.sql.distinct_window import DistinctWindow, distinct_rows, distinct_window_select
from kpiframe.sql.expressions import col
from kpiframe.sql.offsets import column_name, is_pulled, pulled_series, target_period, window
from kpiframe.sql.time_grains import label_grains
from kpiframe.sql.time_spine import PERIOD, RunOn

if TYPE_CHECKING:  # series.py imports this module when it runs
    from kpiframe.sql.series import SeriesBuilder


def _has(builder: SeriesBuilder, column: str) -> bool:
    return any(column in part.columns for part in builder.parts)


def cumulative(builder: SeriesBuilder, name: str) -> exp.Expr:
    spec = builder.layer.metric(name)
    coarser = builder.periodic and builder.request.grain not in ("day", *SUBDAY_GRAINS)
    # a window partitioned by a label (or a custom grain) of metric time would restart at each value
    labelled = bool(day_columns(builder.layer.files.config, builder.dim_names))
    if not builder.periodic or labelled or (coarser and spec.period_agg != "last"):
        return _from_days(builder, name)
    if _has(builder, f"c_{name}"):
        return col(f"c_{name}")
    _run_on(builder, name)
    base = spec.metric or ""
    if builder.layer.metric(base).type != "simple":
        raise QueryError(f"cumulative metric '{name}' must accumulate a simple metric", code="KF420")
    if builder.layer.measures[builder.layer.metric(base).measure or ""].agg == "count_distinct":
        return _distinct_cumulative(builder, name)
    source = builder.subseries(base)
    grain = builder.request.grain
    dims = [col(d) for d in builder.dim_names]
    partition: list[exp.Expr] = list(dims)
    spec_window: exp.Expr | None = None
    if spec.grain_to_date:
        if not is_coarser_or_equal(spec.grain_to_date, grain):
            raise QueryError(f"'{name}' accumulates to {spec.grain_to_date}, finer than grain {grain}", code="KF421")
        partition.append(builder.calendar.period_start(col(PERIOD), spec.grain_to_date))
    else:
        spec_window = window_frame(name, spec.window or "", grain)
    running = exp.Window(
        this=exp.Sum(this=col(base)),
        partition_by=partition or None,
        order=exp.Order(expressions=[exp.Ordered(this=col(PERIOD))]),
        spec=spec_window,
    )
    column = f"c_{name}"
    query = exp.select(col(PERIOD), *dims, running.as_(column, quoted=True)).from_(exp.table_(source, quoted=True))
    cte = builder.context.name(f"cumulative_{name}")
    builder.context.ctes.append((cte, query))
    # a combination the base metric never had has no accumulated rows: what the base answers over none
    base_spec = builder.layer.metric(base)
    empty = base_spec.empty_value(builder.layer.measures[base_spec.measure or ""].agg)
    builder.add_part(cte, column, {} if empty is None else {column: empty})
    return col(column)


def day_columns(config: ProjectSpec, names: Iterable[str]) -> set[str]:
    """The group-bys each day carries: labels (metric_time__quarter) and custom grains of metric time. A
    cumulative metric's daily series is asked without them, and each period reads them from its days
    (_from_days)."""
    names = list(names)
    return {*label_grains(names), *metric_time_grains(config, names)}


def _run_on(builder: SeriesBuilder, name: str) -> None:
    """With `query: cumulative_past_data: true` (MetricFlow's rule), the spine runs on past the last data
    while the metric's window holds rows (kpiframe.sql.time_spine)."""
    if not builder.layer.files.config.query.cumulative_past_data:
        return
    spec = builder.layer.metric(name)
    run_on = RunOn(offset_window(spec.window) if spec.window else None, spec.grain_to_date)
    if run_on not in builder.context.run_ons:
        builder.context.run_ons.append(run_on)


def _from_days(builder: SeriesBuilder, name: str) -> exp.Expr:
    """A cumulative metric's value per period taken from its daily series, by its `period_agg`: the last
    day's (over all time, grain `all`: the range's last day, --end or the last day with data), the first
    day's, or the average of the days'; a day whose window holds no row (NULL) counts only when no day of
    the period has a value. The daily series over the same range, dimensions and filter is a query of its
    own (context.daily), running on to the last day of the last period; each period of the answer reads
    the days it holds, and a label of metric time (metric_time__quarter) is its day's."""
    column = f"c_{name}"
    if _has(builder, column):
        return col(column)
    context, daily_series = builder.context, builder.context.daily
    if daily_series is None:
        raise AssertionError("a request without its daily series")
    daily = context.name(f"daily_{name}")
    context.inputs.append((daily, daily_series(name)))  # before the spine, which reads the periods of `cte`
    period = builder.calendar.period_start(col(PERIOD), builder.request.grain) if builder.periodic else None
    labels = label_grains(builder.dim_names)  # the daily series has none: each day's is its own
    dims = [builder.calendar.period_start(col(PERIOD), labels[d]) if d in labels else col(d) for d in builder.dim_names]
    keys = [*([period] if period is not None else []), *dims]
    projections = [*([period.copy().as_(PERIOD, quoted=True)] if period is not None else [])]
    projections += [dim.copy().as_(name, quoted=True) for dim, name in zip(dims, builder.dim_names, strict=True)]
    config = builder.layer.files.config
    custom = metric_time_grains(config, builder.dim_names)  # nor custom grains: the spine's, of each day
    days: exp.Expr = exp.table_(daily, quoted=True)
    if custom:
        days = with_custom_grains(config, daily, custom).subquery("c", copy=False)
    agg = builder.layer.metric(name).period_agg
    if agg == "average":
        average = exp.Avg(this=col(name)).as_(column, quoted=True)
        select = exp.select(*projections, average).from_(days).group_by(*[k.copy() for k in keys])
    else:  # the first or last day with a value of each period (of each dimension combination): rank the
        # days, those whose window holds no row (NULL) last, as MetricFlow reads only days with rows
        empty = exp.Ordered(this=exp.Is(this=col(name), expression=exp.Null()))
        order = exp.Ordered(this=col(PERIOD), desc=agg == "last")
        rank = exp.Window(
            this=exp.RowNumber(),
            partition_by=[k.copy() for k in keys] or None,
            order=exp.Order(expressions=[empty, order]),
        )
        ranked = exp.select(exp.Star(), rank.as_("day_rank", quoted=True)).from_(days).subquery("d", copy=False)
        select = exp.select(*projections, col(name).as_(column, quoted=True)).from_(ranked)
        select = select.where(exp.EQ(this=col("day_rank"), expression=exp.Literal.number(1)), copy=False)
    cte = context.name(f"{agg}_day_{name}")
    context.inputs.append((cte, select))
    context.value_sources.append(cte)  # its dimension values are the answer's too
    if period is not None:
        context.scans.append(cte)  # and its periods bound the spine
    builder.add_part(cte, column)
    return col(column)


def _distinct_cumulative(builder: SeriesBuilder, name: str) -> exp.Expr:
    """A cumulative count_distinct counts the distinct values of its window's rows (distinct_window.py)."""
    spec = builder.layer.metric(name)
    base = builder.layer.metric(spec.metric or "")
    measure = builder.layer.measures[base.measure or ""]
    grain = builder.request.grain
    if base.filter:
        raise QueryError(
            f"cumulative metric '{name}' counts the distinct values of '{base.name}', which has a filter",
            code="KF425",
            hint=f"accumulate a simple metric without a filter over '{measure.name}'",
        )
    if spec.grain_to_date and not is_coarser_or_equal(spec.grain_to_date, grain):
        raise QueryError(f"'{name}' accumulates to {spec.grain_to_date}, finer than grain {grain}", code="KF421")
    if spec.window:
        window_frame(name, spec.window, grain)  # refuses a window finer than the grain (KF421)
    _run_on(builder, name)
    context = builder.context
    context.history = True
    rows = context.name(f"rows_{measure.dataset}")
    shape = builder.shape(None, builder.end)
    context.inputs.append((rows, distinct_rows(builder.layer, builder.calendar, shape, measure, name)))
    context.scans.append(rows)
    context.value_sources.append(rows)
    column = f"c_{name}"
    spec_window = DistinctWindow(spec.window, spec.grain_to_date, base.empty_value(measure.agg))
    cte = context.name(f"cumulative_{name}")
    window_select = distinct_window_select(rows, builder.dim_names, column, spec_window, builder.calendar, grain)
    context.ctes.append((cte, window_select))
    builder.add_part(cte, column)
    return col(column)


def window_frame(name: str, text: str, grain: str) -> exp.WindowSpec:
    count_text, _, unit = text.strip().partition(" ")
    unit = unit.strip().lower().rstrip("s")
    if not count_text.isdigit() or unit not in ("day", "week", "month", "quarter", "year", *SUBDAY_GRAINS):
        raise QueryError(f"'{name}': window '{text}' must look like '7 days' or '3 months'", code="KF422")
    count = int(count_text)
    if not is_coarser_or_equal(unit, grain):
        raise QueryError(
            f"'{name}': a {text} window cannot be computed at {grain} grain",
            code="KF421",
            hint=f"query it at {unit} grain or finer",
        )
    # periods whose start lies within (current - window, current]: period starts are dates, so the frame
    # reaches back the window minus one day (by week, a month window keeps each week starting after the
    # same day a month earlier). Periods counted in months (month to fiscal_year) all start on the same
    # day of a month: minus one period keeps the same ones, with one kind of interval (Spark subtracts no
    # days from months).
    step_count, step_unit = grain_step(grain)
    back = interval(1, "DAY") if step_unit == "DAY" else interval(step_count, step_unit)
    reach: exp.Expr = exp.Sub(this=interval(count, unit), expression=back)
    return exp.WindowSpec(kind="RANGE", start=reach, start_side="PRECEDING", end="CURRENT ROW")


def shifted(builder: SeriesBuilder, metric: str, offset: str) -> exp.Expr:
    """The metric's value one period (or one year) earlier, aligned on the current period."""
    if is_pulled(offset):
        return _pulled(builder, metric, offset)
    column = f"s_{offset}_{metric}"
    if _has(builder, column):  # asked twice: one shifted series serves both
        return col(column)
    source = builder.subseries(metric)
    grain = builder.request.grain
    count, unit = grain_step(grain) if offset == "previous" else year_step(grain)
    moved = exp.Cast(this=exp.Add(this=col(PERIOD), expression=interval(count, unit)), to=period_type(grain))
    query = exp.select(
        moved.as_(PERIOD, quoted=True), *[col(d) for d in builder.dim_names], col(metric).as_(column, quoted=True)
    ).from_(exp.table_(source, quoted=True))
    # a period that does not come back when shifted back (29 February + 1 year = 28 February)
    # has no counterpart: keeping it would give 28 February two earlier values
    back = exp.Cast(this=exp.Sub(this=moved.copy(), expression=interval(count, unit)), to=period_type(grain))
    query = query.where(exp.EQ(this=back, expression=col(PERIOD)))
    cte = builder.context.name(f"shift_{metric}")
    builder.context.ctes.append((cte, query))
    builder.add_part(cte, column)
    return col(column)


def _pulled(builder: SeriesBuilder, metric: str, offset: str) -> exp.Expr:
    """The metric's value at the date an offset window or 'start of <grain>' names (offsets.py)."""
    column = column_name(offset, metric)
    if _has(builder, column):
        return col(column)
    target = target_period(offset, col(PERIOD, "k"), builder.request.grain, builder.calendar, f"'{metric}'")
    shift = window(offset)
    chain = (*builder.shifted_by, shift) if shift else builder.shifted_by
    if chain and chain not in builder.context.shifts:
        builder.context.shifts.append(chain)
    source = builder.subseries(metric, chain)
    cte = builder.context.name(f"offset_{metric}")
    builder.context.ctes.append((cte, pulled_series(source, metric, column, builder.dim_names, target)))
    builder.add_part(cte, column)
    return col(column)
