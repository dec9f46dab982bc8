"""The run log, kpiframe.runs: each build's start, end and outcome, the runs still marked running, and
the clean-up of runs whose process died. Builds, the build lock and the volume guard all read it."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlglot import exp

from kpiframe.engine import Warehouse
from kpiframe.errors import WarehouseError
from kpiframe.sql.expressions import create_schema

META_SCHEMA = "kpiframe"
STAGING_SUFFIX = "__kf_new"


@dataclass
class BuildResult:
    run_id: str
    started_at: datetime
    finished_at: datetime
    rows: dict[str, int] = field(default_factory=dict)
    volume: dict[str, dict[str, Any]] = field(default_factory=dict)  # schema.table -> the volume guard's verdict


def table(schema: str, name: str) -> exp.Table:
    return exp.table_(name, db=schema, quoted=True)


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
    ensure_schemas(warehouse, {schema})
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


def record_start(
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
    record_start(warehouse, result, "", reason, None)
    record_end(warehouse, result, BASELINE_RESET)
    return result.run_id


def record_end(warehouse: Warehouse, result: BuildResult, status: str) -> None:
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
    # and the tables a killed swap readied or replaced that no published name reads (Spark's versions)
    dropped = _drop_leftovers(warehouse, schemas) + warehouse.drop_superseded(schemas)
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
    found = sorted(
        (kind != "view", schema, name)
        for schema, name, kind in warehouse.list_objects(schemas)
        if name.endswith(STAGING_SUFFIX)
    )
    dropped = []
    for _, schema, name in found:
        with contextlib.suppress(WarehouseError):  # one that cannot go fails its node's build, which says why
            drop_object(warehouse, schema, name)
            dropped.append(f"{schema}.{name}")
    return dropped


def git_commit(root: Path) -> str | None:
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=root)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def drop_object(warehouse: Warehouse, schema: str, name: str) -> None:
    kind = warehouse.object_type(schema, name)
    if kind:
        warehouse.execute(exp.Drop(tables=[table(schema, name)], kind=kind.upper(), exists=True))


def ensure_schemas(warehouse: Warehouse, schemas: set[str]) -> None:
    for schema in sorted(schemas):
        warehouse.execute(create_schema(schema))
