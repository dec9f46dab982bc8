"""Funnels: an entity moving through ordered stages, compiled to an entity-level model and aggregated.

The build creates `funnel_<name>`: one row per entity with the time it entered, its dimensions and,
per stage, the first time it reached that stage if that time falls inside the conversion window
(entered_at <= time < entered_at + window). Counting is then done per cohort (the period the entity
entered) or per period (the period each stage was reached), with conversion from the previous and the
first stage and the median and 90th percentile hours between stages.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlglot import exp

from kpiframe.errors import Problems, QueryError
from kpiframe.load.loaded import Located, Model, ProjectFiles
from kpiframe.load.names import funnel_model, version_model
from kpiframe.load.specs import FunnelSpec, ModelSpec
from kpiframe.semantic.definitions import (
    DefinitionProblem,
    dataset_spec,
    entity_expr,
    model_table,
    parse_rule_expression,
)
from kpiframe.sql.calendar import Calendar, interval, period_end
from kpiframe.sql.expressions import qualify
from kpiframe.suggest import unknown

COLUMNS = (
    "entities",
    "conversion_from_previous",
    "conversion_from_first",
    "median_hours_from_previous",
    "p90_hours_from_previous",
)


def expand_funnels(files: ProjectFiles) -> tuple[ProjectFiles, Problems]:
    """The files with each funnel's entity-level model added."""
    found = Problems()
    models = dict(files.models)
    for located in files.funnels.values():
        spec = located.spec
        try:
            query, refs = entity_query(files, spec)
        except DefinitionProblem as problem:
            found.error("KF920", f"funnel '{spec.name}': {problem}", located.location, problem.hint)
            continue
        name = funnel_model(spec.name)
        if name in models:
            found.error(
                "KF021", f"funnel '{spec.name}' generates model '{name}', which already exists", located.location
            )
            continue
        models[name] = Model(
            name,
            located.location.path,
            query.sql(),
            ModelSpec(name=name, description=f"entities of funnel {spec.name}"),
            located.location,
            tree=query,
            refs=tuple(refs),
            generated=True,
        )
    return replace(files, models=models), found


def entity_query(graph: ProjectFiles, spec: FunnelSpec) -> tuple[exp.Select, list[str]]:
    """One row per entity: when it entered, its dimensions and, per stage, its time in each order.

    `stage_<i>_at` is the first time the entity reached stage i, kept only inside the window
    (independent order). `stage_<i>_in_order_at` is the earliest time inside the window at or after
    its in-order time at stage i - 1 (strict order), NULL once a stage before was missed.
    """
    entity = dataset_spec(graph, spec.dataset)
    if entity.time is None:
        raise DefinitionProblem(f"dataset '{entity.name}' needs a `time:` column: when an entity enters")
    key = qualify(entity_expr(entity, spec.entity, ("primary", "unique")), "e")
    entered = qualify(parse_rule_expression(entity.time), "e")
    dims = {d.name: qualify(parse_rule_expression(d.expr or d.name), "e") for d in entity.dimensions}
    unknown_dims = [d for d in spec.dimensions if d not in dims]
    if unknown_dims:
        raise DefinitionProblem(
            f"dimension(s) {', '.join(unknown_dims)} are not dimensions of '{entity.name}'",
            hint=f"choose from {', '.join(sorted(dims))}",
        )
    select = exp.select(
        key.as_("entity_id"), entered.as_("entered_at"), *[dims[d].copy().as_(d) for d in spec.dimensions]
    ).from_(model_table(graph, entity, "e"))
    refs = [entity.model]
    window_end = exp.Add(this=entered.copy(), expression=interval(spec.window_days, "DAY"))
    events: list[exp.Select] = []
    for index, stage in enumerate(spec.stages):
        stage_events, ref = _stage_events(graph, spec, stage)
        events.append(stage_events)
        refs.append(ref)
        if stage.dataset is None and stage.definition is None:
            reached: exp.Expr = qualify(parse_rule_expression(stage.time or ""), "e")
        else:
            alias = f"s{index}"
            first = (
                exp.select("entity_id", exp.Min(this=exp.column("reached_at")).as_("reached_at"))
                .from_(stage_events.subquery("events"), copy=False)  # the subquery copies stage_events
                .group_by("entity_id", copy=False)
            )
            select = select.join(  # copy=False here and below: the tree is this function's own, and
                first.subquery(alias),  # copying it at every stage made expanding a funnel quadratic
                join_type="left",
                on=exp.EQ(this=exp.column("entity_id", table=alias), expression=key.copy()),
                copy=False,
            )
            reached = exp.column("reached_at", table=alias)
        inside = exp.and_(
            exp.GTE(this=reached.copy(), expression=entered.copy()),
            exp.LT(this=reached.copy(), expression=window_end.copy()),
        )
        if stage.filter and stage.dataset is None and stage.definition is None:
            inside = exp.and_(inside, qualify(parse_rule_expression(stage.filter), "e"))
        first_inside = exp.Case(ifs=[exp.If(this=inside, true=reached)])
        select = select.select(first_inside.as_(stage_column(index, "independent")), copy=False)
    return _in_order(select, spec, events), list(dict.fromkeys(refs))


