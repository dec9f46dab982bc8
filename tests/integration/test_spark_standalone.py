"""A small project on a real Spark standalone cluster (`--warehouse spark:spark://host:port`), started here on
loopback from pyspark's own launcher: one Master and one Worker (one core), each a `spark-class` process.

kpiframe's driver runs in the CLI process (client mode) and its executors on the Worker; the warehouse
folder is a folder of this test, which the driver and the Worker (same machine) both read and write, and
the Hive metastore is kpiframe's embedded Derby in it. The raw rows are loaded by a short Spark local
script, as a user's own pipeline would (run while the cluster starts), and the published table and a
`kpiframe query` answer are checked against SQL written here and run by DuckDB on the same raw rows (the
published table as the Parquet files of the one version its view reads, read by DuckDB).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyspark
import pytest

from tests.conftest import write_files
from tests.integration.test_spark import same, sorted_rows

pytestmark = [pytest.mark.slow, pytest.mark.spark]

ORDERS = [  # order_id, ordered_at, amount, status, channel; 'test' orders are dropped by the model
    ("o1", datetime(2026, 1, 1, 10), Decimal("100.00"), "paid", "web"),
    ("o2", datetime(2026, 1, 2, 11), Decimal("50.00"), "refunded", "web"),
    ("o3", datetime(2026, 1, 5, 9), Decimal("30.00"), "paid", "store"),
    ("o4", datetime(2026, 2, 1), Decimal("70.00"), "refunded", "store"),
    ("o5", datetime(2026, 2, 3, 8), Decimal("20.00"), "paid", "web"),
    ("o6", datetime(2026, 3, 31, 23, 59), Decimal("10.00"), "paid", "web"),
    ("o7", datetime(2026, 4, 1), Decimal("40.00"), "paid", "store"),
    ("o8", datetime(2026, 4, 2), Decimal("99.00"), "test", "web"),
    ("o9", datetime(2026, 5, 20, 12), Decimal("5.50"), "refunded", "store"),
]

# The driver binds to and advertises loopback, where the Worker's executors call it back; one small
# executor fits the Worker's 1 GB.
PROJECT = {
    "kpi_project.yml": """
        name: tiny
        warehouse:
          type: spark
          warehouse_dir: warehouse
          conf:
            spark.driver.host: 127.0.0.1
            spark.driver.bindAddress: 127.0.0.1
            spark.executor.memory: 512m
            spark.cores.max: "1"
    """,
    "models/sources.yml": """
        sources:
          - name: raw
            schema: raw
            tables:
              - name: orders
                columns: [order_id, {name: ordered_at, type: TIMESTAMP}, {name: amount, type: "DECIMAL(10,2)"},
                          status, channel]
    """,
    "models/stg_orders.sql": "select * from {{ source('raw', 'orders') }} where status <> 'test'",
    "metrics/tiny.yml": """
        datasets:
          - name: orders
            model: stg_orders
            time: ordered_at
            entities:
              - {name: order, type: primary, expr: order_id}
            dimensions:
              - {name: channel}
              - {name: status}
            measures:
              - {name: order_count, agg: count, expr: order_id}
              - {name: revenue_sum, agg: sum, expr: amount}
        metrics:
          - {name: orders, measure: order_count}
          - {name: revenue, measure: revenue_sum}
          - {name: paid_orders, measure: order_count, filter: "status = 'paid'"}
          - {name: paid_share, type: ratio, numerator: paid_orders, denominator: orders}
        tables:
          - {name: orders_monthly, grain: month, metrics: [orders, revenue, paid_share], dimensions: [order__channel]}
    """,
}

# The raw rows are loaded by Spark local in a process of its own (this test process may hold a local session
# already, test_spark.py), into the project's own warehouse folder and metastore.
LOAD = textwrap.dedent("""
    import sys
    from kpiframe.project import Project

    root, parquet = sys.argv[1:3]
    session = Project.load(root, warehouse="spark:local[1]").connect().session
    session.sql("CREATE DATABASE IF NOT EXISTS raw")
    session.read.parquet(parquet).write.format("parquet").saveAsTable("raw.orders")
    print(session.table("raw.orders").count())
