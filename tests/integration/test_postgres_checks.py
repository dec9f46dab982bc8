"""Every kind of expectation, run by Great Expectations on a real PostgreSQL server.

The tables and checks are the DuckDB suite's (tests/quality/test_gx_run.py). Each check must end the
same way on PostgreSQL as on DuckDB, with the same unexpected count: DuckDB runs its own SQL, so it is
an independent reference for the PostgreSQL SQL kpiframe renders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import psycopg  # a dev dependency: missing is a failure, not a skip
import pytest
import sqlglot

from kpiframe.quality import ExpectationResult, run_expectations
from tests.quality.test_gx_run import LEADS_CHECKS, LEADS_ROWS, checks

MONTHLY_ROWS = """
insert into metrics.marketing_monthly
    select make_date(2025, 8, 1) + make_interval(months => m), c, leads, mqls, sqls from (values
        (0, 'web', 100, 50, 20), (1, 'web', 104, 50, 20), (2, 'web', 98, 50, 20), (3, 'web', 101, 50, 20),
        (4, 'web', 99, 50, 20), (5, 'web', 102, 50, 20), (6, 'web', 500, 50, 60),
        (0, 'ads', 40, 20, 10), (1, 'ads', 60, 20, 10), (2, 'ads', 50, 20, 10), (3, 'ads', 45, 20, 10),
        (4, 'ads', 55, 20, 10), (5, 'ads', 50, 20, 10), (6, 'ads', 52, 20, 5)) as t(m, c, leads, mqls, sqls)
"""
BAND = {"column": "leads", "order_by": "period_start", "group_by": ["channel"]}
SUITES: list[tuple[str, str, list[dict[str, Any]]]] = [
    ("analytics", "stg_leads__kf_new", LEADS_CHECKS),
    (
        "analytics",
        "stg_activity",
        [
            {"references": {"column": "lead_id", "to": {"table": "stg_leads__kf_new", "column": "lead_id"}}},
            {"references": {"column": "known_lead_id", "to": {"table": "stg_leads__kf_new", "column": "lead_id"}}},
        ],
    ),
    (
        "metrics",
        "marketing_monthly",
        [
            {"funnel_monotonic": {"columns": ["leads", "mqls", "sqls"]}},
            {"funnel_monotonic": {"columns": ["leads", "mqls", "sqls"], "group_by": ["period_start"]}},
            {"funnel_monotonic": {"columns": ["mqls", "leads"], "group_by": "channel"}},
            {"within_historical_band": {**BAND, "window": 6, "tolerance": 3}},
            {"within_historical_band": {**BAND, "window": 12}},
            {"unique": "channel"},
            {"row_count_between": {"min": 14, "max": 14}},
        ],
    ),
]


@pytest.fixture(scope="module")
def checks_dsn(postgres_dsn: str) -> str:
    with psycopg.connect(postgres_dsn, autocommit=True) as con:
        con.execute("drop database if exists kf_checks")
        con.execute("create database kf_checks")
    dsn = postgres_dsn.replace("dbname=postgres", "dbname=kf_checks")
    statements = [
        s for s in sqlglot.transpile(LEADS_ROWS, read="duckdb", write="postgres") if "marketing_monthly SELECT" not in s
    ]  # DuckDB's date functions: written for PostgreSQL below
    with psycopg.connect(dsn, autocommit=True) as con:
        for statement in [*statements, MONTHLY_ROWS]:
            con.execute(statement)
    return dsn


def outcome(result: ExpectationResult) -> tuple[Any, ...]:
    return result.expectation.kind, result.status, result.unexpected_count


@pytest.mark.parametrize(("schema", "table", "items"), SUITES, ids=[s[1] for s in SUITES])
def test_each_check_ends_as_on_duckdb(
    tmp_path: Path, checks_dsn: str, schema: str, table: str, items: list[dict[str, Any]]
) -> None:
    con = duckdb.connect(str(tmp_path / "reference.duckdb"))
    con.execute(LEADS_ROWS)
    expectations = checks(items, f"model {table}")
    on_duckdb = run_expectations(con, "reference.duckdb", schema, table, expectations)
    con.close()
    on_postgres = run_expectations(None, checks_dsn, schema, table, expectations, dialect="postgres")
    assert [outcome(r) for r in on_postgres] == [outcome(r) for r in on_duckdb]
    statuses = {r.status for r in on_postgres}
    assert "fail" in statuses and "pass" in statuses  # each suite has checks of both kinds
    crashed = [r for r in on_postgres if r.status == "error"]
    assert all("no_such_column" in (r.error or "") for r in crashed)  # the one deliberate crash, nothing else
