"""Periods still in progress, in plain date arithmetic (no SQL, so that a cached `kpiframe query` can use
it without importing sqlglot; the SQL that finds the last day with data is kpiframe.sql.progress).

The last period of a query is usually the current one. Shown like the others, its 51 days of a 92-day
quarter read as a fall of 49.5 % against the quarter before. A period is complete when its last day is on
or before the last day with data.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

MONTHS_PER_PERIOD = {"month": 1, "quarter": 3, "fiscal_quarter": 3, "year": 12, "fiscal_year": 12}
# Grains finer than a day (kpiframe.sql.calendar): the last day with data says nothing of an hour's, so
# their periods have no coverage
SUBDAY_GRAINS = ("hour", "minute", "second", "millisecond")


def period_end(start: date, grain: str) -> date:
    """The last day of the period of `grain` that begins on `start` (a period start of that grain)."""
    if grain == "day":
        return start
    if grain == "week":
        return start + timedelta(days=6)
    index = start.year * 12 + start.month - 1 + MONTHS_PER_PERIOD[grain]
    return date(index // 12, index % 12 + 1, 1) - timedelta(days=1)


@dataclass(frozen=True)
class PeriodCoverage:
    """A period (`start` to `end`, both included) and the last day with data (None: no data at all)."""

    start: date
    end: date
    data_through: date | None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def days_with_data(self) -> int:
        if self.data_through is None:
            return 0
        return max(0, min(self.days, (self.data_through - self.start).days + 1))

    @property
    def complete(self) -> bool | None:
        """Whether the period ended on or before the last day with data; None when there is no data."""
        return None if self.data_through is None else self.end <= self.data_through


def coverage(starts: Iterable[date], grain: str, data_through: date | None) -> dict[date, PeriodCoverage]:
    """Each period start's coverage by data up to `data_through`."""
    return {start: PeriodCoverage(start, period_end(start, grain), data_through) for start in set(starts)}


def as_day(value: object) -> date | None:
    """A warehouse's DATE (or TIMESTAMP) as a date."""
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None


def answer_coverage(
    rows: Iterable[tuple[object, ...]], grain: str, periods: bool, last_day: object
) -> dict[date, PeriodCoverage]:
    """A metric query's coverage: its rows' period starts (the first column; none when the answer has no
    periods, over all time) against `last_day`, the warehouse's latest day with data."""
    starts = [row[0] for row in rows if isinstance(row[0], date)] if periods and grain not in SUBDAY_GRAINS else []
    return coverage(starts, grain, as_day(last_day))
