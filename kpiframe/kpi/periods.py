"""Calendar periods of targets (month, quarter, year) and day windows that can be shifted by months."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

TARGET_GRAINS = ("month", "quarter", "year")
_MONTHS_PER = {"month": 1, "quarter": 3, "year": 12}
# English names, not the locale's: the text goes into files and tables shared by a team
_MONTHS = (
    "",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_ABBR = tuple(name[:3] for name in _MONTHS)
_LABEL = re.compile(r"^(?P<year>\d{4})(?:-(?:(?P<month>\d{2})|[Qq](?P<quarter>[1-4])))?$")


class PeriodError(ValueError):
    """A period label that is not YYYY-MM, YYYY-Qn or YYYY."""


def add_months(day: date, months: int) -> date:
    """The same day `months` later (or earlier), clamped to the month's last day (Jan 31 + 1 -> Feb 28)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


@dataclass(frozen=True, order=True)
class Window:
    """Days from `start` to `end`, both included."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return max(0, (self.end - self.start).days + 1)

    def shift_months(self, months: int) -> Window:
        """The window `months` later, day of month for day of month (clamped: March 1-30 one month earlier
        is February 1-28, not 1-27); a window ending on a month's last day keeps ending on one (all of
        Q1 one month earlier is December to February)."""
        after = self.end + timedelta(days=1)
        end = add_months(after, months) - timedelta(days=1) if after.day == 1 else add_months(self.end, months)
        return Window(add_months(self.start, months), end)

    def first_days(self, days: int) -> Window:
        """The window's first `days` days, or all of it when it is shorter."""
        return Window(self.start, min(self.end, self.start + timedelta(days=days - 1)))

    def each_day(self) -> list[date]:
        return [self.start + timedelta(days=offset) for offset in range(self.days)]

    def months(self) -> list[Period]:
        """The calendar months this window touches, in order."""
        found, current = [], Period("month", date(self.start.year, self.start.month, 1))
        while current.start <= self.end:
            found.append(current)
            current = current.shift(1)
        return found

    @property
    def label(self) -> str:
        """The period label when the window is exactly one period, else 'YYYY-MM..YYYY-MM' (or days)."""
        for grain in reversed(TARGET_GRAINS):
            period = period_of(self.start, grain)
            if period.start == self.start and period.end == self.end:
                return period.label
        if self.start.day == 1 and (self.end + timedelta(days=1)).day == 1:
            return f"{self.start:%Y-%m}..{self.end:%Y-%m}"
        return f"{self.start.isoformat()}..{self.end.isoformat()}"

    @property
    def description(self) -> str:
        """The window as people say it: 'January 2026', 'Q4 2025', '2025', '1-17 Dec 2025', '1 Oct-14 Nov 2025'."""
        exact = next(
            (period_of(self.start, g) for g in reversed(TARGET_GRAINS) if period_of(self.start, g).window == self), None
        )
        if exact is not None:
            return exact.description
        start, end = self.start, self.end
        if start == end:
            return f"{start.day} {_ABBR[start.month]} {start.year}"
        if (start.year, start.month) == (end.year, end.month):
            return f"{start.day}-{end.day} {_ABBR[end.month]} {end.year}"
        if start.year == end.year:
            return f"{start.day} {_ABBR[start.month]}-{end.day} {_ABBR[end.month]} {end.year}"
        return f"{start.day} {_ABBR[start.month]} {start.year}-{end.day} {_ABBR[end.month]} {end.year}"


