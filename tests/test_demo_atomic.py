"""`kpiframe demo` replaces raw.* all at once or not at all: a full disk, a kill -9 or an error in the middle
of a run leaves the tables of the previous run exactly as they were, and the next run succeeds.

The raw tables are counted with SQL written here; real DuckDB files in tmp_path; the CLI runs in a
subprocess where a real process is needed (file-size limit, SIGKILL).
"""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import duckdb
import pytest
from click.testing import CliRunner

from kpiframe.cli import main
from kpiframe.demo import generate_demo

TABLES = ("ad_spend", "web_sessions", "leads", "lead_activities", "email_sends", "lead_status_changes", "opportunities")
SMALL = ["--seed", "7", "--scale", "0.02"]
# the subprocess runs the real CLI, but blocks forever right after it reports a given table: the test then
# kills it with SIGKILL at a known point in the middle of the run
BLOCKING_CLI = """
import sys, threading, click
marker = sys.argv.pop(1)
echo = click.echo
def blocking_echo(message=None, *args, **kwargs):
    echo(message, *args, **kwargs)
    if message is not None and str(message).strip().startswith(marker):
        threading.Event().wait()
click.echo = blocking_echo
from kpiframe.cli import main
main(prog_name="kpiframe")
"""


def make_project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "kpi_project.yml").write_text("name: atomic\nwarehouse: {path: w.duckdb}\n")
    return root


def kpiframe_cli(root: Path, *args: str, preexec: Callable[[], None] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kpiframe.cli.main_entry", *args, "--project-dir", str(root)],
        capture_output=True,
        text=True,
        preexec_fn=preexec,
        timeout=600,
    )


def raw_counts(path: Path) -> dict[str, int]:
    """count(*) of every raw table, and the names of all tables of schema raw (leftovers included)."""
    with duckdb.connect(str(path), read_only=True) as con:
        counts = {}
        for table in TABLES:
            row = con.execute(f'SELECT count(*) FROM raw."{table}"').fetchone()
            assert row is not None
            counts[table] = row[0]
    return counts


