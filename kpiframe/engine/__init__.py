"""Warehouse adapters: everything above this package speaks sqlglot trees, never a driver."""

from __future__ import annotations

from kpiframe.engine.base import QueryResult, Warehouse
from kpiframe.load.specs import WarehouseSpec


def connect(spec: WarehouseSpec, read_only: bool = False) -> Warehouse:
    """Open the warehouse named in the project's configuration."""
    if spec.type == "duckdb":
        from kpiframe.engine.duckdb import DuckDBWarehouse

        return DuckDBWarehouse(spec, read_only=read_only)
    if spec.type == "postgres":
        from kpiframe.engine.postgres import PostgresWarehouse

        return PostgresWarehouse(spec, read_only=read_only)
    if spec.type == "spark":
        from kpiframe.engine.spark import SparkWarehouse

        return SparkWarehouse(spec, read_only=read_only)
    raise ValueError(f"unsupported warehouse type {spec.type}")


__all__ = ["QueryResult", "Warehouse", "connect"]
