"""DuckDB, the embedded default warehouse: one file on disk, nothing to install or run."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
from sqlglot import exp

from kpiframe.engine.base import QueryResult, Scratch, Tables, Warehouse, parquet_copy
from kpiframe.engine.duckdb_files import not_duckdb, refuse_foreign_file
from kpiframe.engine.lock_holder import holder_hint, is_lock_error
from kpiframe.errors import WarehouseError
from kpiframe.load.specs import WarehouseSpec
from kpiframe.sql.expressions import create_schema, create_table, set_option


class DuckDBWarehouse(Warehouse):
    dialect = "duckdb"
    gx_datasource = "open_connection"  # GX reads through cursors of this connection (kpiframe.quality.duckdb_dbapi)
    decimal_is_finite = True
    has_hash_function = True

    @classmethod
    def describe_location(cls, spec: WarehouseSpec) -> str:
        return spec.path

    @classmethod
    def is_missing(cls, spec: WarehouseSpec) -> bool:
        return spec.path != ":memory:" and not Path(spec.path).exists()

    @classmethod
    def serves_snapshots(cls, spec: WarehouseSpec) -> bool:
        return spec.path != ":memory:"

    @classmethod
    def replay_recipe(cls, spec: WarehouseSpec) -> dict[str, Any] | None:
        """The warehouse file (replay opens its current serving snapshot, as `reader_spec` does), the
        connection's configuration, and the statements that give a new connection its time zone and lock."""
        if not cls.serves_snapshots(spec):
            return None
        setup = [set_option("TimeZone", spec.time_zone, "GLOBAL"), set_option("lock_configuration", True)]
        return {
            "engine": cls.dialect,
            "path": spec.path,
            "config": _config(spec),
            "setup": [statement.sql(dialect=cls.dialect) for statement in setup],
        }

    @classmethod
    def one_row_per(cls, times: exp.Expr) -> exp.Expr:
        return exp.Unnest(expressions=[exp.Anonymous(this="range", expressions=[times])])

    def gx_connection(self) -> Any:
        return self.con

    @classmethod
    def scratch_unavailable(cls, spec: WarehouseSpec) -> str | None:
        if not Path(spec.path).is_file():
            return f"no warehouse file at {spec.path} (pass --warehouse, or run `kpiframe demo` for demo data)"
        return None

    @classmethod
    def open_scratch(cls, spec: WarehouseSpec | None) -> Scratch:
        return MemoryScratch(spec)

    def __init__(self, spec: WarehouseSpec, read_only: bool = False) -> None:
        self.path = spec.path
        if read_only and spec.path != ":memory:" and not Path(spec.path).exists():
            raise WarehouseError(
                f"warehouse file {spec.path} does not exist",
                code="KF501",
                hint="run `kpiframe demo` or `kpiframe build` first, or pass --warehouse",
            )
        refuse_foreign_file(spec.path)
        try:
            self.con = duckdb.connect(spec.path, read_only=read_only, config=_config(spec))
        except duckdb.Error as exc:
            raise _open_error(spec.path, exc) from None
        self.time_zone = spec.time_zone
        _set_time_zone_and_lock(self.con, spec)

    def execute(self, statement: exp.Expr) -> None:
        self._run(statement)

    def query(self, statement: exp.Expr) -> QueryResult:
        return self.query_rendered(statement)[0]

    def query_rendered(self, statement: exp.Expr) -> tuple[QueryResult, str]:
        text = self.render(statement)
        cursor = self._run_text(text)
        columns = [d[0] for d in cursor.description or []]
        return QueryResult(columns, cursor.fetchall()), text

    def _run(self, statement: exp.Expr) -> duckdb.DuckDBPyConnection:
        return self._run_text(self.render(statement))

    def _run_text(self, text: str) -> duckdb.DuckDBPyConnection:
        try:
            return self.con.execute(text)
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

    # --- loading tables written in DuckDB -----------------------------------------------------------
    @contextmanager
    def load_source(self, schema: str) -> Iterator[duckdb.DuckDBPyConnection]:
        """The warehouse's own connection: the tables are written straight into the warehouse (the writer
        stages and swaps them itself, as `kpiframe demo`'s generator does), and `load_tables` has nothing
        left to copy."""
        yield self.con

    def load_tables(
        self,
        source: duckdb.DuckDBPyConnection,
        schema: str,
        tables: Tables,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        """From the warehouse's own connection (`load_source`): nothing, the tables are in place. From
        another DuckDB connection: each table through a Parquet file, all of them dropped and created
        anew (typed from their columns) in one transaction."""
        if source is self.con:
            return
        self.execute(create_schema(schema))
        with tempfile.TemporaryDirectory(prefix="kf-load-") as folder, self.transaction():
            for table, columns in tables.items():
                path = Path(folder) / f"{table}.parquet"
                source.execute(parquet_copy(schema, table, path).sql(dialect="duckdb"))
                kind = self.object_type(schema, table)
                if kind is not None:
                    self.execute(exp.Drop(tables=[_table(schema, table)], kind=kind.upper(), exists=True))
                self.execute(create_table(schema, table, columns))
                names = [name for name, _ in columns]
                parquet = exp.Table(this=exp.ReadParquet(expressions=[exp.Literal.string(str(path))]))
                rows = exp.select(*[exp.column(name, quoted=True) for name in names]).from_(parquet)
                into = exp.Schema(
                    this=_table(schema, table), expressions=[exp.to_identifier(n, quoted=True) for n in names]
                )
                self.execute(exp.Insert(this=into, expression=rows))
                if progress is not None:
                    progress(f"{table}: copied to {self.dialect}")

    def close(self) -> None:
        self.con.close()


def _table(schema: str, name: str) -> exp.Table:
    return exp.table_(name, db=schema, quoted=True)


ATTACHED = "kf_warehouse"  # the catalog name of the warehouse file in a scratch space


class MemoryScratch(Scratch):
    """An in-memory DuckDB, with the warehouse file (if any) ATTACHed READ_ONLY: nothing it builds can reach
    the file. Objects live in schemas of their own (`kf_base.x`), made as they are first named."""

    def __init__(self, warehouse: WarehouseSpec | None) -> None:
        memory = WarehouseSpec(
            path=":memory:",
            memory_limit=warehouse.memory_limit if warehouse else None,
            threads=warehouse.threads if warehouse else None,
            time_zone=warehouse.time_zone if warehouse else "UTC",
        )
        self.db = DuckDBWarehouse(memory)
        # a spec of ":memory:" is a scratch space beside no warehouse (metric tests), in its time zone
        self.reads_warehouse = warehouse is not None and warehouse.path != ":memory:"
        if warehouse is not None and self.reads_warehouse:
            attach = exp.Attach(
                this=exp.Literal.string(str(Path(warehouse.path).resolve())).as_(ATTACHED),
                expressions=[exp.AttachOption(this=exp.var("READ_ONLY"))],
            )
            self.db.execute(attach)

    def source(self, schema: str, name: str) -> exp.Table:
        return exp.table_(name, db=schema, catalog=ATTACHED, quoted=True)

    def place(self, schema: str, name: str) -> exp.Table:
        self.db.execute(exp.Create(this=exp.table_(schema, quoted=True), kind="SCHEMA", exists=True))
        return exp.table_(name, db=schema, quoted=True)

    def create(self, place: exp.Table, query: exp.Query, view: bool) -> None:
        kind = "VIEW" if view else "TABLE"
        self.db.execute(exp.Create(this=place.copy(), kind=kind, expression=query, replace=view))

    def create_empty(self, place: exp.Table, columns: list[exp.ColumnDef]) -> None:
        self.db.execute(exp.Create(this=exp.Schema(this=place.copy(), expressions=columns), kind="TABLE", replace=True))

    def column_types(self, place: exp.Table) -> dict[str, str]:
        return self.db.column_types(place.db, place.name)

    def query(self, statement: exp.Expr) -> QueryResult:
        return self.db.query(statement)

    def close(self) -> None:
        self.db.close()


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
    return config  # locked once the connection has its time zone (DuckDBWarehouse.__init__)


_SETTING_UP = threading.Lock()


def _set_time_zone_and_lock(con: duckdb.DuckDBPyConnection, spec: WarehouseSpec) -> None:
    """The time zone of every connection and cursor to this database (GLOBAL: Great Expectations reads
    through cursors), then the lock on the configuration. ICU's TimeZone cannot be given at connect (the
    extension loads after the config). Another connection of this process may have done both already."""

    def setting(name: str) -> object:
        row = con.execute("select current_setting(?)", [name]).fetchone()
        return row[0] if row else None

    with _SETTING_UP:  # readers connect from many threads at once (kpiframe serve): look, then set, as one
        _set_up(con, spec, setting)


def _set_up(con: duckdb.DuckDBPyConnection, spec: WarehouseSpec, setting: Callable[[str], object]) -> None:
    if setting("TimeZone") != spec.time_zone:
        if setting("lock_configuration"):
            raise WarehouseError(
                f"{spec.path} is already open in this process in time zone {setting('TimeZone')}, not {spec.time_zone}",
                code="KF502",
                hint="close the other connection first (one process serves one project's calendar)",
            )
        con.execute(set_option("TimeZone", spec.time_zone, "GLOBAL").sql(dialect="duckdb"))
    if not setting("lock_configuration"):
        con.execute(set_option("lock_configuration", True).sql(dialect="duckdb"))


def _open_error(path: str, exc: duckdb.Error) -> WarehouseError:
    text = str(exc)
    if "not a valid DuckDB database file" in text:
        return not_duckdb(path, b"")
    if is_lock_error(text):
        return WarehouseError(
            f"cannot open warehouse {path}: another process holds its lock", code="KF502", hint=holder_hint(text)
        )
    return WarehouseError(
        f"cannot open warehouse {path}: {_first_line(exc)}",
        code="KF502",
        hint="is the file or its folder read-only, or does the folder not exist?",
    )
