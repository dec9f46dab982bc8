"""The scans of a metric request: one aggregate per measure over a dataset, by period and dimensions.

A scan reads one dataset (one time column) and computes every measure that the request's metrics read
from it, each with its own FILTER, joined only many-to-one to the datasets that carry the requested
dimensions (one LEFT JOIN per distinct join path; a join to a versioned dataset keeps the version valid on
the row's own day). Names in the request's and the metrics' filters are
swapped for the dimensions' expressions here, and a dimension that does not apply to the dataset is
reported with what it can be grouped by.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from sqlglot import exp

from kpiframe.errors import QueryError
from kpiframe.semantic.layer import Dimension, JoinStep, Measure, SemanticLayer
from kpiframe.sql.calendar import PERIOD_GRAINS, Calendar, interval, period_literal
from kpiframe.sql.custom_grains import custom_grains, grain_value, spine_join, split_custom_grain
from kpiframe.sql.date_parts import METRIC_TIME, PARTS, date_part, require_time, split_date_part
from kpiframe.sql.expressions import ExpressionRejected, qualify, replace_columns, shared_expression
from kpiframe.sql.metric_filters import MetricValue, MetricValues, no_metric_values, split_metric_value
from kpiframe.sql.time_grains import not_a_time_grain, split_time_grain
from kpiframe.sql.time_spine import PERIOD

EMPTY_COUNTS = ("count", "count_distinct")  # 0 over no rows even inside a scan's row (FILTER)


@dataclass
class Leaf:
    """One aggregate column of a scan: a measure under a metric's filter, and what it answers over no rows."""

    column: str
    measure: Measure
    filter: str | None
    empty: int | float | None  # what a period or group without rows answers (the metric's fill_nulls_with)
    metrics: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class ScanShape:
    """What every scan of a request groups by and keeps: the period (`grain` None: no period, the whole
    range at once), the dimensions, the request's filter and its bounds."""

    grain: str | None
    dimensions: tuple[str, ...]
    where: exp.Expr | None
    start: date | None
    end: date | None
    # days the rows' time is moved forward (an input offset read by a date part): the row counts on, and
    # has the date part of, its day that many days later (kpiframe.sql.date_parts)
    shift_days: int = 0
    # the query of a metric per entity a filter names (kpiframe.sql.metric_filters), from the request's compiler
    values: MetricValues = field(default=no_metric_values, compare=False)


