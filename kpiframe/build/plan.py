"""Models and published tables as SQL: statements for the warehouse, files under target/, manifest.json."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from sqlglot import exp

from kpiframe.errors import Problems
from kpiframe.load.loaded import LoadedProject, Model, ProjectFiles
from kpiframe.load.models import placeholder_table
from kpiframe.load.names import HASHED_DIALECT, funnel_table, sql_hash
from kpiframe.load.specs import TableSpec
from kpiframe.semantic.funnels import FunnelRequest, funnel_query
from kpiframe.semantic.layer import SemanticLayer, filter_reads, metric_inputs
from kpiframe.sql.metric_query import MetricRequest, compile_request

DIALECTS = ("duckdb", "postgres", "snowflake", "bigquery")


@dataclass(frozen=True)
class CompiledNode:
    """A model or published table as the warehouse builds it. `query` is the node's own tree, but for a
    published table of `tables:`, whose tree is the one the loaded project keeps (LoadedProject.table_queries)."""

    name: str
    kind: str  # model | table
    schema: str
    query: exp.Query
    materialized: str
    depends_on: tuple[str, ...]
    path: str


def model_query(graph: LoadedProject, model: Model) -> exp.Query:
    """The model's SELECT with every ref()/source() placeholder replaced by the real table."""
    assert model.tree is not None
    query = model.tree.copy()  # the loaded tree stays as it is
    for table in tables_of(query):  # what `transform` would visit, without a call for every other node
        real = _real_table(graph, table)
        if real is not None:
            table.replace(real)
    return query


def _real_table(graph: LoadedProject, node: exp.Table) -> exp.Expr | None:
    """The table a ref()/source() placeholder stands for, under the placeholder's alias (or its name)."""
    real = placeholder_table(graph, node)
    if real is None:
        return None
    alias = node.args.get("alias")
    if alias is None:
        return real.as_(node.name.split("__")[-1])
    if isinstance(alias.this, exp.Identifier):
        return real.as_(alias.this, quoted=True)
    # an alias that is no name (`$0` parses as a parameter): kept as written, for the
    # warehouse to refuse with a KF error (sqlglot's as_() raised ValueError: KF999)
    real.set("alias", alias.copy())
    return real


def table_query(layer: SemanticLayer, spec: TableSpec) -> exp.Select:
    return compile_request(layer, MetricRequest(tuple(spec.metrics), tuple(spec.dimensions), spec.grain))


def plan_tables(files: ProjectFiles, layer: SemanticLayer) -> tuple[dict[str, exp.Query], Problems]:
    """Stage 5, plan: each published table compiled to its SELECT. Compiling is how a table is
    validated (a metric and a dimension that cannot meet fail here); the trees are kept for the build."""
    queries: dict[str, exp.Query] = {}
    found = Problems()
    for name, located in files.tables.items():
        try:
            queries[name] = table_query(layer, located.spec)
        except Exception as exc:  # a table that cannot compile is reported at the table, not raised
            found.error("KF140", f"published table '{name}': {exc}", located.location)
    return queries, found


def compile_nodes(graph: LoadedProject, layer: SemanticLayer) -> list[CompiledNode]:
    """Every model in DAG order, then every published table: what a build runs."""
    models_schema = graph.config.schemas.models
    nodes = []
    for name in graph.order:
        model = graph.models[name]
        depends = tuple(model.refs) + tuple(f"source.{s}.{t}" for s, t in model.sources)
        nodes.append(
            CompiledNode(
                name, "model", models_schema, model_query(graph, model), model.spec.materialized, depends, model.path
            )
        )
    for name, located in graph.tables.items():
        query = graph.table_queries.get(name) or table_query(layer, located.spec)
        nodes.append(_published(graph, name, query, located.location.path))
    return nodes + _funnel_tables(graph)


def _funnel_tables(graph: ProjectFiles) -> list[CompiledNode]:
    """Each funnel is published per monthly cohort, overall and by each of its dimensions."""
    nodes = []
    for located in graph.funnels.values():
        spec = located.spec
        for dims in [(), *[(d,) for d in spec.dimensions]]:
            query = funnel_query(graph, spec, FunnelRequest(spec.name, "month", dims))
            nodes.append(_published(graph, funnel_table(spec.name, dims), query, located.location.path))
    return nodes


