"""A request without metrics: the distinct values of its dimensions (MetricFlow's `mf query --group-by x`).

The values are read from one dataset that reaches every dimension asked for (and every one the `--where`
names) through the many-to-one joins a metric query uses: the dataset that owns the first dimension when
it reaches them all, else the first other that does. So a dimension of a dimension table lists that
table's values, not only those some fact row references; two dimensions of different tables list the
combinations their rows join into (a LEFT JOIN from the base dataset, where MetricFlow joins the two
dimension tables with a FULL OUTER JOIN).

A query of values has no metric, hence no metric time: a grain, --start/--end and --compare are refused
(KF415), so the answer is one row per distinct combination, NULL included, ordered by the dimensions.
Without a time there is no version to choose either: a versioned dataset's own dimensions list every
version's values, and a join to a versioned dataset from another is refused (KF429).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Protocol

from sqlglot import exp

from kpiframe.errors import QueryError
from kpiframe.semantic.layer import Dimension, SemanticLayer
from kpiframe.sql.calendar import ALL_TIME, Calendar
from kpiframe.sql.custom_grains import custom_grains, refuse, split_custom_grain
from kpiframe.sql.date_parts import grain_name
from kpiframe.sql.expressions import col, column_names, replace_columns
from kpiframe.sql.filters import parse_query_filter
from kpiframe.sql.metric_filters import (
    MetricValues,
    metric_value_names,
    metric_value_suggestions,
    no_metric_values,
    split_metric_value,
)
from kpiframe.sql.metric_scan import _Joins
from kpiframe.sql.time_grains import not_a_time_grain, split_time_grain
from kpiframe.suggest import unknown


class ValuesRequest(Protocol):
    """What a query of values reads of a metric_query.MetricRequest (which dispatches here: not imported)."""

    @property
    def dimensions(self) -> tuple[str, ...]: ...
    @property
    def grain(self) -> str: ...
    @property
    def start(self) -> date | None: ...
    @property
    def end(self) -> date | None: ...
    @property
    def where(self) -> str | None: ...
    @property
    def compare(self) -> str | None: ...


def compile_dimension_values(
    layer: SemanticLayer, request: ValuesRequest, values: MetricValues = no_metric_values
) -> exp.Select:
    """SELECT DISTINCT the requested dimensions, filtered by the request's `--where` (which may name a
    metric per entity, whose query `values` compiles), from one dataset."""
    _refuse_time(request)
    names = list(dict.fromkeys(request.dimensions))
    grains = custom_grains(layer.files.config)
    where = None
    if request.where:
        allowed = _all_dimension_names(layer)
        suggestions = metric_value_suggestions(layer, request.where)
        where = parse_query_filter(
            request.where, allowed | metric_value_names(layer, request.where), suggestions=suggestions
        )
    asked = list(dict.fromkeys([*names, *(column_names(where) if where is not None else [])]))
    # a custom grain of a time dimension (`listing__ds__alien_day`) or its period (`listing__ds__month`) is
    # read through its time dimension, a metric per entity (`listing__bookings`) through the entity's key
    times = {name: found for name in asked if (found := split_custom_grain(name, grains))}
    undeclared = [name for name in asked if name not in times and not _is_dimension(layer, name)]
    periods = {name: found for name in undeclared if (found := split_time_grain(name))}
    per_entity = {name: per for name in undeclared if (per := split_metric_value(layer, name))}
    through = {n: t[0] for n, t in [*times.items(), *periods.items()]} | {n: v.entity for n, v in per_entity.items()}
    wanted = list(dict.fromkeys(through.get(name, name) for name in asked))
    base = _base_dataset(layer, wanted)
    joins = _Joins(layer, None)  # no metric, no row time: a versioned dataset is not joined (KF429)
    calendar = Calendar(layer.files.config.calendar.week_start, layer.files.config.calendar.fiscal_year_start_month)
    resolved = {name: _dimension_in(layer, base, name) for name in wanted}

    def value(name: str) -> exp.Expr:
        if name in periods:
            time, grain = periods[name]
            dim = _found(resolved, time)
            if not dim.is_time:
                raise not_a_time_grain(name)
            return calendar.period_start(joins.expression(dim), grain)
        if name in per_entity:
            found = per_entity[name]
            key = joins.expression(_found(resolved, found.entity))
            return joins.metric_value(found, key, values(found.metric, found.group_by))
        if name not in times:
            return joins.expression(_found(resolved, name))
        time, grain = times[name]
        dim = _found(resolved, time)
        if not dim.is_time:
            raise refuse(name, f"'{time}' is not a time dimension", f"ask for the custom grain of a time: {grain}")
        day = exp.Cast(this=joins.expression(dim), to=exp.DataType.build("DATE"))
        return joins.custom_grain(day, grain)

    projections = [value(name).as_(name, quoted=True, copy=False) for name in names]
    dataset = layer.datasets[base]
    table = exp.table_(dataset.model, db=layer.files.config.schemas.models, quoted=True)
    select = exp.select(*projections).distinct().from_(table.as_("t", quoted=True), copy=False)
    condition = None
    if where is not None:  # resolved before the joins are read: a filter's dimension may add one
        condition = replace_columns(where, lambda column: value(column.name))
    for join in joins.clauses():
        select = select.join(join, copy=False)
    if condition is not None:
        select = select.where(condition, copy=False)
    return select.order_by(*[exp.Ordered(this=col(name), nulls_first=False) for name in names], copy=False)


def _is_dimension(layer: SemanticLayer, name: str) -> bool:
    return any(name in layer.dimensions_of(dataset) for dataset in layer.datasets)


def _refuse_time(request: ValuesRequest) -> None:
    """Without a metric there is no metric time to give periods or bounds."""
    asked = [
        option
        for option, given in (
            (f"--grain {request.grain}", request.grain != ALL_TIME),
            ("--start", request.start is not None),
            ("--end", request.end is not None),
            (f"--compare {request.compare}", request.compare is not None),
        )
        if given
    ]
    if asked:
        raise QueryError(
            f"a query of dimension values (no --metric) has no time: {', '.join(asked)} needs a metric",
            code="KF415",
            hint="add --metric NAME, or filter the values with --where on a time dimension",
        )


def _all_dimension_names(layer: SemanticLayer) -> set[str]:
    """Every dimension (qualified and short), and the custom grains of the time dimensions."""
    names: set[str] = set()
    grains = custom_grains(layer.files.config)
    for dataset in layer.datasets:
        for dim in layer.dimensions_of(dataset).values():
            names.update((dim.qualified, dim.name))
            if dim.is_time:
                names.update(grain_name(n, g) for n in (dim.qualified, dim.name) for g in grains)
    return names


def _dimension_in(layer: SemanticLayer, dataset: str, name: str) -> Dimension | None:
    """The dimension `name` (qualified, or short when unambiguous) as reached from `dataset`, or None."""
    available = layer.dimensions_of(dataset)
    if name in available:
        return available[name]
    matches = layer.named(dataset, name)
    qualified = sorted({d.qualified for d in matches})
    if len(qualified) > 1:
        raise QueryError(
            f"dimension '{name}' is ambiguous for dataset '{dataset}'",
            code="KF411",
            hint=f"name one of {', '.join(qualified)}",
        )
    return matches[0] if matches else None


def _found(resolved: dict[str, Dimension | None], name: str) -> Dimension:
    found = resolved[name]
    if found is None:  # _base_dataset chose a dataset that reaches every name
        raise AssertionError(f"dimension '{name}' unresolved")
    return found


def _owners(layer: SemanticLayer, name: str) -> list[str]:
    """The datasets that declare `name` themselves (no join): a dimension, or an entity, those with one row
    per key of it first, the one named by it (the entity's own table, whose keys are all its values) first
    of those."""
    declared = sorted(
        dataset
        for dataset, spec in layer.datasets.items()
        if any(d.qualified == name or d.name == name for d in spec.dimensions.values())
    )
    keyed = [
        (kind == "foreign", spec.qualifier != name, dataset)  # the entity's own table: its keys, its name
        for dataset, spec in layer.datasets.items()
        for entity, (kind, _) in spec.entities.items()
        if entity == name
    ]
    return declared or [dataset for *_, dataset in sorted(keyed)]


def _base_dataset(layer: SemanticLayer, wanted: Sequence[str]) -> str:
    """The dataset the values are read from: one that reaches every dimension in `wanted`."""
    for name in wanted:
        if not _owners(layer, name):
            message, hint = unknown("dimension", name, sorted(_all_dimension_names(layer)))
            raise QueryError(message, code="KF410", hint=hint)
    owners = [dataset for name in wanted for dataset in _owners(layer, name)]
    candidates = list(dict.fromkeys([*owners, *sorted(layer.datasets)]))
    for dataset in candidates:
        if all(_dimension_in(layer, dataset, name) is not None for name in wanted):
            return dataset
    where = "; ".join(f"{name}: {', '.join(_owners(layer, name))}" for name in wanted)
    raise QueryError(
        f"no dataset reaches all of {', '.join(wanted)} through many-to-one joins (declared in {where})",
        code="KF416",
        hint="query their values separately, or declare the entity that joins their datasets",
    )
