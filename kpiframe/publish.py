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
from kpiframe.errors import KpiframeError, WarehouseError

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
