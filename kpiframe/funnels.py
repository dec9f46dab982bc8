"""Funnels: an entity moving through ordered stages, compiled to an entity-level model and aggregated.

The build creates `funnel_<name>`: one row per entity with the time it entered, its dimensions and,
per stage, the first time it reached that stage if that time falls inside the conversion window
(entered_at <= time < entered_at + window). Counting is then done per cohort (the period the entity
entered) or per period (the period each stage was reached), with conversion from the previous and the
first stage and the median and 90th percentile hours between stages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlglot import exp

from kpiframe.definitions import DefinitionProblem, dataset_spec, entity_expr, model_table, parse_rule_expression
from kpiframe.graph import Located, Model, ProjectGraph
from kpiframe.specs import FunnelSpec, ModelSpec
from kpiframe.sql.calendar import Calendar, interval
from kpiframe.sql.expressions import qualify

COLUMNS = ("entities", "conversion_from_previous", "conversion_from_first", "median_hours_from_previous",
           "p90_hours_from_previous")


def model_name(funnel: str) -> str:
    return f"funnel_{funnel}"


def expand_funnels(graph: ProjectGraph) -> None:
    """Add each funnel's entity-level model to the graph."""
    for located in graph.funnels.values():
        spec: FunnelSpec = located.spec
        try:
            query, refs = entity_query(graph, spec)
        except DefinitionProblem as problem:
            graph.error("KF920", f"funnel '{spec.name}': {problem}", located.location, problem.hint)
            continue
        name = model_name(spec.name)
        if name in graph.models:
            graph.error("KF021", f"funnel '{spec.name}' generates model '{name}', which already exists",
                        located.location)
            continue
        graph.models[name] = Model(name, located.location.path, query.sql(),
                                   ModelSpec(name=name, description=f"entities of funnel {spec.name}"),
                                   located.location, tree=query, refs=refs, generated=True)


def entity_query(graph: ProjectGraph, spec: FunnelSpec) -> tuple[exp.Select, list[str]]:
    entity = dataset_spec(graph, spec.dataset)
    if entity.time is None:
        raise DefinitionProblem(f"dataset '{entity.name}' needs a `time:` column: when an entity enters")
    key = qualify(entity_expr(entity, spec.entity, ("primary", "unique")), "e")
    entered = qualify(parse_rule_expression(entity.time), "e")
    dims = {d.name: qualify(parse_rule_expression(d.expr or d.name), "e") for d in entity.dimensions}
    unknown_dims = [d for d in spec.dimensions if d not in dims]
    if unknown_dims:
        raise DefinitionProblem(f"dimension(s) {', '.join(unknown_dims)} are not dimensions of '{entity.name}'",
                                hint=f"choose from {', '.join(sorted(dims))}")
    select = exp.select(key.as_("entity_id"), entered.as_("entered_at"),
                        *[dims[d].copy().as_(d) for d in spec.dimensions]).from_(model_table(graph, entity, "e"))
    refs = [entity.model]
    window_end = exp.Add(this=entered.copy(), expression=interval(spec.window_days, "DAY"))
    for index, stage in enumerate(spec.stages):
        if stage.dataset is None and stage.definition is None:
            reached: exp.Expr = qualify(parse_rule_expression(stage.time or ""), "e")
        else:
            alias = f"s{index}"
            sub, ref = _first_times(graph, spec, stage, alias)
            refs.append(ref)
            select = select.join(sub, on=exp.EQ(this=exp.column("entity_id", table=alias), expression=key.copy()),
                                 join_type="left")
            reached = exp.column("reached_at", table=alias)
        inside = exp.and_(exp.GTE(this=reached.copy(), expression=entered.copy()),
                          exp.LT(this=reached.copy(), expression=window_end.copy()))
        select = select.select(exp.Case(ifs=[exp.If(this=inside, true=reached)]).as_(f"stage_{index}_at"))
    return select, list(dict.fromkeys(refs))


