"""Running a build: models in DAG order, then the published metric tables, in one transaction.

One transaction means a failed or killed build leaves the previously published tables as they were:
DuckDB discards an uncommitted transaction, and its file lock keeps a second writer out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlglot import exp

from kpiframe.compile import CompiledNode
from kpiframe.engine import Warehouse
from kpiframe.errors import Diagnostic, KpiframeError, ProjectInvalid, WarehouseError
from kpiframe.graph import Source

Progress = Callable[[str, int, int], None]


@dataclass
class BuildResult:
    started_at: datetime
    finished_at: datetime
    rows: dict[str, int]


def create_statement(node: CompiledNode) -> exp.Create:
    kind = "VIEW" if node.materialized == "view" else "TABLE"
    return exp.Create(this=exp.table_(node.name, db=node.schema, quoted=True), kind=kind,
                      expression=node.query, replace=True)


def check_sources(warehouse: Warehouse, sources: list[Source]) -> None:
    """Refuse to build when a raw table or a column of its declared contract is missing."""
    problems = []
    for source in sources:
        if not warehouse.table_exists(source.schema, source.table):
            problems.append(Diagnostic("KF510", f"source table {source.schema}.{source.table} does not exist "
                                       "in the warehouse", source.location,
                                       hint="load your rows into it, or run `kpiframe demo` for demo data"))
            continue
        missing = [c for c in source.columns if c not in warehouse.columns_of(source.schema, source.table)]
        if missing:
            problems.append(Diagnostic("KF511", f"source table {source.schema}.{source.table} lacks column(s) "
                                       f"{', '.join(missing)} of its contract", source.location,
                                       hint="fix the export, or update the columns declared for it"))
    if problems:
        raise ProjectInvalid(problems)


def run_build(warehouse: Warehouse, nodes: list[CompiledNode], progress: Progress | None = None) -> BuildResult:
    """Create every node; all or nothing."""
    started = datetime.now(timezone.utc)
    rows: dict[str, int] = {}
    schemas = sorted({n.schema for n in nodes})
    with warehouse.transaction():
        for schema in schemas:
            warehouse.execute(exp.Create(this=exp.Table(this=exp.to_identifier(schema, quoted=True)),
                                         kind="SCHEMA", exists=True))
        for index, node in enumerate(nodes, start=1):
            if progress:
                progress(node.name, index, len(nodes))
            try:
                warehouse.execute(create_statement(node))
            except WarehouseError as exc:
                raise KpiframeError(f"{node.kind} '{node.name}' failed: {exc}", code="KF504",
                                    hint=f"defined in {node.path}; nothing was published") from None
            rows[f"{node.schema}.{node.name}"] = _count(warehouse, node)
    return BuildResult(started, datetime.now(timezone.utc), rows)


def _count(warehouse: Warehouse, node: CompiledNode) -> int:
    if node.materialized == "view":
        return -1
    count = exp.select(exp.Count(this=exp.Star())).from_(exp.table_(node.name, db=node.schema, quoted=True))
    result = warehouse.query(count)
    return int(result.rows[0][0])
