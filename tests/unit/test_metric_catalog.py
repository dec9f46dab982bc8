"""kpiframe.metric_catalog and the comments on published tables, on the example built on demo data (DuckDB).

The expected rows and comments are read from metrics/*.yml with ruamel.yaml here, not through kpiframe; the
warehouse is read with hand-written SQL over duckdb_tables() and duckdb_columns()."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest
from ruamel.yaml import YAML
from sqlglot import exp

from kpiframe.build.catalog import apply_catalog, catalog_rows, catalog_statements
from kpiframe.build.runs import STAGING_SUFFIX
from kpiframe.engine import connect
from kpiframe.load.specs import WarehouseSpec
from kpiframe.pipeline import load_project
from tests.conftest import REPO_ROOT

CATALOG_SQL = """
    select name, label, unit, description, owner, direction, formula, published_in
    from kpiframe.metric_catalog order by name"""
COMMENTS_SQL = """
    select table_name, column_name, comment from duckdb_columns()
    where schema_name = 'metrics' and comment is not null"""
TABLE_COMMENTS_SQL = "select table_name, comment from duckdb_tables() where schema_name = 'metrics'"


# --- what the YAML says, read without kpiframe ------------------------------------------------------------
def example_yaml() -> dict[str, list[Any]]:
    """Every item under metrics:, tables:, trees: and funnels: of the example's metrics/*.yml."""
    found: dict[str, list[Any]] = {"metrics": [], "tables": [], "trees": [], "funnels": []}
    for path in sorted((REPO_ROOT / "metrics").rglob("*.yml")):
        data = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8")) or {}
        for key, items in found.items():
            items.extend(data.get(key) or [])
    return found


def expected_rows() -> dict[str, tuple[Any, ...]]:
    """name -> (label, unit, description, owner, direction, published_in) as the YAML declares them."""
    yaml = example_yaml()
    tree_directions: dict[str, str] = {}
    for tree in yaml["trees"]:
        nodes = [tree["kgi"], *(k for ksf in tree.get("ksfs", []) for k in ksf.get("kpis", [])), *tree["drivers"]]
        for node in nodes:
            if node.get("direction"):
                tree_directions.setdefault(node["metric"], node["direction"])
    rows = {}
    for metric in yaml["metrics"]:
        name = metric["name"]
        tables = sorted(f"metrics.{t['name']}" for t in yaml["tables"] if name in t["metrics"])
        rows[name] = (
            metric.get("label", name),
            metric.get("unit"),
            metric.get("description"),
            metric.get("owner"),
            tree_directions.get(name, metric.get("direction")),
            ", ".join(tables) or None,
        )
    return rows


# --- fixtures ---------------------------------------------------------------------------------------------
def run_statements(path: Path, statements: list[exp.Expr]) -> None:
    con = duckdb.connect(str(path))
    try:
        for statement in statements:
            con.execute(statement.sql(dialect="duckdb"))
    finally:
        con.close()


