"""PostgreSQL: the same project on a shared warehouse. Everything it runs is a sqlglot tree rendered
for PostgreSQL; only connecting, transactions, the catalog queries and loading rows with COPY
(`load_tables`) are PostgreSQL-specific."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from kpiframe.engine.base import STAGING_SUFFIX, QueryResult, Tables, Warehouse
from kpiframe.errors import WarehouseError
from kpiframe.load.specs import WarehouseSpec
from kpiframe.sql.expressions import create_schema, create_table, set_option

if TYPE_CHECKING:
    import duckdb

COPY_BATCH_ROWS = 50_000  # rows fetched from DuckDB at a time: a large table never sits whole in Python


class PostgresWarehouse(Warehouse):
    dialect = "postgres"
    gx_datasource = "dsn"  # GX opens a connection of its own: the build commits each table as it is built
    gx_url = "postgresql+psycopg://"  # the DSN goes to the driver, never into GX's configuration (its password)
    supports_advisory_locks = True
    supports_lock_timeout = True
    records_view_dependencies = True
    data_disk = "the PostgreSQL server's disk"

    @classmethod
    def failure_kind(cls, exc: BaseException) -> str | None:
        """psycopg's errors carry PostgreSQL's SQLSTATE: 53100 disk full, 53200 out of memory."""
        import psycopg

        sqlstate = getattr(exc, "sqlstate", None)
        if sqlstate in ("53100", "53200"):
            return "disk" if sqlstate == "53100" else "memory"
        if isinstance(exc, psycopg.Error):
            return super().failure_kind(exc) or "refused"
        return super().failure_kind(exc)

    @classmethod
    def describe_location(cls, spec: WarehouseSpec) -> str:
        """The database and host, never the password."""
        import psycopg

        try:
            info = psycopg.conninfo.conninfo_to_dict(spec.dsn or "")
        except psycopg.Error:
            return "PostgreSQL"
        return f"PostgreSQL database {info.get('dbname', '?')} on {info.get('host', 'localhost')}"

    @classmethod
    def gx_connect(cls, path: str, time_zone: str) -> Any:
        import psycopg

        con = psycopg.connect(path, autocommit=True)
        con.execute(set_option("TimeZone", time_zone).sql(dialect=cls.dialect))  # days counted as the build's
        return con

    def __init__(self, spec: WarehouseSpec, read_only: bool = False) -> None:
        try:
            import psycopg  # imported here: DuckDB users never need the driver
        except ImportError:
            raise WarehouseError(
                "the PostgreSQL warehouse needs the psycopg driver, which is not installed",
                code="KF502",
                hint="pip install 'kpiframe[postgres]'",
            ) from None

        self.path = spec.dsn or ""
        try:
            self.con = psycopg.connect(spec.dsn or "", autocommit=True)
        except psycopg.Error as exc:
            raise WarehouseError(
                f"cannot connect to PostgreSQL: {_first_line(exc)}",
                code="KF502",
                hint="check warehouse.dsn in kpi_project.yml or --warehouse",
            ) from None
        # days of a TIMESTAMPTZ in the project's zone, not the server's (calendar: time_zone:)
        self.time_zone = spec.time_zone
        self.con.execute(self.render(set_option("TimeZone", spec.time_zone)))
        if read_only:
            self.con.execute("set default_transaction_read_only = on")
        self._in_transaction = False

    def execute(self, statement: exp.Expr) -> None:
        self._run(statement)

    def query(self, statement: exp.Expr) -> QueryResult:
        cursor = self._run(statement)
        columns = [d.name for d in cursor.description or []]
        return QueryResult(columns, cursor.fetchall())

    def _run(self, statement: exp.Expr) -> Any:
        import psycopg

        try:
            return self.con.execute(self.render(statement))
        except psycopg.Error as exc:
            raise _refusal(exc) from None

    def catalog(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """A parameterized query on PostgreSQL's own catalog and functions (locks, sessions, dependencies)."""
        import psycopg

        try:
            return self.con.execute(sql, params).fetchall()
        except psycopg.Error as exc:
            raise _refusal(exc) from None

    def _catalog(self, sql: str, params: list[str]) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, params).fetchall()

    def table_exists(self, schema: str, name: str) -> bool:
        return self.object_type(schema, name) is not None

    def object_type(self, schema: str, name: str) -> str | None:
        rows = self._catalog(
            "select table_type from information_schema.tables where table_schema = %s and table_name = %s",
            [schema, name],
        )
        if not rows:
            return None
        return "view" if rows[0][0] == "VIEW" else "table"

    def column_types(self, schema: str, name: str) -> dict[str, str]:
        rows = self._catalog(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = %s and table_name = %s order by ordinal_position",
            [schema, name],
        )
        return {r[0]: r[1].upper() for r in rows}

    @contextmanager
    def transaction(self) -> Iterator[None]:
        # PostgreSQL's DDL is transactional: the swap of every published table commits as one
        with self.con.transaction():
            yield

    # --- loading tables written in DuckDB -----------------------------------------------------------
    @contextmanager
    def load_source(self, schema: str) -> Iterator[duckdb.DuckDBPyConnection]:
        """A new in-memory DuckDB; `schema` is created by `load_tables`, inside its transaction."""
        import duckdb

        with duckdb.connect() as source:
            yield source

    def load_tables(
        self,
        source: duckdb.DuckDBPyConnection,
        schema: str,
        tables: Tables,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        """Rows travel in batches with COPY into staging tables `schema.<table>__kf_new` (typed from each
        table's columns), and the live tables are dropped and replaced only at the end, all in ONE
        transaction (PostgreSQL's DDL is transactional): readers keep the old tables until the commit, and
        a failure or a killed client rolls everything back."""
        with self.transaction():
            self.execute(create_schema(schema))
            for table, columns in tables.items():
                self._copy_to_staging(source, schema, table, columns)
                if progress is not None:
                    progress(f"{table}: copied to PostgreSQL")
            for table in tables:
                self._swap_in(schema, table)

    def _copy_to_staging(
        self, source: duckdb.DuckDBPyConnection, schema: str, table: str, columns: Sequence[tuple[str, str]]
    ) -> None:
        staging = table + STAGING_SUFFIX
        self._drop(schema, staging)  # left by an older kpiframe that did not stage in one transaction
        self.execute(create_table(schema, staging, columns))
        names = [exp.to_identifier(name, quoted=True) for name, _ in columns]
        rows = exp.select(*[exp.column(name, quoted=True) for name, _ in columns]).from_(_table(schema, table))
        copy = exp.Copy(
            this=exp.Schema(this=_table(schema, staging), expressions=names), kind=True, files=[exp.Var(this="STDIN")]
        )
        cursor = source.execute(rows.sql(dialect="duckdb"))
        with self.con.cursor().copy(self.render(copy)) as stream:
            while batch := cursor.fetchmany(COPY_BATCH_ROWS):
                for row in batch:
                    stream.write_row(row)

    def _swap_in(self, schema: str, table: str) -> None:
        self._drop(schema, table)
        rename = exp.AlterRename(this=exp.to_identifier(table, quoted=True))
        self.execute(exp.Alter(this=_table(schema, table + STAGING_SUFFIX), kind="TABLE", actions=[rename]))

    def _drop(self, schema: str, name: str) -> None:
        kind = self.object_type(schema, name)
        if kind is not None:
            self.execute(exp.Drop(tables=[_table(schema, name)], kind=kind.upper(), exists=True))

    def close(self) -> None:
        self.con.close()


def _table(schema: str, name: str) -> exp.Table:
    return exp.table_(name, db=schema, quoted=True)


def _refusal(exc: Exception) -> WarehouseError:
    """PostgreSQL's refusal as a KF503; a lock timeout and a DROP that other objects depend on get classes
    of their own (by SQLSTATE, which does not change with the server's language), so that a build can name
    the session or the view in its way."""
    from kpiframe.errors import DependentObjects, LockTimedOut

    kinds: dict[str, type[WarehouseError]] = {"55P03": LockTimedOut, "2BP01": DependentObjects}
    kind = kinds.get(str(getattr(exc, "sqlstate", "") or ""), WarehouseError)
    return kind(f"the warehouse refused a statement: {_first_line(exc)}", code="KF503")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