@dataclass(frozen=True, order=True)
class Period:
    """A calendar month, quarter or year; the unit targets are set for."""

    grain: str
    start: date

    @property
    def end(self) -> date:
        return add_months(self.start, _MONTHS_PER[self.grain]) - timedelta(days=1)

    @property
    def window(self) -> Window:
        return Window(self.start, self.end)

    @property
    def days(self) -> int:
        return self.window.days

    @property
    def label(self) -> str:
        if self.grain == "month":
            return f"{self.start:%Y-%m}"
        if self.grain == "quarter":
            return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"
        return str(self.start.year)

    @property
    def description(self) -> str:
        """'January 2026', 'Q1 2026', '2026'."""
        if self.grain == "month":
            return f"{_MONTHS[self.start.month]} {self.start.year}"
        if self.grain == "quarter":
            return f"Q{(self.start.month - 1) // 3 + 1} {self.start.year}"
        return str(self.start.year)

    def shift(self, periods: int) -> Period:
        """The period `periods` steps later of the same grain (negative: earlier)."""
        return Period(self.grain, add_months(self.start, periods * _MONTHS_PER[self.grain]))

    def year_ago(self) -> Period:
        return Period(self.grain, add_months(self.start, -12))

    def months(self) -> list[Period]:
        return self.window.months()

    def __str__(self) -> str:
        return self.label


def parse_period(text: object) -> Period:
    """'2026-11' is a month, '2026-Q4' a quarter, '2026' a year."""
    match = _LABEL.match(str(text).strip())
    if not match:
        raise PeriodError(f"'{text}' is not a period: use YYYY-MM, YYYY-Qn or YYYY")
    year = int(match["year"])
    if match["month"]:
        month = int(match["month"])
        if not 1 <= month <= 12:
            raise PeriodError(f"'{text}' has no month {month}")
        return Period("month", date(year, month, 1))
    if match["quarter"]:
        return Period("quarter", date(year, 3 * int(match["quarter"]) - 2, 1))
    return Period("year", date(year, 1, 1))


def period_of(day: date, grain: str) -> Period:
    """The period of `grain` that contains `day`."""
    if grain == "month":
        return Period(grain, date(day.year, day.month, 1))
    if grain == "quarter":
        return Period(grain, date(day.year, (day.month - 1) // 3 * 3 + 1, 1))
    if grain == "year":
        return Period(grain, date(day.year, 1, 1))
    raise PeriodError(f"unknown target grain '{grain}': use month, quarter or year")


def last_complete(grain: str, as_of: date) -> Period:
    """The latest period of `grain` that ended on or before `as_of`."""
    current = period_of(as_of, grain)
    return current if current.end <= as_of else current.shift(-1)


@dataclass(frozen=True)
class Comparison:
    """The days of a period explained and the days of the period it is compared with, and why these days.

    `as_of` is the last day of data counted (the day `kpiframe status` reports): a period is finished
    when that day is its last day or later, the same point at which status stops projecting it.
    """

    actual: Window
    baseline: Window
    finished: bool
    as_of: date

    @property
    def rule(self) -> str:
        return "whole periods" if self.finished else "like for like"

    @property
    def text(self) -> str:
        """'baseline: whole January 2026 (period finished as of 2026-03-31)', or the days compared."""
        if self.finished:
            return f"baseline: whole {self.baseline.description} (period finished as of {self.as_of})"
        days = self.actual.days
        same = (
            f"the same {days} days as {self.actual.description}"
            if self.baseline.days == days
            else f"all {self.baseline.days} of its days, fewer than the {days} of {self.actual.description}"
        )
        return f"baseline: {self.baseline.description}, {same} (period in progress as of {self.as_of})"


def compare(period: Period, other: Period, as_of: date) -> Comparison:
    """A finished period against the whole `other` one; a period in progress, day N with day N.

    Comparing the first N days of both is only fair while the period is running. Once it has ended, its
    whole length is compared with the other's whole length, although February has 28 days and January 31:
    cutting January to 28 days would drop real activity from the baseline.
    """
    if as_of >= period.end:
        return Comparison(period.window, other.window, True, as_of)
    actual = Window(period.start, as_of)
    return Comparison(actual, other.window.first_days(actual.days), False, as_of)


def period_option(text: str) -> Period:
    """A period given on the command line (--period), or a located error saying how to write one."""
    from kpiframe.errors import KpiframeError

    try:
        return parse_period(text)
    except PeriodError as exc:
        raise KpiframeError(
            f"--period: {exc}",
            code="KF855",
            hint="use 2026-10 (a month, 01-12), 2026-Q3 (a quarter, Q1-Q4) or 2026 (a year)",
        ) from None
