"""One build at a time per project and database, and clear refusals when PostgreSQL locks are in the way.

DuckDB needs no lock of ours: a build opens the file for writing and DuckDB's file lock keeps every other
process out (`--wait` retries that open). A PostgreSQL database has no such lock, and two builds at once
would each drop the other's staging tables; so a build takes a session-level advisory lock, keyed by the
project name and the database, on its own connection. The server releases it when that session ends,
also when the build is killed (kill -9 closes the socket), so a dead build never keeps it.

The catalog queries here are PostgreSQL's own (pg_locks, pg_stat_activity, pg_depend): they exist in no
other dialect, so they are written as parameterized text, like the adapters' other catalog queries.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kpiframe.build.runs import running_runs
from kpiframe.errors import KpiframeError, LockTimedOut, WarehouseError

if TYPE_CHECKING:
    from kpiframe.engine.base import Warehouse

BUILD_LOCKED = "KF530"  # another build of the project holds the build lock
SWAP_LOCK_TIMEOUT = "KF531"  # a session's lock on a published table outlasted --lock-timeout
DEPENDENT_VIEW = "KF532"  # a view the build does not manage reads a published table
DEFAULT_LOCK_TIMEOUT = 30.0  # seconds the swap waits for a table lock before giving up
Notify = Callable[[str], None]


def connect_waiting(connect: Callable[[], Warehouse], wait: float | None, notify: Notify) -> Warehouse:
    """Open the warehouse; with `wait`, retry while another process holds a DuckDB file's lock."""
    deadline = time.monotonic() + (wait or 0)
    told = False
    while True:
        try:
            return connect()
        except WarehouseError as exc:
            # the DuckDB adapter's words for a held file lock (KF502); any other error is final
            held = "holds its lock" in exc.diagnostic.message
            if wait is None or not held or time.monotonic() >= deadline:
                raise
            if not told:
                notify(f"waiting up to {wait:g}s for the warehouse file: {exc.diagnostic.hint}")
                told = True
            time.sleep(1)


def take_build_lock(warehouse: Warehouse, project: str, wait: float | None, notify: Notify) -> None:
    """Hold the project's build lock for the rest of `warehouse`'s session, or raise KF530.

    Without `wait` a held lock is refused at once, naming the build that holds it; with `wait` the build
    queues behind it for at most `wait` seconds."""
    if not warehouse.supports_advisory_locks:
        return  # DuckDB, Spark's embedded metastore: the open file is the lock
    key = lock_key(project, str(warehouse.catalog("select current_database()")[0][0]))
    for _ in range(2):  # the holder may finish between the attempt and the look at who holds it
        if warehouse.catalog("select pg_try_advisory_lock(%s)", [key])[0][0]:
            return
        holder = describe_holder(warehouse, key, project)
        if holder:
            break
    holder = holder or "a build that finished a moment ago"
    if wait is None:
        raise KpiframeError(
            f"another build of project '{project}' is running on this database: {holder}",
            code=BUILD_LOCKED,
            hint="nothing was built; wait for it to finish and run again, or pass --wait to queue behind it",
        )
    notify(f"waiting up to {wait:g}s for another build of project '{project}': {holder}")
    try:
        with warehouse.transaction():  # the timeout is local to this transaction; the lock outlives it (session-level)
            warehouse.catalog("select set_config('lock_timeout', %s, true)", [_milliseconds(wait)])
            warehouse.catalog("select pg_advisory_lock(%s)", [key])
    except LockTimedOut:
        raise KpiframeError(
            f"another build of project '{project}' still runs after {wait:g}s: {holder}",
            code=BUILD_LOCKED,
            hint="nothing was built; run again later, or wait longer with --wait SECONDS",
        ) from None


