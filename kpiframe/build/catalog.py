"""What each published number means, written into the warehouse for BI tools that read tables directly.

Two things, both as sqlglot trees rendered in the warehouse's dialect:

- `kpiframe.metric_catalog`: one row per metric (name, label, unit, description, owner, direction, a
  readable formula, and the published tables that hold it);
- `COMMENT ON TABLE` for each published table and `COMMENT ON COLUMN` for each of its metric columns,
  which DuckDB (`duckdb_tables()`, `duckdb_columns()`) and PostgreSQL (`pg_description`, shown by
  psql's `\\d+` and by most BI tools) keep with the table.

A build creates every table afresh under a staging name and renames it at the swap. Comments survive that
rename on both engines (DuckDB keeps them on the catalog entry, PostgreSQL on the table's OID), but a table
that a partial build does not rebuild keeps its old comments while a rebuilt one starts without any: so the
catalog is written after the renames, against the final names, commenting every published table that exists
(`write_catalog` inside the swap transaction, or `apply_catalog` in a transaction of its own).
`catalog_statements(..., schema_suffix=STAGING_SUFFIX)` targets the staging names instead, for a caller
that wants the comments in place before the swap.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlglot import exp

from kpiframe.build.runs import META_SCHEMA, table
from kpiframe.engine import QueryResult, Warehouse
from kpiframe.load.loaded import LoadedProject
from kpiframe.load.names import funnel_table
from kpiframe.load.specs import MeasureSpec, MetricSpec
from kpiframe.sql.expressions import create_schema, create_table, literal

CATALOG_TABLE = "metric_catalog"
CATALOG_COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "VARCHAR"),
    ("label", "VARCHAR"),
    ("unit", "VARCHAR"),
    ("description", "VARCHAR"),
    ("owner", "VARCHAR"),
    ("direction", "VARCHAR"),
    ("formula", "VARCHAR"),
    ("published_in", "VARCHAR"),
)
CATALOG_COMMENT = "One row per metric of kpiframe project '{project}': what it means, who owns it, how it is computed"

_AGGREGATIONS = {"count_distinct": "count(distinct {})", "average": "avg({})"}
_OFFSETS = {"previous": "the previous period", "year": "the same period a year earlier"}


def _located_spec(project: LoadedProject, name: str | None) -> MetricSpec | None:
    located = project.metrics.get(name or "")
    return located.spec if located is not None else None


def _offset_words(offset: str) -> str:
    """'5 days' as '5 days earlier', 'start of month' as 'the start of the month'."""
    return f"the start of the {offset[9:]}" if offset.startswith("start of ") else f"{offset} earlier"


def catalog_rows(project: LoadedProject) -> QueryResult:
    """One row per metric, in the order the project declares them; columns as `CATALOG_COLUMNS`.

    `label` falls back to the name. `direction` is the metric's node in a KPI tree (the first tree that
    holds it), else the metric's own `direction:`, else None. `published_in` lists the published tables
    with a column for the metric, as `schema.table`, comma-separated (None when no table holds it)."""
    measures = _measures(project)
    directions = _tree_directions(project)
    schema = project.config.schemas.metrics
    rows: list[tuple[Any, ...]] = []
    for name, located in project.metrics.items():
        spec = located.spec
        tables = sorted(t for t, table_spec in project.tables.items() if name in table_spec.spec.metrics)
        rows.append(
            (
                name,
                spec.label or name,
                spec.unit,
                spec.description,
                spec.owner,
                directions.get(name) or spec.direction,
                formula_text(spec, measures, _located_spec(project, spec.metric)),
                ", ".join(f"{schema}.{t}" for t in tables) or None,
            )
        )
    return QueryResult([c for c, _ in CATALOG_COLUMNS], rows)


def formula_text(spec: MetricSpec, measures: dict[str, tuple[MeasureSpec, str]], base: MetricSpec | None = None) -> str:
    """How a metric is computed, in words a BI user reads: `sum(amount) from opportunities where is_won`,
    `clicks / impressions`, the derived expression with its offset inputs, or the cumulative window
    (`base`: the metric a cumulative one accumulates; over a count distinct it counts distinct values)."""
    if spec.type == "ratio":
        return f"{spec.numerator} / {spec.denominator}"
    if spec.type == "derived":
        inputs = [
            f"{i.alias} = {i.metric}" + (f" of {_OFFSETS.get(i.offset, _offset_words(i.offset))}" if i.offset else "")
            for i in spec.inputs
            if i.alias and i.alias != i.metric
        ]
        return "; ".join([spec.expr or "", *inputs])
    if spec.type == "cumulative":
        span = f"over the trailing {spec.window}" if spec.window else f"from the start of the {spec.grain_to_date}"
        found = measures.get(base.measure or "") if base is not None else None
        distinct = found is not None and found[0].agg == "count_distinct"
        return f"{'distinct count' if distinct else 'sum'} of {spec.metric} {span}"
    if spec.type == "conversion":
        within = f" within {spec.window}" if spec.window else ""
        what = "count of" if spec.calculation == "conversions" else "share of"
        opportunity = f"{spec.base_measure}" + (f" (where {spec.base_filter})" if spec.base_filter else "")
        conversion = f"{spec.conversion_measure}" + (
            f" (where {spec.conversion_filter})" if spec.conversion_filter else ""
        )
        return f"{what} {opportunity} followed by {conversion} of the same {spec.entity}{within}"
    measure_name = spec.measure or ""
    found = measures.get(measure_name)
    if found is None:  # loading refuses an unknown measure; kept total for a project built by hand
        text = f"measure {measure_name}"
    else:
        measure, dataset = found
        text = _AGGREGATIONS.get(measure.agg, measure.agg + "({})").format(measure.expr or measure.name)
        if measure.agg == "percentile":  # percentile 0.9 (discrete) of amount
            kind = " (discrete)" if measure.discrete else ""
            text = f"percentile {measure.percentile}{kind} of {measure.expr or measure.name}"
        text += f" from {dataset}"
        semi = measure.non_additive
        if semi is not None:  # a balance: the rows of one day per period
            text += f" at the {semi.choose} {semi.dimension or measure.time or 'time'} of each period"
            text += f" per {', '.join(semi.per)}" if semi.per else ""
    return text + (f" where {spec.filter}" if spec.filter else "")


def column_comment(spec: MetricSpec) -> str:
    """`<label>: <description> (<unit>)`, leaving out what the metric does not declare."""
    text = spec.label or spec.name
    if spec.description:
        text += f": {spec.description}"
    if spec.unit:
        text += f" ({spec.unit})"
    return text


def published_tables(project: LoadedProject) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Every published table (metric tables, then funnel tables) -> (its comment, its metric columns)."""
    found: dict[str, tuple[str, tuple[str, ...]]] = {}
    for name, located in project.tables.items():
        spec = located.spec
        by = f" by {', '.join(spec.dimensions)}" if spec.dimensions else ""
        default = f"{', '.join(spec.metrics)} per {spec.grain}{by}"
        found[name] = (spec.description or default, tuple(dict.fromkeys(spec.metrics)))
    for funnel_located in project.funnels.values():
        funnel = funnel_located.spec
        for dims in [(), *[(d,) for d in funnel.dimensions]]:
            by = f" by {', '.join(dims)}" if dims else ""
            text = f"Funnel {funnel.name}, per monthly cohort{by}" + (
                f": {funnel.description}" if funnel.description else ""
            )
            found[funnel_table(funnel.name, dims)] = (text, ())
    return found


