"""Builds on a shared PostgreSQL server: a second build at once, a BI session holding a table, a BI view on a
published table, and a build killed with kill -9. Real processes and sessions on a real server.

Each test gets a database of its own, so the build lock (keyed by project and database) and the tables
of one test never meet another's.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg  # a dev dependency: missing is a failure, not a skip
import pytest
import sqlglot

from kpiframe.project import Project
from tests.conftest import SHOP_PROJECT, SHOP_ROWS, write_files
from tests.unit.test_abandoned_builds import STAGED, kpiframe, paused_build

# the rows metrics.shop_monthly must hold, written by hand: every month from the first order to the last
# for every region the orders have (NULL included), test orders left out
SPINE = """
    with o as (select date_trunc('month', o.ordered_at) as m, c.region
               from raw.orders o left join raw.customers c using (customer_id) where o.status <> 'test')
    select count(*) from (select distinct m from o) months cross join (select distinct region from o) regions"""


@pytest.fixture
def shop(tmp_path: Path, postgres_dsn: str) -> Iterator[tuple[Path, str]]:
    database = f"kf_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as con:
        con.execute(f"create database {database}")
    dsn = postgres_dsn.replace("dbname=postgres", f"dbname={database}")
    config = f'name: shop\nwarehouse: {{type: postgres, dsn: "{dsn}"}}\n'
    root = write_files(tmp_path / "shop", {**SHOP_PROJECT, "kpi_project.yml": config})
    with psycopg.connect(dsn, autocommit=True) as con:
        for statement in sqlglot.transpile(textwrap.dedent(SHOP_ROWS), read="duckdb", write="postgres"):
            con.execute(statement)
    yield root, dsn
    with psycopg.connect(postgres_dsn, autocommit=True) as con:
        con.execute(f"drop database {database} with (force)")


def hand(dsn: str, sql: str) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True) as con:
        return con.execute(sql).fetchall()


def run(dsn: str, sql: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(sql)


def staging_tables(dsn: str) -> list[tuple]:
    return hand(
        dsn,
        "select table_schema, table_name from information_schema.tables "
        "where table_name like '%\\_\\_kf\\_new' order by 1, 2",
    )


def add_an_order(dsn: str) -> None:
    run(dsn, "insert into raw.orders values ('o9', 'c1', '2026-01-03', 1000, 'paid')")


def published(dsn: str) -> list[tuple]:
    return hand(dsn, "select * from metrics.shop_monthly order by 1, 2 nulls first")


def test_a_second_build_is_refused_and_leaves_the_running_build_alone(shop: tuple[Path, str]) -> None:
    root, dsn = shop
    first = paused_build("--project-dir", str(root))
    try:
        second = kpiframe("build", "--project-dir", str(root))
        assert second.returncode == 1
        assert (
            "error[KF530]: another build of project 'shop' is running on this database: "
            f"pid {first.pid} on host {socket.gethostname()}, run " in second.stderr
        )
        assert " started at " in second.stderr and "nothing was built" in second.stderr
        assert staging_tables(dsn) == STAGED  # the second build dropped none of the first one's tables
    finally:
        out, err = first.communicate("go\n", timeout=600)
    assert first.returncode == 0, err
    assert hand(dsn, "select status from kpiframe.runs") == [("success",)]
    assert hand(dsn, "select count(*) from metrics.shop_monthly") == hand(dsn, SPINE)
    assert staging_tables(dsn) == []


def test_wait_queues_behind_the_running_build(shop: tuple[Path, str]) -> None:
    root, dsn = shop
    first = paused_build("--project-dir", str(root))
    second = subprocess.Popen(
        [sys.executable, "-m", "kpiframe.cli.main_entry", "build", "--project-dir", str(root), "--wait", "300"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert second.stderr is not None
        waiting = second.stderr.readline()
        assert waiting.startswith("waiting up to 300s for another build of project 'shop': ")
        assert f"pid {first.pid} on host" in waiting
    finally:
        first.communicate("go\n", timeout=600)
        out, err = second.communicate(timeout=600)
    assert (first.returncode, second.returncode) == (0, 0), err
    [first_done] = hand(dsn, f"select finished_at from kpiframe.runs where pid = {first.pid}")
    [second_started] = hand(dsn, f"select started_at from kpiframe.runs where pid = {second.pid}")
    assert first_done <= second_started  # the second build began only once the first had published
    assert hand(dsn, "select status from kpiframe.runs") == [("success",), ("success",)]


def test_a_session_idle_in_a_transaction_stops_the_swap_and_is_named(shop: tuple[Path, str]) -> None:
    root, dsn = shop
    Project.load(root).build()
    before = published(dsn)
    add_an_order(dsn)
    with psycopg.connect(dsn, application_name="bi-dashboard") as bi:
        bi.execute("select count(*) from metrics.shop_monthly").fetchall()  # its transaction stays open
        done = kpiframe("build", "--project-dir", str(root), "--lock-timeout", "1")
        assert done.returncode == 1
        assert (
            "error[KF531]: publishing waited 1s for a lock on metrics.shop_monthly and gave up; it is held "
            f"by session pid {bi.info.backend_pid} (application 'bi-dashboard', client 127.0.0.1, "
            "state 'idle in transaction', transaction started " in done.stderr
        )
        assert "holding AccessShareLock). Nothing was published" in done.stderr
        bi.rollback()
    assert published(dsn) == before  # the new order is not published, and no table went missing
    assert staging_tables(dsn) == []
    assert hand(dsn, "select status from kpiframe.runs order by started_at") == [("success",), ("failed",)]


def test_a_view_reading_a_published_table_is_named(shop: tuple[Path, str]) -> None:
    root, dsn = shop
    Project.load(root).build()
    before = published(dsn)
    run(dsn, "create schema bi; create view bi.revenue_view as select * from metrics.shop_monthly")
    add_an_order(dsn)
    done = kpiframe("build", "--project-dir", str(root))
    assert done.returncode == 1
    assert (
        "error[KF532]: cannot publish metrics.shop_monthly: view bi.revenue_view reads it, so PostgreSQL "
        "refuses to replace it. Nothing was published" in done.stderr
    )
    assert "Drop the view, build, then create it again" in done.stderr
    assert published(dsn) == before and staging_tables(dsn) == []
    # the documented way round: drop the view, build, create it again
    run(dsn, "drop view bi.revenue_view")
    assert kpiframe("build", "--project-dir", str(root)).returncode == 0
    run(dsn, "create view bi.revenue_view as select * from metrics.shop_monthly")
    assert hand(dsn, "select count(*) from bi.revenue_view") == hand(dsn, SPINE)


def test_view_models_reading_table_models_are_replaced_by_every_build(shop: tuple[Path, str]) -> None:
    root, dsn = shop
    write_files(
        root,
        {
            "models/paid_orders.sql": "select * from {{ ref('order_cents') }} where cents >= 3000",
            "models/big_paid_orders.sql": "select * from {{ ref('paid_orders') }} where cents >= 5000",
            "models/views.yml": """
            models:
              - {name: paid_orders, materialized: view}
              - {name: big_paid_orders, materialized: view}
        """,
        },
    )
    Project.load(root).build()
    add_an_order(dsn)
    Project.load(root).build()  # replaces order_cents, which two kpiframe views read
    assert hand(dsn, "select count(*) from analytics.big_paid_orders") == hand(
        dsn, "select count(*) from raw.orders where status <> 'test' and amount * 100 >= 5000"
    )
    kinds = hand(
        dsn,
        "select table_name, table_type from information_schema.tables where table_schema = "
        "'analytics' and table_name like '%paid%' order by 1",
    )
    assert kinds == [("big_paid_orders", "VIEW"), ("paid_orders", "VIEW")]


def test_the_next_build_cleans_up_after_a_killed_build(shop: tuple[Path, str]) -> None:
    root, dsn = shop
    Project.load(root).build()
    killed = paused_build("--project-dir", str(root))
    killed.send_signal(signal.SIGKILL)
    killed.communicate()
    assert killed.returncode == -signal.SIGKILL
    [(run_id, pid)] = hand(dsn, "select run_id, pid from kpiframe.runs where status = 'running'")
    assert pid == killed.pid and staging_tables(dsn) == STAGED
    # --wait: the server may not have noticed yet that the killed build's session is gone
    done = kpiframe("build", "--project-dir", str(root), "--select", "stg_orders", "--wait", "300")
    assert done.returncode == 0, done.stderr
    [line] = [line for line in done.stderr.splitlines() if "abandoned" in line]
    assert f"marked run {run_id} (started " in line and f"by pid {killed.pid} on {socket.gethostname()})" in line
    assert "dropped 4 leftover staging table(s): " in line
    assert staging_tables(dsn) == []
    assert hand(dsn, f"select status, finished_at is not null from kpiframe.runs where run_id = '{run_id}'") == [
        ("abandoned", True)
    ]