def lock_key(project: str, database: str) -> int:
    """The advisory lock's 64-bit key: the same project on the same database always gets the same one."""
    digest = hashlib.sha256(f"kpiframe build\0{project}\0{database}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


# the session holding a single-bigint advisory lock: pg_locks shows the key as two 32-bit halves
_LOCK_SESSION = """
    select a.pid, a.application_name, host(a.client_addr), a.backend_start
    from pg_locks l join pg_stat_activity a on a.pid = l.pid
    where l.locktype = 'advisory' and l.granted and l.objsubid = 1
      and l.database = (select oid from pg_database where datname = current_database())
      and l.classid::bigint = %s and l.objid::bigint = %s"""


def describe_holder(warehouse: Warehouse, key: int, project: str) -> str:
    """'pid 4242 on host ci-1, run ab12 started at ... (PostgreSQL session 77 from 10.0.0.5)', or '' when
    no session holds the lock any more."""
    rows = warehouse.catalog(_LOCK_SESSION, [(key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF])
    if not rows:
        return ""
    session, application, client, connected = rows[0]
    where = f"PostgreSQL session {session} from {client or 'a local socket'}"
    if application:
        where += f", application '{application}'"
    run = running_build(warehouse, project)
    if run is None:  # the holder has not recorded its run yet
        return f"{where}, connected at {_when(connected)}"
    run_id, started, pid, host = run
    return f"pid {pid} on host {host}, run {run_id} started at {_when(started)} ({where})"


def running_build(warehouse: Warehouse, project: str) -> tuple[Any, ...] | None:
    """(run_id, started_at, pid, host) of the project's newest run still marked running."""
    runs = running_runs(warehouse, project)
    return runs[-1] if runs else None


def set_swap_lock_timeout(warehouse: Warehouse, seconds: float) -> None:
    """Inside the swap's transaction: give up on a table lock after `seconds` rather than hang."""
    if warehouse.supports_lock_timeout:
        warehouse.catalog("select set_config('lock_timeout', %s, true)", [_milliseconds(seconds)])


# sessions other than ours holding a granted lock on schema.name: a BI tool idle in a transaction, ...
_TABLE_LOCKERS = """
    select a.pid, a.application_name, host(a.client_addr), a.state, a.query_start, a.xact_start, l.mode
    from pg_locks l join pg_stat_activity a on a.pid = l.pid
    join pg_class c on c.oid = l.relation join pg_namespace n on n.oid = c.relnamespace
    where l.granted and l.pid <> pg_backend_pid() and n.nspname = %s and c.relname = %s
    order by a.xact_start nulls last, a.pid"""


def swap_lock_refusal(warehouse: Warehouse, schema: str, name: str, seconds: float) -> KpiframeError:
    """KF531 naming the sessions that kept `schema.name` locked while the swap waited `seconds`."""
    rows = warehouse.catalog(_TABLE_LOCKERS, [schema, name])
    sessions = "; ".join(_session(row) for row in rows) or "a session that has finished since"
    return KpiframeError(
        f"publishing waited {seconds:g}s for a lock on {schema}.{name} and gave up; it is held by {sessions}. "
        "Nothing was published",
        code=SWAP_LOCK_TIMEOUT,
        hint="a BI tool or SQL client holds a transaction open on the table: end it (commit, close the "
        "session, or SELECT pg_terminate_backend(pid)), then build again; or allow a longer wait with "
        "--lock-timeout SECONDS",
    )


def _session(row: tuple[Any, ...]) -> str:
    pid, application, client, state, query_start, transaction_start, mode = row
    return (
        f"session pid {pid} (application '{application or ''}', client {client or 'local socket'}, "
        f"state '{state}', transaction started {_when(transaction_start)}, "
        f"last query started {_when(query_start)}, holding {mode})"
    )


# views (and materialized views) whose query reads schema.name: PostgreSQL records them through pg_rewrite
_DEPENDENT_VIEWS = """
    select distinct dn.nspname, dc.relname
    from pg_depend d join pg_rewrite r on r.oid = d.objid
    join pg_class dc on dc.oid = r.ev_class join pg_namespace dn on dn.oid = dc.relnamespace
    join pg_class t on t.oid = d.refobjid join pg_namespace tn on tn.oid = t.relnamespace
    where d.classid = 'pg_rewrite'::regclass and d.refclassid = 'pg_class'::regclass
      and tn.nspname = %s and t.relname = %s and dc.oid <> t.oid
    order by 1, 2"""


def dependent_views(warehouse: Warehouse, schema: str, name: str) -> list[tuple[str, str]]:
    """(schema, view) of every view reading `schema.name`; DuckDB records no such dependency."""
    if not warehouse.records_view_dependencies:
        return []
    return [(str(s), str(v)) for s, v in warehouse.catalog(_DEPENDENT_VIEWS, [schema, name])]


def dependent_view_refusal(
    warehouse: Warehouse, schema: str, name: str, managed: dict[tuple[str, str], bool]
) -> KpiframeError:
    """KF532 naming the views that read `schema.name`. `managed` maps a kpiframe view model's
    (schema, name) to whether this build rebuilds it."""
    views = dependent_views(warehouse, schema, name)
    named = ", ".join(f"{s}.{v}" for s, v in views) or "another object"
    ours = [f"{s}.{v}" for s, v in views if (s, v) in managed and not managed[(s, v)]]
    if ours:
        hint = (
            f"{', '.join(ours)} is a kpiframe view model left out of the selection: select it too "
            f"(e.g. --select {name}+), so that the build recreates it"
        )
    else:
        hint = (
            "a build replaces each published table by a new one, and PostgreSQL cannot drop a table a "
            "view reads. Drop the view, build, then create it again (after every build); a view over a model "
            "can instead be a kpiframe model with `materialized: view`, which every build recreates"
        )
    return KpiframeError(
        f"cannot publish {schema}.{name}: view {named} reads it, so PostgreSQL refuses to "
        "replace it. Nothing was published",
        code=DEPENDENT_VIEW,
        hint=hint,
    )


def _milliseconds(seconds: float) -> str:
    return str(max(1, round(seconds * 1000)))


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        stamp = value.astimezone(UTC) if value.tzinfo else value  # naive stamps are UTC already
        return stamp.strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value) if value is not None else "unknown"