def _first_times(graph: ProjectGraph, spec: FunnelSpec, stage: Any, alias: str) -> tuple[exp.Expr, str]:
    """(entity_id, reached_at): the first time each entity reached a stage, from a dataset or a definition."""
    if stage.definition:
        located = graph.definitions.get(stage.definition)
        if located is None:
            raise DefinitionProblem(f"stage '{stage.name}' names unknown definition '{stage.definition}'")
        version = stage.version or located.spec.current
        if version not in [v.version for v in located.spec.versions]:
            raise DefinitionProblem(f"stage '{stage.name}' names version {version} of '{stage.definition}', "
                                    "which is not defined",
                                    hint=f"versions: {', '.join(str(v.version) for v in located.spec.versions)}")
        model = f"{stage.definition}_v{version}"
        key_name = next(e.expr or e.name for e in dataset_spec(graph, spec.dataset).entities if e.name == spec.entity)
        query = exp.select(exp.column(key_name).as_("entity_id"), exp.column("qualified_at").as_("reached_at")).from_(
            exp.table_(model, db=graph.config.schemas.models, quoted=True))
        return query.subquery(alias), model
    dataset = dataset_spec(graph, stage.dataset)
    foreign = qualify(entity_expr(dataset, spec.entity, ("foreign", "primary", "unique")), "d")
    first_time = exp.Min(this=qualify(parse_rule_expression(stage.time), "d"))
    query = (exp.select(foreign.as_("entity_id"), first_time.as_("reached_at"))
             .from_(model_table(graph, dataset, "d")).group_by(foreign.copy()))
    if stage.filter:
        query = query.where(qualify(parse_rule_expression(stage.filter), "d"))
    return query.subquery(alias), dataset.model


@dataclass(frozen=True)
class FunnelRequest:
    funnel: str
    grain: str = "month"
    dimensions: tuple[str, ...] = ()
    start: date | None = None
    end: date | None = None


def funnel_query(graph: ProjectGraph, spec: FunnelSpec, request: FunnelRequest) -> exp.Select:
    """Per cohort (or period), dimensions and stage: entities, conversions and hours between stages."""
    unknown_dims = [d for d in request.dimensions if d not in spec.dimensions]
    if unknown_dims:
        raise DefinitionProblem(f"funnel '{spec.name}' has no dimension(s) {', '.join(unknown_dims)}",
                                hint=f"it has {', '.join(spec.dimensions) or 'none'}")
    calendar = Calendar(graph.config.calendar.week_start, graph.config.calendar.fiscal_year_start_month)
    source = exp.table_(model_name(spec.name), db=graph.config.schemas.models, quoted=True)
    dims = [exp.column(d) for d in request.dimensions]
    branches = []
    for index, stage in enumerate(spec.stages):
        reached = exp.column(f"stage_{index}_at")
        counted_at = exp.column("entered_at") if spec.count_by == "cohort" else reached
        period = calendar.period_start(counted_at, request.grain)
        hours = _hours_between(index)
        conditions: list[exp.Expr] = [exp.Not(this=exp.Is(this=reached.copy(), expression=exp.Null()))]
        if request.start:
            conditions.append(exp.GTE(this=period.copy(), expression=_date(request.start)))
        if request.end:
            conditions.append(exp.LTE(this=period.copy(), expression=_date(request.end)))
        branch = (exp.select(period.as_("cohort_start"), *[d.copy() for d in dims],
                             exp.Literal.number(index).as_("stage_index"),
                             exp.Literal.string(stage.name).as_("stage"),
                             exp.Count(this=exp.Star()).as_("entities"),
                             exp.Median(this=hours).as_("median_hours"),
                             exp.PercentileCont(this=hours.copy(), expression=exp.Literal.number(0.9)).as_("p90_hours"))
                  .from_(source).where(exp.and_(*conditions))
                  .group_by(period.copy(), *[d.copy() for d in dims]))
        branches.append(branch)
    stacked: exp.Query = branches[0]
    for branch in branches[1:]:
        stacked = exp.union(stacked, branch, distinct=False)
    return _conversions(stacked, request.dimensions)


def _hours_between(index: int) -> exp.Expr:
    if index == 0:
        return exp.Null()
    return exp.Div(this=exp.DateDiff(this=exp.column(f"stage_{index}_at"), expression=exp.column(
        f"stage_{index - 1}_at"), unit=exp.var("SECOND")), expression=exp.Literal.number(3600.0))


