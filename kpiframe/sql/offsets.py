"""Derived-metric inputs read at another date: '5 days', '2 weeks', '1 month' earlier, or at the start of a
coarser period ('start of month').

An offset is read by pulling, as MetricFlow does: each period of the spine reads the metric's series at
the period the offset names (a day's '1 month' earlier is the same day number a month back, the 31st
reading the month's last day when that month is shorter). The offsets `previous` and `year`, older and
written differently, stay in metric_query.shifted.
"""

from __future__ import annotations

from sqlglot import exp

from kpiframe.errors import QueryError
from kpiframe.load.specs import OFFSET_KEYWORDS
from kpiframe.sql.calendar import (
    Calendar,
    interval,
    is_coarser_or_equal,
    offset_window,
    period_type,
    shift_fits_grain,
    start_fits_grain,
)
from kpiframe.sql.expressions import col
from kpiframe.sql.time_spine import PERIOD

START_OF = "start of "


def is_pulled(offset: str) -> bool:
    return offset not in OFFSET_KEYWORDS


def column_name(offset: str, metric: str) -> str:
    return f"s_{'_'.join(offset.lower().split())}_{metric}"


def window(offset: str) -> tuple[int, str] | None:
    """A window offset as (count, 'DAY', 'MONTH' or a sub-day unit), for the spine's extent; None for 'start of'."""
    return None if offset.startswith(START_OF) else offset_window(offset)


def target_period(offset: str, period: exp.Expr, grain: str, calendar: Calendar, where: str) -> exp.Expr:
    """The period whose value the period `period` reads; KF424 when the offset moves it off the grain."""
    if offset.startswith(START_OF):
        to_grain = offset.removeprefix(START_OF)
        if not start_fits_grain(to_grain, grain, calendar):
            why = (
                f"a {to_grain} is shorter than a {grain}"
                if not is_coarser_or_equal(to_grain, grain)
                else f"a {to_grain} does not start on a {grain}'s start"
            )
            raise QueryError(
                f"{where}: offset '{offset}' at {grain} grain: {why}",
                code="KF424",
                hint="query it at day grain, or at a grain whose periods the offset's period is made of",
            )
        return exp.Cast(this=calendar.period_start(period, to_grain), to=period_type(grain))
    count, unit = offset_window(offset)
    if not shift_fits_grain(count, unit, grain):
        raise QueryError(
            f"{where}: offset '{offset}' at {grain} grain moves a {grain} off the start of a {grain}",
            code="KF424",
            hint="query it at day grain, or write the offset in whole periods of the grain (like '2 months')",
        )
    moved = exp.Sub(this=period, expression=interval(count, unit))
    return exp.Cast(this=moved, to=period_type(grain))


def pulled_series(source: str, metric: str, column: str, dims: list[str], target: exp.Expr) -> exp.Select:
    """SELECT each period of `source` with the metric's value at the period `target` names (an expression
    over `k`.period_start): a period whose target has no row (before the spine) has no row here."""
    reader = exp.table_(source, quoted=True).as_("k", quoted=True)
    read = exp.table_(source, quoted=True).as_("o", quoted=True)
    matches: list[exp.Expr] = [exp.EQ(this=col(PERIOD, "o"), expression=target)]
    matches += [exp.NullSafeEQ(this=col(d, "k"), expression=col(d, "o")) for d in dims]
    return (
        exp.select(col(PERIOD, "k"), *[col(d, "k") for d in dims], col(metric, "o").as_(column, quoted=True))
        .from_(reader)
        .join(exp.Join(this=read, on=exp.and_(*matches, copy=False)), copy=False)
    )
