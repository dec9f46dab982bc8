"""A DB-API connection over the caller's DuckDB database whose cursors keep their rows.

Why this exists (GX issue #10738): GX 1.x's SQL engine runs `execute_query` inside
`with engine.connect()`, so SQLAlchemy ends the transaction and hands the connection back before GX
calls `fetchall()`. duckdb-engine's cursors are views of one DuckDB connection whose single result
is unbuffered, so the ROLLBACK on release wipes it and GX reads `[]` (`IndexError: list index out of
range` on every expectation). A real DB-API gives each cursor its own result; here every cursor is a
separate DuckDB cursor (`con.cursor()` is a child connection to the same database), so whatever
SQLAlchemy does to the connection afterwards cannot touch rows not fetched yet.

The connection is built from the caller's open connection (SQLAlchemy's `creator`): a second
`duckdb.connect(path)` from duckdb-engine would fail with "different configuration" because
duckdb-engine adds a `custom_user_agent` setting, and the caller's read-write handle already owns the
file. Every statement autocommits on its own cursor; begin/commit/rollback are no-ops because the
checks only read committed tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
from sqlglot import exp


class IndependentCursor:
    """A DB-API cursor backed by its own DuckDB cursor, so its result outlives connection resets."""

    arraysize = 1

    def __init__(self, cursor: duckdb.DuckDBPyConnection, connection: SharedDuckDBConnection) -> None:
        self._cursor = cursor
        self.connection = connection

    def execute(
        self, statement: str, parameters: Sequence[Any] | dict[str, Any] | None = None, context: Any = None
    ) -> None:
        if parameters:
            self._cursor.execute(statement, parameters)
        else:
            self._cursor.execute(statement)

    def executemany(self, statement: str, parameters: Sequence[Any] | None = None, context: Any = None) -> None:
        self._cursor.executemany(statement, list(parameters) if parameters else [])

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self.arraysize)

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    def close(self) -> None:
        self._cursor.close()

    def __getattr__(self, name: str) -> Any:  # the rest of DuckDB's DB-API cursor, as duckdb-engine's does
        return getattr(self._cursor, name)


class SharedDuckDBConnection:
    """What SQLAlchemy sees as the DB-API connection: one child of the caller's DuckDB connection.

    `schema` goes first on each cursor's search path. GX qualifies the checked table almost
    everywhere, but when duckdb-engine cannot reflect its columns (DuckDB 1.4 lacks the
    pg_collation that SQLAlchemy 2.0's reflection asks for; GX lowercases a mixed-case schema name)
    GX falls back to `SELECT * FROM <bare table name>`, which then still finds the right table.
    """

    autocommit = None  # read by duckdb-engine; DuckDB has no autocommit switch
    notices: list[str] = []

    def __init__(self, con: duckdb.DuckDBPyConnection, schema: str | None = None) -> None:
        self._con = con.cursor()  # closing it closes our cursors too, never the caller's connection
        self._setup = _search_path(schema) if schema else None
        self.closed = False

    def cursor(self) -> IndependentCursor:
        cursor = self._con.cursor()
        if self._setup:
            cursor.execute(self._setup)  # a DuckDB setting of one connection, so set on each cursor
        return IndependentCursor(cursor, self)

    # Each statement runs in autocommit on its own cursor, so there is no transaction to manage.
    def begin(self) -> None:
        pass

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass

    def close(self) -> None:
        if not self.closed:
            self._con.close()
            self.closed = True


def _search_path(schema: str) -> str:
    """`SET search_path = '"schema",main'`, quoted by sqlglot rather than pasted."""
    path = exp.to_identifier(schema, quoted=True).sql(dialect="duckdb") + ",main"
    return f"SET search_path = {exp.Literal.string(path).sql(dialect='duckdb')}"
