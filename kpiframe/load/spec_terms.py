"""The words of project files that several specs share: names, grains, windows and offsets, each checked
where it is written (kpiframe.load.specs, kpiframe.load.project_settings)."""

import re
from typing import Literal, get_args

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
Name = str  # validated by field(pattern=...) where declared

Grain = Literal["day", "week", "month", "quarter", "year", "fiscal_quarter", "fiscal_year"]
# a metric's default grain may also be finer than a day (its periods are then instants)
PeriodGrain = Literal[Grain, "hour", "minute", "second", "millisecond"]
# what a custom grain may not be named: kpiframe's grains, `all` (no period), MetricFlow's sub-day grains
RESERVED_GRAIN_NAMES = (*get_args(PeriodGrain), "all", "microsecond")

# A cumulative window is a positive count of one unit. It is checked when the YAML is read, so that
# '0 days', '-3 days' or '100000 years' stop the compile at their line instead of the first query
# (where a zero window reaches back a negative span and a huge one overflows the date arithmetic).
_WINDOW = re.compile(r"^\s*(\d+)\s+([A-Za-z]+?)s?\s*$")
MAX_WINDOW = {"day": 36_525, "week": 5_218, "month": 1_200, "quarter": 400, "year": 100}  # 100 years each
# ...and finer than a day, for metrics read at a sub-day grain ('3 hours'); not a conversion's window
SUBDAY_WINDOW = {"hour": 876_600, "minute": 52_596_000, "second": 3_155_760_000, "millisecond": 3_155_760_000_000}
MAX_WINDOW.update(SUBDAY_WINDOW)


def check_window(text: str) -> str:
    """'7 days', '3 months', '1 year': a count from 1 up to 100 years' worth, and a calendar unit."""
    match = _WINDOW.match(text)
    unit = match[2].lower() if match else ""
    if not match or unit not in MAX_WINDOW:
        raise ValueError(
            f"window '{text}' must be a positive count and a unit (day, week, month, quarter, "
            "year, or hour, minute, second, millisecond), like '7 days' or '3 months'"
        )
    count = int(match[1])
    if count < 1:
        raise ValueError(f"window '{text}' is empty: it must cover at least 1 {unit}, like '7 days'")
    if count > MAX_WINDOW[unit]:
        raise ValueError(
            f"window '{text}' is longer than 100 years (at most {MAX_WINDOW[unit]:,} {unit}s); "
            "a window longer than the data's history adds nothing"
        )
    return text


# An input offset: `previous` (one period), `year` (the same period a year earlier), a window ('5 days',
# '2 weeks', '1 month': the value that many days or months before the period), or 'start of <grain>'
# (the value of the first period of the <grain> the period lies in).
OFFSET_KEYWORDS = ("previous", "year")
OFFSET_TO_GRAINS = (*get_args(Grain), *SUBDAY_WINDOW)  # 'start of <grain>'
_START_OF = re.compile(r"^\s*start\s+of\s+([a-z_]+)\s*$")


def check_offset(text: str) -> str:
    if text in OFFSET_KEYWORDS:
        return text
    start = _START_OF.match(text)
    if start:
        if start[1] not in OFFSET_TO_GRAINS:
            raise ValueError(f"offset '{text}': 'start of' takes one of {', '.join(OFFSET_TO_GRAINS)}")
        return f"start of {start[1]}"
    try:
        return check_window(text)
    except ValueError as exc:
        raise ValueError(
            f"offset '{text}' must be previous, year, a count and a unit ('5 days', '2 weeks', '1 month') or "
            f"'start of month' ({exc})"
        ) from None