def stage_column(index: int, order: str) -> str:
    """The entity model's column with the time an entity reached stage `index` under `order`."""
    return f"stage_{index}_at" if order == "independent" else f"stage_{index}_in_order_at"


def _in_order(base: exp.Select, spec: FunnelSpec, events: list[exp.Select]) -> exp.Select:
    """Add the strict-order time of every stage to the entity rows of `base`.

    Step i keeps the entities that have a stage-i event inside the window at or after their step i - 1
    time (the entry time for the first stage), with the earliest such event: as Mixpanel and Amplitude
    count "this order", a repeated stage counts from its first occurrence after the stage before.
    """
    columns = [e.alias_or_name for e in base.expressions]
    query = exp.select(*[exp.column(c, table="b") for c in columns]).from_(exp.to_table("base").as_("b"))
    query = query.with_("base", as_=base, copy=False)  # the trees here are this function's own
    previous, lower_bound = "base", "entered_at"
    for index, stage_events in enumerate(events):
        step = f"in_order_{index}"
        at = exp.column("reached_at", table="ev")
        window_end = exp.Add(this=exp.column("entered_at", table="p"), expression=interval(spec.window_days, "DAY"))
        same_entity = exp.EQ(this=exp.column("entity_id", table="ev"), expression=exp.column("entity_id", table="p"))
        matched = exp.and_(
            same_entity,
            exp.GTE(this=at.copy(), expression=exp.column(lower_bound, table="p")),
            exp.LT(this=at.copy(), expression=window_end),
        )
        reached = (
            exp.select(
                exp.column("entity_id", table="p"),
                exp.column("entered_at", table="p"),
                exp.Min(this=at.copy()).as_("reached_at"),
            )
            .from_(exp.to_table(previous).as_("p"), copy=False)
            .join(stage_events.subquery("ev"), on=matched, join_type="inner", copy=False)
            .group_by(exp.column("entity_id", table="p"), exp.column("entered_at", table="p"), copy=False)
        )
        query = query.with_(step, as_=reached, copy=False)
        alias = f"o{index}"
        query = query.join(
            exp.to_table(step).as_(alias),
            join_type="left",
            on=exp.EQ(this=exp.column("entity_id", table=alias), expression=exp.column("entity_id", table="b")),
            copy=False,
        )
        query = query.select(exp.column("reached_at", table=alias).as_(stage_column(index, "strict")), copy=False)
        previous, lower_bound = step, "reached_at"
    return query


