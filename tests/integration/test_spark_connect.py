"""The example project over Spark Connect (`--warehouse spark:sc://host:port`), against a real Spark Connect
server started here on loopback from pyspark's own distribution.

The server owns the catalog and the tables (a Hive metastore in Derby and a warehouse folder of its own);
kpiframe is only its client. The same demo data is built on DuckDB, an independent engine running the SQL
kpiframe renders for it, and every published table must have the same rows. Every kpiframe command runs
in a process of its own: this test process may hold a classic local Spark session already (test_spark.py),
and a process has one kind of session.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyspark
import pytest

from tests.integration.conftest import short_jvm_env
from tests.integration.test_spark import copy_example, plain, same, sorted_rows

pytestmark = [pytest.mark.slow, pytest.mark.spark, pytest.mark.spark_extended]  # pytest -m spark_extended

DEMO = ["--seed", "3", "--scale", "0.02"]
SERVER = "org.apache.spark.sql.connect.service.SparkConnectServer"
READ_TABLES = """
import json, sys
from pyspark.sql import SparkSession
session = SparkSession.builder.remote(sys.argv[1]).getOrCreate()
tables = {t.name: [list(r) for r in session.table(f"metrics.{t.name}").collect()]
          for t in session.catalog.listTables("metrics") if "__kf_" not in t.name}
columns = {name: session.table(f"metrics.{name}").columns for name in tables}
print(json.dumps({"tables": tables, "columns": columns}, default=str))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def connect_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Spark Connect server on a free loopback port, with its own metastore and warehouse folder."""
    home = Path(pyspark.__file__).parent
    folder = tmp_path_factory.mktemp("connect-server")
    port = free_port()
    settings = {
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": str(port),
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": str(folder / "warehouse"),
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={folder / 'metastore'};create=true",
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "4",
        "spark.sql.session.timeZone": "UTC",
    }
    args = [str(home / "bin" / "spark-submit"), "--class", SERVER, "--master", "local[2]"]
    for key, value in settings.items():
        args += ["--conf", f"{key}={value}"]
    log = (folder / "server.log").open("w")
    server = subprocess.Popen(
        [*args, "spark-internal"], cwd=folder, env={**short_jvm_env(), "SPARK_HOME": str(home)}, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 240
        while not listening(port):
            assert server.poll() is None, (folder / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the Spark Connect server did not listen within 240 s"
            time.sleep(1)
        yield f"spark:sc://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def kpiframe(root: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "kpiframe.cli.main_entry", *args, "--project-dir", str(root)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def built(connect_url: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    on_duckdb = copy_example(tmp_path_factory.mktemp("duckdb"))
    on_connect = copy_example(tmp_path_factory.mktemp("connect"))
    for root, warehouse in ((on_duckdb, []), (on_connect, ["--warehouse", connect_url])):
        kpiframe(root, "demo", *DEMO, *warehouse)
        kpiframe(root, "build", *warehouse)
    return on_duckdb, on_connect


def test_every_published_table_has_the_same_rows_over_spark_connect_and_on_duckdb(
    built: tuple[Path, Path], connect_url: str
) -> None:
    on_duckdb, on_connect = built
    url = connect_url.removeprefix("spark:")
    read = subprocess.run([sys.executable, "-c", READ_TABLES, url], capture_output=True, text=True, timeout=600)
    assert read.returncode == 0, read.stderr
    seen: dict[str, Any] = json.loads(read.stdout.strip().splitlines()[-1])
    assert not (on_connect / "spark-warehouse").exists()  # the server keeps the tables, not the client
    with duckdb.connect(str(on_duckdb / "warehouse.duckdb"), read_only=True) as duck:
        names = [
            str(row[0])
            for row in duck.execute(
                "select table_name from information_schema.tables where table_schema = 'metrics' order by 1"
            ).fetchall()
        ]
        assert sorted(seen["tables"]) == names and len(names) >= 10
        for name in names:
            expected = duck.execute(f'select * from metrics."{name}"')
            assert seen["columns"][name] == [d[0] for d in expected.description or []], name
            wanted = sorted_rows([tuple(_typed(plain(v)) for v in row) for row in expected.fetchall()])
            got = sorted_rows([tuple(_typed(v) for v in row) for row in seen["tables"][name]])
            assert same(got, wanted), name


def _typed(value: Any) -> Any:
    """JSON gave dates and decimals as text; both sides are compared in the same spelling."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value[:10] if len(value) >= 10 and value[4] == "-" and value[7] == "-" else value
    return value


def test_a_query_answers_the_same_over_spark_connect(built: tuple[Path, Path], connect_url: str) -> None:
    on_duckdb, on_connect = built
    request = ["query", "--metric", "leads", "--metric", "lead_to_mql_rate", "--grain", "quarter", "--format", "json"]
    on_spark = json.loads(kpiframe(on_connect, *request, "--warehouse", connect_url))
    expected = json.loads(kpiframe(on_duckdb, *request))
    assert len(on_spark) == len(expected) > 4
    for got, want in zip(on_spark, expected, strict=True):
        assert got.keys() == want.keys()
        for key, value in want.items():
            assert same([(got[key],)], [(value,)]), key
