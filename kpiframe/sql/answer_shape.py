"""What a request asks of its answer beyond the numbers: the order of its rows, how many, and a time range
given as instants (MetricFlow's `--order`, `--limit`, `--start-time`, `--end-time`).

The compiled request (metric_query.compile_request) already orders its rows by period and dimensions.
An asked order and limit wrap it, `SELECT <columns> FROM (<request>) AS answer ORDER BY ... LIMIT n`, so the
request's own SQL is unchanged and every dialect reads the output columns by name; the request's order
stays behind the asked keys, so ties keep a stable order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlglot import exp

from kpiframe.errors import QueryError
from kpiframe.load.project_settings import CalendarSpec
from kpiframe.sql.calendar import ALL_TIME, SUBDAY_GRAINS, WEEKDAYS

ANSWER = "answer"
PERIOD_COLUMN = "period_start"


@dataclass(frozen=True)
class OrderKey:
    column: str
    descending: bool


def order_keys(
    asked: Sequence[str], columns: Sequence[str], group_by_column: Callable[[str], str | None]
) -> list[OrderKey]:
    """The output column of each asked key: `-name` is descending; a name is a column of the answer, a
    metric, `metric_time` (at any grain: the period), or a group-by name as the request accepts it
    (`group_by_column` resolves those, None when it cannot). `a,b` in one value is two keys."""
    keys: list[OrderKey] = []
    for part in (p.strip() for value in asked for p in value.split(",")):
        if not part:
            continue
        descending = part.startswith("-")
        name = part.lstrip("-").strip()
        column = _column_of(name, columns, group_by_column)
        if column is None:
            raise QueryError(
                f"cannot order by '{name}': it is not a column of the answer",
                code="KF418",
                hint=f"order by one of: {', '.join(columns)} (prefix - for descending, e.g. -{columns[-1]})",
            )
        keys.append(OrderKey(column, descending))
    return keys


def _column_of(name: str, columns: Sequence[str], group_by_column: Callable[[str], str | None]) -> str | None:
    if name in columns:
        return name
    if (name == "metric_time" or name.startswith("metric_time__")) and PERIOD_COLUMN in columns:
        return PERIOD_COLUMN
    try:
        found = group_by_column(name)
    except QueryError:  # not a group-by name either: reported as not a column
        return None
    if found is None or found in columns:
        return found
    # a dimension asked by its short name (`region`) and ordered by its full one (`customer__region`), or
    # the other way round: the query accepted the short name, so it names one dimension
    short = found.rpartition("__")[2]
    same = [c for c in columns if c == short or c.rpartition("__")[2] == found]
    return same[0] if len(same) == 1 else None


def check_limit(limit: int | None) -> int | None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise QueryError(
            f"limit must be a whole number of rows, 0 or more (got {limit!r})",
            code="KF419",
            hint="e.g. --limit 10; leave it out for every row",
        )
    return limit


def shaped(query: exp.Select, keys: Sequence[OrderKey], limit: int | None) -> exp.Select:
    """`query` with the rows in the order of `keys` (then its own order) and at most `limit` of them."""
    if not keys and limit is None:
        return query
    columns = query.named_selects
    outer = exp.select(*[exp.column(c, table=ANSWER, quoted=True) for c in columns]).from_(
        query.subquery(ANSWER, copy=False), copy=False
    )
    ordering = [
        exp.Ordered(this=exp.column(k.column, table=ANSWER, quoted=True), desc=k.descending, nulls_first=False)
        for k in keys
    ]
    asked = {k.column for k in keys}
    own = query.args.get("order")
    if own is not None:  # the request's order, as tie-breaker: an output column of the same name
        ordering += [
            exp.Ordered(this=exp.column(o.this.name, table=ANSWER, quoted=True), desc=o.args.get("desc"))
            for o in own.expressions
            if isinstance(o.this, exp.Column) and o.this.name in columns and o.this.name not in asked
        ]
    if ordering:
        outer = outer.order_by(*ordering, copy=False)
    if limit is not None:
        outer = outer.limit(limit, copy=False)
    return outer


# --- instants: MetricFlow's --start-time / --end-time ---------------------------------------------------------


def request_range(
    grain: str,
    calendar: CalendarSpec,
    start: date | str | None = None,
    end: date | str | None = None,
    start_time: date | datetime | str | None = None,
    end_time: date | datetime | str | None = None,
) -> tuple[date | None, date | None]:
    """The first and last period of a request: `start`/`end` as given (period starts), or the periods of
    `grain` holding the instants `start_time`/`end_time` (MetricFlow's time constraint); both of one end is
    KF417."""
    first, last = _as_date(start), _as_date(end)
    for option, instant, bound in (("start_time", start_time, first), ("end_time", end_time, last)):
        moment = instant_time(instant, option, calendar.time_zone)
        if moment is None:
            continue
        if bound is not None:
            both = f"{option} (--{option.replace('_', '-')}) and {option.split('_')[0]}"
            hint = "the first is an instant, the second a period start: give one of them"
            raise QueryError(f"both {both} given", code="KF417", hint=hint)
        aligned = period_start_of(moment, grain, calendar.week_start, calendar.fiscal_year_start_month)
        first, last = (aligned, last) if option == "start_time" else (first, aligned)
    return first, last


def _as_date(value: date | str | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


def instant_time(value: date | datetime | str | None, option: str, zone: str = "UTC") -> datetime | None:
    """An instant given as a date (its midnight), a datetime or ISO text, as a wall-clock time of `zone`
    (calendar: time_zone:, in which kpiframe reads every time): '2026-03-01T02:00:00+05:00' is 21:00 UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        return datetime.combine(value, datetime.min.time())
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise QueryError(
                f"{option} '{value}' is not a date or a date and time",
                code="KF417",
                hint="write it as ISO 8601: 2024-03-01 or 2024-03-01T00:00:00",
            ) from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    return moment


def period_start_of(instant: datetime, grain: str, week_start: str = "monday", fiscal_start_month: int = 1) -> date:
    """The start of the period of `grain` that holds `instant`, as the SQL's Calendar.period_start: the
    instant its hour (minute, ...) starts at at a sub-day grain, else the period's first day."""
    if grain in SUBDAY_GRAINS:
        return _truncated(instant, grain)
    day = instant.date()
    if grain in (ALL_TIME, "day"):
        return day
    if grain == "week":
        return day - timedelta(days=(day.weekday() - WEEKDAYS.index(week_start)) % 7)
    shift = fiscal_start_month - 1 if grain.startswith("fiscal_") else 0
    months = 3 if grain.endswith("quarter") else 12 if grain.endswith("year") else 1
    index = (day.year * 12 + day.month - 1 - shift) // months * months + shift
    return date(index // 12, index % 12 + 1, 1)


def _truncated(instant: datetime, grain: str) -> datetime:
    if grain == "hour":
        return instant.replace(minute=0, second=0, microsecond=0)
    if grain == "minute":
        return instant.replace(second=0, microsecond=0)
    if grain == "second":
        return instant.replace(microsecond=0)
    return instant.replace(microsecond=instant.microsecond // 1000 * 1000)