def _stage_events(graph: ProjectFiles, spec: FunnelSpec, stage: Any) -> tuple[exp.Select, str]:
    """(entity_id, reached_at): every time an entity reached a stage, and the model that says so."""
    if stage.definition:
        located = graph.definitions.get(stage.definition)
        if located is None:
            raise DefinitionProblem(f"stage '{stage.name}' names unknown definition '{stage.definition}'")
        version = stage.version or located.spec.current
        if version not in [v.version for v in located.spec.versions]:
            raise DefinitionProblem(
                f"stage '{stage.name}' names version {version} of '{stage.definition}', which is not defined",
                hint=f"versions: {', '.join(str(v.version) for v in located.spec.versions)}",
            )
        model = version_model(stage.definition, version)
        key_name = next(e.expr or e.name for e in dataset_spec(graph, spec.dataset).entities if e.name == spec.entity)
        query = exp.select(exp.column(key_name).as_("entity_id"), exp.column("qualified_at").as_("reached_at")).from_(
            exp.table_(model, db=graph.config.schemas.models, quoted=True)
        )
        return query, model
    dataset = dataset_spec(graph, stage.dataset or spec.dataset)
    kinds = ("primary", "unique") if stage.dataset is None else ("foreign", "primary", "unique")
    key = qualify(entity_expr(dataset, spec.entity, kinds), "d")
    query = exp.select(key.as_("entity_id"), qualify(parse_rule_expression(stage.time), "d").as_("reached_at")).from_(
        model_table(graph, dataset, "d")
    )
    if stage.filter:
        query = query.where(qualify(parse_rule_expression(stage.filter), "d"))
    return query, dataset.model


ORDERS = ("strict", "independent")


@dataclass(frozen=True)
class FunnelRequest:
    funnel: str
    grain: str = "month"
    dimensions: tuple[str, ...] = ()
    start: date | None = None
    end: date | None = None
    order: str | None = None  # strict | independent; None: the funnel's own `order:`


def effective_order(spec: FunnelSpec, order: str | None) -> str:
    if order is None:
        return spec.order
    if order not in ORDERS:
        raise DefinitionProblem(f"unknown funnel order '{order}'", hint=f"use {' or '.join(ORDERS)}")
    return order


def describe(spec: FunnelSpec, order: str | None = None) -> dict[str, Any]:
    """What the numbers of a funnel mean: its order rule and conversions, said the same way everywhere."""
    used = effective_order(spec, order)
    entity, days = spec.entity, spec.window_days
    rules = {
        "strict": f"strict: a {entity} counts at a stage only if it reached every earlier stage, each at or after "
        f"the stage before it, within {days} days of entering; a repeated stage counts from its first "
        "time after the stage before",
        "independent": f"independent: a {entity} counts at each stage it reached within {days} days of entering "
        "(its first time there), whether or not it reached the stages before, so a conversion can "
        "exceed 100 %",
    }
    return {
        "funnel": spec.name,
        "order": used,
        "order_rule": rules[used],
        "window_days": days,
        "conversion": "conversion_from_previous = entities at the stage / entities at the stage before (NULL "
        "when that is 0); conversion_from_first = entities at the stage / entities at the first "
        "stage; every stage has a row, 0 when no entity reached it",
    }


