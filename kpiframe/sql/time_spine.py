"""The time spine of a metric request: every period of its range, for every dimension combination.

A metric request answers one row per period and dimension combination whether or not that period has
rows, like MetricFlow's time spine. Four CTEs, shared by every series of the request, carry it:
  * `spine_bounds`: the range asked (--start/--end, or else the first and last period with data) and the
    spine's first period. A request that reads a metric with `join_to_timespine: true` answers, where
    --start or --end is not given, from (or to) the period holding the first (or last) day of the
    project's `calendar: time_spine:`, or the data's first (last) period when that lies further out, so
    it never hides data; When a series reads earlier periods, that is a year before anything in the
    range, so that a comparison or an offset at the range's first period reads the period before it
    (0 when it has no rows) and a cumulative metric has its history;
  * `spine_periods`: one row per period start from that first period to the range's end (with a label of
    metric time, `metric_time__quarter` beside weeks, one row per (period, label) pair of its days);
  * `spine_values`: every dimension combination the metrics' data has, whatever the range;
  * `spine`: periods × combinations, which each series left-joins its values to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlglot import exp

from kpiframe.sql.calendar import (
    MILLISECONDS,
    SUBDAY_GRAINS,
    Calendar,
    date_series,
    grain_step,
    period_literal,
    period_type,
    year_step,
)
from kpiframe.sql.calendar import interval as interval_of
from kpiframe.sql.expressions import col
from kpiframe.sql.time_grains import label_grains


@dataclass(frozen=True)
class RunOn:
    """A cumulative series that runs on past the last data while its window holds rows (MetricFlow's rule,
    `query: cumulative_past_data: true`): a window of (count, unit), or to the end of a `grain_to_date`
    period; never past the project's time spine, which MetricFlow's series never leave."""

    window: tuple[int, str] | None
    grain_to_date: str | None


@dataclass(frozen=True)
class Reach:
    """How far the spine reaches beyond the first and last periods with data (when --start/--end do not set
    its bounds).

    `history`: some series reads earlier periods (a window or a shift), so the spine begins a year early;
    `shifts`: the input offsets ('5 days' as (5, 'DAY')), each after those of the offsets that read it: one
    longer than a year begins the spine that much earlier still; without --end, the spine runs on to the
    last period that reads data that far back (as MetricFlow answers '5 days ago' 5 days past the data);
    `time_spine`: the first and last day of the project's time spine, when some metric of the request joins
    to it (`join_to_timespine: true`): the range's default bounds reach out to its periods;
    `whole_periods_of`: a daily series read by periods of this grain spans from the first day of the period
    holding its first data to the last day of the one holding its last (a month's average of a cumulative
    metric reads every day of the month);
    `run_ons`: cumulative series that run on past the last data (RunOn), at most to `time_spine_end`, the
    project's time spine's last day (without it, none runs on).
    """

    history: bool = False
    shifts: tuple[tuple[tuple[int, str], ...], ...] = ()
    time_spine: tuple[date, date] | None = None
    whole_periods_of: str | None = None
    run_ons: tuple[RunOn, ...] = ()
    time_spine_end: date | None = None


PERIOD = "period_start"
BOUNDS = "spine_bounds"
PERIODS = "spine_periods"
VALUES = "spine_values"
SPINE = "spine"
SPINE_START, SPINE_END, RANGE_START, RANGE_END = "spine_start", "spine_end", "range_start", "range_end"


def spine_ctes(
    scans: list[str],
    value_sources: list[str],
    dims: list[str],
    grain: str,
    calendar: Calendar,
    start: date | None,
    end: date | None,
    reach: Reach,
) -> list[tuple[str, exp.Query]]:
    """The CTEs of the spine, over the period_start of every scan and the dimensions of `value_sources`,
    from `start` to `end` or as far as `reach` takes it."""
    labels = label_grains(dims)
    ctes = [
        (BOUNDS, _bounds(scans, grain, calendar, start, end, reach)),
        (PERIODS, _labelled_periods(grain, labels, calendar) if labels else _periods(grain)),
    ]
    periods = exp.table_(PERIODS, quoted=True).as_("s", quoted=True)
    own = [col(PERIOD, "s"), *[col(name, "s") for name in labels]]
    others = [d for d in dims if d not in labels]
    if not others:
        return [*ctes, (SPINE, exp.select(*own).from_(periods))]
    every = _every_combination(value_sources, others)
    spine = (
        exp.select(*own, *[col(d, "v") for d in others])
        .from_(periods)
        .join(exp.Join(this=exp.table_(VALUES, quoted=True).as_("v", quoted=True), kind="CROSS"), copy=False)
    )
    return [*ctes, (VALUES, every), (SPINE, spine)]


def _periods(grain: str) -> exp.Select:
    return date_series(_bound(SPINE_START), _bound(SPINE_END), grain, PERIOD)


def _labelled_periods(grain: str, labels: dict[str, str], calendar: Calendar) -> exp.Select:
    """The spine's periods with the labels of metric time (metric_time__quarter) of their days: a period
    whose days have two labels (a week straddling two quarters) is listed with each."""
    if grain in SUBDAY_GRAINS:  # an hour (minute, ...) lies within one day, so within one of each label
        days = _periods(grain).subquery("d", copy=False)
        unit = grain
    else:  # every day from the spine's first period to the last day of its last
        last_day = _last_day(_bound(SPINE_END), grain)
        days = date_series(_bound(SPINE_START), last_day, "day", PERIOD).subquery("d", copy=False)
        unit = "day"
    day = col(PERIOD, "d")
    period = day if unit == grain else calendar.period_start(day, grain)
    columns = [
        period.as_(PERIOD, quoted=True),
        *[calendar.period_start(day.copy(), g).as_(n, quoted=True) for n, g in labels.items()],
    ]
    return exp.select(*columns).distinct().from_(days, copy=False)


def whole_range_ctes(value_sources: list[str], dims: list[str]) -> list[tuple[str, exp.Query]]:
    """The spine of a request over all time (no period): every dimension combination the metrics' data has,
    or, without dimensions, the one row that the totals stand beside."""
    if not dims:
        return [(SPINE, exp.select(exp.Literal.number(1).as_("whole_range", quoted=True)))]
    return [
        (VALUES, _every_combination(value_sources, dims)),
        (SPINE, exp.select(exp.Star()).from_(exp.table_(VALUES, quoted=True))),
    ]


def in_range(period: exp.Expr) -> exp.Expr:
    """The condition that keeps the periods of the range asked (built as nodes: exp.and_ copies both)."""
    return exp.And(
        this=exp.GTE(this=period.copy(), expression=_bound(RANGE_START)),
        expression=exp.LTE(this=period.copy(), expression=_bound(RANGE_END)),
    )


def _every_combination(value_sources: list[str], dims: list[str]) -> exp.Query:
    branches = [exp.select(*[col(d) for d in dims]).from_(exp.table_(source, quoted=True)) for source in value_sources]
    every: exp.Query = branches[0].distinct()  # a scan has a combination once per period
    for branch in branches[1:]:
        every = exp.union(every, branch, distinct=True, copy=False)
    return every


def _bounds(
    scans: list[str], grain: str, calendar: Calendar, start: date | None, end: date | None, reach: Reach
) -> exp.Select:
    branches = [exp.select(col(PERIOD)).from_(exp.table_(scan, quoted=True)) for scan in scans]
    periods: exp.Query = branches[0]
    for branch in branches[1:]:
        periods = exp.union(periods, branch, distinct=False, copy=False)
    first = _first(exp.Min(this=col(PERIOD)), grain, calendar, start, reach)
    last = _last(exp.Max(this=col(PERIOD)), grain, calendar, end, reach)
    spine_first = first.copy()
    if start:  # a range that begins before the data still has its first periods
        aligned = calendar.period_start(period_literal(start, grain), grain)
        spine_first = exp.Case(
            ifs=[
                exp.If(
                    this=exp.or_(
                        exp.Is(this=first.copy(), expression=exp.Null()), exp.GT(this=first.copy(), expression=aligned)
                    ),
                    true=aligned.copy(),
                )
            ],
            default=first.copy(),
        )
    spine_start = _history_start(spine_first, grain, calendar, reach) if reach.history else spine_first
    # the last period that starts on or before --end: a date series runs between period starts
    spine_end = calendar.period_start(period_literal(end, grain), grain) if end else last.copy()
    return exp.select(
        spine_start.as_(SPINE_START, quoted=True),
        spine_end.as_(SPINE_END, quoted=True),
        (period_literal(start, grain) if start else first).as_(RANGE_START, quoted=True),
        (period_literal(end, grain) if end else last).as_(RANGE_END, quoted=True),
    ).from_(periods.subquery("d", copy=False), copy=False)


def _first(first: exp.Expr, grain: str, calendar: Calendar, start: date | None, reach: Reach) -> exp.Expr:
    """The range's first period without --start: the data's first, or further back as `reach` says."""
    if reach.time_spine is not None and start is None:  # every period of the time spine, and the data's before
        first = _outermost(first, calendar.period_start(period_literal(reach.time_spine[0], grain), grain), exp.GT)
    if reach.whole_periods_of is not None and start is None:
        first = calendar.period_start(first, reach.whole_periods_of)
    return first


def _last(last: exp.Expr, grain: str, calendar: Calendar, end: date | None, reach: Reach) -> exp.Expr:
    """The range's last period without --end: the data's last, or further on as `reach` says."""
    data_last = last
    if reach.whole_periods_of is not None and end is None:
        last = _last_day(calendar.period_start(last, reach.whole_periods_of), reach.whole_periods_of)
    if reach.run_ons and reach.time_spine_end is not None:  # rows in a window past the last data (MetricFlow's)
        spine_last = _last_period(reach.time_spine_end, grain, calendar)
        ahead = [_before(_run_on_end(data_last, run_on, grain, calendar), spine_last) for run_on in reach.run_ons]
        last = exp.Greatest(this=last, expressions=ahead)
    if reach.shifts:  # '5 days ago' has data up to 5 days past the last data
        ahead = [calendar.period_start(_shifted(last, chain, grain), grain) for chain in reach.shifts]
        last = exp.Greatest(this=last, expressions=ahead)
    if reach.time_spine is not None and end is None:  # to the time spine's last period, or the data's after it
        last = _outermost(last, _last_period(reach.time_spine[1], grain, calendar), exp.LT)
    return last


def _history_start(spine_first: exp.Expr, grain: str, calendar: Calendar, reach: Reach) -> exp.Expr:
    """A year (a day, at a sub-day grain) before anything in range: comparisons and offsets read there."""
    count, unit = history_step(grain)
    back = exp.Sub(this=spine_first, expression=interval_of(count, unit))
    spine_start: exp.Expr = exp.Cast(this=back, to=period_type(grain))
    longer = {shift for chain in reach.shifts for shift in chain if _beyond(shift, grain)}
    for count, unit in sorted(longer):  # back that much more, to a period start
        earlier = exp.Sub(this=spine_start, expression=interval_of(count, unit))
        further = exp.Cast(this=earlier, to=period_type(grain))
        spine_start = calendar.period_start(further, grain)
    return spine_start


def _last_day(period: exp.Expr, grain: str) -> exp.Expr:
    """The last day of the period of `grain` starting at `period`."""
    count, step = grain_step(grain)
    after = exp.Add(this=period, expression=interval_of(count, step))
    return exp.Cast(this=exp.Sub(this=after, expression=interval_of(1, "DAY")), to=period_type("day"))


def _run_on_end(last: exp.Expr, run_on: RunOn, grain: str, calendar: Calendar) -> exp.Expr:
    """The last period whose window still holds a row of the last period `last`: the window's length on
    from its last day (instant), or the end of its grain_to_date period."""
    # from the last period's instant (a window of 3 hours from it ends 2 hours on), or its last day
    final = last.copy() if grain in SUBDAY_GRAINS else _last_day(last.copy(), grain)
    if run_on.grain_to_date is not None:
        final = _last_day(calendar.period_start(final, run_on.grain_to_date), run_on.grain_to_date)
    else:
        count, unit = run_on.window or (0, "DAY")
        step_count, step_unit = grain_step(grain) if grain in SUBDAY_GRAINS else (1, "DAY")
        moved = exp.Add(this=final, expression=interval_of(count, unit))
        final = exp.Cast(this=exp.Sub(this=moved, expression=interval_of(step_count, step_unit)), to=period_type(grain))
    return calendar.period_start(final, grain)


def _before(value: exp.Expr, bound: exp.Expr) -> exp.Expr:
    """`value`, or `bound` where it lies beyond it."""
    return exp.Case(ifs=[exp.If(this=exp.GT(this=value.copy(), expression=bound.copy()), true=bound)], default=value)


def _outermost(data: exp.Expr, spine: exp.Expr, beyond: type[exp.GT] | type[exp.LT]) -> exp.Expr:
    """The spine's bound, unless the data's (NULL over no rows) lies further out (`beyond` it): a CASE,
    whose NULL handling is the same in every dialect (LEAST and GREATEST skip NULLs in some, not in all)."""
    further = exp.and_(
        exp.Not(this=exp.Is(this=data.copy(), expression=exp.Null())),
        beyond(this=spine.copy(), expression=data.copy()),
        copy=False,
    )
    return exp.Case(ifs=[exp.If(this=further, true=data)], default=spine)


def history_step(grain: str) -> tuple[int, str]:
    """How far before the range the spine of a request that reads earlier periods begins: a year, so that
    a comparison with a year ago has its periods; a day at a sub-day grain (a year of seconds is 31 million
    rows), where --compare year is refused (kpiframe.sql.metric_query)."""
    return (1, "DAY") if grain in SUBDAY_GRAINS else year_step(grain)


def _beyond(shift: tuple[int, str], grain: str) -> bool:
    """Whether an offset reaches back further than the history the spine has anyway."""
    count, unit = shift
    if grain in SUBDAY_GRAINS:  # a month is more than the day of history
        return unit == "MONTH" or count * MILLISECONDS[unit] > MILLISECONDS["DAY"]
    return unit in ("DAY", "MONTH") and count > (365 if unit == "DAY" else 12)


def _last_period(day: date, grain: str, calendar: Calendar) -> exp.Expr:
    """The last period of the time spine's last day: at a sub-day grain, its last hour (minute, ...)."""
    if grain not in SUBDAY_GRAINS:
        return calendar.period_start(period_literal(day, grain), grain)
    count, unit = grain_step(grain)
    next_day = exp.Add(this=period_literal(day, grain), expression=interval_of(1, "DAY"))
    return exp.Cast(this=exp.Sub(this=next_day, expression=interval_of(count, unit)), to=period_type(grain))


def _shifted(value: exp.Expr, chain: tuple[tuple[int, str], ...], grain: str) -> exp.Expr:
    for count, unit in chain:
        moved = exp.Add(this=value.copy(), expression=interval_of(count, unit))
        value = exp.Cast(this=moved, to=period_type(grain))
    return value


def _bound(name: str) -> exp.Expr:
    """One column of the bounds as a scalar subquery (qualified: see calendar.date_series).

    Built as nodes: through the builders (which parse and copy) these four small subqueries were a
    quarter of the time of compiling a one-metric query, which the docs site does for every metric."""
    alias = exp.TableAlias(this=exp.to_identifier("b", quoted=True))
    table = exp.Table(this=exp.to_identifier(BOUNDS, quoted=True), alias=alias)
    return exp.Subquery(this=exp.Select(expressions=[col(name, "b")], from_=exp.From(this=table)))