""")

# By hand: every month from the first to the last kept order, for every channel with a kept order.
HAND_MONTHLY = """
    with kept as (select * from orders where status <> 'test'),
    months as (
        select unnest(generate_series(date_trunc('month', min(ordered_at)), date_trunc('month', max(ordered_at)),
                                      interval 1 month))::date as period_start
        from kept
    ),
    channels as (select distinct channel from kept)
    select m.period_start, c.channel, count(k.order_id), coalesce(sum(k.amount), 0),
           count(k.order_id) filter (where k.status = 'paid') / nullif(count(k.order_id), 0)
    from months m cross join channels c
    left join kept k on date_trunc('month', k.ordered_at) = m.period_start and k.channel = c.channel
    group by m.period_start, c.channel
"""
HAND_QUARTERLY = """
    select date_trunc('quarter', ordered_at)::date, sum(amount),
           count(*) filter (where status = 'paid') / count(*)
    from orders where status <> 'test' group by 1 order by 1
"""


# Every JVM here runs for seconds on a few rows: without the optimizing JIT compiler and with one GC thread,
# the test takes half the CPU time (2 cores). The cluster's executors inherit it from the Worker.
JVM_ENV = {"JAVA_TOOL_OPTIONS": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"}


def environment(**extra: str) -> dict[str, str]:
    """This process's environment for a Spark process, without SPARK_LOCAL_IP: the kpiframe driver's
    loopback address comes from the project's conf."""
    return {**{k: v for k, v in os.environ.items() if k != "SPARK_LOCAL_IP"}, **JVM_ENV, **extra}


