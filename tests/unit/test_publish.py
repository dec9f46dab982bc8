"""Builds never lose or half-write a published table: failures, kills and concurrent builds."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import duckdb
import pytest

from kpiframe.errors import ExpectationsFailed, KpiframeError, ProjectInvalid
from kpiframe.project import Project


def published(root) -> list[tuple]:
    con = duckdb.connect(str(root / "shop.duckdb"), read_only=True)
    try:
        return con.execute("select * from metrics.shop_monthly order by all").fetchall()
    finally:
        con.close()


def runs(root) -> list[tuple]:
    con = duckdb.connect(str(root / "shop.duckdb"), read_only=True)
    try:
        return con.execute(
            "select status, project_hash, rows_per_table from kpiframe.runs order by started_at"
        ).fetchall()
    finally:
        con.close()


def test_build_records_a_run_and_leaves_no_staging_tables(make_project):
    root = make_project()
    Project.load(root).build()
    status, project_hash, rows = runs(root)[-1]
    assert status == "success" and len(project_hash) == 16 and '"metrics.shop_monthly": ' in rows
    con = duckdb.connect(str(root / "shop.duckdb"), read_only=True)
    leftovers = con.execute("select table_name from information_schema.tables where table_name like '%kf_new'")
    assert leftovers.fetchall() == []


def test_failed_build_keeps_the_published_tables(make_project):
    root = make_project()
    Project.load(root).build()
    before = published(root)
    # a new model that fails at run time, after other nodes were already rebuilt
    (root / "models" / "zz_broken.sql").write_text("select cast('x' as integer) as n from {{ ref('stg_orders') }}")
    con = duckdb.connect(str(root / "shop.duckdb"))
    con.execute("insert into raw.orders values ('o9', 'c1', '2026-01-03', 1000, 'paid')")
    con.close()
    with pytest.raises(KpiframeError) as caught:
        Project.load(root).build()
    assert "model 'zz_broken' failed" in caught.value.render() and "nothing was published" in caught.value.render()
    assert published(root) == before  # the new order is not visible: nothing was swapped in
    assert runs(root)[-1][0] == "failed"


def test_killed_build_keeps_the_published_tables(make_project):
    root = make_project()
    Project.load(root).build()
    before = published(root)
    con = duckdb.connect(str(root / "shop.duckdb"))
    con.execute("insert into raw.orders values ('o9', 'c1', '2026-01-03', 1000, 'paid')")
    con.close()
    script = textwrap.dedent(f"""
        import os, signal
        from kpiframe.project import Project
        def die(warehouse, node, staging):
            if node.kind == "table":
                os.kill(os.getpid(), signal.SIGKILL)
        Project.load({str(root)!r}).build(check=die)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert done.returncode == -9
    assert published(root) == before
    Project.load(root).build()  # the next build cleans up and publishes the new order
    assert published(root) != before


def test_second_writer_gets_a_clear_message(make_project):
    root = make_project()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import duckdb, sys, time
        con = duckdb.connect({str(root / "shop.duckdb")!r})
        print('locked', flush=True)
        time.sleep(30)
    """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(KpiframeError) as caught:
            Project.load(root).build()
        assert caught.value.diagnostic.code == "KF502"
        assert f"a python process (pid {holder.pid}" in caught.value.render()  # the holder, named
    finally:
        holder.kill()
        holder.wait()


def test_raw_table_missing_a_contract_column(make_project):
    root = make_project()
    con = duckdb.connect(str(root / "shop.duckdb"))
    con.execute("alter table raw.customers drop column region")
    con.close()
    with pytest.raises(ProjectInvalid) as caught:
        Project.load(root).build()
    assert "error[KF511]: source table raw.customers lacks column(s) region" in caught.value.render()


def test_missing_warehouse_file_for_a_query(make_project, tmp_path):
    root = make_project(rows=False)
    with pytest.raises(KpiframeError) as caught:
        Project.load(root, warehouse=str(tmp_path / "nope.duckdb")).query(metrics=["orders"])
    assert caught.value.diagnostic.code == "KF501"


def test_raw_column_of_the_wrong_type(make_project):
    root = make_project(
        {
            "models/sources.yml": """
        sources:
          - name: raw
            schema: raw
            tables:
              - name: orders
                columns: [order_id, customer_id, {name: ordered_at, type: TIMESTAMP}, amount, status]
              - name: customers
                columns: [customer_id, {name: region, type: VARCHAR}]
    """
        }
    )
    con = duckdb.connect(str(root / "shop.duckdb"))
    con.execute("alter table raw.orders alter ordered_at type varchar")
    con.close()
    with pytest.raises(ProjectInvalid) as caught:
        Project.load(root).build()
    assert (
        "error[KF512]: raw.orders.ordered_at is VARCHAR in the warehouse, the contract says TIMESTAMP"
        in caught.value.render()
    )


def test_read_only_warehouse_file(make_project):
    root = make_project()
    path = root / "shop.duckdb"
    # root ignores file modes, so as root the file is made immutable instead
    as_root = os.geteuid() == 0
    subprocess.run(["chattr", "+i", str(path)], check=True) if as_root else path.chmod(0o444)
    try:
        with pytest.raises(KpiframeError) as caught:
            Project.load(root).build()
        assert caught.value.diagnostic.code == "KF502"
        assert "read-only" in caught.value.render()
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True) if as_root else path.chmod(0o644)


def test_a_failed_model_check_stops_the_build_before_anything_downstream_is_built(make_project):
    checked = """
        models:
          - name: stg_orders
            expectations:
              - {between: {column: amount, max: 1000}}
    """
    root = make_project({"models/stg_orders.yml": checked})
    Project.load(root).build()
    before = published(root)
    con = duckdb.connect(str(root / "shop.duckdb"))
    con.execute("insert into raw.orders values ('o9', 'c1', '2026-01-03', 5000, 'paid')")
    con.close()
    project = Project.load(root)
    started: list[str] = []
    with pytest.raises(ExpectationsFailed):
        project.build(progress=lambda name, index, total: started.append(name))
    downstream = {"order_cents", "shop_monthly"}
    assert "stg_orders" in started and downstream.isdisjoint(started[started.index("stg_orders") + 1 :])
    assert started[-1] == "stg_orders"  # nothing was built after the failed check
    [failed] = [r for r in project.last_expectation_results if not r.success]
    assert failed.unexpected_count == 1 and failed.sample == [5000]
    assert published(root) == before and runs(root)[-1][0] == "failed"
