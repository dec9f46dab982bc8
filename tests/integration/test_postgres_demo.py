"""`kpiframe demo` on a real PostgreSQL server replaces raw.* in one transaction: a failure at any point,
or a client killed with SIGKILL, leaves the tables of the previous run (counted here with hand SQL)."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import psycopg  # a dev dependency: missing is a failure, not a skip
import pytest
from click.testing import CliRunner

from kpiframe.cli import main
from tests.test_demo_atomic import BLOCKING_CLI, TABLES

SMALL = ["--seed", "7", "--scale", "0.02"]


@pytest.fixture
def demo_project(tmp_path: Path, postgres_dsn: str) -> Iterator[tuple[Path, str]]:
    with psycopg.connect(postgres_dsn, autocommit=True) as con:
        con.execute("drop database if exists kf_demo_atomic")
        con.execute("create database kf_demo_atomic")
    dsn = postgres_dsn.replace("dbname=postgres", "dbname=kf_demo_atomic")
    (tmp_path / "kpi_project.yml").write_text(f'name: atomic\nwarehouse: {{type: postgres, dsn: "{dsn}"}}\n')
    done = CliRunner().invoke(main, ["demo", *SMALL, "--project-dir", str(tmp_path)])
    assert done.exit_code == 0, done.output
    yield tmp_path, dsn


def raw_state(dsn: str) -> tuple[dict[str, int], set[str]]:
    """count(*) of every raw table, and the names of all tables of schema raw."""
    with psycopg.connect(dsn, autocommit=True) as con:
        counts = {t: con.execute(f'select count(*) from raw."{t}"').fetchone()[0] for t in TABLES}
        names = {
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'raw'"
            ).fetchall()
        }
    return counts, names


def test_error_during_the_copy_leaves_raw_tables(
    demo_project: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, dsn = demo_project
    before = raw_state(dsn)
    assert all(n > 0 for n in before[0].values()) and before[1] == set(TABLES)
    echo = click.echo

    def disk_full_after_leads(message: Any = None, *args: Any, **kwargs: Any) -> None:
        echo(message, *args, **kwargs)
        if str(message).strip() == "leads: copied to PostgreSQL":  # two tables copied, five to go
            raise psycopg.errors.DiskFull("could not extend file: No space left on device")

    monkeypatch.setattr(click, "echo", disk_full_after_leads)
    done = CliRunner().invoke(main, ["demo", "--seed", "8", "--scale", "0.03", "--project-dir", str(root)])
    monkeypatch.undo()
    assert done.exit_code == 1
    assert "error[KF520]" in done.output and "kf_demo_atomic" in done.output
    assert raw_state(dsn) == before


def test_failed_swap_of_the_last_table_restores_the_six_others(demo_project: tuple[Path, str]) -> None:
    root, dsn = demo_project
    with psycopg.connect(dsn, autocommit=True) as con:
        # PostgreSQL refuses to drop a table a view depends on: the swap fails on its last table
        con.execute("create view public.won as select * from raw.opportunities where is_won")
    before = raw_state(dsn)
    done = CliRunner().invoke(main, ["demo", "--seed", "8", "--scale", "0.03", "--project-dir", str(root)])
    assert done.exit_code == 1
    assert "error[KF503]" in done.output and "opportunities" in done.output
    assert "KF999" not in done.output
    assert raw_state(dsn) == before


def test_kill_9_during_the_copy_leaves_raw_tables_and_the_next_run_succeeds(demo_project: tuple[Path, str]) -> None:
    root, dsn = demo_project
    before = raw_state(dsn)
    command = [
        sys.executable,
        "-c",
        BLOCKING_CLI,
        "leads: copied",
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
        for line in run.stderr:  # blocks inside the transaction, with two staging tables filled
            seen.append(line)
            if line.strip().startswith("leads: copied"):
                break
        assert seen and seen[-1].strip().startswith("leads: copied"), "".join(seen)
        run.send_signal(signal.SIGKILL)
        run.wait()
    assert run.returncode == -signal.SIGKILL
    assert raw_state(dsn) == before
    done = CliRunner().invoke(main, ["demo", *SMALL, "--project-dir", str(root)])
    assert done.exit_code == 0, done.output
    assert raw_state(dsn) == before
