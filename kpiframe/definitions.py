"""Shared definitions (such as the MQL rule): versioned, owned, approved, and compiled to models.

Every version of a definition becomes a model `<name>_v<version>` (one row per qualifying entity, with
the time it qualified, its score and, when the definition states an SLA, its hand-over times) and a
dataset of the same name, so that `mqls` of version 1 and version 2 can be queried side by side.
`<name>_membership` stacks all versions: who qualifies under which version, when, with what score.

Governance: the current version needs an approval from every owning team, every version after the
first needs a change note, and a version's rule may never change once locked in definitions.lock
(a changed rule is a new version).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from sqlglot import exp

from kpiframe.errors import Diagnostic
from kpiframe.graph import Located, Model, ProjectGraph
from kpiframe.specs import (
    DatasetSpec,
    DefinitionSpec,
    DefinitionVersionSpec,
    DimensionSpec,
    EntitySpec,
    MeasureSpec,
    ModelSpec,
)
from kpiframe.sql.calendar import interval
from kpiframe.sql.expressions import ExpressionRejected, parse_expression, qualify
from kpiframe.suggest import unknown

LOCK_FILE = "definitions.lock"


class DefinitionProblem(Exception):
    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


def expand_definitions(graph: ProjectGraph) -> None:
    """Check governance and add each definition's generated models and datasets to the graph."""
    locked = read_lock(graph.root)
    for located in graph.definitions.values():
        spec: DefinitionSpec = located.spec
        graph.diagnostics.extend(governance_problems(spec, located, locked.get(spec.name, {})))
        names = []
        for index, version in enumerate(spec.versions):
            try:
                query, refs = version_query(graph, spec, version)
            except DefinitionProblem as problem:
                graph.error("KF910", f"definition '{spec.name}' v{version.version}: {problem}",
                            located.at("versions", index), problem.hint)
                continue
            name = f"{spec.name}_v{version.version}"
            names.append(name)
            _add_model(graph, located, name, query, refs,
                       f"{spec.name} v{version.version}: entities that qualify, with time and score")
            _add_dataset(graph, located, name, name, spec, version)
            if version.version == spec.current:  # `<name>` follows whichever version is current
                _add_dataset(graph, located, spec.name, name, spec, version)
        if names:
            _add_model(graph, located, f"{spec.name}_membership", _membership(graph, spec, names), names,
                       f"who qualifies as {spec.name} under which version, when, with what score")


def rule_hash(version: DefinitionVersionSpec) -> str:
    """A fingerprint of what a version means (its rule and SLA), not of its notes or approvals."""
    meaning = {"rule": version.rule.model_dump(mode="json"),
               "sla": version.sla.model_dump(mode="json") if version.sla else None}
    return hashlib.sha256(json.dumps(meaning, sort_keys=True).encode()).hexdigest()[:16]


def read_lock(root: Path) -> dict[str, dict[str, str]]:
    path = root / LOCK_FILE
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data.get("definitions", {}) if isinstance(data, dict) else {}


def write_lock(graph: ProjectGraph) -> list[str]:
    """Lock every version not locked yet; returns what was added. Locked versions never change."""
    locked = read_lock(graph.root)
    added = []
    for located in graph.definitions.values():
        spec: DefinitionSpec = located.spec
        versions = locked.setdefault(spec.name, {})
        for version in spec.versions:
            if str(version.version) not in versions:
                versions[str(version.version)] = rule_hash(version)
                added.append(f"{spec.name} v{version.version}")
    if added:
        payload = {"about": "Fingerprints of definition rules; a locked rule must not change.",
                   "definitions": locked}
        (graph.root / LOCK_FILE).write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return added


def governance_problems(spec: DefinitionSpec, located: Located, locked: dict[str, str]) -> list[Diagnostic]:
    problems = []
    numbers = [v.version for v in spec.versions]
    if numbers != sorted(set(numbers)):
        problems.append(Diagnostic("KF904", f"definition '{spec.name}': versions must be unique and in order",
                                   located.at("versions")))
    current = next((v for v in spec.versions if v.version == spec.current), None)
    if current is None:
        problems.append(Diagnostic("KF905", f"definition '{spec.name}': current version {spec.current} "
                                   "is not defined", located.at("current")))
    else:
        approved = {a.team for a in current.approvals}
        missing = [team for team in spec.owners if team not in approved]
        if missing:
            problems.append(Diagnostic(
                "KF901", f"definition '{spec.name}' v{current.version} lacks approval from {', '.join(missing)}",
                located.at("versions", spec.versions.index(current), "approvals"),
                hint="every owning team approves the current version: add {team, by, on} under approvals"))
    for index, version in enumerate(spec.versions):
        if index and not (version.change_note or "").strip():
            problems.append(Diagnostic("KF903", f"definition '{spec.name}' v{version.version} has no change note",
                                       located.at("versions", index), hint="say what changed and why"))
        was = locked.get(str(version.version))
        if was and was != rule_hash(version):
            problems.append(Diagnostic(
                "KF902", f"the rule of definition '{spec.name}' v{version.version} changed after it was locked",
                located.at("versions", index, "rule"),
                hint=f"restore v{version.version} and add v{max(numbers) + 1} with a change note instead"))
    return problems


