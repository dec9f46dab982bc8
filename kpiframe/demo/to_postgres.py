"""The demo on PostgreSQL: generated in an in-memory DuckDB (the generator is DuckDB SQL), then copied.

Rows travel in batches with COPY, so a large scale never holds a whole table in Python.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import duckdb
from sqlglot import exp

from kpiframe.demo.contract import RAW_TABLES, SCHEMA
from kpiframe.demo.generator import generate_demo
from kpiframe.engine.postgres import PostgresWarehouse

BATCH_ROWS = 50_000


def generate_demo_on_postgres(target: PostgresWarehouse, seed: int, scale: float,
                              progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """Generate the raw tables as `generate_demo` does and replace those of `target` with them."""
    with duckdb.connect() as source:
        counts = generate_demo(source, seed=seed, scale=scale, progress=progress)
        for table, columns in RAW_TABLES.items():
            rows = exp.select(*[exp.column(name, quoted=True) for name, _ in columns]).from_(
                exp.table_(table, db=SCHEMA, quoted=True))
            cursor = source.execute(rows.sql(dialect="duckdb"))
            target.load_table(SCHEMA, table, columns, _batches(cursor))
            if progress is not None:
                progress(f"{table}: copied to PostgreSQL")
    return counts


def _batches(cursor: duckdb.DuckDBPyConnection) -> Iterator[list[tuple[Any, ...]]]:
    while batch := cursor.fetchmany(BATCH_ROWS):
        yield batch
