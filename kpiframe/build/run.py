"""Running a build that never loses or half-writes a published table.

Every node (model or metric table) is first built beside the live one, as `<name>__kf_new`, reading
the new versions of its upstream nodes. Checks run on those staging tables. Only when every node is
built and checked are all of them swapped in, in ONE transaction: drop the live object, rename the
staging one. A build that fails or is killed before that transaction leaves the live tables as they
were. The next build, holding the build lock (DuckDB's file lock, or kpiframe.build.locks on PostgreSQL), knows
no other build is live: it marks runs still `running` as `abandoned` and drops their leftover staging tables.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlglot import exp

from kpiframe.build import locks
from kpiframe.build.plan import CompiledNode
from kpiframe.engine import Warehouse
from kpiframe.errors import Diagnostic, KpiframeError, ProjectInvalid, WarehouseError
from kpiframe.load.loaded import Source
from kpiframe.sql.expressions import create_schema

STAGING_SUFFIX = "__kf_new"
META_SCHEMA = "kpiframe"
Progress = Callable[[str, int, int], None]
NodeCheck = Callable[[Warehouse, CompiledNode, str], None]  # raises to stop the build
# counts the sources and new tables and compares them with the last successful build; never raises
VolumeCheck = Callable[[Warehouse], dict[str, dict[str, Any]]]


@dataclass
class BuildResult:
    run_id: str
    started_at: datetime
    finished_at: datetime
    rows: dict[str, int] = field(default_factory=dict)
    volume: dict[str, dict[str, Any]] = field(default_factory=dict)  # schema.table -> the volume guard's verdict


def table(schema: str, name: str) -> exp.Table:
    return exp.table_(name, db=schema, quoted=True)


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


def check_sources(warehouse: Warehouse, sources: list[Source]) -> None:
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


_FAMILIES = {
    "integer": {"TINYINT", "SMALLINT", "INT", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINT", "UBIGINT"},
    "number": {"DECIMAL", "DOUBLE", "FLOAT", "BIGDECIMAL", "MONEY"},
    "text": {"VARCHAR", "TEXT", "CHAR", "NVARCHAR", "NCHAR", "STRING"},
    "timestamp": {"TIMESTAMP", "TIMESTAMPNTZ", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "DATETIME"},
}


def type_family(type_text: str) -> str:
    """Types compare by family: an INTEGER column satisfies a BIGINT contract, a VARCHAR date does not."""
    try:
        name = exp.DataType.build(type_text, dialect="duckdb").this.name
    except Exception:  # an exotic type name: compare it as written
        return type_text.upper()
    return next((family for family, members in _FAMILIES.items() if name in members), name)


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
    _ensure_schemas(warehouse, {n.schema for n in nodes} | {META_SCHEMA})
    _record_start(warehouse, result, project_hash, selection, _git_commit(root), project)
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
        _swap_all(warehouse, nodes, result, lock_timeout, known_views)
    except BaseException as exc:
        _drop_staging(warehouse, nodes)
        _record_end(warehouse, result, "failed" if not isinstance(exc, KeyboardInterrupt) else "killed")
        raise
    result.finished_at = datetime.now(UTC)
    _record_end(warehouse, result, "success")
    return result


def _build_staging(warehouse: Warehouse, node: CompiledNode, renames: dict[tuple[str, str], str]) -> None:
    staging = node.name + STAGING_SUFFIX
    _drop(warehouse, node.schema, staging)
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
) -> None:
    """Swap every node in, in ONE transaction. On PostgreSQL a lock held too long or a view reading a
    published table becomes a refusal naming the session or the view; the transaction has rolled back."""
    current = nodes[0] if nodes else None
    try:
        with warehouse.transaction():
            locks.set_swap_lock_timeout(warehouse, lock_timeout)
            # views go first, dependents before what they read: PostgreSQL refuses to drop a table or view
            # that a view reads, and each view is recreated below over the live names anyway
            for current in reversed([n for n in nodes if n.materialized == "view"]):
                _drop(warehouse, current.schema, current.name)
                _drop(warehouse, current.schema, current.name + STAGING_SUFFIX)
            for current in nodes:
                result.rows[f"{current.schema}.{current.name}"] = _swap_in(warehouse, current)
    except locks.LockTimedOut:
        assert current is not None
        raise locks.swap_lock_refusal(warehouse, current.schema, current.name, lock_timeout) from None
    except locks.DependentObjects:
        assert current is not None
        rebuilt = {(n.schema, n.name) for n in nodes}
        managed = {view: view in rebuilt for view in known_views}
        raise locks.dependent_view_refusal(warehouse, current.schema, current.name, managed) from None


def _swap_in(warehouse: Warehouse, node: CompiledNode) -> int:
    if node.materialized == "view":
        # a view stores its query: recreate it over the live names rather than renaming the staging view
        warehouse.execute(create_statement(node))
        return -1
    _drop(warehouse, node.schema, node.name)
    rename = exp.Alter(
        this=table(node.schema, node.name + STAGING_SUFFIX),
        kind="TABLE",
        actions=[exp.AlterRename(this=exp.table_(node.name, quoted=True))],
    )
    warehouse.execute(rename)
    count = warehouse.query(exp.select(exp.Count(this=exp.Star())).from_(table(node.schema, node.name)))
    return int(count.rows[0][0])


def _drop(warehouse: Warehouse, schema: str, name: str) -> None:
    kind = warehouse.object_type(schema, name)
    if kind:
        warehouse.execute(exp.Drop(tables=[table(schema, name)], kind=kind.upper(), exists=True))


def _drop_staging(warehouse: Warehouse, nodes: list[CompiledNode]) -> None:
    for node in reversed(nodes):  # dependents first: PostgreSQL refuses to drop what a staging view reads
        # best effort: the next build replaces leftovers anyway
        with contextlib.suppress(WarehouseError):
            _drop(warehouse, node.schema, node.name + STAGING_SUFFIX)


def _ensure_schemas(warehouse: Warehouse, schemas: set[str]) -> None:
    for schema in sorted(schemas):
        warehouse.execute(create_schema(schema))


RUNS_COLUMNS = {
    "run_id": "VARCHAR",
    "started_at": "TIMESTAMP",
    "finished_at": "TIMESTAMP",
    "status": "VARCHAR",
    "git_commit": "VARCHAR",
    "project_hash": "VARCHAR",
    "selection": "VARCHAR",
    "rows_per_table": "VARCHAR",
    "volume": "VARCHAR",
    # who ran it: a refused second build names the build holding the lock
    "project": "VARCHAR",
    "host": "VARCHAR",
    "pid": "INTEGER",
}


def ensure_table(warehouse: Warehouse, schema: str, name: str, columns: dict[str, str]) -> exp.Table:
    """Create a kpiframe-owned table (run records, results, KPI snapshots) if missing.

    A table made by an older kpiframe gains the columns added since, rather than breaking the insert.
    """
    target = table(schema, name)
    _ensure_schemas(warehouse, {schema})
    definitions = {
        column: exp.ColumnDef(this=exp.to_identifier(column, quoted=True), kind=exp.DataType.build(kind))
        for column, kind in columns.items()
    }
    warehouse.execute(
        exp.Create(
            this=exp.Schema(this=target.copy(), expressions=list(definitions.values())), kind="TABLE", exists=True
        )
    )
    existing = warehouse.column_types(schema, name)
    for column, definition in definitions.items():
        if column not in existing:
            warehouse.execute(exp.Alter(this=target.copy(), kind="TABLE", actions=[definition.copy()]))
    return target


def _record_start(
    warehouse: Warehouse,
    result: BuildResult,
    project_hash: str,
    selection: str,
    commit: str | None,
    project: str | None = None,
) -> None:
    runs = ensure_table(warehouse, META_SCHEMA, "runs", RUNS_COLUMNS)
    values = [
        result.run_id,
        result.started_at.replace(tzinfo=None).isoformat(sep=" "),
        None,
        "running",
        commit,
        project_hash,
        selection,
        None,
        None,
        project,
        socket.gethostname(),
        os.getpid(),
    ]
    row = exp.Tuple(
        expressions=[
            exp.Literal.number(v) if isinstance(v, int) else exp.Literal.string(v) if v is not None else exp.Null()
            for v in values
        ]
    )
    into = exp.Schema(this=runs, expressions=[exp.to_identifier(c, quoted=True) for c in RUNS_COLUMNS])
    warehouse.execute(exp.Insert(this=into, expression=exp.Values(expressions=[row])))


BASELINE_RESET = "baseline_reset"


def record_baseline_reset(warehouse: Warehouse, reason: str) -> str:
    """Record that the raw data was replaced wholesale (`kpiframe demo`): the volume guard compares the
    next build with nothing before this point, since a smaller demo is not a failed load."""
    now = datetime.now(UTC)
    result = BuildResult(uuid.uuid4().hex[:12], now, now)
    _record_start(warehouse, result, "", reason, None)
    _record_end(warehouse, result, BASELINE_RESET)
    return result.run_id


def _record_end(warehouse: Warehouse, result: BuildResult, status: str) -> None:
    finished = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    update = exp.update(
        table(META_SCHEMA, "runs"),
        {
            "finished_at": exp.cast(exp.Literal.string(finished), "TIMESTAMP"),
            "status": exp.Literal.string(status),
            "rows_per_table": exp.Literal.string(json.dumps(result.rows, sort_keys=True)),
            "volume": exp.Literal.string(json.dumps(result.volume, sort_keys=True)) if result.volume else exp.Null(),
        },
        where=exp.EQ(this=exp.column("run_id"), expression=exp.Literal.string(result.run_id)),
    )
    with contextlib.suppress(WarehouseError):  # the run record must never hide the build's own error
        warehouse.execute(update)


ABANDONED = "abandoned"


def clean_up_abandoned(warehouse: Warehouse, project: str, schemas: set[str]) -> str | None:
    """Mark the project's runs still `running` as abandoned and drop the staging leftovers in `schemas`;
    the line saying what was cleaned up, or None.

    Only with the build lock held: then no other build of the project is live, so a run still marked
    running died (killed, or its machine lost) and every `__kf_new` table in the project's schemas is
    its leftover. Schemas the project does not build into (raw data, other projects) are left alone.
    """
    ensure_table(warehouse, META_SCHEMA, "runs", RUNS_COLUMNS)  # older run tables gain project, host, pid
    dead = running_runs(warehouse, project)
    if dead:
        finished = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
        warehouse.execute(
            exp.update(
                table(META_SCHEMA, "runs"),
                {
                    "finished_at": exp.cast(exp.Literal.string(finished), "TIMESTAMP"),
                    "status": exp.Literal.string(ABANDONED),
                },
                where=exp.column("run_id", quoted=True).isin(*[exp.Literal.string(str(run[0])) for run in dead]),
            )
        )
    dropped = _drop_leftovers(warehouse, schemas)
    if not dead and not dropped:
        return None
    runs = ", ".join(
        f"{run_id} (started {started:%Y-%m-%d %H:%M:%S} UTC{_by(pid, host)})" for run_id, started, pid, host in dead
    )
    said = [f"marked {'run' if len(dead) == 1 else 'runs'} {runs} abandoned"] if dead else []
    if dropped:
        said.append(f"dropped {len(dropped)} leftover staging table(s): {', '.join(dropped)}")
    return f"cleaned up after a build that did not finish: {'; '.join(said)}"


def _by(pid: int | None, host: str | None) -> str:
    return f" by pid {pid} on {host}" if pid is not None else ""  # runs recorded before pid and host were


def running_runs(warehouse: Warehouse, project: str) -> list[tuple[Any, ...]]:
    """(run_id, started_at, pid, host) of the project's runs still marked running, oldest first. Runs
    recorded before runs had a project column count as the project's."""
    if "project" not in warehouse.column_types(META_SCHEMA, "runs"):
        return []
    owner = exp.column("project", quoted=True)
    query = (
        exp.select(*[exp.column(c, quoted=True) for c in ("run_id", "started_at", "pid", "host")])
        .from_(table(META_SCHEMA, "runs"))
        .where(
            exp.and_(
                exp.EQ(this=exp.column("status", quoted=True), expression=exp.Literal.string("running")),
                exp.or_(
                    exp.EQ(this=owner, expression=exp.Literal.string(project)),
                    exp.Is(this=owner.copy(), expression=exp.Null()),
                ),
            )
        )
        .order_by(exp.column("started_at", quoted=True))
    )
    return warehouse.query(query).rows


def _drop_leftovers(warehouse: Warehouse, schemas: set[str]) -> list[str]:
    """Drop every `<name>__kf_new` in `schemas`, views first (they may read a staging table)."""
    kind = exp.column("table_type")
    listing = (
        exp.select(exp.column("table_schema"), exp.column("table_name"), kind)
        .from_(exp.table_("tables", db="information_schema"))
        .where(exp.column("table_schema").isin(*[exp.Literal.string(s) for s in sorted(schemas)]))
    )
    found = sorted(
        (kind != "VIEW", str(schema), str(name))
        for schema, name, kind in warehouse.query(listing).rows
        if str(name).endswith(STAGING_SUFFIX)
    )
    dropped = []
    for _, schema, name in found:
        with contextlib.suppress(WarehouseError):  # one that cannot go fails its node's build, which says why
            _drop(warehouse, schema, name)
            dropped.append(f"{schema}.{name}")
    return dropped


def _git_commit(root: Path) -> str | None:
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=root)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None
