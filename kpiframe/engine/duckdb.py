"""DuckDB, the embedded default warehouse: one file on disk, nothing to install or run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from sqlglot import exp

from kpiframe.engine.base import QueryResult, Warehouse
from kpiframe.engine.lock_holder import holder_hint, is_lock_error
from kpiframe.errors import WarehouseError
from kpiframe.load.specs import WarehouseSpec

# The first bytes of a DuckDB file hold this magic at offset 8; other files are refused before DuckDB sees
# them, because DuckDB opens a SQLite file (and others) through an extension it would fetch and load.
_MAGIC, _MAGIC_AT = b"DUCK", 8
_LOOKS_LIKE = (
    (b"SQLite format 3\0", "a SQLite database"),
    (b"PAR1", "a Parquet file"),
    (b"PGDMP", "a PostgreSQL dump"),
)


class DuckDBWarehouse(Warehouse):
    dialect = "duckdb"

    def __init__(self, spec: WarehouseSpec, read_only: bool = False) -> None:
        self.path = spec.path
        if read_only and spec.path != ":memory:" and not Path(spec.path).exists():
            raise WarehouseError(
                f"warehouse file {spec.path} does not exist",
                code="KF501",
                hint="run `kpiframe demo` or `kpiframe build` first, or pass --warehouse",
            )
        _refuse_foreign_file(spec.path)
        try:
            self.con = duckdb.connect(spec.path, read_only=read_only, config=_config(spec))
        except duckdb.Error as exc:
            raise _open_error(spec.path, exc) from None

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
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, name]
        ).fetchone()
        return bool(row and row[0])

    def object_type(self, schema: str, name: str) -> str | None:
        row = self.con.execute(
            "select table_type from information_schema.tables where table_schema = ? and table_name = ?", [schema, name]
        ).fetchone()
        if not row:
            return None
        return "view" if row[0] == "VIEW" else "table"

    def column_types(self, schema: str, name: str) -> dict[str, str]:
        rows = self.con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [schema, name],
        ).fetchall()
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


def _config(spec: WarehouseSpec) -> dict[str, str | bool | int | float | list[str]]:
    """No code from the network: DuckDB must never fetch or load an extension on its own (it does so
    for a SQLite file, an https:// path, ...); the lock stops any later SET from turning that back on."""
    config: dict[str, str | bool | int | float | list[str]] = {
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }
    if spec.memory_limit:
        config["memory_limit"] = spec.memory_limit
    if spec.threads:
        config["threads"] = spec.threads
    config["lock_configuration"] = True  # the options above still apply: the lock starts after connect
    return config


def _refuse_foreign_file(path: str) -> None:
    """An existing file that is not a DuckDB database is refused by its first bytes."""
    file = Path(path)
    if path == ":memory:" or not file.is_file():
        return
    try:
        with file.open("rb") as handle:
            head = handle.read(16)  # enough for the DuckDB magic and for SQLite's "SQLite format 3\0"
    except OSError:
        return  # unreadable: DuckDB's own error says why
    # a short head may be a file another process is creating: DuckDB's own open then decides
    if len(head) >= _MAGIC_AT + len(_MAGIC) and head[_MAGIC_AT : _MAGIC_AT + len(_MAGIC)] != _MAGIC:
        raise _not_duckdb(path, head)


def _not_duckdb(path: str, head: bytes) -> WarehouseError:
    kind = next((name for magic, name in _LOOKS_LIKE if head.startswith(magic)), None)
    looks = f" (it is {kind})" if kind else ""
    return WarehouseError(
        f"warehouse {path} is not a DuckDB database file{looks}",
        code="KF505",
        hint="point --warehouse (or warehouse.path in kpi_project.yml) at a DuckDB file, or at a path that does "
        "not exist yet to create one; for PostgreSQL pass its DSN (postgresql://... or 'host=... dbname=...'). "
        "kpiframe never loads DuckDB extensions, so it cannot read other formats as a warehouse",
    )


def _open_error(path: str, exc: duckdb.Error) -> WarehouseError:
    text = str(exc)
    if "not a valid DuckDB database file" in text:
        return _not_duckdb(path, b"")
    if is_lock_error(text):
        return WarehouseError(
            f"cannot open warehouse {path}: another process holds its lock", code="KF502", hint=holder_hint(text)
        )
    return WarehouseError(
        f"cannot open warehouse {path}: {_first_line(exc)}",
        code="KF502",
        hint="is the file or its folder read-only, or does the folder not exist?",
    )
