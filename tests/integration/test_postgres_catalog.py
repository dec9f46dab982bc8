"""kpiframe.metric_catalog and the comments on published tables on a real PostgreSQL server.

The example is built on PostgreSQL from the demo data; the catalog is written as the build will write it
(`apply_catalog` after the swap) and read back with psycopg from pg_description (`obj_description`,
`col_description`). Expected values come from metrics/*.yml, read by hand in tests/unit/test_metric_catalog.py.
"""

from __future__ import annotations

import shutil
from typing import Any

import psycopg  # a dev dependency: missing is a failure, not a skip
import pytest
from click.testing import CliRunner

from kpiframe.build.catalog import apply_catalog, catalog_statements
from kpiframe.build.runs import STAGING_SUFFIX
from kpiframe.cli import main
from kpiframe.project import Project
from tests.conftest import REPO_ROOT
from tests.unit.test_metric_catalog import example_yaml, expected_column_comments, expected_rows

TABLE_COMMENTS = """
    select c.relname, obj_description(c.oid, 'pg_class')
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = %s and c.relkind = 'r'"""
COLUMN_COMMENTS = """
    select c.relname, a.attname, col_description(c.oid, a.attnum)
    from pg_class c
    join pg_namespace n on n.oid = c.relnamespace
    join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
    where n.nspname = 'metrics' and col_description(c.oid, a.attnum) is not null"""
CATALOG = """
    select name, label, unit, description, owner, direction, formula, published_in
    from kpiframe.metric_catalog order by name"""


@pytest.fixture(scope="module")
def catalog_dsn(postgres_dsn: str) -> str:
    with psycopg.connect(postgres_dsn, autocommit=True) as con:
        con.execute("drop database if exists kf_catalog")
        con.execute("create database kf_catalog")
    return postgres_dsn.replace("dbname=postgres", "dbname=kf_catalog")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, catalog_dsn: str) -> Project:
    """The example on demo data, built on PostgreSQL, with the catalog written after the build."""
    root = tmp_path_factory.mktemp("pg_catalog")
    for item in ("models", "macros", "metrics"):
        if (REPO_ROOT / item).is_dir():
            shutil.copytree(REPO_ROOT / item, root / item)
    shutil.copy(REPO_ROOT / "definitions.lock", root)
    config = (REPO_ROOT / "kpi_project.yml").read_text(encoding="utf-8")
    (root / "kpi_project.yml").write_text(
        config.replace("  type: duckdb\n  path: warehouse.duckdb", f'  type: postgres\n  dsn: "{catalog_dsn}"', 1),
        encoding="utf-8",
    )
    demo = CliRunner().invoke(main, ["demo", "--seed", "3", "--scale", "0.05", "--project-dir", str(root)])
    assert demo.exit_code == 0, demo.output
    project = Project.load(root)
    assert project.warehouse_spec.type == "postgres"
    project.build()
    warehouse = project.connect()
    try:
        apply_catalog(warehouse, project.graph)
    finally:
        warehouse.close()
    return project


def read(dsn: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as con:
        return con.execute(sql, params).fetchall()


def test_the_catalog_table_holds_one_row_per_metric(built: Project, catalog_dsn: str) -> None:
    rows = read(catalog_dsn, CATALOG)
    expected = expected_rows()
    assert [r[0] for r in rows] == sorted(expected)
    for name, label, unit, description, owner, direction, formula, published_in in rows:
        assert (label, unit, description, owner, direction, published_in) == expected[name], name
        assert formula
    types = read(
        catalog_dsn,
        "select column_name, data_type from information_schema.columns "
        "where table_schema = 'kpiframe' and table_name = 'metric_catalog' order by ordinal_position",
    )
    assert [t for _, t in types] == ["text"] * 8
    [(_, comment)] = read(catalog_dsn, TABLE_COMMENTS + " and c.relname = 'metric_catalog'", "kpiframe")
    assert "acme_revenue" in comment


def test_metric_columns_and_tables_carry_comments(built: Project, catalog_dsn: str) -> None:
    assert set(read(catalog_dsn, COLUMN_COMMENTS)) == expected_column_comments()
    tables = dict(read(catalog_dsn, TABLE_COMMENTS, "metrics"))
    yaml = example_yaml()
    for table in yaml["tables"]:
        assert tables[table["name"]] == table["description"]
    funnel_comments = [text for name, text in tables.items() if name.startswith("funnel_")]
    assert len(funnel_comments) == 3 and all(yaml["funnels"][0]["description"] in t for t in funnel_comments)
    # every comment kpiframe wrote is in pg_description itself (what BI tools read)
    [(count,)] = read(
        catalog_dsn,
        "select count(*) from pg_description d join pg_class c on c.oid = d.objoid "
        "join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'metrics'",
    )
    assert count == len(expected_column_comments()) + len(tables)


def test_every_build_comments_the_tables_it_publishes(built: Project, catalog_dsn: str) -> None:
    """A build replaces every table, and writes the catalog and the comments again in its swap transaction."""
    with psycopg.connect(catalog_dsn) as con:
        con.execute("drop table kpiframe.metric_catalog")
        con.execute("comment on column metrics.marketing_monthly.leads is null")
    assert ("marketing_monthly", "leads") not in {row[:2] for row in read(catalog_dsn, COLUMN_COMMENTS)}
    built.build()
    assert set(read(catalog_dsn, COLUMN_COMMENTS)) == expected_column_comments()
    assert len(read(catalog_dsn, CATALOG)) == len(expected_rows())
    warehouse = built.connect()
    try:  # run again on a built warehouse, it replaces what is there with the same
        apply_catalog(warehouse, built.graph)
    finally:
        warehouse.close()
    assert set(read(catalog_dsn, COLUMN_COMMENTS)) == expected_column_comments()


def test_comments_on_staging_tables_survive_the_rename(built: Project, catalog_dsn: str) -> None:
    """PostgreSQL keeps comments on the table's OID: written on `<name>__kf_new`, they follow the rename."""
    tables = [r[0] for r in read(catalog_dsn, TABLE_COMMENTS, "metrics")]
    with psycopg.connect(catalog_dsn) as con:
        for name in tables:
            con.execute(f'drop table if exists metrics."{name}{STAGING_SUFFIX}"')
            con.execute(f'create table metrics."{name}{STAGING_SUFFIX}" as select * from metrics."{name}"')
        for statement in catalog_statements(built.graph, STAGING_SUFFIX):
            con.execute(statement.sql(dialect="postgres"))
        for name in tables:
            con.execute(f'drop table metrics."{name}"')
            con.execute(f'alter table metrics."{name}{STAGING_SUFFIX}" rename to "{name}"')
        con.execute("drop table kpiframe.metric_catalog")
        con.execute(f'alter table kpiframe."metric_catalog{STAGING_SUFFIX}" rename to metric_catalog')
    assert set(read(catalog_dsn, COLUMN_COMMENTS)) == expected_column_comments()
    assert dict(read(catalog_dsn, TABLE_COMMENTS, "metrics"))["sales_monthly"] == (
        "Sales outcomes by lead channel, per month."
    )
    assert len(read(catalog_dsn, CATALOG)) == len(expected_rows())
