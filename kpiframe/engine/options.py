"""Which engine a project's warehouse is: kpi_project.yml's `warehouse:`, overridden by --warehouse or
KPIFRAME_WAREHOUSE, whose value names its engine (a PostgreSQL DSN, `spark:<master>`, else a DuckDB file).

Kept in kpiframe/engine/, the one package that knows the engines, and free of their drivers: choosing a
warehouse imports none of them."""

from __future__ import annotations

import os
import re
from pathlib import Path

from kpiframe.load.specs import ProjectSpec, WarehouseSpec

WAREHOUSE_ENV = "KPIFRAME_WAREHOUSE"


def resolve_warehouse(spec: ProjectSpec, root: Path, override: str | None) -> WarehouseSpec:
    """--warehouse beats KPIFRAME_WAREHOUSE beats kpi_project.yml. The value names its engine: a PostgreSQL
    DSN is PostgreSQL whatever the project's default (never a DuckDB file named after the DSN), anything
    else a DuckDB file, relative to the project. Every session is set to the calendar's time zone."""
    zoned = spec.model_copy(
        update={"warehouse": spec.warehouse.model_copy(update={"time_zone": spec.calendar.time_zone})}
    )
    return _chosen(zoned, root, override)


def _chosen(spec: ProjectSpec, root: Path, override: str | None) -> WarehouseSpec:
    chosen = override or os.environ.get(WAREHOUSE_ENV)
    if chosen and is_postgres_dsn(chosen):
        return spec.warehouse.model_copy(update={"type": "postgres", "dsn": chosen})
    if chosen and chosen.startswith(SPARK_PREFIX):  # spark:local[2], spark:sc://host:15002 (docs/spark.md)
        return _spark(spec.warehouse.model_copy(update={"master": chosen.removeprefix(SPARK_PREFIX)}), root)
    if not chosen and spec.warehouse.type == "spark":
        return _spark(spec.warehouse, root)
    if not chosen and spec.warehouse.type == "postgres":
        return spec.warehouse
    chosen = chosen or spec.warehouse.path
    path = chosen if chosen == ":memory:" or Path(chosen).is_absolute() else str(root / chosen)
    return spec.warehouse.model_copy(update={"type": "duckdb", "path": path})


SPARK_PREFIX = "spark:"


def _spark(spec: WarehouseSpec, root: Path) -> WarehouseSpec:
    """Spark, its warehouse folder relative to the project (a URL such as s3a://... stays as written)."""
    folder = spec.warehouse_dir
    if "://" not in folder and not Path(folder).is_absolute():
        folder = str(root / folder)
    return spec.model_copy(update={"type": "spark", "warehouse_dir": folder})


# libpq's connection strings: a URI, or key=value pairs with at least one of these keys
_DSN_SCHEMES = ("postgresql://", "postgres://")
_DSN_KEY = re.compile(
    r"(?:^|\s)(?:host|hostaddr|port|dbname|user|password|passfile|service|sslmode|"
    r"connect_timeout|application_name|options)\s*=",
    re.IGNORECASE,
)


def is_postgres_dsn(value: str) -> bool:
    text = value.strip()
    return text.lower().startswith(_DSN_SCHEMES) or bool(_DSN_KEY.search(text))
