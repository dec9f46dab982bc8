"""Periods still in progress: how many of a period's days the data of a metric query covers (the date
arithmetic is kpiframe.sql.coverage; this module writes the SQL).

The last day with data is the latest day of the time columns that the query's metrics aggregate. It is
read over all their rows, not only over the range asked: a metric without rows in the last days of a past
period (no deal won on 29 and 30 June) must not make that period look unfinished.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlglot import exp

from kpiframe.semantic.layer import Measure, SemanticLayer, reached_measures
from kpiframe.sql.expressions import qualify


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


def _measures(layer: SemanticLayer, metrics: Iterable[str]) -> list[Measure]:
    """The measures the metrics aggregate, through ratios, derivations, windows and offsets."""
    found = {measure.name: measure for _, measure in reached_measures(layer, metrics)}
    return sorted(found.values(), key=lambda m: m.name)