def funnel_query(graph: ProjectFiles, spec: FunnelSpec, request: FunnelRequest) -> exp.Select:
    """Per cohort (or period), dimensions and stage: entities, conversions and hours between stages.

    Every stage has a row in every cohort and dimension group, with 0 entities when nobody reached it,
    so a conversion is never taken from a stage further back than the one before.
    """
    unknown_dims = [d for d in request.dimensions if d not in spec.dimensions]
    if unknown_dims:
        raise DefinitionProblem(
            f"funnel '{spec.name}' has no dimension(s) {', '.join(unknown_dims)}",
            hint=f"it has {', '.join(spec.dimensions) or 'none'}",
        )
    order = effective_order(spec, request.order)
    calendar = Calendar(graph.config.calendar.week_start, graph.config.calendar.fiscal_year_start_month)
    source = exp.table_(funnel_model(spec.name), db=graph.config.schemas.models, quoted=True)
    dims = [exp.column(d) for d in request.dimensions]

    def in_range(period: exp.Expr) -> list[exp.Expr]:
        bounds: list[exp.Expr] = []
        if request.start:
            bounds.append(exp.GTE(this=period.copy(), expression=_date(request.start)))
        if request.end:
            bounds.append(exp.LTE(this=period.copy(), expression=_date(request.end)))
        return bounds

    branches = []
    for index in range(len(spec.stages)):
        reached = exp.column(stage_column(index, order))
        counted_at = exp.column("entered_at") if spec.count_by == "cohort" else reached
        period = calendar.period_start(counted_at, request.grain)
        hours = _hours_between(index, order)
        conditions = [exp.Not(this=exp.Is(this=reached.copy(), expression=exp.Null())), *in_range(period)]
        branch = (
            exp.select(
                period.as_("cohort_start"),
                *[d.copy() for d in dims],
                exp.Literal.number(index).as_("stage_index"),
                exp.Count(this=exp.Star()).as_("entities"),
                exp.Median(this=hours).as_("median_hours"),
                exp.PercentileCont(this=hours.copy(), expression=exp.Literal.number(0.9)).as_("p90_hours"),
            )
            .from_(source.copy(), copy=False)  # copy=False in this module: each builder call would copy
            .where(exp.and_(*conditions), copy=False)  # the query so far, which is this function's own
            .group_by(period.copy(), *[d.copy() for d in dims], copy=False)
        )
        branches.append(branch)
    stacked: exp.Query = branches[0]
    for branch in branches[1:]:  # the branches are this function's own: not copied at every step
        stacked = exp.union(stacked, branch, distinct=False, copy=False)
    if spec.count_by == "cohort":  # a cohort is every group that entered, even if it reached no stage
        entered_period = calendar.period_start(exp.column("entered_at"), request.grain)
        groups: exp.Query = (
            exp.select(entered_period.as_("cohort_start"), *[d.copy() for d in dims])
            .distinct()
            .from_(source)
            .where(
                exp.and_(
                    exp.Not(this=exp.Is(this=exp.column("entered_at"), expression=exp.Null())),
                    *in_range(entered_period),
                )
            )
        )
    else:
        groups = exp.select("cohort_start", *[d.copy() for d in dims]).distinct().from_(stacked.subquery("reached"))
    return _conversions(_every_stage(stacked, groups, spec, request.dimensions), request.dimensions)


def _every_stage(stacked: exp.Query, groups: exp.Query, spec: FunnelSpec, dimensions: tuple[str, ...]) -> exp.Select:
    """Every (group, stage) pair, with the counts of the stages reached and 0 for the others."""
    stages: exp.Query = exp.select(
        exp.Literal.number(0).as_("stage_index"), exp.Literal.string(spec.stages[0].name).as_("stage")
    )
    for index, stage in enumerate(spec.stages[1:], start=1):
        stages = exp.union(
            stages,
            exp.select(exp.Literal.number(index).as_("stage_index"), exp.Literal.string(stage.name).as_("stage")),
            distinct=False,
            copy=False,
        )
    keys = ["cohort_start", *dimensions]
    # NULL is a group of its own (leads without a channel): NULL-safe equality joins it
    same_group = [exp.NullSafeEQ(this=exp.column(k, table="c"), expression=exp.column(k, table="g")) for k in keys]
    same_stage = exp.EQ(this=exp.column("stage_index", table="c"), expression=exp.column("stage_index", table="s"))
    return (
        exp.select(
            *[exp.column(k, table="g").as_(k) for k in keys],
            exp.column("stage_index", table="s").as_("stage_index"),
            exp.column("stage", table="s").as_("stage"),
            exp.Coalesce(this=exp.column("entities", table="c"), expressions=[exp.Literal.number(0)]).as_("entities"),
            exp.column("median_hours", table="c").as_("median_hours"),
            exp.column("p90_hours", table="c").as_("p90_hours"),
        )
        .from_(groups.subquery("g", copy=False), copy=False)
        .join(stages.subquery("s", copy=False), join_type="cross", copy=False)
        .join(stacked.subquery("c", copy=False), join_type="left", on=exp.and_(*same_group, same_stage), copy=False)
    )