def _conversions(stacked: exp.Query, dimensions: tuple[str, ...]) -> exp.Select:
    partition = [exp.column("cohort_start"), *[exp.column(d) for d in dimensions]]
    order = exp.Order(expressions=[exp.Ordered(this=exp.column("stage_index"))])

    def over(func: exp.Expr) -> exp.Window:
        return exp.Window(this=func, partition_by=[p.copy() for p in partition], order=order.copy())

    entities = exp.column("entities")
    index = exp.column("stage_index")
    # a stage that no entity reached has no row: conversions only count from the stage right before
    # (and from the first stage), never from whichever row happens to come earlier
    previous = exp.Case(ifs=[exp.If(this=exp.EQ(this=over(exp.Lag(this=index.copy())), expression=exp.Sub(
        this=index.copy(), expression=exp.Literal.number(1))), true=over(exp.Lag(this=entities.copy())))])
    first = exp.Case(ifs=[exp.If(this=exp.EQ(this=over(exp.FirstValue(this=index.copy())),
                                             expression=exp.Literal.number(0)),
                                 true=over(exp.FirstValue(this=entities.copy())))])
    return (exp.select(exp.column("cohort_start"), *[exp.column(d) for d in dimensions], "stage", "entities",
                       exp.Div(this=entities.copy(), expression=previous, safe=True).as_("conversion_from_previous"),
                       exp.Div(this=entities.copy(), expression=first, safe=True).as_("conversion_from_first"),
                       exp.column("median_hours").as_("median_hours_from_previous"),
                       exp.column("p90_hours").as_("p90_hours_from_previous"))
            .from_(stacked.subquery("stages"))
            .order_by(*[p.copy() for p in partition], exp.column("stage_index")))


def _date(value: date) -> exp.Expr:
    return exp.Cast(this=exp.Literal.string(value.isoformat()), to=exp.DataType.build("DATE"))


@dataclass(frozen=True)
class Bottleneck:
    cohort_start: date
    stage: str
    conversion: float
    trailing: float
    cohorts: int

    @property
    def drop(self) -> float:
        return self.conversion - self.trailing


def find_bottleneck(rows: list[dict[str, Any]], stages: list[str], mature_before: date | None,
                    trailing: int = 3) -> Bottleneck | None:
    """The step whose conversion fell most against its own trailing average, in the latest mature cohort.

    Cohorts still inside their conversion window look worse only because they are young, so a cohort
    counts once its window has closed (`mature_before`); dimension groups are summed first.
    """
    totals: dict[tuple[date, str], float] = {}
    for row in rows:
        key = (row["cohort_start"], row["stage"])
        totals[key] = totals.get(key, 0) + (row["entities"] or 0)
    cohorts = sorted({c for c, _ in totals if mature_before is None or c < mature_before})
    if len(cohorts) < 2:
        return None
    latest, history = cohorts[-1], cohorts[-1 - trailing:-1]

    def conversion(cohort: date, index: int) -> float | None:
        before = totals.get((cohort, stages[index - 1]), 0)
        return totals.get((cohort, stages[index]), 0) / before if before else None

    worst: Bottleneck | None = None
    for index in range(1, len(stages)):
        now = conversion(latest, index)
        past = [v for v in (conversion(c, index) for c in history) if v is not None]
        if now is None or not past:
            continue
        candidate = Bottleneck(latest, f"{stages[index - 1]} → {stages[index]}", now, sum(past) / len(past),
                               len(past))
        if worst is None or candidate.drop < worst.drop:
            worst = candidate
    return worst if worst is not None and worst.drop < 0 else None  # no step fell: no bottleneck


def located_funnel(graph: ProjectGraph, name: str | None) -> Located:
    if name is None and len(graph.funnels) == 1:
        return next(iter(graph.funnels.values()))
    if name not in graph.funnels:
        from kpiframe.errors import QueryError
        from kpiframe.suggest import unknown

        message, hint = unknown("funnel", name or "", graph.funnels)
        raise QueryError(message, code="KF921", hint=hint)
    return graph.funnels[name]
