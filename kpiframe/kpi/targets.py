"""Targets as versioned data: which value applies to a metric, period, scenario and dimension value.

A change of target is a new entry with `since:` (and a `reason:`), not an edit of the old number: the
entry in force on --as-of wins, so a status of last month still shows last month's target, and the
diff of the file tells reviewers why the number moved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from kpiframe.errors import KpiframeError, SourceLocation
from kpiframe.kpi.algebra import MetricAlgebra
from kpiframe.kpi.benchmarks import LIBRARY, Benchmark
from kpiframe.kpi.data import Evaluator
from kpiframe.kpi.periods import Period, Window, last_complete
from kpiframe.kpi.specs import TargetValueSpec
from kpiframe.suggest import unknown

Dimension = tuple[str, str]  # (qualified dimension, value)


@dataclass(frozen=True)
class TargetEntry:
    metric: str
    scenario: str
    dimension: Dimension | None
    period: Period
    source: TargetValueSpec
    since: date | None
    reason: str | None
    author: str | None
    location: SourceLocation


@dataclass(frozen=True)
class Target:
    value: float | None
    source: str  # how the value was obtained, for people: "plan", "plan: trailing 3 months × 1.10", ...
    entry: TargetEntry | None = None


class TargetBook:
    """Every target entry of the project, looked up by metric, period, scenario and dimension value."""

    def __init__(self, entries: list[TargetEntry]) -> None:
        self.entries = entries
        self._index: dict[tuple[str, str, Dimension | None, Period], list[TargetEntry]] = {}
        for entry in entries:
            self._index.setdefault((entry.metric, entry.scenario, entry.dimension, entry.period), []).append(entry)

    def find(
        self,
        metric: str,
        period: Period,
        scenario: str = "plan",
        dimension: Dimension | None = None,
        as_of: date | None = None,
    ) -> TargetEntry | None:
        """The version in force on `as_of` (the latest `since` not after it); other scenarios fall back to plan."""
        for name in dict.fromkeys((scenario, "plan")):
            versions = [
                e
                for e in self._index.get((metric, name, dimension, period), [])
                if as_of is None or e.since is None or e.since <= as_of
            ]
            if versions:
                return max(versions, key=lambda e: e.since or date.min)
        return None

    def dimensions(self, metric: str) -> list[Dimension]:
        return sorted({e.dimension for e in self.entries if e.metric == metric and e.dimension})

    def metrics(self) -> set[str]:
        return {e.metric for e in self.entries}

    def scenarios(self) -> set[str]:
        """The scenarios that have targets; plan always counts, as every other scenario falls back to it."""
        return {"plan"} | {e.scenario for e in self.entries}

    def require_scenario(self, scenario: str) -> None:
        """A scenario no target names is a typo: reading it would silently show plan under its name."""
        known = self.scenarios()
        if scenario not in known:
            message, _ = unknown("scenario", scenario, known)
            raise KpiframeError(message, code="KF844", hint=f"scenarios with targets: {', '.join(sorted(known))}")


class TargetResolver:
    """Turns target entries into numbers: a value, a baseline of history, a benchmark, or derived."""

    def __init__(
        self,
        book: TargetBook,
        algebra: MetricAlgebra,
        evaluator: Callable[[Dimension | None], Evaluator],
        benchmarks: dict[str, Benchmark],
        as_of: date,
        derive: Callable[[str, Period, str], float | None] | None = None,
    ) -> None:
        self.book, self.algebra, self.evaluator = book, algebra, evaluator
        self.benchmarks, self.as_of, self.derive = benchmarks, as_of, derive

    def target(
        self, metric: str, period: Period, scenario: str = "plan", dimension: Dimension | None = None
    ) -> Target | None:
        entry = self.book.find(metric, period, scenario, dimension, self.as_of)
        if entry is None:
            return self._from_parts(metric, period, scenario, dimension)
        label = entry.scenario + (f" since {entry.since}" if entry.since else "")
        value, how = self._value(entry)
        return Target(value, f"{label}: {how}" if how else label, entry)

    def _value(self, entry: TargetEntry) -> tuple[float | None, str]:
        source = entry.source
        if source.value is not None:
            return source.value, ""
        if source.baseline is not None:
            return self._baseline(entry, source.baseline.periods, source.baseline.factor)
        if source.derived:
            if self.derive is None:
                return None, "derived (no tree formula reaches it)"
            return self.derive(entry.metric, entry.period, entry.scenario), "derived from the parent's target"
        benchmark = self.benchmarks.get(entry.metric) if source.benchmark is None else LIBRARY.get(source.benchmark)
        if benchmark is None:
            return None, "benchmark (none attached)"
        point = source.point or "mid"
        return benchmark.point(point), f"benchmark {benchmark.name} ({point})"

    def _baseline(self, entry: TargetEntry, periods: int, factor: float) -> tuple[float | None, str]:
        """Trailing complete periods before the target's period (and not after --as-of), × factor."""
        window = trailing_window(entry.period.grain, periods, min(self.as_of, entry.period.start - _DAY))
        value = self.evaluator(entry.dimension).value(entry.metric, window)
        if value is not None and self.algebra.is_additive(entry.metric):
            value /= periods  # the average period, not the sum of several
        how = f"trailing {periods} {entry.period.grain}s {window.label} × {factor:g}"
        return (value * factor if value is not None else None), how

    def _from_parts(self, metric: str, period: Period, scenario: str, dimension: Dimension | None) -> Target | None:
        """A quarter or year without its own target is the sum of its months' (volumes only)."""
        if period.grain == "month" or not self.algebra.is_additive(metric):
            return None
        parts = (
            period.months() if period.grain == "quarter" else [Period("quarter", m.start) for m in period.months()[::3]]
        )
        values = [self.target(metric, part, scenario, dimension) for part in parts]
        if any(v is None or v.value is None for v in values):
            return None
        total = sum(v.value for v in values if v is not None and v.value is not None)
        return Target(
            total,
            f"{values[0].source.split(':')[0] if values[0] else scenario}: sum of "
            f"{'months' if period.grain == 'quarter' else 'quarters'}",
        )


_DAY = timedelta(days=1)


def trailing_window(grain: str, periods: int, as_of: date) -> Window:
    """The `periods` complete periods of `grain` that end last on or before `as_of`."""
    last = last_complete(grain, as_of)
    return Window(last.shift(-(periods - 1)).start, last.end)
