"""Running a build that never loses or half-writes a published table.

Every node (model or metric table) is first built beside the live one, as `<name>__kf_new`, reading
the new versions of its upstream nodes. Checks run on those staging tables. Only when every node is
built and checked are all of them swapped in, in ONE transaction: drop the live object, rename the
staging one. A build that fails or is killed before that transaction leaves the live tables as they
were. The next build, holding the build lock (DuckDB's file lock, or kpiframe.build.locks on PostgreSQL), knows
no other build is live: it marks runs still `running` as `abandoned` and drops their leftover staging tables.

A warehouse without transactions (Spark) publishes differently, behind the same calls
(`Warehouse.stage_for_publish`, `publish_table`, `drop_superseded`): each published name is a view over a
versioned table, switched per name; see docs/spark.md for what that guarantees.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlglot import exp

from kpiframe.build import locks
from kpiframe.build.plan import CompiledNode
from kpiframe.build.runs import (
    META_SCHEMA,
    STAGING_SUFFIX,
    BuildResult,
    drop_object,
    ensure_schemas,
    git_commit,
    record_end,
    record_start,
    table,
)
from kpiframe.engine import Warehouse
from kpiframe.errors import DependentObjects, Diagnostic, KpiframeError, LockTimedOut, ProjectInvalid, WarehouseError
from kpiframe.load.loaded import Source
from kpiframe.quality.contracts import type_family

Progress = Callable[[str, int, int], None]
NodeCheck = Callable[[Warehouse, CompiledNode, str], None]  # raises to stop the build
# counts the sources and new tables and compares them with the last successful build; never raises
VolumeCheck = Callable[[Warehouse], dict[str, dict[str, Any]]]


def create_statement(node: CompiledNode, name: str | None = None, query: exp.Query | None = None) -> exp.Create:
    """CREATE OR REPLACE the node's table or view, optionally under another name or from another query."""
    kind = "VIEW" if node.materialized == "view" else "TABLE"
    # callers drop an old table first: CREATE OR REPLACE TABLE is DuckDB's, PostgreSQL has no such thing
    return exp.Create(
        this=table(node.schema, name or node.name),
        kind=kind,
        expression=query if query is not None else node.query,
        replace=kind == "VIEW",
    )


def require_sources(warehouse: Warehouse, sources: list[Source]) -> None:
    """Refuse to build when a raw table, or a column of its declared contract, is missing or mistyped."""
    problems = []
    for source in sources:
        name = f"{source.schema}.{source.table}"
        if not warehouse.table_exists(source.schema, source.table):
            problems.append(
                Diagnostic(
                    "KF510",
                    f"source table {name} does not exist in the warehouse",
                    source.location,
                    hint="load your rows into it, or run `kpiframe demo` for demo data",
                )
            )
            continue
        actual = warehouse.column_types(source.schema, source.table)
        missing = [c for c in source.columns if c not in actual]
        if missing:
            problems.append(
                Diagnostic(
                    "KF511",
                    f"source table {name} lacks column(s) {', '.join(missing)} of its contract",
                    source.location,
                    hint="fix the export, or update the columns declared for it",
                )
            )
        for column, declared in source.types.items():
            if column in actual and type_family(actual[column]) != type_family(declared):
                problems.append(
                    Diagnostic(
                        "KF512",
                        f"{name}.{column} is {actual[column]} in the warehouse, the contract says {declared}",
                        source.location,
                        hint="cast it when loading, or correct the declared type",
                    )
                )
    if problems:
        raise ProjectInvalid(problems)


def retarget(query: exp.Query, renames: dict[tuple[str, str], str]) -> exp.Query:
    """Point every reference to a node built in this run at its staging table."""

    def swap(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Table) and (node.db, node.name) in renames:
            new = table(node.db, renames[(node.db, node.name)])
            alias = node.args.get("alias")
            return new.as_(alias.this, quoted=True) if alias else new.as_(node.name, quoted=True)
        return node

    return query.copy().transform(swap)  # type: ignore[return-value]