def dataset_spec(graph: ProjectGraph, name: str) -> DatasetSpec:
    located = graph.datasets.get(name)
    if located is None:
        message, hint = unknown("dataset", name, graph.datasets)
        raise DefinitionProblem(message, hint)
    spec: DatasetSpec = located.spec
    return spec


def entity_expr(dataset: DatasetSpec, entity: str, kinds: tuple[str, ...]) -> exp.Expr:
    for item in dataset.entities:
        if item.name == entity and item.type in kinds:
            return parse_rule_expression(item.expr or item.name)
    raise DefinitionProblem(f"dataset '{dataset.name}' has no {' or '.join(kinds)} entity '{entity}'")


def parse_rule_expression(text: str) -> exp.Expr:
    try:
        return parse_expression(text)
    except ExpressionRejected as exc:
        raise DefinitionProblem(f"{exc}: {text}") from None


def model_table(graph: ProjectGraph, dataset: DatasetSpec, alias: str) -> exp.Expr:
    return exp.table_(dataset.model, db=graph.config.schemas.models, quoted=True).as_(alias, quoted=True)


def version_query(graph: ProjectGraph, spec: DefinitionSpec,
                  version: DefinitionVersionSpec) -> tuple[exp.Select, list[str]]:
    """The SELECT of one version: entities whose running engagement reaches the threshold in the window."""
    entity = dataset_spec(graph, spec.dataset)
    events = dataset_spec(graph, version.rule.engagement.dataset)
    if entity.time is None or events.time is None:
        raise DefinitionProblem("the entity and engagement datasets both need a `time:` column")
    key = qualify(entity_expr(entity, spec.entity, ("primary", "unique")), "e")
    entered = qualify(parse_rule_expression(entity.time), "e")
    event_time = qualify(parse_rule_expression(events.time), "a")
    event_order = [qualify(entity_expr(events, item.name, ("primary",)), "a")
                   for item in events.entities if item.type == "primary"]
    engagement = version.rule.engagement
    points = exp.Case(ifs=[exp.If(this=exp.EQ(this=qualify(parse_rule_expression(engagement.type_column), "a"),
                                              expression=exp.Literal.string(kind)),
                                  true=exp.Literal.number(value)) for kind, value in engagement.points.items()],
                      default=exp.Literal.number(0))
    conditions = [qualify(parse_rule_expression(f), "e") for f in version.rule.fit]
    conditions += [exp.GTE(this=event_time.copy(), expression=entered.copy()),
                   exp.LT(this=event_time.copy(), expression=exp.Add(
                       this=entered.copy(), expression=interval(engagement.window_days, "DAY")))]
    scored = (exp.select(key.as_("entity_id"), entered.as_("entered_at"), event_time.as_("event_at"),
                         *[o.as_(f"event_key_{i}") for i, o in enumerate(event_order)], points.as_("points"))
              .from_(model_table(graph, entity, "e"))
              .join(model_table(graph, events, "a"), on=exp.EQ(
                  this=qualify(entity_expr(events, spec.entity, ("foreign",)), "a"), expression=key.copy()))
              .where(exp.and_(*conditions)))
    order = [exp.column("event_at"), *[exp.column(f"event_key_{i}") for i in range(len(event_order))]]
    running = exp.Window(this=exp.Sum(this=exp.column("points")), partition_by=[exp.column("entity_id")],
                         order=exp.Order(expressions=[exp.Ordered(this=o.copy()) for o in order]),
                         spec=exp.WindowSpec(kind="ROWS", start="UNBOUNDED", start_side="PRECEDING",
                                             end="CURRENT ROW"))
    first = exp.Window(this=exp.RowNumber(), partition_by=[exp.column("entity_id")],
                       order=exp.Order(expressions=[exp.Ordered(this=o.copy()) for o in order]))
    totals = exp.select("entity_id", "entered_at", "event_at", *[o.copy() for o in order[1:]],
                        running.as_("score")).from_(scored.subquery("scored"))
    crossing = (exp.select("entity_id", "entered_at", "event_at", "score", first.as_("crossing"))
                .from_(totals.subquery("totals"))
                .where(exp.GTE(this=exp.column("score"), expression=exp.Literal.number(version.rule.threshold))))
    key_name = entity.entities[[e.name for e in entity.entities].index(spec.entity)].expr or spec.entity
    result = (exp.select(exp.column("entity_id", table="q").as_(key_name),
                         exp.column("event_at", table="q").as_("qualified_at"),
                         exp.column("score", table="q").as_("score_at_qualification"),
                         exp.column("entered_at", table="q").as_("entered_at"))
              .from_(crossing.subquery("q"))
              .where(exp.EQ(this=exp.column("crossing", table="q"), expression=exp.Literal.number(1))))
    refs = [entity.model, events.model]
    if version.sla:
        result, sla_ref = _with_sla(graph, spec, version, result, key_name)
        refs.append(sla_ref)
    return result, refs


