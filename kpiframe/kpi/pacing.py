"""Projecting a period's total from its days so far, knowing weekdays from weekends and months from months.

Expected value of a remaining day d = the average of the same weekday over the trailing N weeks,
scaled by s(month of d) / s(months of those N weeks), where s is a month-of-year index learnt from
history (each month's daily average over the centred 12-month average around it, so growth does not
pass for seasonality; shrunk toward 1 as far as day-to-day noise explains it). Without a full year of
history the index is 1. Ratios are projected through
their numerator and denominator: the projection fills the remaining days of every leaf series and the
metric is recomputed from them. `bench/backtest_pacing.py` compares it with the straight line.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from statistics import mean, variance

from kpiframe.kpi.data import Store
from kpiframe.kpi.periods import Period, Window, period_of
from kpiframe.kpi.specs import PacingSettings


def weekday_profile(store: Store, leaf: str, weeks: int) -> list[float]:
    """Average value per weekday (Monday first) over the trailing `weeks` weeks ending on store.last."""
    start = max(store.last - timedelta(days=7 * weeks - 1), store.first)
    days = Window(start, store.last).each_day()
    profile = []
    for weekday in range(7):
        values = [store.value(leaf, d) for d in days if d.weekday() == weekday]
        profile.append(mean(values) if values else 0.0)
    return profile


def seasonal_index(store: Store, leaf: str) -> dict[int, float]:
    """Month of year -> index around 1.0, from complete months of history up to store.last.

    One year of history gives one noisy estimate per month: 45 MQLs a month move ±15 % by chance alone,
    more than their seasonality. So the indices are shrunk toward 1 by the share of their spread that
    the day-to-day noise explains (each month's variance of the daily mean, relative to its level); a
    smooth series such as sessions keeps nearly all of its index, a lumpy one such as pipeline little.
    """
    months = _complete_months(store)
    daily = [store.total(leaf, m.window) / m.days for m in months]
    ratios: dict[int, list[float]] = {}
    noise: list[float] = []
    for index in range(6, len(months) - 5):
        level = mean(daily[index - 6 : index + 6])
        if level <= 0:
            continue
        ratios.setdefault(months[index].start.month, []).append(daily[index] / level)
        values = [store.value(leaf, d) for d in months[index].window.each_day()]
        noise.append(variance(values) / len(values) / level**2)
    if not ratios:
        return {month: 1.0 for month in range(1, 13)}
    spread = mean((r - 1) ** 2 for found in ratios.values() for r in found)
    weight = max(0.0, spread - mean(noise)) / spread if spread > 0 else 0.0
    return {month: 1 + weight * (mean(ratios[month]) - 1) if month in ratios else 1.0 for month in range(1, 13)}


def _complete_months(store: Store) -> list[Period]:
    first = period_of(store.first, "month")
    if first.start < store.first:
        first = first.shift(1)
    months = []
    while first.end <= store.last:
        months.append(first)
        first = first.shift(1)
    return months


def expected_days(store: Store, leaf: str, days: Iterable[date], settings: PacingSettings) -> dict[date, float]:
    """Expected value of each future day: weekday profile × seasonal index relative to the profile's weeks."""
    profile = weekday_profile(store, leaf, settings.weeks)
    index = seasonal_index(store, leaf) if settings.seasonality else {m: 1.0 for m in range(1, 13)}
    start = max(store.last - timedelta(days=7 * settings.weeks - 1), store.first)
    reference = mean(index[d.month] for d in Window(start, store.last).each_day())
    return {d: profile[d.weekday()] * (index[d.month] / reference if reference else 1.0) for d in days}


def project(store: Store, leaves: Iterable[str], until: date, settings: PacingSettings) -> Store:
    """The store with every day after store.last up to `until` filled with its expected value."""
    future = Window(store.last + timedelta(days=1), until).each_day()
    if not future:
        return store
    additions = {leaf: expected_days(store, leaf, future, settings) for leaf in leaves}
    return store.extended(additions, until)


def project_straight(store: Store, leaves: Iterable[str], period: Window) -> Store:
    """The straight line, for comparison: the remaining days continue the period's daily average so far."""
    elapsed = Window(period.start, min(store.last, period.end))
    future = Window(store.last + timedelta(days=1), period.end).each_day()
    if not future or elapsed.days <= 0:
        return store
    additions = {}
    for leaf in leaves:
        per_day = store.total(leaf, elapsed) / elapsed.days
        additions[leaf] = {d: per_day for d in future}
    return store.extended(additions, period.end)
