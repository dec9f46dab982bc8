"""The same project on a real PostgreSQL server (started here on loopback): build, publish, query.

Numbers are checked against SQL written by hand and run on the same server.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import psycopg  # a dev dependency: missing is a failure, not a skip
import pytest
import sqlglot

from kpiframe.errors import KpiframeError
from kpiframe.project import Project
from tests.conftest import SHOP_PROJECT, SHOP_ROWS, write_files


@pytest.fixture
def shop_on_postgres(tmp_path: Path, postgres_dsn: str) -> Iterator[Project]:
    config = textwrap.dedent(f"""
        name: shop
        warehouse: {{type: postgres, dsn: "{postgres_dsn}"}}
        calendar: {{week_start: sunday, fiscal_year_start_month: 4}}
        vars: {{big_order: 100}}
    """)
    root = write_files(tmp_path / "shop", {**SHOP_PROJECT, "kpi_project.yml": config})
    with psycopg.connect(postgres_dsn, autocommit=True) as con:
        for schema in ("raw", "analytics", "metrics", "kpiframe"):
            con.execute(f"drop schema if exists {schema} cascade")
        for statement in sqlglot.transpile(textwrap.dedent(SHOP_ROWS), read="duckdb", write="postgres"):
            con.execute(statement)
    yield Project.load(root)


def hand(dsn: str, sql: str) -> list[tuple]:
    with psycopg.connect(dsn) as con:
        return con.execute(sql).fetchall()


def test_build_publishes_and_queries_match_hand_sql(shop_on_postgres: Project, postgres_dsn: str) -> None:
    result = shop_on_postgres.build()
    # the time spine: every month from the first to the last (January to April, none missing) for
    # every region the orders have, NULL included
    assert result.rows["metrics.shop_monthly"] == len(
        hand(
            postgres_dsn,
            """
        with o as (select date_trunc('month', o.ordered_at) as m, c.region
                   from raw.orders o left join raw.customers c using (customer_id) where o.status <> 'test')
        select * from (select distinct m from o) months cross join (select distinct region from o) regions""",
        )
    )
    answer = shop_on_postgres.query(metrics=["orders", "revenue", "paid_share", "aov"], grain="month")
    expected = hand(
        postgres_dsn,
        """
        select cast(date_trunc('month', ordered_at) as date), count(*), sum(amount),
               count(*) filter (where status = 'paid')::float / count(*), sum(amount) / count(*)
        from raw.orders where status <> 'test' group by 1 order by 1""",
    )
    assert [(r[0], r[1], float(r[2]), r[3], float(r[4])) for r in answer.rows] == [
        (r[0], r[1], float(r[2]), r[3], float(r[4])) for r in expected
    ]
    runs = hand(postgres_dsn, "select status from kpiframe.runs")
    assert runs == [("success",)]


def test_windows_offsets_and_fiscal_grain_on_postgres(shop_on_postgres: Project, postgres_dsn: str) -> None:
    shop_on_postgres.build()
    ytd = shop_on_postgres.query(metrics=["revenue_ytd"], grain="month")
    expected = hand(
        postgres_dsn,
        """
        with m as (select cast(date_trunc('month', ordered_at) as date) as p, sum(amount) as r
                   from raw.orders where status <> 'test' group by 1)
        select p, sum(r) over (partition by date_trunc('year', p) order by p) from m order by 1""",
    )
    assert [(r[0], float(r[1])) for r in ytd.rows] == [(r[0], float(r[1])) for r in expected]
    growth = shop_on_postgres.query(metrics=["revenue", "revenue_growth"], grain="month", compare="previous")
    feb = next(r for r in growth.rows if str(r[0]) == "2026-02-01")
    assert (float(feb[1]), float(feb[2])) == (90.0, 180.0)
    fiscal = shop_on_postgres.query(metrics=["revenue"], grain="fiscal_year")
    assert [(str(r[0]), float(r[1])) for r in fiscal.rows] == [("2025-04-01", 280.0), ("2026-04-01", 40.0)]


def test_failed_build_keeps_published_tables_on_postgres(shop_on_postgres: Project, postgres_dsn: str) -> None:
    shop_on_postgres.build()
    before = hand(postgres_dsn, "select * from metrics.shop_monthly order by 1, 2")
    with psycopg.connect(postgres_dsn, autocommit=True) as con:
        con.execute("insert into raw.orders values ('o9', 'c1', '2026-01-03', 1000, 'paid')")
    (shop_on_postgres.root / "models" / "zz_broken.sql").write_text(
        "select cast('x' as integer) as n from {{ ref('stg_orders') }}"
    )
    with pytest.raises(KpiframeError):
        Project.load(shop_on_postgres.root).build()
    assert hand(postgres_dsn, "select * from metrics.shop_monthly order by 1, 2") == before