def _with_sla(graph: ProjectGraph, spec: DefinitionSpec, version: DefinitionVersionSpec, qualified: exp.Select,
              key_name: str) -> tuple[exp.Select, str]:
    """Add the hand-over: first acceptance at or after qualification, hours to it, within the SLA or not."""
    assert version.sla is not None
    sla = version.sla
    dataset = dataset_spec(graph, sla.dataset)
    accepted_time = qualify(parse_rule_expression(sla.time), "s")
    join_on: list[exp.Expr] = [exp.EQ(this=qualify(entity_expr(dataset, spec.entity, ("foreign", "primary")), "s"),
                      expression=exp.column(key_name, table="m")),
               exp.GTE(this=accepted_time.copy(), expression=exp.column("qualified_at", table="m"))]
    if sla.filter:
        join_on.append(qualify(parse_rule_expression(sla.filter), "s"))
    accepted = exp.Min(this=accepted_time.copy())
    hours = exp.Div(this=exp.DateDiff(this=accepted.copy(), expression=exp.column("qualified_at", table="m"),
                                      unit=exp.var("SECOND")), expression=exp.Literal.number(3600.0))
    within = exp.LTE(this=hours.copy(), expression=exp.Literal.number(sla.hours))
    keys = [exp.column(c, table="m") for c in (key_name, "qualified_at", "score_at_qualification", "entered_at")]
    result = (exp.select(*keys, accepted.as_("accepted_at"), hours.as_("hours_to_accept"),
                         exp.func("COALESCE", within, exp.false()).as_("accepted_within_sla"))
              .from_(qualified.subquery("m"))
              .join(model_table(graph, dataset, "s"), on=exp.and_(*join_on), join_type="left")
              .group_by(*[k.copy() for k in keys]))
    return result, dataset.model


def _membership(graph: ProjectGraph, spec: DefinitionSpec, names: list[str]) -> exp.Query:
    entity = dataset_spec(graph, spec.dataset)
    key_name = next(e.expr or e.name for e in entity.entities if e.name == spec.entity)
    branches = [exp.select(exp.column(key_name), exp.Literal.number(int(name.rsplit("_v", 1)[1])).as_("version"),
                           "qualified_at", "score_at_qualification")
                .from_(exp.table_(name, db=graph.config.schemas.models, quoted=True)) for name in names]
    query: exp.Query = branches[0]
    for branch in branches[1:]:
        query = exp.union(query, branch, distinct=False)
    return query


def _add_model(graph: ProjectGraph, located: Located, name: str, query: exp.Query, refs: list[str],
               description: str) -> None:
    if name in graph.models:
        graph.error("KF021", f"definition '{located.spec.name}' generates model '{name}', which already exists",
                    located.location, hint=f"rename or remove {graph.models[name].path}")
        return
    graph.models[name] = Model(name, located.location.path, query.sql(), ModelSpec(name=name, description=description),
                               located.location, tree=query, refs=list(dict.fromkeys(refs)), generated=True)


def _add_dataset(graph: ProjectGraph, located: Located, name: str, model: str, spec: DefinitionSpec,
                 version: DefinitionVersionSpec) -> None:
    entity = dataset_spec(graph, spec.dataset)
    key_name = next(e.expr or e.name for e in entity.entities if e.name == spec.entity)
    dimensions = [DimensionSpec(name="qualified_at", type="time"), DimensionSpec(name="score_at_qualification")]
    measures = [MeasureSpec(name=f"{name}_count", agg="count", expr=key_name)]
    if version.sla:
        dimensions.append(DimensionSpec(name="accepted_within_sla"))
        measures.append(MeasureSpec(name=f"{name}_hours_to_accept", agg="median", expr="hours_to_accept"))
    dataset = DatasetSpec(name=name, model=model, primary_entity=name, time="qualified_at",
                          description=f"{spec.name} version {version.version}",
                          entities=[EntitySpec(name=spec.entity, type="foreign", expr=key_name)],
                          dimensions=dimensions, measures=measures)
    if name in graph.datasets:
        graph.error("KF021", f"definition '{spec.name}' generates dataset '{name}', which already exists",
                    located.location)
        return
    graph.datasets[name] = Located(dataset, located.location, located.doc, located.key_path)
