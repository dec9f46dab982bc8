"""Small shims so that Great Expectations' SQL engine gives the same answers on every DuckDB version.

GX 1.x does not know DuckDB as a dialect. What it needs, and why:
- dialect-specific SQL (regex, LIKE ... ESCAPE, type names) comes from the execution engine's
  `dialect_module`, which GX leaves None for DuckDB, so every regex expectation failed with
  "Regex is not supported for dialect duckdb". duckdb-engine's dialect derives from SQLAlchemy's
  PostgreSQL dialect and DuckDB reads PostgreSQL's SQL, so GX is pointed at the PostgreSQL module;
- GX then writes regexes as PostgreSQL's `col ~ 'x'` (a partial match, like GX's pandas engine), but
  DuckDB before 2.0 reads `~` as a FULL match. `~` and `!~` are therefore compiled as
  `regexp_matches()`, which is a partial match on every DuckDB version.
Only imported when expectations run (it imports SQLAlchemy).
"""

from __future__ import annotations

import atexit
import functools
from typing import Any

from sqlalchemy import func, not_
from sqlalchemy.ext.compiler import compiles, deregister
from sqlalchemy.sql.elements import BinaryExpression
from sqlalchemy.sql.operators import custom_op


def prepare_engine(engine: Any) -> None:
    """Give a GX SqlAlchemyExecutionEngine on DuckDB the PostgreSQL vocabulary (see the module doc)."""
    install_sql_hooks()
    if getattr(engine, "dialect_module", None) is None:
        from sqlalchemy.dialects import postgresql

        engine.dialect_module = postgresql


@functools.lru_cache(maxsize=1)
def install_sql_hooks() -> None:
    """Register the regex compilation for the duckdb dialect, once, and undo it at exit."""
    compiles(BinaryExpression, "duckdb")(_regex_as_function)
    atexit.register(_release_at_exit)


def _regex_as_function(element: BinaryExpression[Any], compiler: Any, **kw: Any) -> str:
    operator = element.operator
    if isinstance(operator, custom_op) and operator.opstring in ("~", "!~"):
        matches = func.regexp_matches(element.left, element.right)
        return str(compiler.process(matches if operator.opstring == "~" else not_(matches), **kw))
    return str(compiler.visit_binary(element, **kw))


def _release_at_exit() -> None:
    """Drop SQLAlchemy compiler hooks on DuckDB's behalf before the interpreter tears down.

    DuckDB 2.x (nanobind) prints "nanobind: leaked N instances" when its objects outlive interpreter
    teardown. With GX loaded, SQLAlchemy's classes live to the very end, and compiler hooks on them
    (duckdb-engine's for TryCast, ours for BinaryExpression) keep modules that hold DuckDB objects
    alive through them. Dropping the hooks lets those objects go first.
    """
    deregister(BinaryExpression)
    try:
        from sqlalchemy import TryCast  # duckdb-engine's hook; TryCast exists from SQLAlchemy 2.0.14
    except ImportError:
        return
    deregister(TryCast)
