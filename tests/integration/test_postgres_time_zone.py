"""On a real PostgreSQL server whose sessions default to another zone (a DSN with
`options=-c TimeZone=Asia/Tokyo`, as a server configured in Tokyo), kpiframe still counts days and months
in the project's time zone (UTC here): its sessions, Great Expectations' included, are set to it."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from kpiframe.project import Project
from tests.conftest import write_files
from tests.unit.test_time_zone import FILES

ROWS = """
    create schema raw;
    create table raw.signups (signup_id varchar, signed_up_at timestamptz);
    insert into raw.signups values
      ('a', '2026-01-31 23:30:00+00'), ('b', '2026-02-01 00:30:00+00'), ('c', '2026-02-01 06:00:00+00'),
      ('d', '2026-02-28 20:00:00+00');
"""
MONTHS = "select date_trunc('month', signed_up_at)::date, count(*) from raw.signups group by 1 order by 1"


@pytest.fixture
def tokyo_dsn(postgres_dsn: str) -> str:
    with psycopg.connect(postgres_dsn, autocommit=True) as con:
        con.execute("drop database if exists kf_zones")
        con.execute("create database kf_zones")
    dsn = postgres_dsn.replace("dbname=postgres", "dbname=kf_zones") + " options='-c TimeZone=Asia/Tokyo'"
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(ROWS)
    return dsn


def hand(dsn: str, zone: str | None) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True) as con:
        if zone:
            con.execute(f"set TimeZone = '{zone}'")
        return con.execute(MONTHS).fetchall()


def test_a_server_in_another_zone_changes_no_number(tmp_path: Path, tokyo_dsn: str):
    utc, tokyo = hand(tokyo_dsn, "UTC"), hand(tokyo_dsn, None)
    assert utc != tokyo  # the server's own zone would move rows into other months
    files = {**FILES, "metrics/tests.yml": "metric_tests: []\n"}
    files["models/sources.yml"] = files["models/sources.yml"].replace(
        "columns: [signup_id, {name: signed_up_at, type: TIMESTAMP WITH TIME ZONE}]",
        "columns: [signup_id, {name: signed_up_at, type: TIMESTAMP WITH TIME ZONE}]\n"
        "                expectations:\n"
        "                  - {dates_between: {column: signed_up_at, min: 2026-02-01}, severity: warn}",
    )
    root = write_files(tmp_path / "zones", files)
    project = Project.load(root, warehouse=tokyo_dsn)
    project.build()
    assert project.query(metrics=["signups"], grain="month").rows == utc
    with psycopg.connect(tokyo_dsn, autocommit=True) as con:
        published = con.execute("select period_start, signups from metrics.signups_monthly order by 1").fetchall()
    assert published == utc
    # January 31st 23:30 UTC is before the range's first day in UTC (in Tokyo it is February 1st): GX's
    # own connection counts days in the project's zone too
    checked = [r for r in project.last_expectation_results if r.expectation.kind == "dates_between"]
    assert [(r.success, r.unexpected_count) for r in checked] == [(False, 1)]