def catalog_statements(
    project: LoadedProject, schema_suffix: str = "", tables: Collection[str] | None = None
) -> list[exp.Expr]:
    """The statements that write the catalog, in order: create the `kpiframe` schema if missing, drop and
    create `kpiframe.metric_catalog<suffix>`, insert one row per metric, comment it; then comment on each
    published table `<metrics schema>.<table><suffix>` and on each of its metric columns.

    `tables` limits the comments to these published tables (the ones that exist, after a partial build);
    None comments them all. Every statement is a sqlglot tree: render it with the warehouse's dialect."""
    catalog = table(META_SCHEMA, CATALOG_TABLE + schema_suffix)
    result = catalog_rows(project)
    statements: list[exp.Expr] = [
        create_schema(META_SCHEMA),
        exp.Drop(tables=[catalog.copy()], kind="TABLE", exists=True),
        create_table(META_SCHEMA, CATALOG_TABLE + schema_suffix, CATALOG_COLUMNS),
    ]
    if result.rows:
        values = [exp.Tuple(expressions=[literal(v) for v in row]) for row in result.rows]
        statements.append(exp.Insert(this=catalog.copy(), expression=exp.Values(expressions=values)))
    statements.append(_comment(catalog.copy(), "TABLE", CATALOG_COMMENT.format(project=project.config.name)))
    schema = project.config.schemas.metrics
    for name, (text, metrics) in published_tables(project).items():
        if tables is not None and name not in tables:
            continue
        physical = name + schema_suffix
        statements.append(_comment(table(schema, physical), "TABLE", text))
        for metric in metrics:
            column = exp.column(metric, table=physical, db=schema, quoted=True)
            statements.append(_comment(column, "COLUMN", column_comment(project.metrics[metric].spec)))
    return statements


def write_catalog(warehouse: Warehouse, project: LoadedProject) -> int:
    """Run `catalog_statements` against the final names, in the caller's transaction (the build's swap
    transaction, say); returns how many statements ran. Only published tables that exist are commented: a
    partial build may leave some never built."""
    schema = project.config.schemas.metrics
    existing = {name for name in published_tables(project) if warehouse.object_type(schema, name) == "table"}
    statements = catalog_statements(project, tables=existing)
    for statement in statements:
        warehouse.execute(statement)
    return len(statements)


def apply_catalog(warehouse: Warehouse, project: LoadedProject) -> int:
    """`write_catalog` in a transaction of its own, for a warehouse that was built already."""
    with warehouse.transaction():
        return write_catalog(warehouse, project)


def _comment(target: exp.Expr, kind: str, text: str) -> exp.Comment:
    return exp.Comment(this=target, kind=kind, expression=exp.Literal.string(text))


def _measures(project: LoadedProject) -> dict[str, tuple[MeasureSpec, str]]:
    """Measure name -> its spec and dataset, generated datasets (definitions, funnels) included."""
    return {m.name: (m, name) for name, located in project.datasets.items() for m in located.spec.measures}


def _tree_directions(project: LoadedProject) -> dict[str, str]:
    """Metric -> the direction of its node in the first KPI tree that holds it (the node's own, else the
    metric's, as kpiframe.kpi resolved it)."""
    found: dict[str, str] = {}
    if project.kpi is None:
        return found
    for tree in project.kpi.trees.values():
        for metric, node in tree.nodes.items():
            if node.direction and metric not in found:
                found[metric] = node.direction
    return found
