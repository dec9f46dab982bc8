"""No code from the network: kpiframe's DuckDB never installs or loads an extension, refuses files that are
not DuckDB databases, and names who holds a locked warehouse file."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest
import sqlglot
from click.testing import CliRunner

from kpiframe.cli import main
from kpiframe.engine.duckdb import DuckDBWarehouse
from kpiframe.engine.lock_holder import holder_hint
from kpiframe.errors import KpiframeError
from kpiframe.load.specs import WarehouseSpec
from kpiframe.project import Project


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def sqlite_file(path: Path) -> Path:
    con = sqlite3.connect(path)
    con.execute("create table orders (order_id text, amount real)")
    con.execute("insert into orders values ('o1', 10.0)")
    con.commit()
    con.close()
    return path


@pytest.mark.parametrize("command", [["query", "--metric", "orders"], ["build"]])
def test_a_sqlite_file_as_warehouse_is_refused_without_loading_an_extension(make_project, tmp_path, command):
    root = make_project()
    other = sqlite_file(tmp_path / "crm.sqlite")
    before = other.read_bytes()
    code, _, err = run(*command, "--project-dir", str(root), "--warehouse", str(other))
    assert code == 1 and "Traceback" not in err
    assert f"error[KF505]: warehouse {other} is not a DuckDB database file (it is a SQLite database)" in err
    assert "hint: point --warehouse" in err
    # before the fix DuckDB went for the sqlite extension: "Failed to download extension" (or "Install it first")
    assert "extension" not in err.split("hint:")[0].lower()
    assert other.read_bytes() == before


def test_a_text_file_as_warehouse_is_refused(tmp_path):
    text = tmp_path / "notes.duckdb"
    text.write_text("name,amount\no1,10\n")
    with pytest.raises(KpiframeError) as caught:
        DuckDBWarehouse(WarehouseSpec(path=str(text)))
    assert caught.value.diagnostic.code == "KF505"
    assert f"warehouse {text} is not a DuckDB database file" in caught.value.render()


def settings(warehouse: DuckDBWarehouse, *names: str) -> tuple[object, ...]:
    query = "select " + ", ".join(f"current_setting('{name}')" for name in names)
    row = warehouse.con.execute(query).fetchone()
    assert row is not None
    return tuple(row)


def test_extension_autoinstall_and_autoload_are_off_and_locked(tmp_path):
    warehouse = DuckDBWarehouse(WarehouseSpec(path=str(tmp_path / "w.duckdb"), threads=2))
    try:
        assert settings(
            warehouse, "autoinstall_known_extensions", "autoload_known_extensions", "lock_configuration", "threads"
        ) == (False, False, True, 2)
        with pytest.raises(duckdb.Error, match="configuration has been locked"):
            warehouse.con.execute("set autoload_known_extensions = true")
        # GX's cursors set their search_path on the shared connection: still allowed under the lock
        warehouse.con.cursor().execute("set search_path = 'main'")
        assert settings(warehouse, "autoload_known_extensions") == (False,)
    finally:
        warehouse.close()


def test_a_remote_file_in_sql_does_not_fetch_httpfs(tmp_path):
    warehouse = DuckDBWarehouse(WarehouseSpec(path=":memory:"))
    remote = sqlglot.parse_one("select * from read_parquet('https://example.invalid/x.parquet')", read="duckdb")
    try:
        with pytest.raises(KpiframeError) as caught:
            warehouse.query(remote)
    finally:
        warehouse.close()
    message = caught.value.render()
    assert caught.value.diagnostic.code == "KF503"
    assert "requires the extension httpfs to be loaded" in message
    # with autoinstall on DuckDB went for it: "An error occurred while trying to automatically install ..."
    assert "install" not in message.lower()


CHECKED_SOURCES = """
    sources:
      - name: raw
        schema: raw
        tables:
          - name: orders
            columns: [order_id, customer_id, {name: ordered_at, type: TIMESTAMP},
                      {name: amount, type: "DECIMAL(10,2)"}, status]
            expectations:
              - {not_null: order_id}
              - {matches_regex: {column: order_id, regex: "^o[0-9]+$"}}
              - {accepted_values: {column: status, values: [paid, refunded]}, severity: warn}
          - {name: customers, columns: [customer_id, region]}
"""


def test_expectations_run_on_the_locked_connection(make_project):
    root = make_project({"models/sources.yml": CHECKED_SOURCES})
    project = Project.load(root)
    project.build()
    by_name = {
        r.expectation.kind.removeprefix("expect_column_values_to_"): r
        for r in project.last_expectation_results
        if r.expectation.target.endswith("orders")
    }
    assert by_name["not_be_null"].success and by_name["match_regex"].success
    con = duckdb.connect(str(root / "shop.duckdb"), read_only=True)
    [(others,)] = con.execute("select count(*) from raw.orders where status not in ('paid', 'refunded')").fetchall()
    con.close()
    failed = by_name["be_in_set"]
    assert failed.error is None and not failed.success and failed.unexpected_count == others == 1


def hold(path: Path, argv_prefix: list[str]) -> subprocess.Popen[str]:
    """A real process that opens `path` read-write with DuckDB and keeps it until killed."""
    holder = subprocess.Popen([*argv_prefix], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


HOLD = textwrap.dedent("""
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[-1])
    print('locked', flush=True)
    time.sleep(60)
""")


def refused_open(path: Path) -> KpiframeError:
    with pytest.raises(KpiframeError) as caught:
        DuckDBWarehouse(WarehouseSpec(path=str(path)))
    assert caught.value.diagnostic.code == "KF502"
    return caught.value


def test_the_lock_hint_names_a_python_holder(tmp_path):
    path = tmp_path / "w.duckdb"
    holder = hold(path, [sys.executable, "-c", HOLD, str(path)])
    try:
        error = refused_open(path)
    finally:
        holder.kill()
        holder.wait()
    hint = error.diagnostic.hint or ""
    assert f"a python process (pid {holder.pid}, cmd: {sys.executable} -c import sys, time, duckdb" in hint
    assert "kpiframe build" not in hint


def test_the_lock_hint_names_a_kpiframe_build(tmp_path):
    # a console script called `kpiframe`, run as the installed one is: `python .../bin/kpiframe build ...`
    script = tmp_path / "bin" / "kpiframe"
    script.parent.mkdir()
    script.write_text(HOLD)
    path = tmp_path / "w.duckdb"
    holder = hold(path, [sys.executable, str(script), "build", "--project-dir", str(tmp_path), str(path)])
    try:
        error = refused_open(path)
    finally:
        holder.kill()
        holder.wait()
    assert error.diagnostic.hint == (
        f"a kpiframe build (pid {holder.pid}) is writing to it; wait for it to finish, then run again"
    )


def test_the_lock_hint_without_a_readable_holder(tmp_path):
    message = (
        'IO Error: Could not set lock on file "w.duckdb": Conflicting lock is held in /usr/bin/dbeaver '
        "(PID 4242). See also https://duckdb.org/docs/current/connect/concurrency"
    )
    # tmp_path stands in for a /proc without that process (it ended, or belongs to another user)
    assert holder_hint(message, proc=tmp_path) == (
        "another process (pid 4242, /usr/bin/dbeaver) has the file open; close it and run again"
    )
    assert "kpiframe build, a notebook or a BI tool" in holder_hint('Could not set lock on file "w.duckdb"')
