"""Projection to period end: weekday profile and month-of-year index, against hand arithmetic."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from kpiframe.kpi.pacing import expected_days, project, project_straight, seasonal_index, weekday_profile
from kpiframe.kpi.periods import Window, parse_period
from kpiframe.kpi.specs import PacingSettings


def _daily(first: date, last: date, value) -> dict[date, float]:
    days = (last - first).days + 1
    return {first + timedelta(days=i): value(first + timedelta(days=i)) for i in range(days)}


def _weekday_store(last: date):
    from kpiframe.kpi.data import Store

    # 10 on weekdays, 4 at weekends, from 2026-01-01
    series = _daily(date(2026, 1, 1), date(2026, 3, 31), lambda d: 10.0 if d.weekday() < 5 else 4.0)
    return Store({"leads": series}, last=last)


def test_weekday_profile_of_the_trailing_weeks():
    store = _weekday_store(date(2026, 3, 15))
    assert weekday_profile(store, "leads", weeks=8) == [10.0] * 5 + [4.0] * 2


def test_projection_knows_weekends_where_the_straight_line_does_not():
    store = _weekday_store(date(2026, 3, 15))  # a Sunday
    march = parse_period("2026-03").window
    # to date, Mar 1..15: weekdays 2-6 and 9-13 = 10 x 10, weekend days 1, 7, 8, 14, 15 = 5 x 4 -> 120
    assert store.total("leads", Window(march.start, date(2026, 3, 15))) == 120
    # remaining Mar 16..31: weekdays 16-20, 23-27, 30-31 = 12 x 10, weekend 21, 22, 28, 29 = 4 x 4 -> 136
    # (under a year of history the month index is 1, so no seasonal scaling)
    paced = project(store, ["leads"], march.end, PacingSettings(weeks=8))
    assert paced.total("leads", march) == 120 + 136  # = 256, the month's true total
    # the straight line: 120 / 15 days x 31 days = 248
    straight = project_straight(store, ["leads"], march)
    assert straight.total("leads", march) == pytest.approx(248.0)


def test_month_of_year_index_from_centred_twelve_months():
    from kpiframe.kpi.data import Store

    # two years of a constant daily value per month: January 1.2, July 0.8, other months 1.0
    # (the twelve factors average 1, so each centred 12-month average is 1 and the index is the factor)
    factors = {1: 1.2, 7: 0.8}
    series = _daily(date(2024, 1, 1), date(2025, 12, 31), lambda d: factors.get(d.month, 1.0))
    store = Store({"x": series}, last=date(2025, 12, 31))
    index = seasonal_index(store, "x")
    assert index[1] == pytest.approx(1.2)  # from January 2025: 1.2 / mean(Jul 2024 .. Jun 2025) = 1.2 / 1
    assert index[7] == pytest.approx(0.8)  # from July 2024: 0.8 / mean(Jan .. Dec 2024) = 0.8 / 1
    assert index[3] == pytest.approx(1.0)


def test_expected_days_scale_the_profile_by_the_month_index():
    from kpiframe.kpi.data import Store

    factors = {1: 1.2, 7: 0.8}
    series = _daily(date(2024, 1, 1), date(2025, 12, 31), lambda d: 10.0 * factors.get(d.month, 1.0))
    store = Store({"x": series}, last=date(2025, 12, 31))
    # the trailing 8 weeks (Nov 6 .. Dec 31) all have index 1 and value 10; January's index is 1.2
    # so an expected January day is 10 x 1.2 / 1.0 = 12
    expected = expected_days(store, "x", [date(2026, 1, 5)], PacingSettings(weeks=8))
    assert expected[date(2026, 1, 5)] == pytest.approx(12.0)
    flat = expected_days(store, "x", [date(2026, 1, 5)], PacingSettings(weeks=8, seasonality=False))
    assert flat[date(2026, 1, 5)] == pytest.approx(10.0)