def _published(graph: ProjectFiles, name: str, query: exp.Query, path: str) -> CompiledNode:
    """A table of the metrics schema, depending on the models its SELECT reads."""
    schemas = graph.config.schemas
    return CompiledNode(name, "table", schemas.metrics, query, "table", models_read(query, schemas.models), path)


def models_read(query: exp.Query, models_schema: str) -> tuple[str, ...]:
    """Every model a query reads (measures and joined dimensions alike), from the tree itself."""
    return tuple(sorted({t.name for t in tables_of(query) if t.db == models_schema}))


def tables_of(tree: exp.Expr) -> list[exp.Table]:
    """The tables `tree.find_all(exp.Table)` finds, in a plain walk over the nodes' arguments: in half the
    time of sqlglot's walk, a generator per node (models_read was a sixth of compile_nodes; issue 12,
    point 8)."""
    found = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, exp.Table):
            found.append(node)
        for value in node.args.values():
            if isinstance(value, exp.Expr):
                stack.append(value)
            elif type(value) is list:
                stack.extend(item for item in value if isinstance(item, exp.Expr))
    return found


def write_target(graph: LoadedProject, layer: SemanticLayer, nodes: list[CompiledNode], dialect: str) -> Path:
    """Write target/<dialect>/{models,tables}/*.sql and target/manifest.json; return the manifest path.

    The nodes' own trees are rendered in place (see _rendered): pass nodes of compile_nodes that nothing
    renders after this call, as Project.compile and the end of Project.build do."""
    target = graph.root / "target"
    manifest_nodes: dict[str, dict[str, object]] = {}
    kept = {id(tree) for tree in graph.table_queries.values()}  # the loaded project's trees: rendered from copies
    for node in nodes:
        sql, digest = _rendered(node, dialect, own=id(node.query) not in kept)
        folder = target / "compiled" / dialect / ("models" if node.kind == "model" else "tables")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{node.name}.sql").write_text(sql + "\n", encoding="utf-8")
        manifest_nodes[f"{node.kind}.{node.name}"] = {
            "name": node.name,
            "kind": node.kind,
            "schema": node.schema,
            "materialized": node.materialized,
            "depends_on": list(node.depends_on),
            "path": node.path,
            "compiled_sql": sql,
            "hash": digest,  # what `state:modified` compares (build/selection.py)
        }
    for name, located in graph.metrics.items():
        spec = located.spec
        definition = spec.model_dump(exclude_none=True, exclude_defaults=True)
        reads: list[str | None] = [*metric_inputs(spec)] or [spec.measure]
        depends_on = [*reads, *filter_reads(spec, graph.metrics)]
        manifest_nodes[f"metric.{name}"] = {
            "name": name,
            "kind": "metric",
            "path": located.location.path,
            "definition": definition,
            "depends_on": depends_on,
            "owner": spec.owner,
            "hash": hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest(),
        }
    manifest = {"project": graph.config.name, "dialect": dialect, "nodes": manifest_nodes}
    path = target / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def _rendered(node: CompiledNode, dialect: str, own: bool) -> tuple[str, str]:
    """The node's SQL in `dialect` and its fingerprint (sql_hash, of the DuckDB text).

    sqlglot copies a tree before rendering it, because its generator rewrites some nodes as it renders (a
    safe division gets its NULLIF), so that a second rendering of the same tree would differ. Those copies
    were a third of writing target/ (issue 12, point 8). A model's or funnel table's tree is the node's
    `own` (compile_nodes made it) and this is its last rendering: it is rendered in place, after the
    fingerprint of another dialect is taken from a copy. A tree the loaded project keeps, or one placed
    under another (a view's CREATE, in a build), is copied as before: sqlglot renders a root and a
    subtree differently.
    """
    digest = None if dialect == HASHED_DIALECT else sql_hash(node.query)
    in_place = own and node.query.parent is None
    sql = node.query.sql(dialect=dialect, pretty=True, copy=not in_place)
    return sql, digest or sql_hash(node.query, sql)
