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
from kpiframe.semantic.layer import SemanticLayer, metric_inputs
from kpiframe.sql.metric_query import MetricRequest, compile_request

DIALECTS = ("duckdb", "postgres", "snowflake", "bigquery")


@dataclass(frozen=True)
class CompiledNode:
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

    def swap(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Table):
            real = placeholder_table(graph, node)
            if real is not None:
                alias = node.args.get("alias")
                if alias is None:
                    return real.as_(node.name.split("__")[-1])
                if isinstance(alias.this, exp.Identifier):
                    return real.as_(alias.this, quoted=True)
                # an alias that is no name (`$0` parses as a parameter): kept as written, for the
                # warehouse to refuse with a KF error (sqlglot's as_() raised ValueError: KF999)
                real.set("alias", alias.copy())
                return real
        return node

    swapped = model.tree.transform(swap)  # transform works on a copy: the loaded tree stays as it is
    assert isinstance(swapped, exp.Query)
    return swapped


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
    return tuple(sorted({t.name for t in query.find_all(exp.Table) if t.db == models_schema}))


def write_target(graph: LoadedProject, layer: SemanticLayer, nodes: list[CompiledNode], dialect: str) -> Path:
    """Write target/<dialect>/{models,tables}/*.sql and target/manifest.json; return the manifest path."""
    target = graph.root / "target"
    manifest_nodes: dict[str, dict[str, object]] = {}
    for node in nodes:
        sql = node.query.sql(dialect=dialect, pretty=True)
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
            # what `state:modified` compares (build/selection.py)
            "hash": sql_hash(node.query, sql if dialect == HASHED_DIALECT else None),
        }
    for name, located in graph.metrics.items():
        spec = located.spec
        definition = spec.model_dump(exclude_none=True, exclude_defaults=True)
        manifest_nodes[f"metric.{name}"] = {
            "name": name,
            "kind": "metric",
            "path": located.location.path,
            "definition": definition,
            "depends_on": metric_inputs(spec) or [spec.measure],
            "owner": spec.owner,
            "hash": hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest(),
        }
    manifest = {"project": graph.config.name, "dialect": dialect, "nodes": manifest_nodes}
    path = target / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")
    return path