class DatasetScan:
    """Builds the scan of one dataset for a request shape; `known` are all the leaves of the request (to
    name the metrics a dimension does not apply to)."""

    def __init__(self, layer: SemanticLayer, calendar: Calendar, shape: ScanShape, known: Iterable[Leaf]) -> None:
        self.layer, self.calendar, self.shape = layer, calendar, shape
        self.known = list(known)

    def select(self, dataset_name: str, leaves: list[Leaf], values_only: bool = False) -> exp.Select:
        """One aggregate per leaf by period and dimensions; or, values_only, the dimension values alone."""
        dataset = self.layer.datasets[dataset_name]
        own_time = qualify(leaves[0].measure.time, "t")
        joins = _Joins(self.layer, self._day(own_time))
        time = self._shifted(own_time)
        grain = self.shape.grain
        period = self.calendar.period_start(time, grain or "day")  # the day bounds a range over all time
        periodic = grain is not None and not values_only
        projections: list[exp.Expr] = [period.as_(PERIOD, quoted=True, copy=False)] if periodic else []
        group: list[exp.Expr] = [period.copy()] if periodic else []
        for name in self.shape.dimensions:
            expr = self._group_by(dataset_name, name, joins, time, own_time)
            projections.append(expr.as_(name, quoted=True, copy=False))
            group.append(expr.copy())
        for leaf in [] if values_only else leaves:
            projections.append(self._aggregate(dataset_name, leaf, joins).as_(leaf.column, quoted=True, copy=False))
        model = self.layer.files.config.schemas.models
        conditions: list[exp.Expr] = [exp.Not(this=exp.Is(this=time.copy(), expression=exp.Null()))]
        if self.shape.where is not None:
            conditions.append(self._request_filter(dataset_name, self.shape.where, joins, time, own_time))
        if not values_only:
            conditions += _bounds(period, self.shape.start, self.shape.end, self.shape.grain or "day")
        # builders are called with copy=False (every part is new): copying the growing tree at each step
        # is quadratic; joins are built as nodes, since a join_type string is parsed at every call
        select = exp.select(*projections).from_(
            exp.table_(dataset.model, db=model, quoted=True).as_("t", quoted=True), copy=False
        )
        for join in joins.clauses():
            select = select.join(join, copy=False)
        select = select.where(exp.and_(*conditions, copy=False), copy=False)
        if group:
            select = select.group_by(*group, copy=False)
        if all(leaf.filter for leaf in leaves):
            select = select.having(self._kept_by_a_filter(dataset_name, leaves, joins), copy=False)
        return select

    def rows(
        self, dataset_name: str, time: exp.Expr, columns: dict[str, exp.Expr], metric_filter: str | None = None
    ) -> exp.Select:
        """The dataset's rows one by one, not aggregated (a conversion metric pairs events): `columns`
        (expressions over the dataset's own columns), the period of `time` and the request's dimensions,
        under the request's filter (and a metric's, if given) and bounds."""
        own_time = qualify(time, "t")
        joins = _Joins(self.layer, self._day(own_time))
        time = self._shifted(own_time)
        period = self.calendar.period_start(time, self.shape.grain or "day")
        projections = [qualify(expr, "t").as_(name, quoted=True, copy=False) for name, expr in columns.items()]
        if self.shape.grain is not None:
            projections.append(period.as_(PERIOD, quoted=True, copy=False))
        for name in self.shape.dimensions:
            projections.append(self._group_by(dataset_name, name, joins, time, own_time).as_(name, quoted=True))
        conditions: list[exp.Expr] = [exp.Not(this=exp.Is(this=time.copy(), expression=exp.Null()))]
        if self.shape.where is not None:
            conditions.append(self._request_filter(dataset_name, self.shape.where, joins, time, own_time))
        if metric_filter:
            conditions.append(self._condition(dataset_name, metric_filter, joins, "filter of a metric"))
        conditions += _bounds(period, self.shape.start, self.shape.end, self.shape.grain or "day")
        model = self.layer.datasets[dataset_name].model
        table = exp.table_(model, db=self.layer.files.config.schemas.models, quoted=True).as_("t", quoted=True)
        select = exp.select(*projections).from_(table, copy=False)
        for join in joins.clauses():
            select = select.join(join, copy=False)
        return select.where(exp.and_(*conditions, copy=False), copy=False)

    def _aggregate(self, dataset_name: str, leaf: Leaf, joins: _Joins) -> exp.Expr:
        aggregate = measure_aggregate(leaf.measure, qualify(leaf.measure.expr, "t"))
        if not leaf.filter:
            return aggregate
        condition = self._condition(dataset_name, leaf.filter, joins, f"filter of a metric on {leaf.measure.name}")
        aggregate = exp.Filter(this=aggregate, expression=exp.Where(this=condition))
        if leaf.empty is None and leaf.measure.agg in EMPTY_COUNTS:
            aggregate = _null_without_rows(aggregate, condition)
        return aggregate

    def _kept_by_a_filter(self, dataset_name: str, leaves: list[Leaf], joins: _Joins) -> exp.Expr:
        """A group exists only where some metric's own filter keeps a row, as if each metric were computed
        alone and the results outer-joined (MetricFlow's semantics)."""
        filters = dict.fromkeys(leaf.filter or "" for leaf in leaves)
        kept = [
            exp.GT(
                this=exp.Filter(
                    this=exp.Count(this=exp.Star()),
                    expression=exp.Where(this=self._condition(dataset_name, text, joins, "filter")),
                ),
                expression=exp.Literal.number(0),
            )
            for text in filters
        ]
        return exp.or_(*kept, copy=False)

    def _day(self, own_time: exp.Expr) -> exp.Expr:
        """The day a row joins a versioned dataset at: its own time's (not moved by an offset), so a deal
        reads the owner of its account on the day it was made, whatever period it counts in."""
        return self.calendar.period_start(own_time, "day")

    def _shifted(self, time: exp.Expr) -> exp.Expr:
        if not self.shape.shift_days:
            return time
        return exp.Add(this=time.copy(), expression=interval(self.shape.shift_days, "DAY"))

    def _group_by(self, dataset_name: str, name: str, joins: _Joins, time: exp.Expr, own_time: exp.Expr) -> exp.Expr:
        """The expression of a name the request groups or filters by; a date part (`metric_time__extract_dow`)
        is the part of the scan's time (metric_time, moved by shape.shift_days) or of a time dimension's, the
        scan's time itself when that dimension is the measure's own time (kpiframe.sql.date_parts)."""
        if name in self.layer.dimensions_of(dataset_name):
            return joins.expression(self._dimension(dataset_name, name))
        value = split_metric_value(self.layer, name)
        if value is not None:
            return self._metric_value(dataset_name, value, joins)
        custom = split_custom_grain(name, custom_grains(self.layer.files.config))
        if custom is not None:
            return self._custom_grain(dataset_name, name, custom, joins, time, own_time)
        base, _, grain = name.rpartition("__")
        if base == METRIC_TIME and grain in PERIOD_GRAINS:  # in a filter: the period of the row's (moved) time
            return self.calendar.period_start(time.copy(), grain)
        period = split_time_grain(name)
        if period is not None:  # `listing__ds__month`: the period of another time (kpiframe.sql.time_grains)
            dim = self._dimension(dataset_name, period[0])
            if not dim.is_time:
                raise not_a_time_grain(name)
            expr = joins.expression(dim)
            return self.calendar.period_start(time.copy() if expr == own_time else expr, period[1])
        found = split_date_part(name)
        if found is None or found[1] not in PARTS:
            return joins.expression(self._dimension(dataset_name, name))
        base, part = found
        if base == METRIC_TIME:
            return date_part(time.copy(), part)
        dim = self._dimension(dataset_name, base)
        require_time(name, dim.is_time)
        expr = joins.expression(dim)
        return date_part(time.copy() if expr == own_time else expr, part)

    def _custom_grain(
        self,
        dataset_name: str,
        name: str,
        custom: tuple[str, str],
        joins: _Joins,
        time: exp.Expr,
        own_time: exp.Expr,
    ) -> exp.Expr:
        """A custom grain (`metric_time__alien_day`): the time spine's column on the local day of the scan's
        time (moved by shape.shift_days) or of a time dimension's (kpiframe.sql.custom_grains)."""
        base, grain = custom
        if base == METRIC_TIME:
            value = time.copy()
        else:
            dim = self._dimension(dataset_name, base)
            if not dim.is_time:
                raise QueryError(
                    f"'{name}': '{base}' is not a time dimension, so it has no {grain}",
                    code="KF432",
                    hint=f"ask for the custom grain of a time: metric_time__{grain}",
                )
            expr = joins.expression(dim)
            value = time.copy() if expr == own_time else expr
        return joins.custom_grain(self.calendar.period_start(value, "day"), grain)

    def _dimension(self, dataset_name: str, name: str) -> Dimension:
        available = self.layer.dimensions_of(dataset_name)
        if "__" in name:
            if name in available:
                return available[name]
            raise QueryError(self._not_applicable(dataset_name, name), code="KF410")
        matches = self.layer.named(dataset_name, name)
        if len({d.qualified for d in matches}) == 1:
            return matches[0]
        if not matches:
            raise QueryError(self._not_applicable(dataset_name, name), code="KF410")
        raise QueryError(
            f"dimension '{name}' is ambiguous for dataset '{dataset_name}'",
            code="KF411",
            hint=f"name one of {', '.join(sorted({d.qualified for d in matches}))}",
        )

    def _not_applicable(self, dataset_name: str, name: str) -> str:
        metrics = sorted({m for leaf in self.known if leaf.measure.dataset == dataset_name for m in leaf.metrics})
        subject = f"metric {', '.join(metrics)}" if metrics else f"dataset '{dataset_name}'"
        if "__" in name:
            return f"dimension '{name}' does not apply to {subject}: " + self.layer.why_unreachable(dataset_name, name)
        candidates = sorted(
            {
                d.qualified
                for ds in self.layer.datasets
                for d in self.layer.datasets[ds].dimensions.values()
                if d.name == name
            }
        )
        known = f"; '{name}' exists as {', '.join(candidates)}" if candidates else ""
        usable = sorted(self.layer.dimensions_of(dataset_name))
        return (
            f"dimension '{name}' does not apply to {subject} (dataset '{dataset_name}'){known}; "
            f"it can be grouped by {', '.join(usable) or 'time only'}"
        )

    def _condition(self, dataset_name: str, text: str, joins: _Joins, what: str) -> exp.Expr:
        try:
            tree = shared_expression(text)  # _resolve copies it
        except ExpressionRejected as exc:
            raise QueryError(f"{what}: {exc}", code="KF120") from None
        return self._resolve(dataset_name, tree, joins)

    def _resolve(self, dataset_name: str, tree: exp.Expr, joins: _Joins) -> exp.Expr:
        """Swap the names of a project's filter for the entities' and dimensions' expressions."""
        dataset = self.layer.datasets[dataset_name]

        def resolve(column: exp.Column) -> exp.Expr:
            if column.name in dataset.entities:
                return qualify(dataset.entities[column.name][1], "t")
            value = split_metric_value(self.layer, column.name)
            if value is not None and column.name not in self.layer.dimensions_of(dataset_name):
                return self._metric_value(dataset_name, value, joins)
            return joins.expression(self._dimension(dataset_name, column.name))

        return replace_columns(tree, resolve)

    def _metric_value(self, dataset_name: str, value: MetricValue, joins: _Joins) -> exp.Expr:
        """The metric per entity on each row: its query, grouped by the entity, joined on the row's key of
        that entity (its own, else the one the fewest joins reach)."""
        keys = [d for d in self.layer.dimensions_of(dataset_name).values() if d.is_entity and d.name == value.entity]
        if not keys:
            raise QueryError(
                f"'{value.name}': the rows of dataset '{dataset_name}' have no entity '{value.entity}' to take "
                f"{value.metric} per {value.entity} by",
                code="KF410",
                hint=f"filter by a metric per an entity of these rows: {self._entities(dataset_name)}",
            )
        key = joins.expression(min(keys, key=lambda d: len(d.path)))
        return joins.metric_value(value, key, self.shape.values(value.metric, value.group_by))

    def _entities(self, dataset_name: str) -> str:
        names = sorted({d.name for d in self.layer.dimensions_of(dataset_name).values() if d.is_entity})
        return ", ".join(names) or "none"

    def _request_filter(
        self, dataset_name: str, where: exp.Expr, joins: _Joins, time: exp.Expr, own_time: exp.Expr
    ) -> exp.Expr:
        """The request's filter over this scan's rows (checked by kpiframe.sql.filters: dimensions only, no
        entity). A date part in it (`metric_time__extract_month`) is resolved as the group-by's, so a row is
        kept by the part of the day it counts on, the day a group-by by that part shows it under."""

        def resolve(column: exp.Column) -> exp.Expr:
            return self._group_by(dataset_name, column.name, joins, time, own_time)

        return replace_columns(where, resolve)


