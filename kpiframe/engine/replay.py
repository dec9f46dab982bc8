"""Running SQL text that an earlier process rendered, without sqlglot or the project.

A cached `kpiframe query` (kpiframe/cli/query_cache.py) keeps the statements it ran and the adapter's
`replay_recipe`; this module reopens the warehouse from the recipe, read-only, and runs them. Only DuckDB
offers a recipe today. The recipe comes from a file under target/, so it is checked before use: a
connection is always read-only, never loads extensions, and takes no configuration but memory and threads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kpiframe.engine.duckdb_files import current_snapshot, refuse_foreign_file
from kpiframe.engine.result import QueryResult

_NO_EXTENSIONS = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
_CONFIG_KEYS = {"memory_limit", "threads", *_NO_EXTENSIONS}


class ReplayRefused(Exception):
    """The recipe cannot be replayed here; the caller compiles the query anew."""


def replay(recipe: Mapping[str, Any], statements: Sequence[str]) -> list[QueryResult]:
    """Each statement's rows, all read through one connection, so from one build."""
    if recipe.get("engine") != "duckdb":
        raise ReplayRefused(f"no replay for engine {recipe.get('engine')!r}")
    return _replay_duckdb(recipe, statements)


def _replay_duckdb(recipe: Mapping[str, Any], statements: Sequence[str]) -> list[QueryResult]:
    import duckdb  # only here: a request answered from the cache needs the driver, nothing else

    path, config, setup = recipe.get("path"), recipe.get("config"), recipe.get("setup")
    if not isinstance(path, str) or not isinstance(config, dict) or not isinstance(setup, list):
        raise ReplayRefused("the recipe is not one kpiframe wrote")
    if set(config) - _CONFIG_KEYS:
        raise ReplayRefused(f"the recipe sets {sorted(set(config) - _CONFIG_KEYS)}")
    snapshot = current_snapshot(path)
    if snapshot is None:
        raise ReplayRefused("no build has been published to read")
    refuse_foreign_file(str(snapshot))
    safe = {**config, **_NO_EXTENSIONS}
    with duckdb.connect(str(snapshot), read_only=True, config=safe) as con:
        for statement in setup:
            con.execute(statement)
        return [_rows(con.execute(statement)) for statement in statements]


def _rows(cursor: Any) -> QueryResult:
    return QueryResult([column[0] for column in cursor.description or []], cursor.fetchall())
