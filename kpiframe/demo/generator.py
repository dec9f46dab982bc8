"""`generate_demo`: create the raw tables, then run the statements of every table in order."""

from __future__ import annotations

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
from kpiframe.demo.contract import RAW_TABLES, SCHEMA
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
from kpiframe.sql.expressions import create_schema, create_table

_TEMP_TABLES = (
    "_kf_params", "_kf_sources", "_kf_channel_buckets", "_kf_pages", "_kf_countries", "_kf_days",
    "_kf_session_days", "_kf_leads", "_kf_orphans", "_kf_funnel",
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
    """Write the demo raw tables into schema ``raw`` of ``con``, dropping and recreating them.

    ``scale`` 1.0 is about 200,000 web sessions over the default range (290 a day on average) and about
    10,000 leads; the other tables follow from them. ``start`` and ``end`` are inclusive days and nothing
    happens after ``end``. ``progress`` receives one short message per table, e.g.
    ``"web_sessions: 200,000 rows"``. Returns the row count of each raw table, by table name.
    """
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    _create_tables(con)
    params = {"seed": int(seed), "scale": float(scale), "start": start, "end": end,
              "per_day": SESSIONS_PER_DAY}
    counts: dict[str, int] = {}
    try:
        con.execute(PARAMS_SQL, params)
        for table, statements in _STEPS:
            for sql in statements:
                con.execute(sql)
            if table is not None:
                counts[table] = _count(con, table)
                if progress is not None:
                    progress(f"{table}: {counts[table]:,} rows")
    finally:
        _drop_temp_objects(con)
    return {table: counts[table] for table in RAW_TABLES}


def _create_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Drop and recreate the (empty) raw tables with the contract's columns and types."""
    con.execute(create_schema(SCHEMA).sql(dialect="duckdb"))
    for table, columns in RAW_TABLES.items():
        drop = exp.Drop(tables=[exp.table_(table, db=SCHEMA, quoted=True)], kind="TABLE", exists=True)
        con.execute(drop.sql(dialect="duckdb"))
        con.execute(create_table(SCHEMA, table, columns).sql(dialect="duckdb"))


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    """Row count of a raw table."""
    count = exp.select(exp.Count(this=exp.Star())).from_(exp.table_(table, db=SCHEMA, quoted=True))
    row = con.execute(count.sql(dialect="duckdb")).fetchone()
    return int(row[0]) if row else 0


def _drop_temp_objects(con: duckdb.DuckDBPyConnection) -> None:
    """Remove the generator's temporary tables and macros from the connection."""
    for name in _TEMP_TABLES:
        con.execute(f"DROP TABLE IF EXISTS temp.{name}")
    for name in _TEMP_MACROS:
        con.execute(f"DROP MACRO IF EXISTS temp.{name}")
