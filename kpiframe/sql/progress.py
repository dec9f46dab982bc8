"""Periods still in progress: how many of a period's days the data of a metric query covers.

The last period of a query is usually the current one. Shown like the others, its 51 days of a 92-day
quarter read as a fall of 49.5 % against the quarter before. The last day with data is the latest day of
the time columns that the query's metrics aggregate. It is read over all their rows, not only over the
range asked: a metric without rows in the last days of a past period (no deal won on 29 and 30 June) must
not make that period look unfinished. A period is complete when its last day is on or before that day.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlglot import exp

from kpiframe.semantic.layer import Measure, SemanticLayer, reached_measures
from kpiframe.sql.calendar import period_end
from kpiframe.sql.expressions import qualify


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


def last_day_query(layer: SemanticLayer, metrics: Iterable[str]) -> exp.Select:
    """SELECT the latest day in the time columns of every measure the metrics aggregate (one row, NULL when
    they have no rows). Metric filters are left out: they say which rows count, not how far the data goes."""
    schema = layer.files.config.schemas.models
    scans: dict[tuple[str, str], exp.Select] = {}
    for measure in _measures(layer, metrics):
        day = exp.Cast(this=qualify(measure.time, "t"), to=exp.DataType.build("DATE"))
        model = layer.datasets[measure.dataset].model
        table = exp.table_(model, db=schema, quoted=True).as_("t", quoted=True)
        scan = exp.select(exp.Max(this=day).as_("last_day", quoted=True)).from_(table)
        scans.setdefault((measure.dataset, measure.time.sql()), scan)
    if not scans:  # metrics over no measure: nothing tells how far the data goes
        return exp.select(exp.Cast(this=exp.Null(), to=exp.DataType.build("DATE")).as_("last_day", quoted=True))
    days: exp.Query = exp.union(*scans.values(), distinct=False) if len(scans) > 1 else next(iter(scans.values()))
    latest = exp.Max(this=exp.column("last_day", quoted=True))
    return exp.select(latest.as_("last_day", quoted=True)).from_(days.subquery("days", copy=False))


def as_day(value: object) -> date | None:
    """A warehouse's DATE (or TIMESTAMP) as a date."""
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None


def _measures(layer: SemanticLayer, metrics: Iterable[str]) -> list[Measure]:
    """The measures the metrics aggregate, through ratios, derivations, windows and offsets."""
    found = {measure.name: measure for _, measure in reached_measures(layer, metrics)}
    return sorted(found.values(), key=lambda m: m.name)
