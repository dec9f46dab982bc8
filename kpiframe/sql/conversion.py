"""Conversion metrics: how many base events (visits) an entity (a user) follows with a conversion (a buy).

Each conversion event is credited to the latest base event of the same entity at or before it: within
the metric's `window` when it has one (the base event later than the conversion's time minus the
window, so a conversion exactly one window after the base event is too late), and sharing the
`constant_properties` (the same session). A conversion before every base event of its entity counts for
nothing. The conversion measure is then aggregated by the period and the dimensions of the base events
it was credited to, so the dimensions a conversion metric is grouped by are those of the base measure's
dataset; `conversion_rate` divides that by the base measure over the same period and dimensions.
An event is a row its measure aggregates (the measure's expression not NULL), so that visits and buys
kept in one table are told apart by their measures' expressions; a NULL entity or time matches nothing.
The metric's `base_filter` keeps only some base events (they alone count, and are credited), its
`conversion_filter` only some conversions: a base event the filter drops is no event, so a conversion
after it goes to the latest base event the filter keeps.

The SQL: the base rows (the request's period, dimensions, filter and range apply to them) joined to
every conversion row (numbered, so that one conversion is counted once however many base events
precede it), ranked per conversion by the base event's time, the nearest kept, then aggregated.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from kpiframe.errors import QueryError
from kpiframe.load.specs import MetricSpec
from kpiframe.semantic.layer import SemanticLayer
from kpiframe.sql.calendar import Calendar, interval
from kpiframe.sql.expressions import col, qualify
from kpiframe.sql.metric_scan import DatasetScan, Leaf, ScanShape, measure_aggregate
from kpiframe.sql.time_spine import PERIOD


@dataclass(frozen=True)
class _Names:
    """The columns the pairing adds beside the period and the request's dimensions. A dimension may well be
    called event_time: each name gets underscores appended until it is no requested dimension's (nor the
    period's), compared without case as DuckDB and Spark resolve names, so no column is read for another."""

    entity: str
    time: str
    value: str
    row: str
    nearest: str
    properties: tuple[str, ...]

    @classmethod
    def beside(cls, keys: list[str], properties: int) -> _Names:
        taken = {key.lower() for key in keys}

        def fresh(name: str) -> str:
            while name.lower() in taken:
                name += "_"
            taken.add(name.lower())
            return name

        entity, time, value, row, nearest = (
            fresh(name)
            for name in ("conversion_entity", "event_time", "conversion_value", "conversion_row", "nearest_base")
        )
        return cls(entity, time, value, row, nearest, tuple(fresh(f"property_{i}") for i in range(properties)))


def event_column(layer: SemanticLayer, dataset_name: str, name: str) -> exp.Expr | None:
    """An entity or a dimension of the dataset itself, as an expression over its rows; None if neither."""
    dataset = layer.datasets[dataset_name]
    if name in dataset.entities:
        return dataset.entities[name][1]
    dimension = dataset.dimensions.get(name)
    return dimension.expr if dimension else None


def conversion_calculation(spec: MetricSpec) -> str:
    return spec.calculation or "conversion_rate"


