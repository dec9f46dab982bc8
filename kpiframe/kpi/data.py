"""Daily series of leaf metrics, fetched once per command, and metric values over any window.

Each leaf is asked of the warehouse at day grain through the ordinary metric query (so filters, joins and
the MQL rule stay defined in one place); every KPI number is then arithmetic over these series.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from kpiframe.kpi.algebra import MetricAlgebra, evaluate
from kpiframe.kpi.periods import Window

if TYPE_CHECKING:
    from kpiframe.project import Project

NO_LAGS: Mapping[str, int] = {}


class Store:
    """Daily values of leaf metrics up to `last` (inclusive); days without rows count 0."""

    def __init__(self, series: Mapping[str, Mapping[date, float]], last: date, first: date | None = None) -> None:
        self.series = {leaf: dict(values) for leaf, values in series.items()}
        self.last = last
        days = [d for values in self.series.values() for d, v in values.items() if v]
        # the first day with any data: history before it is unknown, not zero
        self.first = first or (min(days) if days else last)
        self._sums: dict[str, tuple[list[date], list[float]]] = {}

    @property
    def leaves(self) -> list[str]:
        return list(self.series)

    def value(self, leaf: str, day: date) -> float:
        return self.series[leaf].get(day, 0.0) if day <= self.last else 0.0

    def total(self, leaf: str, window: Window) -> float:
        """Sum of a leaf over the window's days up to `last` (prefix sums: each call is O(log n))."""
        days, sums = self._prefix(leaf)
        low = bisect_left(days, window.start)
        high = bisect_right(days, min(window.end, self.last))
        return sums[high] - sums[low] if high > low else 0.0

    def _prefix(self, leaf: str) -> tuple[list[date], list[float]]:
        if leaf not in self._sums:
            days = sorted(d for d in self.series[leaf] if d <= self.last)
            sums = [0.0]
            for day in days:
                sums.append(sums[-1] + self.series[leaf][day])
            self._sums[leaf] = (days, sums)
        return self._sums[leaf]

    def until(self, last: date) -> Store:
        """The same series seen on `last`: what a run on that day would have known (for backtests)."""
        return Store(self.series, min(last, self.last), self.first)

    def extended(self, additions: Mapping[str, Mapping[date, float]], last: date) -> Store:
        """A copy with values for later days added (a projection), known up to the new `last`."""
        merged = {leaf: {**values, **additions.get(leaf, {})} for leaf, values in self.series.items()}
        return Store(merged, last, self.first)


class Evaluator:
    """Any metric's value over a window, with some metrics shifted by months (a formula's lags)."""

    def __init__(self, algebra: MetricAlgebra, store: Store) -> None:
        self.algebra, self.store = algebra, store

    def value(self, metric: str, window: Window, lags: Mapping[str, int] = NO_LAGS) -> float | None:
        """The metric over `window`; a metric named in `lags` is read that many months earlier.

        The lag applies wherever the metric appears, also inside a rate: with lags {mqls: 1}, the rate
        opportunities / mqls is read as opportunities of the window over MQLs of the month before, which
        is what makes `opportunities = mqls × mql_to_opportunity_rate` hold with a one-month lag.
        """
        if metric in lags:
            window = window.shift_months(-lags[metric])
            lags = {name: months for name, months in lags.items() if name != metric}
        definition = self.algebra.definition(metric)
        if definition is None:
            return self.store.total(metric, window)
        return evaluate(definition, lambda child: self.value(child, window, lags))

    def with_store(self, store: Store) -> Evaluator:
        return Evaluator(self.algebra, store)


def equals_filter(dimension: str, value: str) -> str:
    """`dimension = 'value'` built as a tree, so a value with a quote cannot change the filter."""
    return exp.EQ(this=exp.column(dimension), expression=exp.Literal.string(value)).sql(dialect="duckdb")


def fetch_store(
    project: Project, leaves: Iterable[str], last: date, where: str | None = None, first: date | None = None
) -> Store:
    """Ask the warehouse for each leaf at day grain up to `last` (one query) and keep the series."""
    names = list(dict.fromkeys(leaves))
    series: dict[str, dict[date, float]] = {name: {} for name in names}
    if names:
        result = project.query(metrics=names, grain="day", start=first, end=last, where=where)
        for row in result.rows:
            day = _as_day(row[0])
            for name, raw in zip(names, row[-len(names) :], strict=True):
                if raw is not None:
                    series[name][day] = series[name].get(day, 0.0) + _as_float(raw)
    return Store(series, last)


def stores_by_filter(
    project: Project, algebra: MetricAlgebra, wanted: Mapping[str | None, Iterable[str]], last: date
) -> dict[str | None, Store]:
    """One store per filter (None: the whole company), each with the leaves of the metrics wanted there."""
    stores: dict[str | None, Store] = {}
    for where, metrics in wanted.items():
        leaves = [leaf for metric in metrics for leaf in algebra.leaves(metric)]
        stores[where] = fetch_store(project, leaves, last, where=where)
    return stores


def _as_day(value: Any) -> date:
    return value.date() if isinstance(value, datetime) else value


def _as_float(value: Any) -> float:
    return float(value) if isinstance(value, (int, float, Decimal)) else 0.0
