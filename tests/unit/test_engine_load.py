"""`Warehouse.load_source` and `Warehouse.load_tables`: how an adapter takes tables written in DuckDB
(`kpiframe demo`'s raw tables). PostgreSQL's COPY is covered by tests/integration/test_postgres_demo.py,
Spark's Parquet files by tests/integration/test_spark.py; here DuckDB's own ways and the default route
through Parquet files, checked with hand-written SQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from sqlglot import exp

from kpiframe.build.runs import STAGING_SUFFIX
from kpiframe.engine import base
from kpiframe.engine.base import Warehouse
from kpiframe.engine.duckdb import DuckDBWarehouse
from kpiframe.errors import WarehouseError
from kpiframe.load.specs import WarehouseSpec

TABLES = {
    "orders": (("order_id", "VARCHAR"), ("placed_at", "TIMESTAMP"), ("amount", "DECIMAL(12,2)")),
    "visits": (("visit_id", "BIGINT"), ("converted", "BOOLEAN")),
}


def _source() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA src")
    con.execute('CREATE TABLE src.orders ("order_id" VARCHAR, "placed_at" TIMESTAMP, "amount" DECIMAL(12,2))')
    con.execute("INSERT INTO src.orders VALUES ('a', '2025-01-02 03:04:05', 10.25), ('b', NULL, 0.10)")
    con.execute('CREATE TABLE src.visits ("visit_id" BIGINT, "converted" BOOLEAN)')
    con.execute("INSERT INTO src.visits SELECT i, i % 3 = 0 FROM range(1000) t(i)")
    return con


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[DuckDBWarehouse]:
    target = DuckDBWarehouse(WarehouseSpec(path=str(tmp_path / "w.duckdb")))
    target.con.execute("CREATE SCHEMA src")
    target.con.execute("CREATE TABLE src.orders (old INTEGER)")
    target.con.execute("INSERT INTO src.orders VALUES (1), (2), (3)")
    target.con.execute("CREATE VIEW src.visits AS SELECT 1 AS old")  # a view of a loaded name is replaced too
    yield target
    target.close()


def _state(con: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
    return con.execute(
        "SELECT table_name, table_type, column_name, data_type FROM information_schema.columns "
        "JOIN information_schema.tables USING (table_catalog, table_schema, table_name) "
        "WHERE table_schema = 'src' ORDER BY table_name, ordinal_position"
    ).fetchall()


def test_duckdb_loads_tables_of_another_connection_with_their_types(warehouse: DuckDBWarehouse) -> None:
    messages: list[str] = []
    with _source() as source:
        warehouse.load_tables(source, "src", TABLES, messages.append)
    con = warehouse.con
    assert con.execute("SELECT * FROM src.orders ORDER BY order_id").fetchall() == (
        duckdb.sql(
            "SELECT 'a', TIMESTAMP '2025-01-02 03:04:05', 10.25::DECIMAL(12,2) UNION ALL "
            "SELECT 'b', NULL, 0.10::DECIMAL(12,2) ORDER BY 1"
        ).fetchall()
    )
    assert con.execute("SELECT count(*), count(*) FILTER (WHERE converted) FROM src.visits").fetchone() == (1000, 334)
    assert [row[:2] for row in _state(con)] == [("orders", "BASE TABLE")] * 3 + [("visits", "BASE TABLE")] * 2
    assert [row[3] for row in _state(con)] == ["VARCHAR", "TIMESTAMP", "DECIMAL(12,2)", "BIGINT", "BOOLEAN"]
    assert messages == ["orders: copied to duckdb", "visits: copied to duckdb"]


def test_duckdb_loads_all_tables_or_none(warehouse: DuckDBWarehouse) -> None:
    before = _state(warehouse.con)
    with _source() as source:
        source.execute("DROP TABLE src.visits")  # the second table cannot be read: the first stays as it was
        with pytest.raises(duckdb.Error):
            warehouse.load_tables(source, "src", TABLES)
    assert _state(warehouse.con) == before
    assert warehouse.con.execute("SELECT sum(old) FROM src.orders").fetchone() == (6,)


def test_duckdb_offers_its_own_connection_and_then_has_nothing_to_copy(warehouse: DuckDBWarehouse) -> None:
    with warehouse.load_source("src") as source:
        assert source is warehouse.con
        source.execute("CREATE OR REPLACE TABLE src.orders AS SELECT 42 AS written_in_place")
        warehouse.load_tables(source, "src", TABLES)
    assert warehouse.con.execute("SELECT * FROM src.orders").fetchall() == [(42,)]


class ThroughParquet(DuckDBWarehouse):
    """A DuckDB warehouse that loads the way an engine with only `load_parquet` does (Spark's route)."""

    load_source = Warehouse.load_source  # type: ignore[assignment]
    load_tables = Warehouse.load_tables  # type: ignore[assignment]
    parquet_loads: list[str]

    def load_parquet(self, schema: str, name: str, folder: Path) -> int:
        self.parquet_loads.append(f"{schema}.{name}")
        self.execute(exp.Drop(tables=[exp.table_(name, db=schema, quoted=True)], kind="TABLE", exists=True))
        self.con.execute(f"CREATE TABLE {schema}.\"{name}\" AS SELECT * FROM read_parquet('{folder}')")
        row = self.con.execute(f'SELECT count(*) FROM {schema}."{name}"').fetchone()
        return int(row[0]) if row else 0


def test_the_default_route_goes_through_parquet_files_and_publishes_at_the_end(tmp_path: Path) -> None:
    target = ThroughParquet(WarehouseSpec(path=str(tmp_path / "w.duckdb")))
    target.parquet_loads = []
    try:
        with target.load_source("src") as source:
            # the schema is there before anything is written, and the source is a database of its own
            assert target.con.execute("SELECT count(*) FROM duckdb_schemas() WHERE schema_name = 'src'").fetchone() == (
                1,
            )
            assert source is not target.con
            source.execute("CREATE SCHEMA src")
            source.execute(
                "CREATE TABLE src.orders AS SELECT 'x' AS order_id, NULL::TIMESTAMP AS placed_at, 1.5 AS amount"
            )
            source.execute("CREATE TABLE src.visits AS SELECT i AS visit_id, true AS converted FROM range(7) t(i)")
            target.load_tables(source, "src", TABLES)
        assert target.parquet_loads == [f"src.orders{STAGING_SUFFIX}", f"src.visits{STAGING_SUFFIX}"]
        tables = target.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'src' ORDER BY 1"
        ).fetchall()
        assert tables == [("orders",), ("visits",)]  # the staging tables were published under the live names
        assert target.con.execute("SELECT count(*) FROM src.visits").fetchone() == (7,)
    finally:
        target.close()


def test_a_warehouse_without_a_way_to_load_says_so(tmp_path: Path) -> None:
    target = ThroughParquet(WarehouseSpec(path=str(tmp_path / "w.duckdb")))
    try:
        with pytest.raises(NotImplementedError, match="does not load Parquet"):
            Warehouse.load_parquet(target, "src", "orders", tmp_path)
    finally:
        target.close()


def test_loading_stages_under_the_name_builds_use() -> None:
    assert base.STAGING_SUFFIX == STAGING_SUFFIX


def test_a_refused_schema_fails_before_anything_is_written(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    DuckDBWarehouse(WarehouseSpec(path=str(path))).close()
    target = ThroughParquet(WarehouseSpec(path=str(path)), read_only=True)
    try:
        with pytest.raises(WarehouseError), target.load_source("src"):
            pytest.fail("the block must not run")
    finally:
        target.close()
