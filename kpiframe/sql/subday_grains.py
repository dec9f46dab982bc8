"""Grains finer than a day (hour, minute, second, millisecond): periods that are instants.

A period of a sub-day grain is the TIMESTAMP its hour (minute, ...) starts at (Calendar.period_start), and a
request's bounds are instants: `--start-time 2020-01-01T02:00:25` begins with the hour from 02:00. A time
dimension stored as a DATE has all its rows at midnight.

The spine at such a grain has a row per hour (minute, ...) of its range, and a day of seconds is 86,400
rows. A spine of more than MAX_PERIODS periods is refused (KF435) before the warehouse is asked to list
it: where its range is the project's time spine (metric_time without a metric, a metric with
`join_to_timespine: true`), when the request is compiled; over the data's own range, by asking the
warehouse for the spine's first and last period before the request runs (Project.query).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlglot import exp

from kpiframe.errors import QueryError
from kpiframe.sql.calendar import MILLISECONDS, SUBDAY_GRAINS, Calendar, date_series, period_literal
from kpiframe.sql.time_spine import BOUNDS, PERIOD, SPINE_END, SPINE_START

STEP = {grain: timedelta(milliseconds=MILLISECONDS[grain.upper()]) for grain in SUBDAY_GRAINS}
MAX_PERIODS = 5_000_000


def is_subday(grain: str) -> bool:
    return grain in SUBDAY_GRAINS


def time_spine_range(
    spine: tuple[date, date], grain: str, start: date | None, end: date | None
) -> tuple[datetime, datetime]:
    """The first and last period of the time spine's days at a sub-day grain, within --start/--end (period
    starts), refused (KF435) when longer than MAX_PERIODS periods."""
    first = datetime.combine(spine[0], time())
    last = datetime.combine(spine[1], time()) + timedelta(days=1) - STEP[grain]
    if start is not None:
        first = max(first, _instant(start))
    if end is not None:
        last = min(last, _instant(end))
    check_size(first, last, grain)
    return first, last


def check_size(first: datetime, last: datetime, grain: str) -> None:
    periods = (last - first) // STEP[grain] + 1
    if periods > MAX_PERIODS:
        raise QueryError(
            f"{periods:,} periods of a {grain} from {first} to {last}: more than the {MAX_PERIODS:,} rows "
            "kpiframe answers",
            code="KF435",
            hint="bound the request with --start-time and --end-time, or ask for a coarser grain",
        )


def spine_periods(first: datetime, last: datetime, grain: str, calendar: Calendar, name: str) -> exp.Select:
    """SELECT one row `name` per period of `grain` from `first` to `last` (both period starts)."""
    bounds = [calendar.period_start(period_literal(value, grain), grain) for value in (first, last)]
    return date_series(bounds[0], bounds[1], grain, name)


def spine_bounds_query(tree: exp.Query) -> exp.Select | None:
    """SELECT the first and last period of a request's spine (its `spine_bounds` CTE, with the request's
    CTEs), to count the periods before the warehouse lists them; None for a request without a spine."""
    found = tree.find(exp.With)
    bounds = next((cte for cte in found.expressions if cte.alias == BOUNDS), None) if found else None
    if found is None or bounds is None:
        return None
    read = {table.name for table in bounds.this.find_all(exp.Table)}  # the scans whose periods bound it
    before = found.expressions[: found.expressions.index(bounds) + 1]  # what the bounds can read, and they
    ctes = [_periods_only(cte) if cte.alias in read else cte.copy() for cte in before]
    select = exp.select(exp.column(SPINE_START, quoted=True), exp.column(SPINE_END, quoted=True))
    select = select.from_(exp.table_(BOUNDS, quoted=True), copy=False)
    select.set("with_", exp.With(expressions=ctes))
    return select


def _periods_only(cte: exp.CTE) -> exp.CTE:
    """A scan reduced to the period of each row: the bounds need no aggregate (a count distinct per hour of
    a million sessions costs as much as the answer). Without its HAVING it may keep more periods, never
    fewer: a bound that is never too short. Any other shape of CTE is kept whole."""
    scan = cte.this
    if not isinstance(scan, exp.Select) or not scan.args.get("group"):
        return cte.copy()
    period = next((p for p in scan.expressions if p.alias_or_name == PERIOD), None)
    if period is None:
        return cte.copy()
    slim = scan.copy()
    slim.set("expressions", [period.copy()])
    slim.set("group", None)
    slim.set("having", None)
    return exp.CTE(this=slim, alias=cte.args["alias"].copy())


def refuse_year_compare(grain: str, compare: str | None) -> None:
    """The spine of a sub-day request reaches back a day, not a year (kpiframe.sql.time_spine.history_step)."""
    if compare == "year" and is_subday(grain):
        raise QueryError(
            f"--compare year at {grain} grain: a year of {grain}s is more history than kpiframe reads",
            code="KF435",
            hint="compare with the previous period (--compare previous), or ask for day grain or coarser",
        )


def _instant(value: date) -> datetime:
    return value if isinstance(value, datetime) else datetime.combine(value, time())
