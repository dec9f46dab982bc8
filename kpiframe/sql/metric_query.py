"""A metric request (metrics × dimensions × grain × filters) compiled into one sqlglot SELECT.

Shape of the SQL, chosen so that its size grows linearly with the number of metrics:
  * one scan per (dataset, time column): every measure of that dataset (with a given metric filter) is
    one aggregate with its own FILTER, however many metrics use it, joined only many-to-one to the
    datasets that carry the requested dimensions;
  * windowed (cumulative) and shifted (period-over-period) series are CTEs of their own;
  * every part is left-joined to the time spine (time_spine.py): one row per period of the range and
    dimension combination, so metrics from different datasets meet without a chain of full outer joins,
    and a period without rows still has its row (counts and sums 0, cumulative metrics carried); the
    zero of an empty count or sum is filled in there, once per column;
  * ratio and derived metrics are expressions over those columns. One that another metric (or a
    comparison) reads is computed once, as a column `v_<name>` of a level above (`SELECT *, ... FROM`
    the level below); the others are computed in the last SELECT. A metric's inputs are referred to by
    column, never copied into it, so each metric's expression appears once in the SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlglot import exp

from kpiframe.errors import QueryError
from kpiframe.semantic.layer import Dimension, JoinStep, Measure, SemanticLayer
from kpiframe.sql.calendar import GRAINS, Calendar, grain_step, interval, is_coarser_or_equal, year_step
from kpiframe.sql.expressions import (
    ExpressionRejected,
    col,
    qualify,
    replace_columns,
    safe_divide,
    safe_divisions,
    shared_expression,
)
from kpiframe.sql.filters import filter_dimensions, parse_query_filter
from kpiframe.sql.time_spine import PERIOD, SPINE, in_range, spine_ctes
from kpiframe.suggest import unknown

ZERO_WHEN_EMPTY = ("sum", "count", "count_distinct")
COMPARE_SUFFIX = {"previous": "previous", "year": "year_ago"}


@dataclass(frozen=True)
class MetricRequest:
    """What a user asks: metrics by dimensions at a grain, optionally bounded, filtered, compared."""

    metrics: tuple[str, ...]
    dimensions: tuple[str, ...] = ()
    grain: str = "month"
    start: date | None = None
    end: date | None = None
    where: str | None = None
    compare: str | None = None


@dataclass
class _Leaf:
    column: str
    measure: Measure
    filter: str | None
    metrics: set[str] = field(default_factory=set)


@dataclass
class _Part:
    """One input of the combined rows: a CTE with period, dimensions and some value columns."""

    cte: str
    columns: list[str]
    zero: set[str] = field(default_factory=set)  # columns that are 0, not NULL, where the CTE has no row


@dataclass
class _Context:
    ctes: list[tuple[str, exp.Select]] = field(default_factory=list)
    inputs: list[tuple[str, exp.Select]] = field(default_factory=list)  # scans of models, placed first
    scans: list[str] = field(default_factory=list)  # scans whose periods bound the spine
    value_sources: list[str] = field(default_factory=list)  # CTEs whose dimension values the spine takes
    counter: int = 0
    history: bool = False  # some series reads earlier periods: a window or a shift
    where: exp.Expr | None = None  # the request's filter, checked against the allow-list of filters.py

    def name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}_{self.counter}"


def compile_request(layer: SemanticLayer, request: MetricRequest) -> exp.Select:
    """Compile `request` into a SELECT whose columns are period_start, the dimensions, the metrics."""
    if not request.metrics:
        raise QueryError("no metric asked for", code="KF401", hint="pass --metric NAME")
    if request.grain not in GRAINS:
        raise QueryError(f"unknown grain '{request.grain}'", code="KF402", hint=f"use one of {', '.join(GRAINS)}")
    for name in request.metrics:
        if name not in layer.files.metrics:
            message, hint = unknown("metric", name, layer.files.metrics)
            raise QueryError(message, code="KF104", hint=hint)
    if request.compare not in (None, *COMPARE_SUFFIX):
        raise QueryError(f"unknown comparison '{request.compare}'", code="KF403", hint="use previous or year")
    config = layer.files.config
    calendar = Calendar(config.calendar.week_start, config.calendar.fiscal_year_start_month)
    context = _Context()
    if request.where:
        # typed at query time: only declared dimensions and plain operators (a YAML filter is trusted)
        context.where = parse_query_filter(request.where, filter_dimensions(layer, request.metrics))
    builder = _SeriesBuilder(layer, calendar, request, context, request.start, request.end)
    if request.compare:
        suffix = COMPARE_SUFFIX[request.compare]
        outputs: list[tuple[str, exp.Expr]] = []
        for name in request.metrics:
            current, _ = builder.reference(name)  # read three times: computed once, as a column
            previous = builder.shifted(name, request.compare)
            change = safe_divide(exp.Sub(this=current.copy(), expression=previous.copy()), previous.copy())
            outputs += [(name, current), (f"{name}__{suffix}", previous), (f"{name}__change", change)]
    else:
        outputs = builder.outputs(request.metrics)
    query = builder.finish(outputs, in_range=True)
    spine = spine_ctes(
        context.scans,
        context.value_sources,
        list(request.dimensions),
        request.grain,
        calendar,
        request.start,
        request.end,
        context.history,
    )
    # the spine reads every scan and every series reads the spine; built as nodes (with_ parses each name)
    ctes = [
        exp.CTE(this=cte, alias=exp.TableAlias(this=exp.to_identifier(cte_name)))
        for cte_name, cte in [*context.inputs, *spine, *context.ctes]
    ]
    query.set("with_", exp.With(expressions=ctes))
    return query


class _SeriesBuilder:
    """Builds the series of some metrics over [start, end], registering the CTEs it needs."""

    def __init__(
        self,
        layer: SemanticLayer,
        calendar: Calendar,
        request: MetricRequest,
        context: _Context,
        start: date | None,
        end: date | None,
    ) -> None:
        self.layer, self.calendar, self.request, self.context = layer, calendar, request, context
        self.start, self.end = start, end
        self.leaves: dict[tuple[str, str | None], _Leaf] = {}
        self.parts: list[_Part] = []
        self.dim_names = list(request.dimensions)
        # ratio and derived metrics computed once as a column: name -> (column, level that has it)
        self.columns: dict[str, tuple[str, int]] = {}
        # levels[k]: the columns computed from level k (level 0: the combined rows) by level k + 1
        self.levels: list[list[tuple[str, exp.Expr]]] = []

    # --- metric values as expressions over columns -------------------------------------------------------
    def value(self, name: str) -> tuple[exp.Expr, int]:
        """The metric as an expression, and the lowest level whose rows have every column it reads."""
        spec = self.layer.metric(name)
        if spec.type == "simple":
            measure = self.layer.measures[spec.measure or ""]
            leaf = self._leaf(measure, spec.filter)
            leaf.metrics.add(name)
            return col(leaf.column), 0  # an empty count or sum is made 0 in the combined rows
        if spec.type == "ratio":
            numerator, above = self.reference(spec.numerator or "")
            denominator, below = self.reference(spec.denominator or "")
            return safe_divide(numerator, denominator), max(above, below)
        if spec.type == "cumulative":
            return self._cumulative(name), 0
        return self._derived(name)

    def reference(self, name: str) -> tuple[exp.Expr, int]:
        """A column holding the metric, and its level: a ratio or derived metric is computed once."""
        if self.layer.metric(name).type not in ("ratio", "derived"):
            return self.value(name)  # already a column of the combined rows
        if name not in self.columns:
            expression, level = self.value(name)
            while len(self.levels) <= level:
                self.levels.append([])
            column = f"v_{name}"
            self.levels[level].append((column, expression))
            self.columns[name] = (column, level + 1)
        column, level = self.columns[name]
        return col(column), level

    def outputs(self, names: tuple[str, ...]) -> list[tuple[str, exp.Expr]]:
        """The metrics' values; one that some other metric reads (so a column already) is read from it."""
        values = [(name, self.value(name)[0]) for name in names]
        return [(name, col(self.columns[name][0]) if name in self.columns else value) for name, value in values]

    def _derived(self, name: str) -> tuple[exp.Expr, int]:
        spec = self.layer.metric(name)
        inputs = {i.alias or i.metric: i for i in spec.inputs}
        tree = shared_expression(spec.expr or "")  # replace_columns copies it
        level = 0

        def substitute(column: exp.Column) -> exp.Expr:
            nonlocal level
            item = inputs.get(column.name)
            if item is not None and item.offset:
                return self.shifted(item.metric, item.offset)
            reference, at = self.reference(item.metric if item is not None else column.name)
            level = max(level, at)
            return reference

        expression = safe_divisions(replace_columns(tree, substitute), copy=False)  # a copy already
        return expression, level

    # --- scans -------------------------------------------------------------------------------------------
    def _leaf(self, measure: Measure, metric_filter: str | None) -> _Leaf:
        key = (measure.name, metric_filter)
        if key not in self.leaves:
            self.leaves[key] = _Leaf(f"m{len(self.leaves) + 1}_{measure.name}", measure, metric_filter)
        return self.leaves[key]

    def _scans(self) -> list[_Part]:
        groups: dict[tuple[str, str], list[_Leaf]] = {}
        for leaf in self.leaves.values():
            groups.setdefault((leaf.measure.dataset, leaf.measure.time_name), []).append(leaf)
        parts = []
        for (dataset, _), leaves in groups.items():
            cte = self.context.name(f"scan_{dataset}")
            self.context.inputs.append((cte, self._scan(dataset, leaves)))
            self.context.scans.append(cte)
            values = cte
            if self.dim_names and (self.start or self.end):
                # the spine has every combination the data has, whatever the range asked
                values = self.context.name(f"values_{dataset}")
                self.context.inputs.append((values, self._scan(dataset, leaves, values_only=True)))
            self.context.value_sources.append(values)
            zero = {leaf.column for leaf in leaves if leaf.measure.agg in ZERO_WHEN_EMPTY}
            parts.append(_Part(cte, [leaf.column for leaf in leaves], zero))
        return parts

    def _scan(self, dataset_name: str, leaves: list[_Leaf], values_only: bool = False) -> exp.Select:
        """One aggregate per leaf by period and dimensions; or, values_only, the dimension values alone."""
        dataset = self.layer.datasets[dataset_name]
        joins = _Joins(self.layer)
        period = self.calendar.period_start(qualify(leaves[0].measure.time, "t"), self.request.grain)
        projections: list[exp.Expr] = [] if values_only else [period.as_(PERIOD, quoted=True, copy=False)]
        group: list[exp.Expr] = [] if values_only else [period.copy()]
        for name in self.dim_names:
            expr = joins.expression(self._dimension(dataset_name, name))
            projections.append(expr.as_(name, quoted=True, copy=False))
            group.append(expr.copy())
        for leaf in [] if values_only else leaves:
            aggregate = _aggregate(leaf.measure.agg, qualify(leaf.measure.expr, "t"))
            if leaf.filter:
                condition = self._condition(
                    dataset_name, leaf.filter, joins, f"filter of a metric on {leaf.measure.name}"
                )
                aggregate = exp.Filter(this=aggregate, expression=exp.Where(this=condition))
            projections.append(aggregate.as_(leaf.column, quoted=True, copy=False))
        model = self.layer.files.config.schemas.models
        conditions: list[exp.Expr] = [
            exp.Not(this=exp.Is(this=qualify(leaves[0].measure.time, "t"), expression=exp.Null()))
        ]
        if self.context.where is not None:
            conditions.append(self._resolve(dataset_name, self.context.where, joins, entities=False))
        if not values_only:
            conditions += _bounds(period, self.start, self.end)
        # builders are called with copy=False (every part is new): copying the growing tree at each step
        # is quadratic; joins are built as nodes, since a join_type string is parsed at every call
        select = exp.select(*projections).from_(
            exp.table_(dataset.model, db=model, quoted=True).as_("t", quoted=True), copy=False
        )
        for join in joins.clauses():
            select = select.join(join, copy=False)
        select = select.where(exp.and_(*conditions, copy=False), copy=False).group_by(*group, copy=False)
        if all(leaf.filter for leaf in leaves):
            # a group exists only where some metric's own filter keeps a row, as if each metric were
            # computed alone and the results outer-joined (MetricFlow's semantics)
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
            select = select.having(exp.or_(*kept, copy=False), copy=False)
        return select

    def _dimension(self, dataset_name: str, name: str) -> Dimension:
        available = self.layer.dimensions_of(dataset_name)
        if "__" in name:
            if name in available:
                return available[name]
            raise QueryError(self._not_applicable(dataset_name, name), code="KF410")
        own = [d for d in available.values() if d.name == name and not d.path]
        matches = own or [d for d in available.values() if d.name == name]
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
        metrics = sorted(
            {m for leaf in self.leaves.values() if leaf.measure.dataset == dataset_name for m in leaf.metrics}
        )
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

    def _resolve(self, dataset_name: str, tree: exp.Expr, joins: _Joins, entities: bool = True) -> exp.Expr:
        """Swap names for the dimensions' (and, in project filters, the entities') expressions."""
        dataset = self.layer.datasets[dataset_name]

        def resolve(column: exp.Column) -> exp.Expr:
            if entities and column.name in dataset.entities:
                return qualify(dataset.entities[column.name][1], "t")
            return joins.expression(self._dimension(dataset_name, column.name))

        return replace_columns(tree, resolve)

    # --- windows and shifts ------------------------------------------------------------------------------
    def _subseries(self, metric: str) -> str:
        """A CTE with the series of one metric, unbounded below so windows and shifts see history."""
        self.context.history = True
        sub = _SeriesBuilder(self.layer, self.calendar, self.request, self.context, None, self.end)
        query = sub.finish(sub.outputs((metric,)))
        cte = self.context.name(f"series_{metric}")
        self.context.ctes.append((cte, query))
        return cte

    def _cumulative(self, name: str) -> exp.Expr:
        spec = self.layer.metric(name)
        if any(f"c_{name}" in part.columns for part in self.parts):
            return col(f"c_{name}")
        base = spec.metric or ""
        if self.layer.metric(base).type != "simple":
            raise QueryError(f"cumulative metric '{name}' must accumulate a simple metric", code="KF420")
        source = self._subseries(base)
        dims = [col(d) for d in self.dim_names]
        partition: list[exp.Expr] = list(dims)
        spec_window: exp.Expr | None = None
        if spec.grain_to_date:
            if not is_coarser_or_equal(spec.grain_to_date, self.request.grain):
                raise QueryError(
                    f"'{name}' accumulates to {spec.grain_to_date}, finer than grain {self.request.grain}", code="KF421"
                )
            partition.append(self.calendar.period_start(col(PERIOD), spec.grain_to_date))
        else:
            spec_window = self._window_frame(name, spec.window or "")
        window = exp.Window(
            this=exp.Sum(this=col(base)),
            partition_by=partition or None,
            order=exp.Order(expressions=[exp.Ordered(this=col(PERIOD))]),
            spec=spec_window,
        )
        column = f"c_{name}"
        query = exp.select(col(PERIOD), *dims, window.as_(column, quoted=True)).from_(exp.table_(source, quoted=True))
        cte = self.context.name(f"cumulative_{name}")
        self.context.ctes.append((cte, query))
        # a combination the base metric never had has no accumulated rows: a count or sum over none is 0
        zero = {column} if self.layer.measures[self.layer.metric(base).measure or ""].agg in ZERO_WHEN_EMPTY else set()
        self.parts.append(_Part(cte, [column], zero))
        return col(column)

    def _window_frame(self, name: str, window: str) -> exp.WindowSpec:
        count_text, _, unit = window.strip().partition(" ")
        unit = unit.strip().lower().rstrip("s")
        if not count_text.isdigit() or unit not in ("day", "week", "month", "quarter", "year"):
            raise QueryError(f"'{name}': window '{window}' must look like '7 days' or '3 months'", code="KF422")
        count = int(count_text)
        if not is_coarser_or_equal(unit, self.request.grain):
            raise QueryError(
                f"'{name}': a {window} window cannot be computed at {self.request.grain} grain",
                code="KF421",
                hint=f"query it at {unit} grain or finer",
            )
        step_count, step_unit = grain_step(self.request.grain)
        # periods whose start lies within (current - window, current]: the frame reaches back
        # window minus one period, expressed in the request's grain
        reach: exp.Expr = exp.Sub(this=interval(count, unit), expression=interval(step_count, step_unit))
        return exp.WindowSpec(kind="RANGE", start=reach, start_side="PRECEDING", end="CURRENT ROW")

    def shifted(self, metric: str, offset: str) -> exp.Expr:
        """The metric's value one period (or one year) earlier, aligned on the current period."""
        column = f"s_{offset}_{metric}"
        if any(column in part.columns for part in self.parts):  # asked twice: one shifted series serves both
            return col(column)
        source = self._subseries(metric)
        count, unit = grain_step(self.request.grain) if offset == "previous" else year_step(self.request.grain)
        moved = exp.Cast(
            this=exp.Add(this=col(PERIOD), expression=interval(count, unit)), to=exp.DataType.build("DATE")
        )
        query = exp.select(
            moved.as_(PERIOD, quoted=True), *[col(d) for d in self.dim_names], col(metric).as_(column, quoted=True)
        ).from_(exp.table_(source, quoted=True))
        # a period that does not come back when shifted back (29 February + 1 year = 28 February)
        # has no counterpart: keeping it would give 28 February two earlier values
        back = exp.Cast(
            this=exp.Sub(this=moved.copy(), expression=interval(count, unit)), to=exp.DataType.build("DATE")
        )
        query = query.where(exp.EQ(this=back, expression=col(PERIOD)))
        cte = self.context.name(f"shift_{metric}")
        self.context.ctes.append((cte, query))
        self.parts.append(_Part(cte, [column]))
        return col(column)

    # --- assembling --------------------------------------------------------------------------------------
    def finish(self, outputs: list[tuple[str, exp.Expr]], in_range: bool = False) -> exp.Select:
        """The series: one row per spine row (of the range asked, if `in_range`), the outputs beside it."""
        parts = self._scans() + self.parts
        keys = [PERIOD, *self.dim_names]
        rows = self._combine(parts, keys, in_range)
        for index, columns in enumerate(self.levels):
            # every column of the level below, and the metrics computed from them
            projections = [e.as_(c, quoted=True, copy=False) for c, e in columns]
            level = exp.select(exp.Star(), *projections).from_(rows, copy=False)
            rows = level.subquery(f"level_{index + 1}", copy=False)
        select = exp.select(*[col(k) for k in keys], *[e.as_(n, quoted=True, copy=False) for n, e in outputs])
        select = select.from_(rows, copy=False)
        return select.order_by(*[exp.Ordered(this=col(k), nulls_first=False) for k in keys], copy=False)

    def _combine(self, parts: list[_Part], keys: list[str], range_only: bool) -> exp.Expr:
        """The spine's rows with every part's columns beside them, NULL dimension values matching NULL.

        A series read by a window or a shift spans the whole spine, so that it has its history; the
        request's own series keeps the periods of the range asked.
        """
        combined = exp.select(*[col(k, "k") for k in keys]).from_(
            exp.table_(SPINE, quoted=True).as_("k", quoted=True), copy=False
        )
        for index, part in enumerate(parts):
            alias = f"p{index + 1}"
            matches: list[exp.Expr] = [exp.EQ(this=col(PERIOD, "k"), expression=col(PERIOD, alias))]
            matches += [exp.NullSafeEQ(this=col(k, "k"), expression=col(k, alias)) for k in keys[1:]]
            table = exp.table_(part.cte, quoted=True).as_(alias, quoted=True, copy=False)
            join = exp.Join(this=table, on=exp.and_(*matches, copy=False), side="LEFT")
            combined = combined.join(join, copy=False)
            values = [
                _zero_when_empty(col(c, alias), c in part.zero).as_(c, quoted=True, copy=False) for c in part.columns
            ]
            combined = combined.select(*values, copy=False)
        if range_only:
            combined = combined.where(in_range(col(PERIOD, "k")), copy=False)
        return combined.subquery("combined", copy=False)