class _Joins:
    """The many-to-one LEFT JOINs a scan needs, one alias per distinct join path; a join between two
    partitioned datasets also equates their partitions, and a join to a versioned dataset keeps the version
    valid on `row_day`, the day of the scan's row (None: a query without a metric, which has no time)."""

    def __init__(self, layer: SemanticLayer, row_day: exp.Expr | None) -> None:
        self.layer = layer
        self.row_day = row_day
        self.aliases: dict[tuple[JoinStep, ...], str] = {(): "t"}
        self.joins: list[exp.Join] = []
        self.spines: dict[str, str] = {}  # the SQL of a row's day -> the alias of the time spine joined on it
        self.values: dict[tuple[str, str], str] = {}  # (metric per entity, key SQL) -> alias of its query

    def metric_value(self, value: MetricValue, key: exp.Expr, query: exp.Select) -> exp.Expr:
        """The metric per entity `value` of the row whose entity key is `key`: its query LEFT JOINed once
        per name and key (after the joins the key reads, already in self.joins)."""
        found = (value.name, key.sql())
        alias = self.values.get(found)
        if alias is None:
            alias = f"mv{len(self.values) + 1}"
            self.values[found] = alias
            on = exp.EQ(this=key, expression=exp.column(value.group_by, table=alias, quoted=True))
            self.joins.append(exp.Join(this=query.subquery(alias, copy=False), on=on, side="LEFT"))
        return exp.column(value.metric, table=alias, quoted=True)

    def custom_grain(self, day: exp.Expr, grain: str) -> exp.Expr:
        """The custom grain's column of the time spine model, LEFT JOINed once per distinct day expression
        (after the joins that expression reads, which are already in self.joins)."""
        key = day.sql()
        alias = self.spines.get(key)
        if alias is None:
            alias = f"g{len(self.spines) + 1}"
            self.spines[key] = alias
            self.joins.append(spine_join(self.layer.files.config, alias, day))
        return grain_value(self.layer.files.config, alias, grain)

    def alias_for(self, path: tuple[JoinStep, ...]) -> str:
        if path in self.aliases:
            return self.aliases[path]
        parent = self.alias_for(path[:-1])
        step = path[-1]
        alias = f"j{len(self.aliases)}"
        self.aliases[path] = alias
        target = self.layer.datasets[step.dataset]
        table = exp.table_(target.model, db=self.layer.files.config.schemas.models, quoted=True)
        condition: exp.Expr = exp.EQ(this=qualify(step.from_expr, parent), expression=qualify(step.to_expr, alias))
        if step.from_partition is not None and step.to_partition is not None:  # partitioned, as is one before
            owner = self.alias_for(path[: len(path) - 1 - step.partition_back])
            same_partition = exp.EQ(
                this=qualify(step.from_partition, owner), expression=qualify(step.to_partition, alias)
            )
            condition = exp.and_(condition, same_partition, copy=False)
        if step.to_window is not None:
            condition = exp.and_(condition, self._valid(step, alias), copy=False)
        self.joins.append(exp.Join(this=table.as_(alias, quoted=True, copy=False), on=condition, side="LEFT"))
        return alias

    def _valid(self, step: JoinStep, alias: str) -> exp.Expr:
        """row day >= day of start AND (day of end IS NULL OR row day < day of end): the version valid that
        day, windows compared by day as the periods are (a version starting at noon holds from that day)."""
        window = step.to_window
        assert window is not None
        if self.row_day is None:
            raise QueryError(
                f"dataset '{step.dataset}' is versioned (a validity window): which of its rows a row of another "
                "dataset joins depends on that row's time, and a query without a metric has none",
                code="KF429",
                hint="add --metric NAME, or ask for the versioned dataset's own dimensions alone",
            )
        start = exp.Cast(this=qualify(window.start, alias), to=exp.DataType.build("DATE"))
        valid: exp.Expr = exp.GTE(this=self.row_day.copy(), expression=start)
        if window.end is not None:
            end = exp.Cast(this=qualify(window.end, alias), to=exp.DataType.build("DATE"))
            still_valid = exp.or_(
                exp.Is(this=end, expression=exp.Null()),
                exp.LT(this=self.row_day.copy(), expression=end.copy()),
                copy=False,
            )
            valid = exp.and_(valid, exp.paren(still_valid, copy=False), copy=False)
        return valid

    def expression(self, dim: Dimension) -> exp.Expr:
        return qualify(dim.expr, self.alias_for(dim.path))

    def clauses(self) -> list[exp.Join]:
        return self.joins