def conversions_select(
    layer: SemanticLayer, calendar: Calendar, shape: ScanShape, spec: MetricSpec, column: str
) -> exp.Select:
    """The conversion measure aggregated by the period and dimensions of the base events credited."""
    base = layer.measures[spec.base_measure or ""]
    conversion = layer.measures[spec.conversion_measure or ""]
    keys = ([PERIOD] if shape.grain is not None else []) + list(shape.dimensions)
    names = _Names.beside([PERIOD, *shape.dimensions], len(spec.constant_properties))
    base_columns = {names.entity: _column(layer, spec, base.dataset, spec.entity or ""), names.time: base.time}
    conversion_columns = {
        names.entity: _column(layer, spec, conversion.dataset, spec.entity or ""),
        names.time: conversion.time,
        names.value: conversion.expr,
    }
    for pair, property_column in zip(spec.constant_properties, names.properties, strict=True):
        base_columns[property_column] = _column(layer, spec, base.dataset, pair.base_property)
        conversion_columns[property_column] = _column(layer, spec, conversion.dataset, pair.conversion_property)
    # the base rows carry the request's dimensions: one the base dataset lacks is reported for this metric
    known = [Leaf(column, base, None, None, {spec.name})]
    try:
        base_rows = DatasetScan(layer, calendar, shape, known).rows(
            base.dataset, base.time, base_columns, spec.base_filter
        )
    except QueryError as error:
        if error.diagnostic.code != "KF410" or error.diagnostic.hint:
            raise
        raise QueryError(
            error.diagnostic.message,
            code="KF410",
            hint=f"conversion metric '{spec.name}' is grouped by the dimensions of its base events (dataset "
            f"'{base.dataset}' of measure '{base.name}'), since each conversion counts where its base event does",
        ) from None
    # every conversion the metric's conversion_filter keeps, whatever the request's range or filter: those
    # apply to the base events credited
    everything = ScanShape(None, (), None, None, None)
    conversion_rows = DatasetScan(layer, calendar, everything, []).rows(
        conversion.dataset, conversion.time, conversion_columns, spec.conversion_filter
    )
    # an event is a row its measure aggregates: with visits and buys in one table (a measure `case when
    # type = 'visit' then id end`), a buy is no visit, so it cannot be credited to itself
    base_rows = base_rows.where(_aggregated(base.expr), copy=False)
    conversion_rows = conversion_rows.where(_aggregated(conversion.expr), copy=False)
    numbered = exp.Window(this=exp.RowNumber())
    conversion_rows = conversion_rows.select(numbered.as_(names.row, quoted=True), copy=False)
    credited = _credited(spec, keys, base_rows, conversion_rows, names)
    total = measure_aggregate(conversion, col(names.value))
    select = exp.select(*[col(k) for k in keys], total.as_(column, quoted=True))
    select = select.from_(credited.subquery("credited"), copy=False)
    select = select.where(exp.EQ(this=col(names.nearest), expression=exp.Literal.number(1)), copy=False)
    return select.group_by(*[col(k) for k in keys], copy=False) if keys else select


def _credited(spec: MetricSpec, keys: list[str], base: exp.Select, conversion: exp.Select, names: _Names) -> exp.Select:
    """Each (base event, conversion) pair of one entity, the base event at or before the conversion, ranked
    per conversion from the latest base event (ties broken by the keys, so the answer is repeatable)."""
    base_time, conversion_time = col(names.time, "b"), col(names.time, "c")
    matches: list[exp.Expr] = [
        exp.EQ(this=col(names.entity, "b"), expression=col(names.entity, "c")),
        exp.LTE(this=base_time, expression=conversion_time),
    ]
    if spec.window:
        count, unit = _window(spec.window)
        opens = exp.Sub(this=conversion_time.copy(), expression=interval(count, unit))
        matches.append(exp.GT(this=base_time.copy(), expression=opens))
    matches += [exp.EQ(this=col(name, "b"), expression=col(name, "c")) for name in names.properties]
    order = [exp.Ordered(this=base_time.copy(), desc=True)]
    order += [exp.Ordered(this=col(k, "b"), nulls_first=False) for k in keys]
    rank = exp.Window(this=exp.RowNumber(), partition_by=[col(names.row, "c")], order=exp.Order(expressions=order))
    pairs = exp.select(*[col(k, "b") for k in keys], col(names.value, "c"), rank.as_(names.nearest, quoted=True))
    pairs = pairs.from_(base.subquery("b"), copy=False)
    return pairs.join(conversion.subquery("c"), on=exp.and_(*matches), join_type="INNER", copy=False)


def _aggregated(expr: exp.Expr) -> exp.Expr:
    """The rows a measure aggregates: those where its expression (over the dataset's rows `t`) is not NULL."""
    return exp.Not(this=exp.Is(this=qualify(expr, "t"), expression=exp.Null()))


def _window(text: str) -> tuple[int, str]:
    """'7 days' as (7, 'DAY'); the spec has checked the form (kpiframe.load.specs.check_window)."""
    count, unit = text.split()
    return int(count), unit.lower().rstrip("s").upper()


def _column(layer: SemanticLayer, spec: MetricSpec, dataset_name: str, name: str) -> exp.Expr:
    found = event_column(layer, dataset_name, name)
    if found is None:  # the load's rules report it first (KF203); kept total for a layer built by hand
        raise QueryError(
            f"conversion metric '{spec.name}': '{name}' is neither an entity nor a dimension of dataset "
            f"'{dataset_name}'",
            code="KF203",
        )
    return found
