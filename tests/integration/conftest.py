"""Shared by the integration tests: a real PostgreSQL server started once per session on loopback, and the
example project built once per session on Apache Spark local (and on DuckDB beside it)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

PG_BIN = Path(shutil.which("pg_ctl") or "/usr/lib/postgresql/15/bin/pg_ctl").parent


def _as_postgres_user(args: list[str]) -> list[str]:
    # initdb and pg_ctl refuse to run as root
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    base = Path(tempfile.mkdtemp(prefix="kf-pg-", dir="/tmp"))
    base.chmod(0o777)
    data, port = base / "data", _free_port()
    subprocess.run(
        _as_postgres_user(
            [str(PG_BIN / "initdb"), "-D", str(data), "-U", "kpi", "--auth=trust", "-E", "UTF8", "--locale=C"]
        ),
        check=True,
        capture_output=True,
    )
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off"
    subprocess.run(
        _as_postgres_user(
            [str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-l", str(base / "log"), "start"]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield f"host=127.0.0.1 port={port} user=kpi dbname=postgres"
    finally:
        subprocess.run(
            _as_postgres_user([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]), capture_output=True
        )
        shutil.rmtree(base, ignore_errors=True)


# --- the example project on Spark, built once per session ---------------------------------------------
SPARK = "spark:local[2]"
# For the Spark JVMs that the tests start in processes of their own (killed builds, the Spark Connect
# server): a few small statements each, where the JIT's optimizing compiler and the parallel collector cost
# more CPU than they save (measured: half the CPU of the kill tests). Not for this process's long-lived
# session, whose heavy plan analysis (diff, metric tests) the optimizing compiler speeds up.
SHORT_JVM = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


def short_jvm_env() -> dict[str, str]:
    """This process's environment with SHORT_JVM added to the Spark driver's JVM options."""
    options = " ".join(filter(None, [os.environ.get("SPARK_SUBMIT_OPTS", ""), SHORT_JVM]))
    return {**os.environ, "SPARK_SUBMIT_OPTS": options}


@dataclass(frozen=True)
class SparkExample:
    """Two copies of the example project over the same raw rows, each built by `kpiframe build`: one on
    DuckDB, one on Spark. `raw_rows` holds those rows in an in-memory DuckDB, and `answers` what every
    acceptance case's check query answers over them (tests/acceptance/test_acceptance.py's check_answers)."""

    on_duckdb: Path
    on_spark: Path
    raw_rows: duckdb.DuckDBPyConnection
    answers: dict[str, Any]


def _cli(*args: str) -> None:
    from kpiframe.cli import main

    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="session")
def spark_example(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkExample]:
    """The example project on Spark (local[2], a Hive metastore in the project) and on DuckDB, for
    test_spark.py (the engines compared) and test_spark_acceptance.py (the acceptance cases on Spark).

    The raw rows are those of the DuckDB acceptance run: demo data (seed 7, scale 0.2) plus the edge rows of
    tests/fixtures/edge_rows.py. Each copy gets them as a user would, `kpiframe demo` (on Spark generated in
    DuckDB and loaded through Parquet), then the edge rows: inserted into the DuckDB file; on Spark the demo
    and edge rows together, loaded the way `kpiframe demo` loads them (load_raw_through_parquet). Then
    `kpiframe build` on each. Spark starts here, once per test process (one session per process, with this
    project's metastore): every Spark test in the process reads this build; the few that write put back
    what they change."""
    from kpiframe.demo.generator import generate_demo
    from kpiframe.demo.run import load_raw_through_parquet
    from kpiframe.engine import connect
    from kpiframe.project import Project
    from tests.acceptance.test_acceptance import DEMO_SCALE, DEMO_SEED, check_answers, edge_rows
    from tests.conftest import copy_example

    raw_rows = duckdb.connect()
    generate_demo(raw_rows, seed=DEMO_SEED, scale=DEMO_SCALE)
    edge_rows.insert_edge_rows(raw_rows)
    answers = check_answers(raw_rows)  # before any build: they can read raw.* only
    demo = ["demo", "--seed", str(DEMO_SEED), "--scale", str(DEMO_SCALE)]

    on_duckdb = copy_example(tmp_path_factory.mktemp("on_duckdb"))
    _cli(*demo, "--project-dir", str(on_duckdb))
    with duckdb.connect(str(on_duckdb / "warehouse.duckdb")) as con:
        edge_rows.insert_edge_rows(con)
    _cli("build", "--project-dir", str(on_duckdb))

    on_spark = copy_example(tmp_path_factory.mktemp("on_spark"))
    _cli(*demo, "--project-dir", str(on_spark), "--warehouse", SPARK)
    load_raw_through_parquet(raw_rows, connect(Project.load(on_spark, warehouse=SPARK).warehouse_spec))
    _cli("build", "--project-dir", str(on_spark), "--warehouse", SPARK)
    try:
        yield SparkExample(on_duckdb=on_duckdb, on_spark=on_spark, raw_rows=raw_rows, answers=answers)
    finally:
        raw_rows.close()