def measure_aggregate(measure: Measure, expr: exp.Expr) -> exp.Expr:
    """The aggregate of a measure's expression (a percentile continuous unless discrete: sqlglot writes
    QUANTILE_CONT on DuckDB, PERCENTILE_CONT ... WITHIN GROUP on PostgreSQL)."""
    if measure.agg == "count_distinct":
        return exp.Count(this=exp.Distinct(expressions=[expr]))
    if measure.agg == "percentile":
        which = exp.Literal.number(measure.percentile)
        percentile = exp.PercentileDisc if measure.discrete else exp.PercentileCont
        return percentile(this=expr, expression=which)
    builders = {
        "sum": exp.Sum,
        "count": exp.Count,
        "average": exp.Avg,
        "min": exp.Min,
        "max": exp.Max,
        "median": exp.Median,
    }
    return builders[measure.agg](this=expr)


def _null_without_rows(count: exp.Expr, condition: exp.Expr) -> exp.Expr:
    """A filtered count that is NULL, not 0, where its filter keeps no row of the group: what a metric with
    `fill_nulls_with: null` answers when the group's rows are all filtered out, as if it had none."""
    kept = exp.Filter(this=exp.Count(this=exp.Star()), expression=exp.Where(this=condition.copy()))
    return exp.Case(ifs=[exp.If(this=exp.GT(this=kept, expression=exp.Literal.number(0)), true=count)])


def _bounds(period: exp.Expr, start: date | None, end: date | None, grain: str) -> list[exp.Expr]:
    conditions: list[exp.Expr] = []
    if start:
        conditions.append(exp.GTE(this=period.copy(), expression=period_literal(start, grain)))
    if end:
        conditions.append(exp.LTE(this=period.copy(), expression=period_literal(end, grain)))
    return conditions
