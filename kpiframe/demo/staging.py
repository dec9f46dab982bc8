"""Staging the demo's raw tables beside the live ones, and swapping them in all at once.

Like `kpiframe build`, the generator never writes a live raw table: every statement is pointed at
``raw.<table>__kf_new``, and only when all seven staging tables are full are they swapped in, in ONE
transaction (drop the live table, rename the staging one). A run that fails, runs out of disk or is killed
before that leaves raw.* as it was; its leftover staging tables are dropped by the next run.
"""

from __future__ import annotations

import contextlib

import duckdb
import sqlglot
from sqlglot import exp

from kpiframe.build.runs import STAGING_SUFFIX
from kpiframe.demo.contract import RAW_TABLES, SCHEMA
from kpiframe.sql.expressions import create_schema, create_table


def staging_name(table: str) -> str:
    return table + STAGING_SUFFIX


def raw_table(name: str) -> exp.Table:
    return exp.table_(name, db=SCHEMA, quoted=True)


def retarget(sql: str) -> str:
    """`sql` (DuckDB) with every raw table of the contract replaced by its staging table.

    A statement that names no raw table is returned as written, so that the macros and dimension
    tables, some of which sqlglot only keeps as opaque commands, never go through a rewrite.
    """
    if SCHEMA not in sql:  # cheap pre-filter; it also spares sqlglot's warning about DuckDB's macro syntax
        return sql
    tree = sqlglot.parse_one(sql, read="duckdb")
    if not any(_is_raw(table) for table in tree.find_all(exp.Table)):
        return sql
    return tree.transform(_to_staging).sql(dialect="duckdb")


def _is_raw(node: exp.Expr) -> bool:
    return isinstance(node, exp.Table) and node.db == SCHEMA and not node.catalog and node.name in RAW_TABLES


def _to_staging(node: exp.Expr) -> exp.Expr:
    if not _is_raw(node):
        return node
    new = raw_table(staging_name(node.name))
    if _is_insert_target(node):
        return new
    alias = node.args.get("alias")
    # keep the name the statement reads it by: `raw.leads` is still `leads` in `leads.lead_id`
    return new.as_(alias.this, quoted=True) if alias else new.as_(node.name, quoted=True)


def _is_insert_target(node: exp.Expr) -> bool:
    parent = node.parent
    if isinstance(parent, exp.Schema):  # INSERT INTO t (columns) ...
        parent = parent.parent
    return isinstance(parent, exp.Insert)


def create_staging_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the leftovers of an earlier run, then create the empty staging tables of the contract."""
    con.execute(create_schema(SCHEMA).sql(dialect="duckdb"))
    drop_staging_tables(con)
    for table, columns in RAW_TABLES.items():
        con.execute(create_table(SCHEMA, staging_name(table), columns).sql(dialect="duckdb"))


def drop_staging_tables(con: duckdb.DuckDBPyConnection) -> None:
    for table in RAW_TABLES:
        _drop(con, staging_name(table))


def drop_staging_quietly(con: duckdb.DuckDBPyConnection) -> None:
    """Best effort after a failure: a full disk or a dead database may refuse even this, and the error that
    stopped the run is the one to report; the next run drops what is left."""
    with contextlib.suppress(duckdb.Error):
        drop_staging_tables(con)


def swap_in(con: duckdb.DuckDBPyConnection) -> None:
    """Replace every live raw table by its staging table, in one transaction: all of them or none."""
    con.execute("BEGIN TRANSACTION")
    try:
        for table in RAW_TABLES:
            _drop(con, table)
            rename = exp.Alter(
                this=raw_table(staging_name(table)),
                kind="TABLE",
                actions=[exp.AlterRename(this=exp.to_identifier(table, quoted=True))],
            )
            con.execute(rename.sql(dialect="duckdb"))
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):  # a failed COMMIT has already ended the transaction
            con.execute("ROLLBACK")
        raise


def _drop(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop raw.<name> whatever it is: a user may have replaced a demo table by a view."""
    kind = _object_kind(con, name)
    if kind is not None:
        con.execute(exp.Drop(tables=[raw_table(name)], kind=kind, exists=True).sql(dialect="duckdb"))


def _object_kind(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    tables = (
        exp.select("table_type")
        .from_(exp.table_("tables", db="information_schema"))
        .where(
            exp.and_(
                exp.column("table_schema").eq(exp.Literal.string(SCHEMA)),
                exp.column("table_name").eq(exp.Literal.string(name)),
                exp.column("table_catalog").eq(exp.func("current_database")),
            )
        )
    )
    row = con.execute(tables.sql(dialect="duckdb")).fetchone()
    if row is None:
        return None
    return "VIEW" if row[0] == "VIEW" else "TABLE"
