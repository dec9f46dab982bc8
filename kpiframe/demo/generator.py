"""`generate_demo`: run the statements of every table in order into staging tables, then swap them in.

The statements are written against ``raw.<table>``; `kpiframe.demo.staging` points them at the staging
tables, so that raw.* changes only in the final transaction (see there).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from datetime import date

import duckdb
from sqlglot import exp

from kpiframe.demo.bad_rows import (
    ACTIVITIES_BAD_SQL,
    EMAIL_BAD_SQL,
    LEADS_BAD_SQL,
    SESSIONS_BAD_SQL,
    STATUS_BAD_SQL,
)
from kpiframe.demo.contract import RAW_TABLES
from kpiframe.demo.crm import ACTIVITIES_SQL, FUNNEL_SQL, LEADS_INSERT_SQL, LEADS_SQL, OPPORTUNITIES_SQL, STATUS_SQL
from kpiframe.demo.marketing import (
    AD_SPEND_SQL,
    DAYS_SQL,
    DROP_SESSION_DAYS_SQL,
    EMAIL_SQL,
    SESSION_DAYS_SQL,
    SESSIONS_SQL,
)
from kpiframe.demo.params import DIMENSIONS_SQL, MACROS_SQL, PARAMS_SQL, SESSIONS_PER_DAY
from kpiframe.demo.staging import (
    create_staging_tables,
    drop_staging_quietly,
    raw_table,
    retarget,
    staging_name,
    swap_in,
)

_TEMP_TABLES = (
    "_kf_params",
    "_kf_sources",
    "_kf_channel_buckets",
    "_kf_pages",
    "_kf_countries",
    "_kf_days",
    "_kf_session_days",
    "_kf_leads",
    "_kf_orphans",
    "_kf_funnel",
)
_TEMP_MACROS = ("_kf_h", "_kf_u", "_kf_z", "_kf_sec", "_kf_day", "_kf_email_campaign")

# (raw table reported after the step, or None; its statements in order)
_STEPS: tuple[tuple[str | None, tuple[str, ...]], ...] = (
    (None, (*MACROS_SQL, *DIMENSIONS_SQL, DAYS_SQL)),
    ("ad_spend", (AD_SPEND_SQL,)),
    ("web_sessions", (SESSION_DAYS_SQL, SESSIONS_SQL, DROP_SESSION_DAYS_SQL, SESSIONS_BAD_SQL)),
    ("leads", (LEADS_SQL, LEADS_INSERT_SQL, *LEADS_BAD_SQL)),
    ("email_sends", (EMAIL_SQL, EMAIL_BAD_SQL)),
    ("lead_activities", (ACTIVITIES_SQL, ACTIVITIES_BAD_SQL)),
    ("lead_status_changes", (FUNNEL_SQL, STATUS_SQL, STATUS_BAD_SQL)),
    ("opportunities", (OPPORTUNITIES_SQL,)),
)


def generate_demo(
    con: duckdb.DuckDBPyConnection,
    seed: int = 42,
    scale: float = 1.0,
    start: date = date(2025, 1, 1),
    end: date = date(2026, 11, 20),
    progress: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Write the demo raw tables into schema ``raw`` of ``con``, replacing all of them at once.

    ``scale`` 1.0 is about 200,000 web sessions over the default range (290 a day on average) and about
    10,000 leads; the other tables follow from them. ``start`` and ``end`` are inclusive days and nothing
    happens after ``end``. ``progress`` receives one short message per table, e.g.
    ``"web_sessions: 200,000 rows"``. Returns the row count of each raw table, by table name.

    The tables are built as ``raw.<table>__kf_new`` and swapped in by one transaction at the end: if
    anything fails or the process dies before, raw.* is as it was (and the next run drops the leftovers).
    """
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    create_staging_tables(con)
    params = {"seed": int(seed), "scale": float(scale), "start": start, "end": end, "per_day": SESSIONS_PER_DAY}
    counts: dict[str, int] = {}
    try:
        con.execute(PARAMS_SQL, params)
        for table, statements in _staged_steps():
            for sql in statements:
                con.execute(sql)
            if table is not None:
                counts[table] = _count(con, staging_name(table))
                if progress is not None:
                    progress(f"{table}: {counts[table]:,} rows")
        _drop_temp_objects(con)
        swap_in(con)
    except BaseException:
        with contextlib.suppress(duckdb.Error):  # the error that stopped the run is the one to report
            _drop_temp_objects(con)
        drop_staging_quietly(con)
        raise
    return {table: counts[table] for table in RAW_TABLES}


@functools.cache
def _staged_steps() -> tuple[tuple[str | None, tuple[str, ...]], ...]:
    """`_STEPS` writing into the staging tables (parsed once per process)."""
    return tuple((table, tuple(retarget(sql) for sql in statements)) for table, statements in _STEPS)


def _count(con: duckdb.DuckDBPyConnection, name: str) -> int:
    """Row count of raw.<name>."""
    count = exp.select(exp.Count(this=exp.Star())).from_(raw_table(name))
    row = con.execute(count.sql(dialect="duckdb")).fetchone()
    return int(row[0]) if row else 0


def _drop_temp_objects(con: duckdb.DuckDBPyConnection) -> None:
    """Remove the generator's temporary tables and macros from the connection."""
    for names, kind in ((_TEMP_TABLES, "TABLE"), (_TEMP_MACROS, "MACRO")):
        for name in names:
            drop = exp.Drop(tables=[exp.table_(name, db="temp")], kind=kind, exists=True)
            con.execute(drop.sql(dialect="duckdb"))