def _hours_between(index: int, order: str) -> exp.Expr:
    if index == 0:
        return exp.Null()
    return exp.Div(
        this=exp.DateDiff(
            this=exp.column(stage_column(index, order)),
            expression=exp.column(stage_column(index - 1, order)),
            unit=exp.var("SECOND"),
        ),
        expression=exp.Literal.number(3600.0),
    )


def _conversions(grid: exp.Query, dimensions: tuple[str, ...]) -> exp.Select:
    partition = [exp.column("cohort_start"), *[exp.column(d) for d in dimensions]]
    order = exp.Order(expressions=[exp.Ordered(this=exp.column("stage_index"))])

    def over(func: exp.Expr) -> exp.Window:
        return exp.Window(this=func, partition_by=[p.copy() for p in partition], order=order.copy())

    entities = exp.column("entities")
    # every stage has a row, so the row before is the stage before; dividing by 0 gives NULL
    return (
        exp.select(
            exp.column("cohort_start"),
            *[exp.column(d) for d in dimensions],
            "stage",
            "entities",
            exp.Div(this=entities.copy(), expression=over(exp.Lag(this=entities.copy())), safe=True).as_(
                "conversion_from_previous"
            ),
            exp.Div(this=entities.copy(), expression=over(exp.FirstValue(this=entities.copy())), safe=True).as_(
                "conversion_from_first"
            ),
            exp.column("median_hours").as_("median_hours_from_previous"),
            exp.column("p90_hours").as_("p90_hours_from_previous"),
        )
        .from_(grid.subquery("stages", copy=False), copy=False)
        .order_by(*[p.copy() for p in partition], exp.column("stage_index"), copy=False)
    )


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


def window_closed(cohort_start: date, grain: str, window_days: int, newest: date | datetime | None) -> bool:
    """Whether the cohort's last possible entrant (at the end of its last day) had its whole window by the
    newest entry in the data: only then are the cohort's conversions final."""
    if newest is None:
        return False
    last_entry = datetime.combine(period_end(cohort_start, grain) + timedelta(days=1), time.min)
    newest_at = newest if isinstance(newest, datetime) else datetime.combine(newest, time.min)
    return last_entry + timedelta(days=window_days) <= newest_at.replace(tzinfo=None)


def first_open_cohort(
    cohort_starts: Iterable[date], grain: str, window_days: int, newest: date | datetime | None
) -> date | None:
    """The earliest cohort whose window is still open (find_bottleneck's `mature_before`); None when all closed."""
    still_open = [c for c in cohort_starts if not window_closed(c, grain, window_days, newest)]
    return min(still_open) if still_open else None


def find_bottleneck(
    rows: list[dict[str, Any]], stages: list[str], mature_before: date | None, trailing: int = 3
) -> Bottleneck | None:
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
    latest, history = cohorts[-1], cohorts[-1 - trailing : -1]

    def conversion(cohort: date, index: int) -> float | None:
        before = totals.get((cohort, stages[index - 1]), 0)
        return totals.get((cohort, stages[index]), 0) / before if before else None

    worst: Bottleneck | None = None
    for index in range(1, len(stages)):
        now = conversion(latest, index)
        past = [v for v in (conversion(c, index) for c in history) if v is not None]
        if now is None or not past:
            continue
        candidate = Bottleneck(latest, f"{stages[index - 1]} → {stages[index]}", now, sum(past) / len(past), len(past))
        if worst is None or candidate.drop < worst.drop:
            worst = candidate
    return worst if worst is not None and worst.drop < 0 else None  # no step fell: no bottleneck


def located_funnel(graph: ProjectFiles, name: str | None) -> Located[FunnelSpec]:
    if name is None and len(graph.funnels) == 1:
        return next(iter(graph.funnels.values()))
    if name is None or name not in graph.funnels:
        message, hint = unknown("funnel", name or "", graph.funnels)
        raise QueryError(message, code="KF921", hint=hint)
    return graph.funnels[name]
