"""Periods as sqlglot trees: truncating a timestamp to its period start, and shifting by periods.

Weeks may start on any day and fiscal quarters and years on any month, as set in kpi_project.yml.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlglot import exp

from kpiframe.sql.coverage import MONTHS_PER_PERIOD
from kpiframe.sql.coverage import SUBDAY_GRAINS as SUBDAY_GRAINS
from kpiframe.sql.coverage import period_end as period_end

GRAINS = ("day", "week", "month", "quarter", "year", "fiscal_quarter", "fiscal_year")
# Grains finer than a day (MetricFlow's sub-daily granularities, SUBDAY_GRAINS): their periods are
# TIMESTAMPs, not DATEs. Targets, pacing and coverage stay at day and coarser (GRAINS).
PERIOD_GRAINS = (*GRAINS, *SUBDAY_GRAINS)
# A request's grain may also be `all`: no period, each metric over the whole range asked (one row per
# dimension combination), as MetricFlow answers a query without metric_time in its group-by.
ALL_TIME = "all"
REQUEST_GRAINS = (*PERIOD_GRAINS, ALL_TIME)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# How many days each grain spans at least, to order grains from fine to coarse.
GRAIN_DAYS = {
    "millisecond": 1 / 86_400_000,
    "second": 1 / 86_400,
    "minute": 1 / 1_440,
    "hour": 1 / 24,
    "day": 1,
    "week": 7,
    "month": 28,
    "quarter": 90,
    "fiscal_quarter": 90,
    "year": 365,
    "fiscal_year": 365,
}
DATE = exp.DataType.build("DATE")
TIMESTAMP = exp.DataType.build("TIMESTAMP")


def period_type(grain: str) -> exp.DataType:
    """The SQL type of a period start of `grain` (a new node each call: a node belongs to one tree)."""
    return (TIMESTAMP if grain in SUBDAY_GRAINS else DATE).copy()


def period_literal(value: date, grain: str) -> exp.Expr:
    """A bound given in a request (a date, or a datetime at a sub-day grain) as a literal of the period type."""
    text = value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    return exp.Cast(this=exp.Literal.string(text), to=period_type(grain))


@dataclass(frozen=True)
class Calendar:
    week_start: str = "monday"
    fiscal_year_start_month: int = 1

    def period_start(self, value: exp.Expr, grain: str) -> exp.Expr:
        """The DATE on which the period of `grain` containing `value` starts (a TIMESTAMP at a sub-day grain)."""
        if grain in SUBDAY_GRAINS:  # a timestamp's truncation (Spark's TRUNC, a date's, knows no hours)
            instant = exp.Cast(this=value, to=TIMESTAMP.copy())
            instant_start = exp.TimestampTrunc(this=instant, unit=exp.var(grain.upper()))
            return exp.Cast(this=instant_start, to=TIMESTAMP.copy())
        if grain == "day":
            truncated = value
        elif grain == "week":
            truncated = _shifted_trunc(value, MONDAY_WEEK, WEEKDAYS.index(self.week_start), "DAY")
        elif grain in ("fiscal_quarter", "fiscal_year"):
            unit = "QUARTER" if grain == "fiscal_quarter" else "YEAR"
            truncated = _shifted_trunc(value, unit, self.fiscal_year_start_month - 1, "MONTH")
        else:
            truncated = date_trunc(value, exp.var(grain.upper()))
        return exp.Cast(this=truncated, to=exp.DataType.build("DATE"))


# Weeks are truncated to Mondays, then shifted to the project's week start. Said explicitly because
# BigQuery's plain WEEK starts on Sunday; sqlglot writes WEEK(MONDAY) there and 'WEEK' elsewhere (DuckDB,
# PostgreSQL and Snowflake with its default WEEK_START start weeks on Monday).
MONDAY_WEEK = exp.WeekStart(this=exp.var("MONDAY"))


def _shifted_trunc(value: exp.Expr, unit: str | exp.Expr, shift: int, shift_unit: str) -> exp.Expr:
    """Truncate as if periods started `shift` units later: trunc(value - shift) + shift."""
    unit_node = exp.var(unit) if isinstance(unit, str) else unit.copy()
    if shift == 0:
        return date_trunc(value, unit_node)
    moved = exp.Sub(this=value, expression=interval(shift, shift_unit))
    return exp.Add(this=date_trunc(moved, unit_node), expression=interval(shift, shift_unit))


def date_trunc(value: exp.Expr, unit: exp.Expr) -> exp.DateTrunc:
    return _DATE_TRUNC(this=value, unit=unit)


# sqlglot's DateTrunc.__init__ (which normalises the unit) is unannotated; called through a typed name
_DATE_TRUNC: Callable[..., exp.DateTrunc] = exp.DateTrunc


def interval(count: int, unit: str) -> exp.Interval:
    return exp.Interval(this=exp.Literal.string(str(count)), unit=exp.var(unit.upper()))


def grain_step(grain: str) -> tuple[int, str]:
    """One period of `grain` as (count, unit) for interval arithmetic."""
    return {
        "day": (1, "DAY"),
        "week": (7, "DAY"),
        "month": (1, "MONTH"),
        "quarter": (3, "MONTH"),
        "fiscal_quarter": (3, "MONTH"),
        "year": (1, "YEAR"),
        "fiscal_year": (1, "YEAR"),
        **{grain: (1, grain.upper()) for grain in SUBDAY_GRAINS},
    }[grain]


def year_step(grain: str) -> tuple[int, str]:
    """The same period one year earlier: weeks move by 52 so that weekdays line up."""
    return (364, "DAY") if grain == "week" else (1, "YEAR")


def is_coarser_or_equal(grain: str, than: str) -> bool:
    return GRAIN_DAYS[grain] >= GRAIN_DAYS[than]


# The unit one period spans, as a single step: sqlglot writes a date series per dialect (DuckDB and
# PostgreSQL generate_series, BigQuery GENERATE_DATE_ARRAY) and on Snowflake rewrites it as DATEADD over
# ARRAY_GENERATE_RANGE, which it does only for a step of 1 unit, hence 1 WEEK rather than 7 DAY.
SERIES_UNIT = {
    "day": "DAY",
    "week": "WEEK",
    "month": "MONTH",
    "quarter": "QUARTER",
    "fiscal_quarter": "QUARTER",
    "year": "YEAR",
    "fiscal_year": "YEAR",
    **{grain: grain.upper() for grain in SUBDAY_GRAINS},
}


def date_series(first: exp.Expr, last: exp.Expr, grain: str, name: str) -> exp.Select:
    """SELECT one row `name` per period start from `first` to `last`, one period apart.

    Both must be period starts of `grain`: Snowflake counts the periods with DATEDIFF, which counts
    calendar boundaries (a Sunday-to-Saturday span of weeks crosses one Monday more than it has
    Sundays). Bounds read from a CTE must be scalar subqueries with qualified columns: sqlglot's
    Snowflake rewrite mistakes an unqualified column for a field of the series.
    """
    step = interval(1, SERIES_UNIT[grain])
    value = exp.to_identifier("series_value", quoted=True)
    series: exp.Expr
    if grain in SUBDAY_GRAINS:  # instants (a date array casts them to days): the table function, which
        # PostgreSQL cannot UNNEST; Spark gets it as EXPLODE(SEQUENCE(...)) (kpiframe.engine.spark_sql)
        instants = exp.ExplodingGenerateSeries(start=first, end=last, step=step)
        alias = exp.TableAlias(this=exp.to_identifier("series"), columns=[value])
        series = exp.Table(this=instants, alias=alias)
    else:
        array = exp.GenerateDateArray(start=first, end=last, step=step)
        series = exp.Unnest(expressions=[array], alias=exp.TableAlias(columns=[value]))
    start = exp.Cast(this=exp.column(value.copy()), to=period_type(grain))
    return exp.select(start.as_(name, quoted=True)).from_(series)


# An input offset of '<n> <unit>' moves a date by whole days or whole months: weeks are 7 days, quarters
# 3 months and years 12, so that every dialect reads the interval (PostgreSQL has no QUARTER interval).
_OFFSET_UNITS = {
    "day": (1, "DAY"),
    "week": (7, "DAY"),
    "month": (1, "MONTH"),
    "quarter": (3, "MONTH"),
    "year": (12, "MONTH"),
    **{grain: (1, grain.upper()) for grain in SUBDAY_GRAINS},  # '3 hours' as (3, 'HOUR')
}
# milliseconds in one of each unit finer than a month: whether a shift is whole periods of a grain, how long
# a sub-day period is
MILLISECONDS = {"MILLISECOND": 1, "SECOND": 1_000, "MINUTE": 60_000, "HOUR": 3_600_000, "DAY": 86_400_000}


def offset_window(text: str) -> tuple[int, str]:
    """'5 days' as (5, 'DAY'), '2 quarters' as (6, 'MONTH'): an offset window already checked by the specs."""
    count_text, _, unit = text.strip().partition(" ")
    factor, base = _OFFSET_UNITS[unit.strip().lower().rstrip("s")]
    return int(count_text) * factor, base


def shift_fits_grain(count: int, unit: str, grain: str) -> bool:
    """Whether moving a period start of `grain` by `count` `unit`s lands on a period start of `grain` (a
    month's start moved by 5 days does not: that offset has no value per month). Offsets come in days or
    months (offset_window), so a year is 12 months here: '1 year' at year grain lands on a year's start."""
    if grain in SUBDAY_GRAINS:  # whole days and months keep the time of day
        return unit == "MONTH" or count * MILLISECONDS[unit] % MILLISECONDS[grain.upper()] == 0
    if unit in MILLISECONDS and unit != "DAY":  # '48 hours' at day grain: whole days
        return grain == "day" and count * MILLISECONDS[unit] % MILLISECONDS["DAY"] == 0
    if grain == "day":
        return True
    if grain == "week":
        return unit == "DAY" and count % 7 == 0
    return unit == "MONTH" and count % MONTHS_PER_PERIOD[grain] == 0


def start_fits_grain(to_grain: str, grain: str, calendar: Calendar) -> bool:
    """Whether the start of the `to_grain` period holding a period of `grain` is itself a period start of
    `grain` (the first period of the month at day grain; not at week grain, a month starts mid-week)."""
    if grain in SUBDAY_GRAINS or to_grain in SUBDAY_GRAINS:  # an hour starts on a minute's start, ...
        return is_coarser_or_equal(to_grain, grain)
    if grain == "day" or to_grain == grain:
        return True
    if grain == "week" or to_grain == "week" or not is_coarser_or_equal(to_grain, grain):
        return False
    fiscal_shift = calendar.fiscal_year_start_month - 1
    months_per_period = MONTHS_PER_PERIOD[grain]
    if grain.startswith("fiscal_") == to_grain.startswith("fiscal_"):
        return True  # both calendar or both fiscal: a longer period starts on a shorter one's start
    return fiscal_shift % months_per_period == 0  # a fiscal year starting in April starts a calendar quarter
