"""A metric per entity in a filter: `listing__bookings > 2` keeps the rows whose listing has more than two
bookings (MetricFlow's `{{ Metric('bookings', group_by=['listing']) }} > 2`).

`<group-by>__<metric>` names the metric over all time grouped by an entity, `<group-by>` as a request of
that metric names it: `listing`, or a path of entities (`view__listing`,
`account__customer__region_id`). Each row takes the value of the entity the group-by ends with, through
its own key (or the key of a dataset it joins): the metric's compiled query becomes a LEFT JOIN on that
key, so a row whose entity has no value gets NULL, which a comparison drops. The name is looked at only
when it is no dimension: a dimension of the same name wins.

A metric that reads earlier periods (cumulative, offsets) has no value over all time (KF423). A metric
whose filter reads a metric that reads it back, or itself, is refused (KF433).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from sqlglot import exp

from kpiframe.errors import QueryError
from kpiframe.semantic.layer import SemanticLayer, metric_per_entity
from kpiframe.sql.expressions import ExpressionRejected, column_names, shared_expression

# (metric, group-by) -> the metric's query grouped by it over all time (kpiframe.sql.metric_query builds it)
MetricValues = Callable[[str, str], exp.Select]

_computing: ContextVar[tuple[str, ...]] = ContextVar("computing_metric_values", default=())


@dataclass(frozen=True)
class MetricValue:
    """`listing__bookings`: the metric `bookings` grouped by `listing`, joined on the row's `listing`."""

    name: str
    group_by: str
    metric: str

    @property
    def entity(self) -> str:
        return self.group_by.rpartition("__")[2]


def split_metric_value(layer: SemanticLayer, name: str) -> MetricValue | None:
    """The metric per entity a name asks for, or None when its last part is no metric of the project."""
    found = metric_per_entity(name, layer.files.metrics)
    return MetricValue(name, *found) if found else None


def metric_value_names(layer: SemanticLayer, text: str) -> set[str]:
    """The names a filter's text uses that ask for a metric per entity (a query filter may use them); none
    when it does not parse (the filter's check reports that)."""
    try:
        names = column_names(shared_expression(text))
    except (ExpressionRejected, RecursionError):
        return set()
    return {name for name in names if split_metric_value(layer, name) is not None}


def metric_value_suggestions(layer: SemanticLayer, text: str) -> list[str]:
    """For each name `<x>__<y>` of a filter whose `<y>` is no metric, `<x>__<metric>` for every metric: the
    metrics per entity a misspelt one (`customer__revenu`) is suggested among."""
    try:
        names = column_names(shared_expression(text))
    except (ExpressionRejected, RecursionError):
        return []
    prefixes = {name.rpartition("__")[0] for name in names if "__" in name}
    return [f"{prefix}__{metric}" for prefix in sorted(prefixes) if prefix for metric in layer.files.metrics]


@contextmanager
def computing(metric: str) -> Iterator[None]:
    """Mark `metric` as being computed for a filter, refusing a filter that reads it back (KF433)."""
    within = _computing.get()
    if metric in within:
        chain = " -> ".join((*within, metric))
        raise QueryError(
            f"metric '{metric}' is read by a filter it is computed for ({chain})",
            code="KF433",
            hint="a metric in a filter must not read, through its own filters, the metric being filtered",
        )
    token = _computing.set((*within, metric))
    try:
        yield
    finally:
        _computing.reset(token)


def no_metric_values(metric: str, group_by: str) -> exp.Select:
    """Where a scan has no request to compile a metric in (the conversions a conversion metric credits)."""
    raise QueryError(
        f"'{group_by}__{metric}': a metric per entity cannot filter the conversion events of a conversion metric",
        code="KF433",
        hint="filter its base events instead (base_filter:, or the request's --where)",
    )