@dataclass
class Cluster:
    master: str  # spark://127.0.0.1:<port>
    web: str  # the Master's web UI, whose /json/ lists the workers and applications
    work_dir: Path  # the Worker's: a folder per application, one per executor, with its stderr

    def state(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.web}/json/", timeout=10) as answer:
            return dict(json.load(answer))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stop(process: subprocess.Popen[bytes]) -> None:
    """The daemon and what it started (the Worker's executors), by the process group it leads."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    with contextlib.suppress(ProcessLookupError):  # an executor that outlived its Worker
        os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A Master and one Worker (1 core, 1 GB) on free loopback ports, with their logs and work folders here."""
    home = Path(pyspark.__file__).parent
    folder = tmp_path_factory.mktemp("standalone")
    work_dir, logs, local = folder / "work", folder / "logs", folder / "local"
    for path in (work_dir, logs, local):
        path.mkdir()
    port, web_port, worker_port, worker_web = (free_port() for _ in range(4))
    env = environment(
        SPARK_HOME=str(home),
        SPARK_LOCAL_IP="127.0.0.1",
        SPARK_LOG_DIR=str(logs),
        SPARK_WORKER_DIR=str(work_dir),
        SPARK_LOCAL_DIRS=str(local),  # the executors' scratch space
    )
    deploy = "org.apache.spark.deploy"
    commands = {
        "master": [
            f"{deploy}.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            str(web_port),
        ],
        "worker": [
            f"{deploy}.worker.Worker",
            f"spark://127.0.0.1:{port}",
            *("--host", "127.0.0.1", "--port", str(worker_port), "--webui-port", str(worker_web)),
            *("--cores", "1", "--memory", "1g", "--work-dir", str(work_dir)),
        ],
    }
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, args in commands.items():  # the Worker retries until the Master listens
            with (logs / f"{name}.log").open("wb") as log:
                processes[name] = subprocess.Popen(
                    [str(home / "bin" / "spark-class"), *args],
                    cwd=folder,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: stopped with its executors
                )
        found = Cluster(f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{web_port}", work_dir)
        deadline = time.monotonic() + 180
        while True:
            for name, process in processes.items():
                assert process.poll() is None, f"the {name} stopped: " + (logs / f"{name}.log").read_text()[-3000:]
            try:
                if found.state().get("aliveworkers") == 1:
                    break
            except (OSError, ValueError):  # the Master's web UI is not up yet, or answers an empty page
                pass
            assert time.monotonic() < deadline, "no worker registered with the master within 180 s"
            time.sleep(0.5)
        yield found
    finally:
        for process in reversed(processes.values()):
            stop(process)


def ran_on_the_worker(cluster: Cluster) -> int:
    """How many kpiframe applications the cluster ran to the end, each with tasks run by its executor on the
    Worker (whose log is in the Worker's folder); none is running (the Master sees a driver go within
    seconds of the kpiframe command's end)."""
    deadline = time.monotonic() + 60
    while (state := cluster.state())["activeapps"]:
        assert time.monotonic() < deadline, state["activeapps"]
        time.sleep(0.5)
    apps = state["completedapps"]
    for app in apps:
        assert (app["name"], app["state"], app["cores"]) == ("kpiframe", "FINISHED", 1), app
        logs = [path.read_text() for path in (cluster.work_dir / app["id"]).glob("*/stderr")]
        assert any("Running task" in log for log in logs), app["id"]
    return len(apps)


def kpiframe(root: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "kpiframe.cli.main_entry", *args, "--project-dir", str(root)],
        capture_output=True,
        text=True,
        timeout=600,
        env=environment(),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def finished(process: subprocess.Popen[str]) -> str:
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, out + err
    return out.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def raw_rows() -> Iterator[duckdb.DuckDBPyConnection]:
    """The raw rows in DuckDB, where the hand-written SQL runs."""
    con = duckdb.connect()
    con.execute(
        "create table orders (order_id varchar, ordered_at timestamp, amount decimal(10,2), status varchar, "
        "channel varchar)"
    )
    con.executemany("insert into orders values (?, ?, ?, ?, ?)", ORDERS)
    yield con
    con.close()


@pytest.fixture(scope="module")
def project(
    tmp_path_factory: pytest.TempPathFactory, raw_rows: duckdb.DuckDBPyConnection
) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """The project, and the process loading its raw.orders (Spark local, from Parquet DuckDB wrote): started
    before the cluster, so that the two start together."""
    root = write_files(tmp_path_factory.mktemp("tiny"), PROJECT)
    parquet = root / "orders.parquet"
    raw_rows.execute("copy orders to ? (format parquet)", [str(parquet)])
    loading = subprocess.Popen(
        [sys.executable, "-c", LOAD, str(root), str(parquet)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(),
    )
    try:
        yield root, loading
    finally:
        if loading.poll() is None:
            loading.kill()
            loading.communicate()


@pytest.fixture(scope="module")
def built(project: tuple[Path, subprocess.Popen[str]], cluster: Cluster) -> tuple[Path, str]:
    root, loading = project
    assert finished(loading) == str(len(ORDERS))
    warehouse = f"spark:{cluster.master}"
    kpiframe(root, "build", "--warehouse", warehouse)
    return root, warehouse


def test_a_build_on_a_standalone_cluster_publishes_the_hand_computed_rows(
    built: tuple[Path, str], cluster: Cluster, raw_rows: duckdb.DuckDBPyConnection
) -> None:
    root, _ = built
    # The published view reads one version, the only one after one build: its Parquet files, which the
    # executor on the Worker wrote into the warehouse folder, read here by DuckDB (no third Spark start).
    (version,) = (root / "warehouse" / "metrics.db").glob("orders_monthly__kf_v*")
    seen = raw_rows.execute("select * from read_parquet(?)", [str(version / "*.parquet")])
    columns, published = [d[0] for d in seen.description or []], sorted_rows(seen.fetchall())
    assert columns == ["period_start", "order__channel", "orders", "revenue", "paid_share"]
    expected = sorted_rows(raw_rows.execute(HAND_MONTHLY).fetchall())
    assert len(expected) == 10 and same(published, expected)
    assert ran_on_the_worker(cluster) >= 1  # the build (the rows were loaded by Spark local)


def test_a_query_on_a_standalone_cluster_answers_the_hand_computed_values(
    built: tuple[Path, str], cluster: Cluster, raw_rows: duckdb.DuckDBPyConnection
) -> None:
    root, warehouse = built
    before = ran_on_the_worker(cluster)
    request = ["query", "--metric", "revenue", "--metric", "paid_share", "--grain", "quarter", "--format", "json"]
    answer = json.loads(kpiframe(root, *request, "--warehouse", warehouse))
    got = sorted_rows([(row["period_start"], row["revenue"], row["paid_share"]) for row in answer])
    expected = sorted_rows(raw_rows.execute(HAND_QUARTERLY).fetchall())
    assert len(expected) == 2 and same(got, expected)
    assert ran_on_the_worker(cluster) == before + 1
