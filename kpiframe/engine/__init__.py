"""Warehouse adapters: everything above this package speaks sqlglot trees, never a driver.

Nothing outside this package names an engine: it connects with `connect`, and asks `adapter_class` (or
the connected `Warehouse`) what the engine can do. An engine is one module here plus its line in
ADAPTERS (docs/architecture.md, "Adding an engine").
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from kpiframe.engine.result import QueryResult

# The adapter protocol imports sqlglot; a cached `kpiframe query` (kpiframe/cli/query_cache.py) needs
# only QueryResult and a DuckDB reader, so the protocol's names load when first used.
if TYPE_CHECKING:
    from kpiframe.engine.base import Scratch, Warehouse
    from kpiframe.load.specs import WarehouseSpec

_LAZY = {"Scratch", "Warehouse"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module("kpiframe.engine.base"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# warehouse.type -> "module:class" of its adapter, imported when first asked for (a driver only then)
ADAPTERS = {
    "duckdb": "kpiframe.engine.duckdb:DuckDBWarehouse",
    "postgres": "kpiframe.engine.postgres:PostgresWarehouse",
    "spark": "kpiframe.engine.spark:SparkWarehouse",
}


def adapter_class(kind: str) -> type[Warehouse]:
    """The adapter for `warehouse.type` (or a dialect name) `kind`: its capabilities, before connecting."""
    if kind not in ADAPTERS:
        raise ValueError(f"unsupported warehouse type {kind}")
    module, _, name = ADAPTERS[kind].partition(":")
    found: type[Warehouse] = getattr(importlib.import_module(module), name)
    return found


def connect(spec: WarehouseSpec, read_only: bool = False) -> Warehouse:
    """Open the warehouse named in the project's configuration."""
    return adapter_class(spec.type)(spec, read_only=read_only)  # type: ignore[call-arg]


def open_scratch(spec: WarehouseSpec | None) -> Scratch:
    """A scratch space beside `spec`'s warehouse, which it only reads (`Warehouse.open_scratch`); without
    a warehouse, an empty in-memory DuckDB, where sources are created empty."""
    return adapter_class(spec.type if spec else "duckdb").open_scratch(spec)


__all__ = ["ADAPTERS", "QueryResult", "Scratch", "Warehouse", "adapter_class", "connect", "open_scratch"]


def warehouse_label(spec: WarehouseSpec) -> str:
    """Where the data is, for messages: the DuckDB file, PostgreSQL's database and host (no password), the
    Spark master and its tables' folder."""
    return adapter_class(spec.type).describe_location(spec)
