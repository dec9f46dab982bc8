"""The adapter protocol every warehouse implements."""

from __future__ import annotations

import errno
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from sqlglot import exp

from kpiframe.engine.result import QueryResult as QueryResult
from kpiframe.sql.expressions import create_schema

_DISK_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}
# e.g. 'Could not write file "w.duckdb": File too large'
_DISK_WORDS = ("no space left", "file too large", "disk quota", "disk full")

if TYPE_CHECKING:  # optional libraries, imported when a result is converted
    import duckdb

    from kpiframe.load.specs import WarehouseSpec

STAGING_SUFFIX = "__kf_new"  # a table loaded beside the live one it replaces (the name kpiframe.build.runs uses)
# table -> its (column, DuckDB type) pairs, in order: what `Warehouse.load_tables` copies
Tables = Mapping[str, Sequence[tuple[str, str]]]


class Warehouse:
    """A connection that runs sqlglot trees in its own dialect.

    Code outside kpiframe/engine/ never asks which engine runs: it asks the adapter what it can do, through
    the capabilities below (class attributes and class methods, so that they can be asked of
    `kpiframe.engine.adapter_class(spec.type)` before connecting). docs/architecture.md, "Adding an engine".
    """

    dialect: str = "duckdb"
    path: str = ""  # what the adapter connected to (a file, a DSN, a folder), for messages and GX
    # whether Great Expectations runs on this warehouse (through SQLAlchemy); if not, kpiframe runs the
    # expectations as its own counting SQL (kpiframe.quality.pushdown)
    great_expectations: bool = True
    # how Great Expectations reaches the warehouse: "open_connection" (through cursors of the adapter's own
    # open connection, `gx_connection()`), "dsn" (a connection of its own from `gx_connect(path)`), or None
    gx_datasource: ClassVar[str | None] = None
    gx_url: ClassVar[str] = ""  # the SQLAlchemy URL naming GX's dialect ("dsn": the connection comes apart)
    # a DECIMAL column can hold no NaN or Infinity, so a contract's `finite` check on one passes by itself
    decimal_is_finite: ClassVar[bool] = False
    # hash(x) exists and is 64-bit: the uniqueness check narrows its candidates with it
    has_hash_function: ClassVar[bool] = False
    # session-level advisory locks (the build lock), a lock timeout for the swap, and a catalog that records
    # which views read a table: the PostgreSQL-only parts of kpiframe.build.locks
    supports_advisory_locks: ClassVar[bool] = False
    supports_lock_timeout: ClassVar[bool] = False
    records_view_dependencies: ClassVar[bool] = False
    # `kpiframe test` runs the metric tests in this engine's scratch space (`open_scratch(spec)`); if not, in
    # an empty in-memory DuckDB, the default engine, apart from the warehouse
    runs_metric_tests: ClassVar[bool] = False
    # the disk a message about a full disk asks to free, when it is not the one holding `describe_location`
    # (a server's own)
    data_disk: ClassVar[str | None] = None
    # the session's time zone (calendar: time_zone:), which adapters set on every connection they open
    time_zone: str = "UTC"

    @classmethod
    def failure_kind(cls, exc: BaseException) -> str | None:
        """What an error raised while writing to this engine says: 'disk' or 'memory' (that resource ran
        out), 'refused' (the engine refused a statement), or None (not the engine's: a bug of ours). The
        default knows DuckDB's errors, in which every engine's demo rows are first written, and the OS's."""
        import duckdb

        if isinstance(exc, (duckdb.OutOfMemoryException, MemoryError)):
            return "memory"
        if isinstance(exc, OSError) and exc.errno in _DISK_ERRNOS:
            return "disk"
        if isinstance(exc, (duckdb.Error, OSError)):
            text = str(exc).lower()  # DuckDB reports the OS's error as text only
            if any(word in text for word in _DISK_WORDS):
                return "disk"
            if "out of memory" in text:
                return "memory"
        return "refused" if isinstance(exc, duckdb.Error) else None

    @classmethod
    def describe_location(cls, spec: WarehouseSpec) -> str:
        """How messages name the warehouse `spec` points at."""
        return "the warehouse"

    @classmethod
    def is_missing(cls, spec: WarehouseSpec) -> bool:
        """Whether `spec` points at a warehouse that surely does not exist yet (a file never created)."""
        return False

    @classmethod
    def serves_snapshots(cls, spec: WarehouseSpec) -> bool:
        """Whether a build publishes a copy of the warehouse for readers (kpiframe.build.serving)."""
        return False

    @classmethod
    def replay_recipe(cls, spec: WarehouseSpec) -> dict[str, Any] | None:
        """How a later process reopens this warehouse to read it and runs SQL text rendered now, without
        sqlglot or the project (kpiframe.engine.replay, for cached `kpiframe query` answers): plain JSON
        values. None: this engine offers no replay, its queries are always compiled anew."""
        return None

    @classmethod
    def one_row_per(cls, times: exp.Expr) -> exp.Expr:
        """A select-list expression that turns each row into `times` rows (the uniqueness check's copies)."""
        return exp.Anonymous(this="generate_series", expressions=[exp.Literal.number(1), times])

    @classmethod
    def gx_connect(cls, path: str, time_zone: str) -> Any:
        """A new DB-API connection for Great Expectations ("dsn" datasources), in the session time zone."""
        raise NotImplementedError(f"{cls.dialect} gives Great Expectations no connection of its own")

    def gx_connection(self) -> Any:
        """The open DB-API connection Great Expectations reads through ("open_connection"), or None."""
        return None

    def catalog(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """A parameterized query on the engine's own catalog (locks, sessions, dependencies): only the
        adapters that declare `supports_advisory_locks` and the like have one."""
        raise NotImplementedError(f"{self.dialect} has no catalog queries")

    # --- a scratch space: throwaway objects beside the warehouse, which it only reads (kpiframe diff) ----
    @classmethod
    def scratch_unavailable(cls, spec: WarehouseSpec) -> str | None:
        """Why no scratch space can be opened beside `spec`'s warehouse; None when `open_scratch` can."""
        return f"kpiframe's {cls.dialect} adapter offers no scratch space to run both versions in"

    @classmethod
    def open_scratch(cls, spec: WarehouseSpec | None) -> Scratch:
        """A scratch space reading `spec`'s warehouse (None: no warehouse, sources are created empty)."""
        raise NotImplementedError(cls.scratch_unavailable(spec) if spec else cls.dialect)

    def render(self, statement: exp.Expr) -> str:
        return statement.sql(dialect=self.dialect)

    def execute(self, statement: exp.Expr) -> None:
        raise NotImplementedError

    def query(self, statement: exp.Expr) -> QueryResult:
        raise NotImplementedError

    def query_rendered(self, statement: exp.Expr) -> tuple[QueryResult, str]:
        """The statement's rows and the SQL text it ran as (the query cache keeps the text); an engine that
        runs text renders once (DuckDB overrides this)."""
        return self.query(statement), self.render(statement)

    def table_exists(self, schema: str, name: str) -> bool:
        raise NotImplementedError

    def object_type(self, schema: str, name: str) -> str | None:
        """'table', 'view' or None."""
        raise NotImplementedError

    def column_types(self, schema: str, name: str) -> dict[str, str]:
        """Column name -> type as the warehouse spells it, in table order."""
        raise NotImplementedError

    def list_objects(self, schemas: set[str]) -> list[tuple[str, str, str]]:
        """(schema, name, 'table' or 'view') of everything in `schemas`, from information_schema."""
        listing = (
            exp.select(exp.column("table_schema"), exp.column("table_name"), exp.column("table_type"))
            .from_(exp.table_("tables", db="information_schema"))
            .where(exp.column("table_schema").isin(*[exp.Literal.string(s) for s in sorted(schemas)]))
        )
        rows = self.query(listing).rows
        return [(str(schema), str(name), "view" if kind == "VIEW" else "table") for schema, name, kind in rows]

    # --- publishing: how a build makes its checked tables the ones readers see (kpiframe.build.run) ------
    def stage_for_publish(self, schema: str, name: str, staging: str, run_id: str) -> str:
        """Ready a built and checked staging table for publishing, before the swap starts; the name it is
        published from. Readers see no change yet. Here the staging table itself is published."""
        return staging

    def drop_view_before_swap(self, schema: str, name: str) -> None:
        """Make way for a view model that the swap recreates, before any table is swapped. Here the view is
        dropped: PostgreSQL refuses to drop a table a view reads, or to change a view's columns in place;
        the swap's transaction hides the moment without it."""
        self.execute(exp.Drop(tables=[exp.table_(name, db=schema, quoted=True)], kind="VIEW", exists=True))

    def publish_table(self, schema: str, name: str, physical: str) -> None:
        """Make the table `physical` the one readers see as `schema.name`, inside the build's swap
        transaction: DROP the live table, RENAME `physical` to its name. The transaction makes every swap
        of a build one change for readers."""
        kind = self.object_type(schema, name)
        if kind:
            self.execute(exp.Drop(tables=[exp.table_(name, db=schema, quoted=True)], kind=kind.upper(), exists=True))
        rename = exp.AlterRename(this=exp.table_(name, quoted=True))
        self.execute(exp.Alter(this=exp.table_(physical, db=schema, quoted=True), kind="TABLE", actions=[rename]))

    def drop_superseded(self, schemas: set[str]) -> list[str]:
        """Drop, in `schemas`, the tables earlier publications left behind that no reader reaches any more;
        their `schema.name`. Called after a swap and by the next build after a killed one. Here a swap
        leaves nothing behind."""
        return []

    # --- loading tables written in DuckDB (`kpiframe demo`'s raw tables) --------------------------------
    @contextmanager
    def load_source(self, schema: str) -> Iterator[duckdb.DuckDBPyConnection]:
        """The DuckDB connection to write the tables of `schema` into, for `load_tables` to copy here: a
        new in-memory database, closed when the block ends. `schema` is created here first, so that a
        warehouse that refuses it fails before anything is written."""
        import duckdb

        self.execute(create_schema(schema))
        with duckdb.connect() as source:
            yield source

    def load_tables(
        self,
        source: duckdb.DuckDBPyConnection,
        schema: str,
        tables: Tables,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        """Replace `schema.<table>` here, for each of `tables`, by the table of that name in schema `schema`
        of the DuckDB connection `source` (the one `load_source` gave, or any other), all at once: a
        failure before the end leaves the tables here as they were. `progress` gets one line per table
        copied. `source` is only read.

        Here through Parquet: each table is written to a Parquet file, loaded into `<table>__kf_new` by
        `load_parquet`, and only when all are loaded published the way a build publishes
        (`stage_for_publish`, then `publish_table` in one `transaction`, then `drop_superseded`): on Spark
        every name switches to its new table in one metastore call."""
        self.execute(create_schema(schema))
        with tempfile.TemporaryDirectory(prefix="kf-demo-") as folder:
            for table in tables:
                path = Path(folder) / f"{table}.parquet"
                source.execute(parquet_copy(schema, table, path).sql(dialect="duckdb"))
                self.load_parquet(schema, table + STAGING_SUFFIX, path)
                if progress is not None:
                    progress(f"{table}: copied to {self.dialect}")
        version = uuid.uuid4().hex[:12]
        physical = {table: self.stage_for_publish(schema, table, table + STAGING_SUFFIX, version) for table in tables}
        with self.transaction():
            for table in tables:
                self.publish_table(schema, table, physical[table])
        self.drop_superseded({schema})

    def load_parquet(self, schema: str, name: str, folder: Path) -> int:
        """Create (or replace) `schema.name` from the Parquet file(s) at `folder`; its row count. What the
        default `load_tables` loads through (Spark's); an adapter with a `load_tables` of its own needs
        none."""
        raise NotImplementedError(f"{self.dialect} does not load Parquet files")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        raise NotImplementedError
        yield

    def close(self) -> None:
        raise NotImplementedError


def parquet_copy(schema: str, table: str, path: Path) -> exp.Copy:
    """COPY "schema"."table" TO 'path' (FORMAT PARQUET): a table of a `load_tables` source, as DuckDB
    writes it to a file."""
    copy = exp.Copy(this=exp.table_(table, db=schema, quoted=True), kind=False, files=[exp.Literal.string(str(path))])
    copy.set("params", [exp.CopyParameter(this=exp.var("FORMAT"), expression=exp.var("PARQUET"))])
    return copy


class Scratch:
    """Throwaway tables and views built beside a warehouse that is only read; all gone at `close()`.

    Callers name each object by (schema, name) and use the `exp.Table` that `place` returns wherever they
    reference it: the adapter decides where it really lives (a schema of an in-memory database, a
    session's temporary view, ...)."""

    reads_warehouse: bool = False  # False: no warehouse behind it, sources are `create_empty` tables

    def source(self, schema: str, name: str) -> exp.Table:
        """Where the warehouse's `schema.name` is read from."""
        raise NotImplementedError

    def place(self, schema: str, name: str) -> exp.Table:
        """Where the scratch object called `schema.name` lives (its schema made if the engine needs one)."""
        raise NotImplementedError

    def create(self, place: exp.Table, query: exp.Query, view: bool) -> None:
        """Create `place` from `query`: a view, or (`view=False`) computed once, as a table."""
        raise NotImplementedError

    def create_empty(self, place: exp.Table, columns: list[exp.ColumnDef]) -> None:
        raise NotImplementedError

    def column_types(self, place: exp.Table) -> dict[str, str]:
        raise NotImplementedError

    def query(self, statement: exp.Expr) -> QueryResult:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError
