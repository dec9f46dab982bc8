"""Run a table's expectations as ONE Great Expectations validation, pushed down to the warehouse as SQL.

GX is imported here, inside functions only (importing it takes seconds). The set-up, in short:
- an ephemeral GX context (nothing is written to disk: no gx/ folder), analytics off, no progress bars;
- a GX SQL data source whose SQLAlchemy engine gets its DB-API connection from a `creator`, of the kind
  the warehouse adapter declares (`Warehouse.gx_datasource`):
  - "open_connection" (DuckDB): cursors of the caller's open DuckDB connection, through
    `SharedDuckDBConnection`, whose cursors keep their rows: the workaround for GX issue #10738 (see
    duckdb_dbapi.py); gx_duckdb.py gives GX what it needs to speak DuckDB;
  - "dsn" (PostgreSQL): a connection of its own, opened by the adapter from the project's DSN;
- one table asset, one whole-table batch and one suite holding every expectation of the table, so GX
  bundles the metrics of a column into one SQL query. Nothing is loaded into pandas: GX's SQL engine
  computes aggregates in the warehouse and fetches at most a few unexpected values.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import duckdb

from kpiframe.engine import adapter_class
from kpiframe.quality import custom
from kpiframe.quality.duckdb_dbapi import SharedDuckDBConnection
from kpiframe.quality.model import SAMPLE_SIZE, Expectation, ExpectationResult

RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": SAMPLE_SIZE}
_INDEX_KEY = "kpiframe_index"  # in each GX expectation's meta, to match results back (GX reorders them)


def run_expectations(
    con: duckdb.DuckDBPyConnection | None,
    database_path: str,
    schema: str,
    table: str,
    expectations: list[Expectation],
    dialect: str = "duckdb",
    time_zone: str = "UTC",
) -> list[ExpectationResult]:
    """Every expectation of `schema.table`, in order; failures and crashes are results, never raises.

    On DuckDB, `con` is the caller's open connection to the file `database_path` (None: open the file).
    On a warehouse whose adapter declares a "dsn" datasource (`dialect="postgres"`), `database_path` is the
    DSN and GX opens a connection of its own: the build's tables are committed as they are built, so a
    second connection sees them.
    """
    if not expectations:
        return []
    opened: duckdb.DuckDBPyConnection | None = None
    try:
        # GX warns about its own deprecations (e.g. TableAsset's schema_name, the only way to name a
        # schema on a generic SQL source): noise for a kpiframe user, so none of it reaches the terminal.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prefilter = False
            warehouse = adapter_class(dialect)
            if warehouse.gx_datasource == "dsn":
                source = _Source(warehouse.gx_url, lambda: warehouse.gx_connect(database_path, time_zone))
            else:  # callers normally lend their open connection; opening the file ourselves is the fallback
                connection = con if con is not None else (opened := duckdb.connect(database_path))
                source = _duckdb_source(connection, database_path, schema)
                prefilter = hash_prefilter_is_exact(connection, schema, table)
            with _gx_session(source, schema, table) as batch:
                return _validate(batch, schema, expectations, dialect, prefilter)
    except Exception as exc:  # the table is missing, the warehouse refused, GX broke: every check failed
        return [_crashed(e, f"could not validate {schema}.{table}: {_message(exc)}") for e in expectations]
    finally:
        if opened is not None:
            opened.close()


@dataclass
class _Source:
    """How GX's SQL data source reaches the warehouse: a dialect-naming URL and a DB-API `creator`.

    Every connection the creator opens is kept, to be closed when the checks of a table are done.
    """

    connection_string: str
    connect: Callable[[], Any]
    opened: list[Any] = field(default_factory=list)
    on_engine: Callable[[Any], None] | None = None

    def creator(self) -> Any:
        self.opened.append(self.connect())
        return self.opened[-1]


def _duckdb_source(con: duckdb.DuckDBPyConnection, database_path: str, schema: str) -> _Source:
    from kpiframe.quality import gx_duckdb

    return _Source(
        _connection_string(database_path),
        lambda: SharedDuckDBConnection(con, schema),
        on_engine=gx_duckdb.prepare_engine,
    )


@contextmanager
def _gx_session(source: _Source, schema: str, table: str) -> Iterator[Any]:
    """A GX batch over `schema.table`; the data source and every connection it opened go away after."""
    import sqlalchemy as sa

    context = _context()
    name = f"kpiframe_{uuid.uuid4().hex[:12]}"
    try:
        data_source = context.data_sources.add_sql(
            name=name,
            connection_string=source.connection_string,
            kwargs={"creator": source.creator, "poolclass": sa.pool.StaticPool},
        )
        if source.on_engine:
            source.on_engine(data_source.get_execution_engine())
        # A bare table name becomes quoted_name(quote=False) in GX, so SQLAlchemy would never quote it
        # (`FROM order` fails); a name in double quotes is always quoted. DuckDB matches quoted names
        # case-insensitively; PostgreSQL matches them exactly, as kpiframe creates its tables (quoted).
        quoted = f'"{table}"' if '"' not in table else table
        asset = data_source.add_table_asset(name=table, table_name=quoted, schema_name=schema)
        yield asset.add_batch_definition_whole_table("whole table").get_batch()
    finally:
        if name in context.data_sources.all():
            context.data_sources.delete(name)
        for connection in source.opened:
            with contextlib.suppress(Exception):  # one that fails to close must not keep the others open
                connection.close()


def hash_prefilter_is_exact(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """Whether `unique` may narrow its rows by hash first: only on a base table with no collated column
    and no default collation (a collation makes GROUP BY equate values whose hashes differ)."""
    rows = con.execute(
        "select sql from duckdb_tables() where schema_name = ? and table_name = ?", [schema, table]
    ).fetchall()
    default = con.execute("select current_setting('default_collation')").fetchone()
    return len(rows) == 1 and "collate" not in str(rows[0][0]).lower() and not (default and default[0])


def _validate(
    batch: Any, schema: str, expectations: list[Expectation], dialect: str, hash_prefilter: bool
) -> list[ExpectationResult]:
    import great_expectations as gx

    suite = gx.ExpectationSuite(name=f"kpiframe {expectations[0].target}")
    results: dict[int, ExpectationResult] = {}
    for index, expectation in enumerate(expectations):
        try:
            suite.add_expectation(_to_gx(expectation, index, schema, dialect, hash_prefilter))
        except Exception as exc:  # GX refused the arguments (pydantic): this check fails, the others run
            results[index] = _crashed(expectation, _message(exc))
    if len(results) < len(expectations):
        outcome = batch.validate(suite, result_format=RESULT_FORMAT)
        for gx_result in outcome.results:
            index = int(gx_result.expectation_config.meta[_INDEX_KEY])
            results[index] = _from_gx(expectations[index], gx_result)
    return [results.get(i) or _crashed(e, "Great Expectations returned no result") for i, e in enumerate(expectations)]


def _to_gx(expectation: Expectation, index: int, schema: str, dialect: str, hash_prefilter: bool) -> Any:
    from great_expectations.expectations.registry import get_expectation_impl

    meta = {_INDEX_KEY: index}
    if custom.runs_as_query(expectation.kind, expectation.kwargs):
        query = custom.unexpected_rows_query(expectation.kind, expectation.kwargs, schema, dialect, hash_prefilter)
        return _unexpected_rows_class()(
            unexpected_rows_query=query, meta=meta, description=expectation.description or expectation.label
        )
    gx_class = get_expectation_impl(expectation.kind)
    return gx_class(**expectation.kwargs, meta=meta, description=expectation.description)


def _from_gx(expectation: Expectation, gx_result: Any) -> ExpectationResult:
    result = gx_result.result or {}
    error = _exception_message(gx_result.exception_info)
    sample = result.get("partial_unexpected_list") or result.get("details", {}).get("unexpected_rows") or []
    if expectation.kind == custom.UNIQUE and sample and isinstance(sample[0], dict):
        column = expectation.kwargs["column"]  # the values, as GX's own uniqueness check lists them
        sample = [row.get(column) for row in sample]
    if all(value is None for value in sample):  # e.g. not_null: five NULLs tell nothing
        sample = []
    unexpected = result.get("unexpected_count")
    return ExpectationResult(
        expectation=expectation,
        success=bool(gx_result.success) and error is None,
        observed_value=result.get("observed_value"),
        element_count=result.get("element_count"),
        unexpected_count=unexpected,
        unexpected_percent=result.get("unexpected_percent"),
        sample=list(sample)[:SAMPLE_SIZE],
        error=error,
    )


def _exception_message(info: Any) -> str | None:
    """GX reports a crash either flat or keyed by metric; the first message is the useful one."""
    if not isinstance(info, dict):
        return None
    candidates = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    for entry in candidates:
        if entry.get("raised_exception"):
            return _clean(str(entry.get("exception_message") or "the expectation raised an exception"))
    return None


def _crashed(expectation: Expectation, error: str) -> ExpectationResult:
    return ExpectationResult(expectation, False, None, None, None, None, [], error)


def _message(exc: BaseException) -> str:
    return _clean(str(exc)) or type(exc).__name__


def _clean(message: str) -> str:
    """A driver error without SQLAlchemy's echo of the whole statement and its link to the docs."""
    text = re.split(r"\n\[SQL: |\n\(Background on this error", message, maxsplit=1)[0].strip()
    text = re.sub(r"^\(_?duckdb\.(\w+)\) ", r"\1: ", text)
    text = re.sub(r"^Error: ", "", text)  # GX's prefix on its own messages adds nothing
    return text if len(text) <= 600 else text[:597] + "..."


def _connection_string(database_path: str) -> str:
    """Only names the dialect for GX (the creator supplies the connection). The path is reduced to
    safe characters because GX reads `${...}` in connection strings as config variables."""
    return "duckdb:///" + (re.sub(r"[^A-Za-z0-9_.-]", "_", os.path.basename(database_path)) or "warehouse")


# --- GX itself, set up once per process ---------------------------------------------------------------------
# GX is imported when the first check runs, not in a background thread while the models build: on a
# machine whose cores DuckDB already keeps busy, importing beside it slowed the build by more than the
# import takes on its own (docs/benchmarks.md, "Expectations").
@functools.lru_cache(maxsize=1)
def _context() -> Any:
    """An ephemeral GX context: in memory only, no analytics, no progress bars."""
    os.environ["GX_ANALYTICS_ENABLED"] = "False"  # read by GX; there is no network here anyway
    from kpiframe.quality.gx_import import import_great_expectations

    gx = import_great_expectations()
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    # GX logs warnings as it goes; with no handler Python would print them on stderr (logging's
    # last resort). A NullHandler keeps them out of the terminal unless the application logs them.
    logging.getLogger("great_expectations").addHandler(logging.NullHandler())
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    # An ephemeral context "saves" its whole configuration after every change by dumping it to YAML in
    # memory, where nothing reads it: ~5 ms a time, four times per checked table. Kept in memory as is.
    context._save_project_config = lambda: None
    return context