class _Joins:
    """The many-to-one LEFT JOINs a scan needs, one alias per distinct join path."""

    def __init__(self, layer: SemanticLayer) -> None:
        self.layer = layer
        self.aliases: dict[tuple[JoinStep, ...], str] = {(): "t"}
        self.joins: list[exp.Join] = []

    def alias_for(self, path: tuple[JoinStep, ...]) -> str:
        if path in self.aliases:
            return self.aliases[path]
        parent = self.alias_for(path[:-1])
        step = path[-1]
        alias = f"j{len(self.aliases)}"
        self.aliases[path] = alias
        target = self.layer.datasets[step.dataset]
        table = exp.table_(target.model, db=self.layer.files.config.schemas.models, quoted=True)
        condition = exp.EQ(this=qualify(step.from_expr, parent), expression=qualify(step.to_expr, alias))
        self.joins.append(exp.Join(this=table.as_(alias, quoted=True, copy=False), on=condition, side="LEFT"))
        return alias

    def expression(self, dim: Dimension) -> exp.Expr:
        return qualify(dim.expr, self.alias_for(dim.path))

    def clauses(self) -> list[exp.Join]:
        return self.joins


def _aggregate(agg: str, expr: exp.Expr) -> exp.Expr:
    if agg == "count_distinct":
        return exp.Count(this=exp.Distinct(expressions=[expr]))
    builders = {
        "sum": exp.Sum,
        "count": exp.Count,
        "average": exp.Avg,
        "min": exp.Min,
        "max": exp.Max,
        "median": exp.Median,
    }
    return builders[agg](this=expr)


def _zero_when_empty(value: exp.Expr, zero: bool) -> exp.Expr:
    """A count or sum over no rows is 0, not NULL (`zero`); an average or a median over none stays NULL."""
    if zero:
        return exp.Coalesce(this=value, expressions=[exp.Literal.number(0)])
    return value


def _bounds(period: exp.Expr, start: date | None, end: date | None) -> list[exp.Expr]:
    conditions: list[exp.Expr] = []
    if start:
        conditions.append(exp.GTE(this=period.copy(), expression=_date(start)))
    if end:
        conditions.append(exp.LTE(this=period.copy(), expression=_date(end)))
    return conditions


def _date(value: date) -> exp.Expr:
    return exp.Cast(this=exp.Literal.string(value.isoformat()), to=exp.DataType.build("DATE"))
