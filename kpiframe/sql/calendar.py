"""Periods as sqlglot trees: truncating a timestamp to its period start, and shifting by periods.

Weeks may start on any day and fiscal quarters and years on any month, as set in kpi_project.yml.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

GRAINS = ("day", "week", "month", "quarter", "year", "fiscal_quarter", "fiscal_year")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# How many days each grain spans at least, to order grains from fine to coarse.
GRAIN_DAYS = {"day": 1, "week": 7, "month": 28, "quarter": 90, "fiscal_quarter": 90, "year": 365,
              "fiscal_year": 365}


@dataclass(frozen=True)
class Calendar:
    week_start: str = "monday"
    fiscal_year_start_month: int = 1

    def period_start(self, value: exp.Expr, grain: str) -> exp.Expr:
        """The DATE on which the period of `grain` containing `value` starts."""
        if grain == "day":
            truncated = value
        elif grain == "week":
            truncated = _shifted_trunc(value, MONDAY_WEEK, WEEKDAYS.index(self.week_start), "DAY")
        elif grain in ("fiscal_quarter", "fiscal_year"):
            unit = "QUARTER" if grain == "fiscal_quarter" else "YEAR"
            truncated = _shifted_trunc(value, unit, self.fiscal_year_start_month - 1, "MONTH")
        else:
            truncated = exp.DateTrunc(this=value, unit=exp.var(grain.upper()))
        return exp.Cast(this=truncated, to=exp.DataType.build("DATE"))


# Weeks are truncated to Mondays, then shifted to the project's week start. Said explicitly because
# BigQuery's plain WEEK starts on Sunday; sqlglot writes WEEK(MONDAY) there and 'WEEK' elsewhere (DuckDB,
# PostgreSQL and Snowflake with its default WEEK_START start weeks on Monday).
MONDAY_WEEK = exp.WeekStart(this=exp.var("MONDAY"))


def _shifted_trunc(value: exp.Expr, unit: str | exp.Expr, shift: int, shift_unit: str) -> exp.Expr:
    """Truncate as if periods started `shift` units later: trunc(value - shift) + shift."""
    unit_node = exp.var(unit) if isinstance(unit, str) else unit.copy()
    if shift == 0:
        return exp.DateTrunc(this=value, unit=unit_node)
    moved = exp.Sub(this=value, expression=interval(shift, shift_unit))
    return exp.Add(this=exp.DateTrunc(this=moved, unit=unit_node), expression=interval(shift, shift_unit))


def interval(count: int, unit: str) -> exp.Interval:
    return exp.Interval(this=exp.Literal.string(str(count)), unit=exp.var(unit.upper()))


def grain_step(grain: str) -> tuple[int, str]:
    """One period of `grain` as (count, unit) for interval arithmetic."""
    return {"day": (1, "DAY"), "week": (7, "DAY"), "month": (1, "MONTH"), "quarter": (3, "MONTH"),
            "fiscal_quarter": (3, "MONTH"), "year": (1, "YEAR"), "fiscal_year": (1, "YEAR")}[grain]


def year_step(grain: str) -> tuple[int, str]:
    """The same period one year earlier: weeks move by 52 so that weekdays line up."""
    return (364, "DAY") if grain == "week" else (1, "YEAR")


def is_coarser_or_equal(grain: str, than: str) -> bool:
    return GRAIN_DAYS[grain] >= GRAIN_DAYS[than]