def raw_table_names(path: Path) -> set[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'raw'").fetchall()
    return {r[0] for r in rows}


def first_demo(root: Path) -> dict[str, int]:
    done = kpiframe_cli(root, "demo", *SMALL)
    assert done.returncode == 0, done.stderr
    counts = raw_counts(root / "w.duckdb")
    assert all(n > 0 for n in counts.values()), counts
    return counts


def limit_file_size(limit: int) -> Callable[[], None]:
    def apply() -> None:
        # ignored, SIGXFSZ no longer kills the process: write() past the limit fails with EFBIG instead
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_disk_full_leaves_raw_tables_as_they_were(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    before = first_demo(root)
    warehouse = root / "w.duckdb"
    # room for a few MB more: a run at 100 times the scale (about 400,000 sessions) does not fit
    limit = warehouse.stat().st_size + 3 * 2**20
    done = kpiframe_cli(root, "demo", "--seed", "7", "--scale", "2", preexec=limit_file_size(limit))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "error[KF520]" in done.stderr, done.stderr
    assert str(warehouse) in done.stderr
    assert "hint:" in done.stderr and "--scale" in done.stderr
    assert "Traceback" not in done.stderr and "KF999" not in done.stderr
    assert raw_counts(warehouse) == before
    # once there is room again, a run succeeds and removes what the failed one left behind
    assert kpiframe_cli(root, "demo", *SMALL).returncode == 0
    assert raw_counts(warehouse) == before
    assert raw_table_names(warehouse) == set(TABLES)


def test_kill_9_in_the_middle_leaves_raw_tables_and_the_next_run_succeeds(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    before = first_demo(root)
    warehouse = root / "w.duckdb"
    command = [
        sys.executable,
        "-c",
        BLOCKING_CLI,
        "leads:",
        "demo",
        "--seed",
        "8",
        "--scale",
        "0.03",
        "--project-dir",
        str(root),
    ]
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True) as run:
        assert run.stderr is not None
        seen = []
        for line in run.stderr:  # ad_spend and web_sessions are written, leads reported: the run blocks
            seen.append(line)
            if line.strip().startswith("leads:"):
                break
        assert seen and seen[-1].strip().startswith("leads:"), "".join(seen)
        run.send_signal(signal.SIGKILL)
        run.wait()
    assert run.returncode == -signal.SIGKILL
    assert raw_counts(warehouse) == before
    leftovers = raw_table_names(warehouse) - set(TABLES)
    assert leftovers  # the killed run had staged tables beside the live ones...
    done = kpiframe_cli(root, "demo", *SMALL)
    assert done.returncode == 0, done.stderr
    assert raw_counts(warehouse) == before
    assert raw_table_names(warehouse) == set(TABLES)  # ...which the next run removed


def test_error_in_the_middle_of_generate_demo_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        generate_demo(con, seed=7, scale=0.02)
        before = {t: con.execute(f'SELECT count(*) FROM raw."{t}"').fetchone() for t in TABLES}

        def fail_after_leads(message: str) -> None:
            if message.startswith("email_sends:"):
                raise RuntimeError("injected")

        with pytest.raises(RuntimeError, match="injected"):
            generate_demo(con, seed=8, scale=0.05, progress=fail_after_leads)
        after = {t: con.execute(f'SELECT count(*) FROM raw."{t}"').fetchone() for t in TABLES}
        assert after == before
        names = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert names == set(TABLES)  # no staging table, no temporary table left
        # and the connection is still usable: a normal run replaces the tables
        counts = generate_demo(con, seed=8, scale=0.05)
        assert counts["web_sessions"] == con.execute("SELECT count(*) FROM raw.web_sessions").fetchone()[0]
        assert counts["web_sessions"] > before["web_sessions"][0]  # type: ignore[index]


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (duckdb.IOException('Could not write file "x": No space left on device'), "KF520"),
        (OSError(28, "No space left on device"), "KF520"),
        (duckdb.OutOfMemoryException("could not allocate block of size 256 KiB"), "KF521"),
    ],
)
def test_cli_reports_resource_errors_as_kf_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception, code: str
) -> None:
    root = make_project(tmp_path / "p")
    runner = CliRunner()
    assert runner.invoke(main, ["demo", *SMALL, "--project-dir", str(root)]).exit_code == 0
    before = raw_counts(root / "w.duckdb")
    echo = click.echo

    def failing_echo(message: Any = None, *args: Any, **kwargs: Any) -> None:
        echo(message, *args, **kwargs)
        if str(message).strip().startswith("lead_activities:"):
            raise error

    monkeypatch.setattr(click, "echo", failing_echo)
    result = runner.invoke(main, ["demo", "--seed", "9", "--scale", "0.03", "--project-dir", str(root)])
    monkeypatch.undo()
    assert result.exit_code == 1
    assert f"error[{code}]" in result.output
    assert str(root / "w.duckdb") in result.output
    assert "KF999" not in result.output
    assert raw_counts(root / "w.duckdb") == before
    assert raw_table_names(root / "w.duckdb") == set(TABLES)


def test_stale_staging_tables_do_not_survive_a_run(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA raw")
        # what a run killed before its swap leaves: a half-filled staging table of an older layout
        con.execute('CREATE TABLE raw."leads__kf_new" (x INTEGER)')
        con.execute('INSERT INTO raw."leads__kf_new" VALUES (1), (2)')
        counts = generate_demo(con, seed=7, scale=0.02)
        names = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert names == set(TABLES)
        leads = con.execute("SELECT count(*) FROM raw.leads").fetchone()
        assert leads is not None and leads[0] == counts["leads"] > 2


def test_failure_in_the_swap_itself_rolls_back_the_tables_already_swapped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kpiframe.demo import staging

    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        generate_demo(con, seed=7, scale=0.02)
        before = {t: con.execute(f'SELECT count(*) FROM raw."{t}"').fetchone() for t in TABLES}
        drop = staging._drop

        def drop_fails_on_the_last_table(con: duckdb.DuckDBPyConnection, name: str) -> None:
            if name == "opportunities":  # live tables are dropped only by the swap, this one last
                raise duckdb.IOException('Could not write file "w.duckdb.wal": No space left on device')
            drop(con, name)

        monkeypatch.setattr(staging, "_drop", drop_fails_on_the_last_table)
        with pytest.raises(duckdb.IOException):
            generate_demo(con, seed=8, scale=0.05)
        monkeypatch.undo()
        # the six tables dropped and renamed before the failure are back, with their old rows
        assert {t: con.execute(f'SELECT count(*) FROM raw."{t}"').fetchone() for t in TABLES} == before
        names = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert names == set(TABLES)
