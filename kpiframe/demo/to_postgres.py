"""The demo on PostgreSQL: generated in an in-memory DuckDB (the generator is DuckDB SQL), then copied.

Rows travel in batches with COPY, so a large scale never holds a whole table in Python. The copy and the
swap are ONE PostgreSQL transaction (its DDL is transactional): the rows go into staging tables
``raw.<table>__kf_new`` first, and the live tables are dropped and replaced only at the end, so readers
keep the old tables until the commit, and a failure or a killed client rolls everything back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import duckdb
from sqlglot import exp

from kpiframe.demo.contract import RAW_TABLES, SCHEMA
from kpiframe.demo.generator import generate_demo
from kpiframe.demo.staging import raw_table, staging_name
from kpiframe.engine.postgres import PostgresWarehouse
from kpiframe.sql.expressions import create_schema, create_table

BATCH_ROWS = 50_000


def generate_demo_on_postgres(
    target: PostgresWarehouse, seed: int, scale: float, progress: Callable[[str], None] | None = None
) -> dict[str, int]:
    """Generate the raw tables as `generate_demo` does and replace those of `target` with them, at once."""
    with duckdb.connect() as source:
        counts = generate_demo(source, seed=seed, scale=scale, progress=progress)
        with target.transaction():
            target.execute(create_schema(SCHEMA))
            for table, columns in RAW_TABLES.items():
                _copy_to_staging(source, target, table, columns)
                if progress is not None:
                    progress(f"{table}: copied to PostgreSQL")
            for table in RAW_TABLES:
                _swap_in(target, table)
    return counts


def _copy_to_staging(
    source: duckdb.DuckDBPyConnection, target: PostgresWarehouse, table: str, columns: tuple[tuple[str, str], ...]
) -> None:
    staging = staging_name(table)
    _drop(target, staging)  # left by an older kpiframe that did not stage in one transaction
    target.execute(create_table(SCHEMA, staging, columns))
    names = [exp.to_identifier(name, quoted=True) for name, _ in columns]
    rows = exp.select(*[exp.column(name, quoted=True) for name, _ in columns]).from_(raw_table(table))
    copy = exp.Copy(
        this=exp.Schema(this=raw_table(staging), expressions=names), kind=True, files=[exp.Var(this="STDIN")]
    )
    cursor = source.execute(rows.sql(dialect="duckdb"))
    with target.con.cursor().copy(target.render(copy)) as stream:
        for batch in _batches(cursor):
            for row in batch:
                stream.write_row(row)


def _swap_in(target: PostgresWarehouse, table: str) -> None:
    _drop(target, table)
    rename = exp.Alter(
        this=raw_table(staging_name(table)),
        kind="TABLE",
        actions=[exp.AlterRename(this=exp.to_identifier(table, quoted=True))],
    )
    target.execute(rename)


def _drop(target: PostgresWarehouse, name: str) -> None:
    kind = target.object_type(SCHEMA, name)
    if kind is not None:
        target.execute(exp.Drop(tables=[raw_table(name)], kind=kind.upper(), exists=True))


def _batches(cursor: duckdb.DuckDBPyConnection) -> Iterator[list[tuple[Any, ...]]]:
    while batch := cursor.fetchmany(BATCH_ROWS):
        yield batch