@functools.lru_cache(maxsize=1)
def _unexpected_rows_class() -> type:
    """GX's UnexpectedRowsExpectation reading the count and the sample from one query.

    Our queries carry the total number of unexpected rows on every row (`custom.TOTAL`), so only the
    table metric (the first rows of the query) is asked for; the stock class also runs the query a
    second time to count it. Defined lazily: defining it registers it in GX.
    """
    from great_expectations.expectations.core.unexpected_rows_expectation import UnexpectedRowsExpectation

    class KpiframeUnexpectedRows(UnexpectedRowsExpectation):
        metric_dependencies = ("unexpected_rows_query.table",)

        def _validate(
            self,
            metrics: dict[str, Any],
            runtime_configuration: dict[str, Any] | None = None,
            execution_engine: Any = None,
        ) -> dict[str, Any]:
            rows = [dict(r) for r in metrics["unexpected_rows_query.table"] or []]
            count = int(rows[0][custom.TOTAL]) if rows else 0
            sample = [{k: v for k, v in r.items() if k != custom.TOTAL} for r in rows[:SAMPLE_SIZE]]
            return {
                "success": count == 0,
                "result": {"observed_value": count, "unexpected_count": count, "details": {"unexpected_rows": sample}},
            }

    return KpiframeUnexpectedRows
