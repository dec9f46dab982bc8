"""Date parts: a request grouped by a part of the day (`metric_time__extract_dow`), MetricFlow's date_part.

A group-by name `<time>__extract_<part>` is the part of each row's local day (the day the grains truncate
to, so in the session's time zone, calendar: time_zone:), across all periods: `metric_time__extract_month`
answers one row per month of the year, January of every year together. `<time>` is `metric_time` (each
measure's own time, as a period is) or a time dimension of the metrics' datasets (`booking__ds`).

The parts are MetricFlow's: year, quarter, month, day (of the month), dow (day of the week, ISO: Monday 1
to Sunday 7, whatever the project's week_start) and doy (day of the year, 1 to 366).

A date part is a column of the scans, like a dimension: without a grain the request is answered over the
whole range (grain `all`), so each metric is aggregated over all the rows of each part (a count distinct
is distinct over them, ratios and derived metrics compute from their inputs' totals); with a grain as well
the rows are per period and part. What reads earlier periods (cumulative metrics, input offsets,
`--compare`) is refused (KF428): the part of a shifted period is not the part of its rows.

A request's `--where` may name the same date parts (`metric_time__extract_month = 1`): each row is kept or not
by that part of its day, before aggregation, as by any filter (kpiframe.sql.filters lists them as names a
query filter may use, kpiframe.sql.metric_scan resolves them as it resolves the group-by's).
"""

from __future__ import annotations

from sqlglot import exp

from kpiframe.errors import QueryError

METRIC_TIME = "metric_time"
MARK = "__extract_"
# the EXTRACT field of each part but dow, which every dialect spells otherwise (DuckDB and PostgreSQL ISODOW,
# Snowflake DAYOFWEEKISO, Spark DAYOFWEEK_ISO): counted from a Monday instead (_iso_day_of_week)
FIELDS = {"year": "YEAR", "quarter": "QUARTER", "month": "MONTH", "day": "DAY", "dow": "", "doy": "DOY"}
PARTS = tuple(FIELDS)
MONDAY = "2001-01-01"


def split_date_part(name: str) -> tuple[str, str] | None:
    """`booking__ds__extract_month` as ('booking__ds', 'month'); None for a name that is no date part. The
    part may be unknown (the caller reports it)."""
    base, mark, part = name.rpartition(MARK)
    if not mark or not base or not part or "__" in part:
        return None
    return base, part.lower()


def is_date_part(name: str) -> bool:
    found = split_date_part(name)
    return found is not None and found[1] in PARTS


def date_part_name(base: str, part: str) -> str:
    return f"{base}{MARK}{part}"


def grain_name(base: str, grain: str) -> str:
    """`listing__ds__month`, `metric_time__alien_day`: a time at a grain, standard (kpiframe.sql.time_grains)
    or custom (kpiframe.sql.custom_grains)."""
    return f"{base}__{grain}"


def require_part(name: str, what: str = "") -> tuple[str, str]:
    """(base, part) of the date part `name`; KF402, with the parts there are, when the part is unknown."""
    base, part = split_date_part(name) or (name, "")
    if part not in PARTS:
        raise QueryError(
            f"{_prefix(what)}'{name}': unknown date part '{part}'",
            code="KF402",
            hint=f"use one of {', '.join(PARTS)}: {base}__extract_{PARTS[0]}",
        )
    return base, part


def require_time(name: str, is_time: bool) -> None:
    """A date part is a part of a time: KF428 for the part of another dimension. Checked where a request's
    names are translated (before the query compiles) and by the scan, which sees the names kpiframe's own
    callers pass untranslated."""
    if not is_time:
        raise not_a_time(name)


def not_a_time(name: str, what: str = "") -> QueryError:
    """KF428: the date part `name` of a dimension that is not a time (`what`: where it was written)."""
    base, part = split_date_part(name) or (name, "")
    return QueryError(
        f"{_prefix(what)}'{name}': '{base}' is not a time dimension, so it has no {part}",
        code="KF428",
        hint=f"ask for the part of a time: metric_time__extract_{part}",
    )


def _prefix(what: str) -> str:
    return f"{what}: " if what else ""


def date_part(value: exp.Expr, part: str) -> exp.Expr:
    """The part (an integer) of the local day of `value`, a time column."""
    day = exp.Cast(this=value, to=exp.DataType.build("DATE"))
    if part == "dow":
        return _iso_day_of_week(day)
    return exp.Extract(this=exp.var(FIELDS[part]), expression=day)


def _iso_day_of_week(day: exp.Expr) -> exp.Expr:
    """Monday 1 to Sunday 7: ((days since a Monday) mod 7 + 7) mod 7 + 1, whatever the dialect's week and
    the sign its modulo gives a day before that Monday."""
    monday = exp.Cast(this=exp.Literal.string(MONDAY), to=exp.DataType.build("DATE"))
    days = exp.DateDiff(this=day, expression=monday, unit=exp.var("DAY"))
    seven = exp.Literal.number(7)
    within = exp.Mod(this=exp.paren(exp.Mod(this=days, expression=seven.copy()) + seven.copy()), expression=seven)
    return exp.paren(within, copy=False) + exp.Literal.number(1)