def run_build(
    warehouse: Warehouse,
    nodes: list[CompiledNode],
    project_hash: str,
    root: Path,
    selection: str = "all",
    progress: Progress | None = None,
    check: NodeCheck | None = None,
    before_swap: Callable[[Warehouse], None] | None = None,
    after_swap: Callable[[Warehouse], object] | None = None,
    volume: VolumeCheck | None = None,
    project: str | None = None,
    lock_timeout: float = locks.DEFAULT_LOCK_TIMEOUT,
    known_views: frozenset[tuple[str, str]] = frozenset(),
) -> BuildResult:
    """Build every node beside the live ones, check each, then swap all in one transaction.

    `volume` runs once every staging table stands, before `before_swap` (which stops the build on its
    findings): its verdicts go into the run record even when the build then stops. On PostgreSQL the
    swap waits at most `lock_timeout` seconds for each table lock. `known_views` are the (schema, name)
    of the project's view models, selected or not, for the message when a view stands in the way.
    """
    result = BuildResult(uuid.uuid4().hex[:12], datetime.now(UTC), datetime.now(UTC))
    ensure_schemas(warehouse, {n.schema for n in nodes} | {META_SCHEMA})
    record_start(warehouse, result, project_hash, selection, git_commit(root), project)
    renames = {(n.schema, n.name): n.name + STAGING_SUFFIX for n in nodes}
    try:
        for index, node in enumerate(nodes, start=1):
            if progress:
                progress(node.name, index, len(nodes))
            _build_staging(warehouse, node, renames)
            if check:
                check(warehouse, node, node.name + STAGING_SUFFIX)
        if volume:
            result.volume = volume(warehouse)
        if before_swap:
            before_swap(warehouse)
        _swap_all(warehouse, nodes, result, lock_timeout, known_views, after_swap)
    except BaseException as exc:
        _drop_staging(warehouse, nodes)
        record_end(warehouse, result, "failed" if not isinstance(exc, KeyboardInterrupt) else "killed")
        raise
    result.finished_at = datetime.now(UTC)
    record_end(warehouse, result, "success")
    return result


def _build_staging(warehouse: Warehouse, node: CompiledNode, renames: dict[tuple[str, str], str]) -> None:
    staging = node.name + STAGING_SUFFIX
    drop_object(warehouse, node.schema, staging)
    try:
        warehouse.execute(create_statement(node, staging, retarget(node.query, renames)))
    except WarehouseError as exc:
        raise KpiframeError(
            f"{node.kind} '{node.name}' failed: {exc.diagnostic.message}",
            code="KF504",
            hint=f"defined in {node.path}; nothing was published",
        ) from None


def _swap_all(
    warehouse: Warehouse,
    nodes: list[CompiledNode],
    result: BuildResult,
    lock_timeout: float,
    known_views: frozenset[tuple[str, str]],
    after_swap: Callable[[Warehouse], object] | None = None,
) -> None:
    """Swap every node in, in ONE transaction, with `after_swap`'s statements (the metric catalog). On
    PostgreSQL a lock held too long or a view reading a published table becomes a refusal naming the
    session or the view; the transaction has rolled back. How a table is swapped in is the warehouse's
    (`Warehouse.publish_table`): on Spark, which has no transactions, each published name is a view
    that is switched to the new table (docs/spark.md)."""
    tables = [n for n in nodes if n.materialized != "view"]
    # counted and readied before the swap starts: where the swap is not one transaction, it must be short
    rows = {(n.schema, n.name): _count(warehouse, n.schema, n.name + STAGING_SUFFIX) for n in tables}
    physical = {
        (n.schema, n.name): warehouse.stage_for_publish(n.schema, n.name, n.name + STAGING_SUFFIX, result.run_id)
        for n in tables
    }
    current = nodes[0] if nodes else None
    try:
        with warehouse.transaction():
            locks.set_swap_lock_timeout(warehouse, lock_timeout)
            # views go first, dependents before what they read: PostgreSQL refuses to drop a table or view
            # that a view reads, and each view is recreated below over the live names anyway
            for current in reversed([n for n in nodes if n.materialized == "view"]):
                warehouse.drop_view_before_swap(current.schema, current.name)
                drop_object(warehouse, current.schema, current.name + STAGING_SUFFIX)
            for current in nodes:
                key = (current.schema, current.name)
                if current.materialized == "view":
                    # a view stores its query: recreate it over the live names rather than renaming the staging view
                    warehouse.execute(create_statement(current))
                    result.rows[f"{current.schema}.{current.name}"] = -1
                else:
                    warehouse.publish_table(current.schema, current.name, physical[key])
                    result.rows[f"{current.schema}.{current.name}"] = rows[key]
            if after_swap is not None:
                after_swap(warehouse)
    except LockTimedOut:
        assert current is not None
        raise locks.swap_lock_refusal(warehouse, current.schema, current.name, lock_timeout) from None
    except DependentObjects:
        assert current is not None
        rebuilt = {(n.schema, n.name) for n in nodes}
        managed = {view: view in rebuilt for view in known_views}
        raise locks.dependent_view_refusal(warehouse, current.schema, current.name, managed) from None
    with contextlib.suppress(WarehouseError):  # best effort: the next build drops what is left
        warehouse.drop_superseded({n.schema for n in nodes})


def _count(warehouse: Warehouse, schema: str, name: str) -> int:
    count = warehouse.query(exp.select(exp.Count(this=exp.Star())).from_(table(schema, name)))
    return int(count.rows[0][0])


def _drop_staging(warehouse: Warehouse, nodes: list[CompiledNode]) -> None:
    for node in reversed(nodes):  # dependents first: PostgreSQL refuses to drop what a staging view reads
        # best effort: the next build replaces leftovers anyway
        with contextlib.suppress(WarehouseError):
            drop_object(warehouse, node.schema, node.name + STAGING_SUFFIX)
    with contextlib.suppress(WarehouseError):  # tables readied for a swap that did not happen (Spark)
        warehouse.drop_superseded({n.schema for n in nodes})
