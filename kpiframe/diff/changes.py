"""Two project states compared object by object: what changed, what it reaches, and whether it breaks readers.

Every object becomes a snapshot: its spec as data (YAML fields), and for models the compiled tree. Fields
are compared by path (`measures[lead_count].expr`), user expressions by meaning (`a=1` is `a = 1`), SQL
clause by clause (kpiframe.diff.sqldiff). Models and datasets that a definition or funnel generates are
reported under it.

A change *alters meaning* when a number could differ: SQL, a metric's formula or filter, a measure, a
grain. Descriptions, labels, owners, units and the like do not. Meaning flows downstream: model → models
that ref it → datasets on it → metrics on their measures → metrics on those → published tables listing
them. A change is *breaking* for readers of the published tables when a published column disappears or
changes type, a table's grain or dimensions change, or the meaning of a metric changes (its definition or
anything upstream of it). Adding a column or a metric, or editing documentation, is not.
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from kpiframe.diff.model import ColumnChange, FieldChange, ObjectChange
from kpiframe.diff.sandbox import Columns
from kpiframe.diff.sqldiff import expression_key, only_columns_added, sql_changes
from kpiframe.diff.states import ProjectState
from kpiframe.load.loaded import LoadedProject
from kpiframe.load.names import NodeKey, funnel_model, membership_model, version_model
from kpiframe.quality.contracts import type_family
from kpiframe.semantic.layer import SemanticLayer, filter_reads, metric_datasets, metric_inputs
from kpiframe.sql.expressions import ExpressionRejected, column_names, parse_expression

KIND_ORDER = ("project", "source", "model", "dataset", "definition", "funnel", "metric", "table", "target")
PROJECT = NodeKey("project", "kpi_project")
# fields that document a number without changing it
# fields that say what a number means or who answers for it, without changing its value
DOCUMENTATION = frozenset(
    {"description", "label", "owner", "owners", "unit", "format", "direction", "timing", "tags"}
    | {"change_note", "approvals", "effective", "reason", "author"}
)
# fields whose change alters no published value ("name" is the project's: items are matched by name)
METADATA = DOCUMENTATION | {"expectations", "columns", "materialized", "version", "kpi", "name"}
EXPRESSIONS = {"filter", "expr", "fit"}
ITEM_KEYS = ("name", "version", "team")
Edges = dict[NodeKey, set[NodeKey]]


@dataclass
class Snapshot:
    kind: str
    name: str
    path: str | None
    data: Any
    query: exp.Query | None = None
    owner: NodeKey | None = None  # definition:mql for what a definition or funnel generates

    @property
    def key(self) -> NodeKey:
        return NodeKey(self.kind, self.name)


def plain(value: Any) -> Any:
    """YAML or pydantic data as plain JSON-like values (dates as ISO text)."""
    return json.loads(json.dumps(value, default=str))


def _dump(spec: Any) -> Any:
    return plain(spec.model_dump(mode="json", by_alias=True, exclude={"name"}))


def target_items(graph: LoadedProject) -> list[tuple[str, dict[str, Any]]]:
    """Targets have no name: they are known by metric, scenario, dimension value and start date."""
    found: list[tuple[str, dict[str, Any]]] = []
    seen: dict[str, int] = {}
    for item in graph.kpi_items.get("targets", []):
        data = plain(item.data) if isinstance(item.data, dict) else {"value": plain(item.data)}
        name = f"{data.get('metric', '?')}/{data.get('scenario', 'plan')}"
        for dim, value in (data.get("dimension") or {}).items():
            name += f"[{dim}={value}]"
        if data.get("since"):
            name += f"@{data['since']}"
        seen[name] = seen.get(name, 0) + 1
        found.append((name if seen[name] == 1 else f"{name}#{seen[name]}", data))
    return found


def generated_owners(graph: LoadedProject) -> dict[NodeKey, NodeKey]:
    """model:mql_v2 -> definition:mql: what each definition and funnel adds to the graph."""
    owners = {}
    for name, located in graph.definitions.items():
        host = NodeKey("definition", name)
        for version in located.spec.versions:
            model = version_model(name, version.version)
            owners[NodeKey("model", model)] = owners[NodeKey("dataset", model)] = host
        owners[NodeKey("model", membership_model(name))] = owners[NodeKey("dataset", name)] = host
    for name in graph.funnels:
        owners[NodeKey("model", funnel_model(name))] = NodeKey("funnel", name)
    return owners


def snapshots(state: ProjectState) -> dict[NodeKey, Snapshot]:
    graph = state.project.graph
    owners = generated_owners(graph)
    queries = {(n.kind, n.name): n for n in state.nodes}
    found: list[Snapshot] = [
        Snapshot(
            "project",
            "kpi_project",
            "kpi_project.yml",
            plain(graph.config.model_dump(mode="json", exclude={"warehouse"})),
        )
    ]
    for (source_name, table_name), source in graph.sources.items():
        found.append(
            Snapshot(
                "source",
                f"{source_name}.{table_name}",
                source.location.path,
                {"schema": source.schema, "columns": source.columns, "types": source.types},
            )
        )
    for name, model in graph.models.items():
        node = queries.get(("model", name))
        found.append(
            Snapshot(
                "model",
                name,
                model.path,
                _dump(model.spec),
                node.query if node else None,
                owners.get(NodeKey("model", name)) if model.generated else None,
            )
        )
    for kind, registry in (
        ("dataset", graph.datasets),
        ("metric", graph.metrics),
        ("table", graph.tables),
        ("definition", graph.definitions),
        ("funnel", graph.funnels),
    ):
        for name, located in registry.items():
            generated = kind == "dataset" and located.key_path[:1] == ("definitions",)
            found.append(
                Snapshot(
                    kind,
                    name,
                    located.location.path,
                    _dump(located.spec),
                    owner=owners.get(NodeKey("dataset", name)) if generated else None,
                )
            )
    for node in state.nodes:
        if node.kind == "table" and node.name not in graph.tables:  # a funnel's published table
            found.append(Snapshot("table", node.name, node.path, {"reads": list(node.depends_on)}))
    for name, data in target_items(graph):
        found.append(Snapshot("target", name, None, data))
    return {s.key: s for s in found}


# --- fields ---------------------------------------------------------------------------------------------
def field_changes(old: Any, new: Any, path: str = "") -> list[FieldChange]:
    """Changed leaves between two data trees; named list items are matched by name (or version)."""
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in dict.fromkeys([*old, *new]):
            sub = f"{path}.{key}" if path else str(key)
            if key in EXPRESSIONS:
                if _expression(old.get(key)) != _expression(new.get(key)):
                    found.append(FieldChange(sub, old.get(key), new.get(key)))
                continue
            found += field_changes(old.get(key), new.get(key), sub)
        return found
    item_key = _item_key(old, new)
    if item_key:
        before = {item[item_key]: item for item in old or []}
        after = {item[item_key]: item for item in new or []}
        found = []
        for name in dict.fromkeys([*before, *after]):
            found += field_changes(before.get(name), after.get(name), f"{path}[{name}]")
        return found
    return [] if old == new else [FieldChange(path, old, new)]


def _expression(value: Any) -> Any:
    if isinstance(value, list):
        return sorted(str(expression_key(v)) for v in value)
    return expression_key(value)


def _item_key(old: Any, new: Any) -> str | None:
    items = (
        [*(old or []), *(new or [])]
        if isinstance(old, (list, type(None))) and isinstance(new, (list, type(None)))
        else []
    )
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    for key in ITEM_KEYS:
        if all(key in i for i in items) and all(
            len({i[key] for i in side}) == len(side) for side in (old or [], new or [])
        ):
            return key
    return None


def segments(path: str) -> list[str]:
    return [part.split("[")[0] for part in path.split(".")]


def alters_meaning(kind: str, change: FieldChange) -> bool:
    """Whether a field change could change a number (as opposed to documenting it)."""
    parts = segments(change.path)
    if METADATA & set(parts):
        return False
    if kind == "project":
        return parts[0] in ("calendar", "schemas")
    if kind == "dataset":
        return not (change.old is None and change.path.endswith("]"))  # a new measure or dimension is not
    if kind == "table":
        return parts[0] in ("grain", "dimensions")
    return kind == "metric"  # models by their SQL; definitions and funnels by what they generate


# --- columns --------------------------------------------------------------------------------------------
def column_changes(old: Columns | None, new: Columns | None) -> list[ColumnChange]:
    if old is None or new is None:
        return []
    found = [ColumnChange(c, "removed", old[c], None) for c in old if c not in new]
    found += [ColumnChange(c, "added", None, new[c]) for c in new if c not in old]
    found += [
        ColumnChange(c, "retyped", old[c], new[c]) for c in old if c in new and old[c] and new[c] and old[c] != new[c]
    ]
    return found


def breaks_readers(change: ColumnChange) -> bool:
    if change.change == "removed":
        return True
    return change.change == "retyped" and type_family(change.old_type or "") != type_family(change.new_type or "")


# --- the graph of what reads what -----------------------------------------------------------------------
def edges(state: ProjectState) -> Edges:
    """Each object -> the objects that read it directly."""
    graph, layer = state.project.graph, state.project.layer
    out: Edges = defaultdict(set)
    for name, model in graph.models.items():
        for source_name, table_name in model.sources:
            out[NodeKey("source", f"{source_name}.{table_name}")].add(NodeKey("model", name))
        for ref in model.refs:
            out[NodeKey("model", ref)].add(NodeKey("model", name))
    for name, located in graph.datasets.items():
        out[NodeKey("model", located.spec.model)].add(NodeKey("dataset", name))
    for name in graph.metrics:
        spec = layer.metric(name)
        metric_key = NodeKey("metric", name)
        out[PROJECT].add(metric_key)
        for dep in [*metric_inputs(spec), *filter_reads(spec, graph.metrics)]:
            out[NodeKey("metric", dep)].add(metric_key)
        if spec.measure in layer.measures:
            dataset = layer.measures[spec.measure].dataset
            for owner in {dataset, *_dimension_owners(layer, dataset, _columns_of(spec.filter))}:
                out[NodeKey("dataset", owner)].add(metric_key)
    for name, table in graph.tables.items():
        table_key = NodeKey("table", name)
        out[PROJECT].add(table_key)
        for metric in table.spec.metrics:
            out[NodeKey("metric", metric)].add(table_key)
            for dataset in metric_datasets(layer, [metric]):
                for owner in _dimension_owners(layer, dataset, table.spec.dimensions):
                    out[NodeKey("dataset", owner)].add(table_key)
    for node in state.nodes:
        if node.kind == "table" and node.name not in graph.tables:
            table_key = NodeKey("table", node.name)
            out[PROJECT].add(table_key)
            for dep in node.depends_on:
                out[NodeKey("model", dep)].add(table_key)
    for generated, host in generated_owners(graph).items():
        out[host].add(generated)
    for name, definition in graph.definitions.items():
        for version in definition.spec.versions:
            read = {
                definition.spec.dataset,
                version.rule.engagement.dataset,
                *([version.sla.dataset] if version.sla else []),
            }
            for dataset in read:
                out[NodeKey("dataset", dataset)].add(NodeKey("model", version_model(name, version.version)))
    for name, funnel in graph.funnels.items():
        for dataset in {funnel.spec.dataset, *[s.dataset for s in funnel.spec.stages if s.dataset]}:
            out[NodeKey("dataset", dataset)].add(NodeKey("model", funnel_model(name)))
    for name, data in target_items(graph):
        out[NodeKey("metric", str(data.get("metric")))].add(NodeKey("target", name))
    return out


def _columns_of(text: str | None) -> list[str]:
    if not text:
        return []
    try:
        return column_names(parse_expression(text))
    except ExpressionRejected:
        return []


def _dimension_owners(layer: SemanticLayer, dataset: str, names: list[str]) -> set[str]:
    if not names or dataset not in layer.datasets:
        return set()
    available = layer.dimensions_of(dataset).values()
    return {d.dataset for name in names for d in available if name in (d.qualified, d.name)}


def reach(edges: Edges, start: NodeKey) -> list[NodeKey]:
    """Everything downstream of `start`, nearest first (breadth first, ties by key: the report's order)."""
    order, seen, queue = [], {start}, deque([start])
    while queue:
        for nxt in sorted(edges.get(queue.popleft(), ())):
            if nxt not in seen:
                seen.add(nxt)
                order.append(nxt)
                queue.append(nxt)
    return order


def merge(*graphs: Edges) -> Edges:
    out: Edges = defaultdict(set)
    for graph in graphs:
        for key, targets in graph.items():
            out[key] |= targets
    return out


# --- comparing ------------------------------------------------------------------------------------------
def compare(
    before: dict[NodeKey, Snapshot],
    after: dict[NodeKey, Snapshot],
    columns: tuple[dict[NodeKey, Columns | None], dict[NodeKey, Columns | None]],
) -> dict[NodeKey, ObjectChange]:
    """Every object that differs, generated ones included (each with its own `meaning_changed`)."""
    found: dict[NodeKey, ObjectChange] = {}
    for key in dict.fromkeys([*before, *after]):
        old, new = before.get(key), after.get(key)
        some = new or old
        assert some is not None
        status = "added" if old is None else "removed" if new is None else "changed"
        change = ObjectChange(some.kind, some.name, status, some.path)
        if old and new:
            change.fields = field_changes(old.data, new.data)
            new_sql = False
            if old.query is not None and new.query is not None:
                change.sql = sql_changes(old.query, new.query)
                new_sql = bool(change.sql) and not only_columns_added(old.query, new.query)
            change.columns = column_changes(columns[0].get(key), columns[1].get(key))
            change.meaning_changed = new_sql or any(alters_meaning(some.kind, f) for f in change.fields)
            if not (change.fields or change.sql or change.columns):
                continue
        else:
            change.meaning_changed = status == "removed"
        found[key] = change
    return found


def fold_generated(
    found: dict[NodeKey, ObjectChange], before: dict[NodeKey, Snapshot], after: dict[NodeKey, Snapshot]
) -> list[ObjectChange]:
    """Report what a definition or funnel generates under it; objects in KIND_ORDER, then by name."""
    reported: dict[NodeKey, ObjectChange] = {}
    for key, change in found.items():
        snapshot = after.get(key) or before.get(key)
        owner = snapshot.owner if snapshot else None
        if owner is None:
            reported.setdefault(key, change)
            continue
        host = reported.get(owner) or found.get(owner)
        if host is None:
            owner_snapshot = after.get(owner) or before.get(owner)
            host = ObjectChange(owner.kind, owner.name, "changed", owner_snapshot.path if owner_snapshot else None)
        reported[owner] = host
        host.generated.append(_describe_generated(change))
        host.meaning_changed = host.meaning_changed or change.meaning_changed
    return sorted(reported.values(), key=lambda c: (KIND_ORDER.index(c.kind), c.name))


def _describe_generated(change: ObjectChange) -> str:
    if change.status != "changed":
        return f"{change.kind} {change.name} {change.status}"
    details = change.sql + [f"{f.path}: {f.old} → {f.new}" for f in change.fields if not doc_only(f)]
    return f"{change.kind} {change.name}: " + ("; ".join(details) if details else "description changed")


def doc_only(change: FieldChange) -> bool:
    return bool(METADATA & set(segments(change.path)))