def read(path: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def catalogued(built_example: Path) -> Path:
    """The built example's warehouse as `kpiframe build` left it: the build writes the catalog and the
    comments in its swap transaction, and its serving snapshot holds them for readers."""
    snapshot = built_example / "warehouse.duckdb.serving" / "current.duckdb"
    assert snapshot.exists()
    return snapshot


# --- kpiframe.metric_catalog ------------------------------------------------------------------------------
def test_one_catalog_row_per_metric_of_the_yaml(catalogued: Path) -> None:
    rows = read(catalogued, CATALOG_SQL)
    expected = expected_rows()
    assert len(expected) > 40
    assert [r[0] for r in rows] == sorted(expected)
    for name, label, unit, description, owner, direction, _, published_in in rows:
        assert (label, unit, description, owner, direction, published_in) == expected[name], name


def test_some_rows_in_full(catalogued: Path) -> None:
    rows = {r[0]: r for r in read(catalogued, CATALOG_SQL)}
    assert rows["pipeline"] == (
        "pipeline",
        "Marketing pipeline",
        "currency",
        "Amount of opportunities created from valid leads.",
        "revenue-ops",
        "higher",
        "sum(amount) from opportunities where is_marketing_sourced",
        "metrics.marketing_monthly, metrics.marketing_weekly, metrics.sales_monthly, metrics.sales_weekly",
    )
    # in no published table: NULL, not an empty string
    assert rows["closed_deals"][6:] == ("count(opportunity_id) from opportunities where is_won is not null", None)
    assert rows["sessions"][6] == "count(distinct session_id) from web_sessions"
    assert rows["mqls"][6] == "count(lead_id) from mql_v1"  # a measure of a generated dataset


def test_formulas_follow_the_metric_type(catalogued: Path) -> None:
    formulas = dict(read(catalogued, "select name, formula from kpiframe.metric_catalog"))
    for metric in example_yaml()["metrics"]:
        kind, formula = metric.get("type", "simple"), formulas[metric["name"]]
        if kind == "ratio":
            assert formula == f"{metric['numerator']} / {metric['denominator']}"
        elif kind == "derived":
            assert formula.startswith(metric["expr"])
        elif kind == "cumulative":
            assert formula.startswith((f"sum of {metric['metric']} ", f"distinct count of {metric['metric']} "))
        else:
            assert (" where " in formula) == ("filter" in metric), metric["name"]
            assert "filter" not in metric or formula.endswith(f" where {metric['filter']}"), metric["name"]
    assert formulas["leads_growth"] == (
        "(leads - leads_previous) / leads_previous; leads_previous = leads of the previous period"
    )
    assert formulas["sessions_7d"] == "distinct count of sessions over the trailing 7 days"  # count(distinct)
    assert formulas["bookings_mtd"] == "sum of bookings from the start of the month"


def test_the_catalog_columns_are_text(catalogued: Path) -> None:
    types = read(
        catalogued,
        "select column_name, data_type from duckdb_columns() where schema_name = 'kpiframe' "
        "and table_name = 'metric_catalog' order by column_index",
    )
    assert types == [
        (c, "VARCHAR")
        for c in ("name", "label", "unit", "description", "owner", "direction", "formula", "published_in")
    ]
    [(comment,)] = read(catalogued, "select comment from duckdb_tables() where table_name = 'metric_catalog'")
    assert "acme_revenue" in comment


# --- comments on the published tables ---------------------------------------------------------------------
def expected_column_comments() -> set[tuple[str, str, str]]:
    yaml = example_yaml()
    metrics = {m["name"]: m for m in yaml["metrics"]}
    found = set()
    for table in yaml["tables"]:
        for name in table["metrics"]:
            m = metrics[name]
            found.add((table["name"], name, f"{m.get('label', name)}: {m['description']} ({m['unit']})"))
    return found


def test_every_metric_column_of_every_published_table_says_what_it_is(catalogued: Path) -> None:
    comments = set(read(catalogued, COMMENTS_SQL))
    assert comments == expected_column_comments()
    assert ("marketing_monthly", "leads", "Leads: Valid leads created in the period. (count)") in comments
    # period and dimension columns carry no comment
    assert not read(
        catalogued,
        "select 1 from duckdb_columns() where schema_name = 'metrics' "
        "and column_name in ('period_start', 'lead__channel', 'cohort_start') and comment is not null",
    )


def test_every_published_table_is_described(catalogued: Path) -> None:
    comments = dict(read(catalogued, TABLE_COMMENTS_SQL))
    yaml = example_yaml()
    for table in yaml["tables"]:
        assert comments[table["name"]] == table["description"]
    [funnel] = yaml["funnels"]
    funnel_tables = {name: text for name, text in comments.items() if name.startswith("funnel_")}
    assert len(funnel_tables) == 1 + len(funnel["dimensions"])
    assert all(text and funnel["description"] in text for text in funnel_tables.values())
    assert "by channel" in comments["funnel_lead_funnel_monthly_by_channel"]


def test_running_the_statements_again_replaces_the_catalog(catalogued: Path, tmp_path: Path) -> None:
    path = tmp_path / "again.duckdb"
    shutil.copy(catalogued, path)
    before = read(path, CATALOG_SQL), set(read(path, COMMENTS_SQL))
    run_statements(path, catalog_statements(load_project(REPO_ROOT)))
    assert (read(path, CATALOG_SQL), set(read(path, COMMENTS_SQL))) == before


# --- the build's rename --------------------------------------------------------------------------------------
def test_comments_on_staging_tables_survive_the_swap(built_example: Path, tmp_path: Path) -> None:
    """Written on `<name>__kf_new` and renamed as the build swaps: DuckDB keeps them with the table."""
    path = tmp_path / "staged.duckdb"
    shutil.copy(built_example / "warehouse.duckdb", path)
    project = load_project(built_example)
    tables = [r[0] for r in read(path, "select table_name from duckdb_tables() where schema_name = 'metrics'")]
    con = duckdb.connect(str(path))
    try:
        for name in tables:
            con.execute(f'create table metrics."{name}{STAGING_SUFFIX}" as select * from metrics."{name}"')
        for statement in catalog_statements(project, STAGING_SUFFIX):
            con.execute(statement.sql(dialect="duckdb"))
        con.execute("begin")
        for name in tables:
            con.execute(f'drop table metrics."{name}"')
            con.execute(f'alter table metrics."{name}{STAGING_SUFFIX}" rename to "{name}"')
        con.execute("drop table kpiframe.metric_catalog")  # the one the build wrote
        con.execute(f'alter table kpiframe."metric_catalog{STAGING_SUFFIX}" rename to metric_catalog')
        con.execute("commit")
    finally:
        con.close()
    assert set(read(path, COMMENTS_SQL)) == expected_column_comments()
    assert len(read(path, CATALOG_SQL)) == len(expected_rows())
    assert dict(read(path, TABLE_COMMENTS_SQL))["sales_monthly"] == "Sales outcomes by lead channel, per month."


def test_apply_catalog_skips_published_tables_never_built(built_example: Path, tmp_path: Path) -> None:
    path = tmp_path / "partial.duckdb"
    shutil.copy(built_example / "warehouse.duckdb", path)
    con = duckdb.connect(str(path))
    con.execute("drop table metrics.sales_weekly")
    con.close()
    warehouse = connect(WarehouseSpec(type="duckdb", path=str(path)))
    try:
        assert apply_catalog(warehouse, load_project(built_example)) > 50
    finally:
        warehouse.close()
    comments = set(read(path, COMMENTS_SQL))
    assert comments == {c for c in expected_column_comments() if c[0] != "sales_weekly"}
    assert len(read(path, CATALOG_SQL)) == len(expected_rows())
    # the table no longer exists, but the catalog still says where the metric is published
    [(published_in,)] = read(path, "select published_in from kpiframe.metric_catalog where name = 'sqls'")
    assert published_in == "metrics.sales_monthly, metrics.sales_weekly"


# --- metadata fallbacks, on a small project (no build) ------------------------------------------------------
TREE = """
    trees:
      - name: shop_tree
        kgi: {metric: revenue, direction: lower}
        ksfs:
          - name: more_orders
            kpis: [{metric: orders}]
"""


def test_label_direction_and_text_fallbacks(make_project: Callable[..., Path]) -> None:
    metrics_yml = """
        datasets:
          - name: orders
            model: stg_orders
            time: ordered_at
            measures:
              - {name: order_count, agg: count}
              - {name: revenue_sum, agg: sum, expr: amount}
              - {name: avg_amount, agg: average, expr: amount}
        metrics:
          - {name: orders, measure: order_count, direction: higher}
          - {name: revenue, measure: revenue_sum, direction: higher, label: "Customer's revenue", unit: currency}
          - {name: typical_order, measure: avg_amount, description: Mean order amount.}
        tables:
          - {name: shop_monthly, grain: month, metrics: [orders, revenue, typical_order]}
    """
    root = make_project({"metrics/shop.yml": metrics_yml, "metrics/tree.yml": TREE}, rows=False)
    project = load_project(root)
    rows = {r[0]: r for r in catalog_rows(project).rows}
    # the tree's node wins over the metric's own direction; no direction anywhere is NULL
    assert rows["revenue"][5] == "lower" and rows["orders"][5] == "higher" and rows["typical_order"][5] is None
    assert rows["orders"][1] == "orders"  # no label: the name
    assert rows["orders"][6] == "count(order_count) from orders"  # no expr: the measure's name
    assert rows["typical_order"][6] == "avg(amount) from orders"
    rendered = {s.sql(dialect="duckdb") for s in catalog_statements(project)}
    assert """COMMENT ON COLUMN "metrics"."shop_monthly"."revenue" IS 'Customer''s revenue (currency)'""" in rendered
    assert """COMMENT ON COLUMN "metrics"."shop_monthly"."orders" IS 'orders'""" in rendered
    assert (
        """COMMENT ON COLUMN "metrics"."shop_monthly"."typical_order" IS 'typical_order: Mean order amount.'"""
        in rendered
    )
    assert """COMMENT ON TABLE "metrics"."shop_monthly" IS 'orders, revenue, typical_order per month'""" in rendered


def test_postgresql_gets_the_same_statements(make_project: Callable[..., Path]) -> None:
    project = load_project(make_project(rows=False))
    for statement in catalog_statements(project, STAGING_SUFFIX):
        text = statement.sql(dialect="postgres")
        assert text == statement.sql(dialect="duckdb"), text  # plain SQL both engines take as it is
    names = {s.this.sql() for s in catalog_statements(project, STAGING_SUFFIX) if isinstance(s, exp.Comment)}
    assert names == {
        '"kpiframe"."metric_catalog__kf_new"',
        '"metrics"."shop_monthly__kf_new"',
        '"metrics"."shop_monthly__kf_new"."orders"',
        '"metrics"."shop_monthly__kf_new"."revenue"',
        '"metrics"."shop_monthly__kf_new"."aov"',
    }
