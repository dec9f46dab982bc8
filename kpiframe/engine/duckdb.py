"""DuckDB, the embedded default warehouse: one file on disk, nothing to install or run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from sqlglot import exp

from kpiframe.engine.base import QueryResult, Warehouse
from kpiframe.errors import WarehouseError
from kpiframe.specs import WarehouseSpec


class DuckDBWarehouse(Warehouse):
    dialect = "duckdb"

    def __init__(self, spec: WarehouseSpec, read_only: bool = False) -> None:
        self.path = spec.path
        if read_only and spec.path != ":memory:" and not Path(spec.path).exists():
            raise WarehouseError(f"warehouse file {spec.path} does not exist", code="KF501",
                                 hint="run `kpiframe demo` or `kpiframe build` first, or pass --warehouse")
        config: dict[str, str | bool | int | float | list[str]] = {}
        if spec.memory_limit:
            config["memory_limit"] = spec.memory_limit
        if spec.threads:
            config["threads"] = spec.threads
        try:
            self.con = duckdb.connect(spec.path, read_only=read_only, config=config)
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot open warehouse {spec.path}: {_first_line(exc)}", code="KF502",
                                 hint="is another kpiframe build running against it, or is it read-only?"
                                 ) from None

    def execute(self, statement: exp.Expr) -> None:
        self._run(statement)

    def query(self, statement: exp.Expr) -> QueryResult:
        cursor = self._run(statement)
        columns = [d[0] for d in cursor.description or []]
        return QueryResult(columns, cursor.fetchall())

    def _run(self, statement: exp.Expr) -> duckdb.DuckDBPyConnection:
        try:
            return self.con.execute(self.render(statement))
        except duckdb.Error as exc:
            raise WarehouseError(f"the warehouse refused a statement: {_first_line(exc)}", code="KF503") from None

    def table_exists(self, schema: str, name: str) -> bool:
        row = self.con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, name]).fetchone()
        return bool(row and row[0])

    def object_type(self, schema: str, name: str) -> str | None:
        row = self.con.execute(
            "select table_type from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, name]).fetchone()
        if not row:
            return None
        return "view" if row[0] == "VIEW" else "table"

    def column_types(self, schema: str, name: str) -> dict[str, str]:
        rows = self.con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position", [schema, name]).fetchall()
        return {r[0]: r[1] for r in rows}

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.con.execute("begin transaction")
        try:
            yield
        except BaseException:
            self.con.execute("rollback")
            raise
        self.con.execute("commit")

    def close(self) -> None:
        self.con.close()


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
