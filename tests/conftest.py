"""Shared fixtures: the repository root (the example project) and a tiny project written per test."""

from __future__ import annotations

import os
import shutil
import textwrap
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from kpiframe.project import Project

REPO_ROOT = Path(__file__).resolve().parents[1]

SHOP_PROJECT = {
    "kpi_project.yml": """
        name: shop
        warehouse: {path: shop.duckdb}
        calendar: {week_start: sunday, fiscal_year_start_month: 4}
        vars: {big_order: 100}
    """,
    "models/sources.yml": """
        sources:
          - name: raw
            schema: raw
            tables:
              - name: orders
                columns: [order_id, customer_id, {name: ordered_at, type: TIMESTAMP},
                          {name: amount, type: "DECIMAL(10,2)"}, status]
              - {name: customers, columns: [customer_id, region]}
    """,
    "models/stg_orders.sql": "select * from {{ source('raw', 'orders') }} where status <> 'test'",
    "models/stg_customers.sql": "select * from {{ source('raw', 'customers') }}",
    "macros/money.sql": "{% macro cents(col) %}({{ col }} * 100){% endmacro %}",
    "models/order_cents.sql": "select order_id, {{ cents('amount') }} as cents from {{ ref('stg_orders') }}",
    "metrics/shop.yml": """
        datasets:
          - name: orders
            model: stg_orders
            time: ordered_at
            entities:
              - {name: order, type: primary, expr: order_id}
              - {name: customer, type: foreign, expr: customer_id}
            dimensions:
              - {name: status}
            measures:
              - {name: order_count, agg: count, expr: order_id}
              - {name: revenue_sum, agg: sum, expr: amount}
              - {name: median_amount, agg: median, expr: amount}
          - name: customers
            model: stg_customers
            entities:
              - {name: customer, type: primary, expr: customer_id}
            dimensions:
              - {name: region}
        metrics:
          - {name: orders, measure: order_count}
          - {name: revenue, measure: revenue_sum}
          - {name: paid_orders, measure: order_count, filter: "status = 'paid'"}
          - {name: paid_share, type: ratio, numerator: paid_orders, denominator: orders}
          - {name: aov, type: derived, expr: revenue / orders}
          - {name: median_order, measure: median_amount}
          - {name: revenue_mtd, type: cumulative, metric: revenue, grain_to_date: month}
          - {name: revenue_ytd, type: cumulative, metric: revenue, grain_to_date: year}
          - {name: revenue_3d, type: cumulative, metric: revenue, window: 3 days}
          - name: revenue_growth
            type: derived
            expr: revenue - revenue_before
            inputs: [{metric: revenue, alias: revenue_before, offset: previous}]
        tables:
          - {name: shop_monthly, grain: month, metrics: [orders, revenue, aov], dimensions: [customer__region]}
    """,
}

SHOP_ROWS = """
    create schema raw;
    create table raw.customers (customer_id varchar, region varchar);
    insert into raw.customers values ('c1', 'emea'), ('c2', 'amer'), ('c3', null);
    create table raw.orders (order_id varchar, customer_id varchar, ordered_at timestamp, amount decimal(10,2),
                             status varchar);
    insert into raw.orders values
      ('o1', 'c1', '2026-01-01 10:00', 100.00, 'paid'),
      ('o2', 'c1', '2026-01-02 11:00', 50.00, 'refunded'),
      ('o3', 'c2', '2026-01-05 09:00', 30.00, 'paid'),
      ('o4', 'c3', '2026-02-01 00:00', 70.00, 'refunded'),
      ('o5', 'cX', '2026-02-03 08:00', 20.00, 'paid'),
      ('o6', 'c2', '2026-03-31 23:59', 10.00, 'paid'),
      ('o7', 'c1', '2026-04-01 00:00', 40.00, 'paid'),
      ('o8', 'c1', '2026-04-02 00:00', 99.00, 'test');
"""


def write_files(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return root


def built_project(root: Path, files: dict[str, str], warehouse: str, rows: str) -> Project:
    """Write `files` into `root`, run the `rows` SQL in its DuckDB file `warehouse`, then load and build it."""
    write_files(root, files)
    with duckdb.connect(str(root / warehouse)) as con:
        con.execute(rows)
    project = Project.load(root)
    project.build()
    return project


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Path]:
    """Write the shop project, with any file replaced or added, into a fresh folder."""

    def make(changes: dict[str, str | None] | None = None, rows: bool = True) -> Path:
        files = dict(SHOP_PROJECT)
        for name, text in (changes or {}).items():
            if text is None:
                files.pop(name, None)
            else:
                files[name] = text
        root = write_files(tmp_path / "shop", files)
        if rows:
            con = duckdb.connect(str(root / "shop.duckdb"))
            con.execute(textwrap.dedent(SHOP_ROWS))
            con.close()
        return root

    return make


SHOP_METRIC_TEST = """
    metric_tests:
      - name: revenue_by_region
        description: Test orders are dropped; unknown customers form the NULL region.
        given:
          raw.orders:
            - {order_id: a, customer_id: c1, ordered_at: 2026-01-03 10:00:00, amount: 10, status: paid}
            - {order_id: b, customer_id: zz, ordered_at: 2026-01-04 10:00:00, amount: 5, status: paid}
            - {order_id: c, customer_id: c1, ordered_at: 2026-01-05 10:00:00, amount: 99, status: test}
          raw.customers:
            - {customer_id: c1, region: emea}
        expect:
          - metrics: [revenue, orders]
            dimensions: [customer__region]
            grain: month
            rows:
              - {period_start: 2026-01-01, customer__region: emea, revenue: 10, orders: 1}
              - {period_start: 2026-01-01, customer__region: null, revenue: 5, orders: 1}
"""


def hand(project: Project, sql: str) -> list[tuple]:
    """Rows of SQL written by hand, run read-only on a project's DuckDB warehouse."""
    con = duckdb.connect(project.warehouse_spec.path, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


EXAMPLE_FILES = ("kpi_project.yml", "definitions.lock", "models", "macros", "metrics")


def copy_example(root: Path, *, lock: bool = True) -> Path:
    """This repository's example project copied to `root` (created if need be); `lock=False` leaves out
    definitions.lock, as a project that has never been compiled has none."""
    root.mkdir(parents=True, exist_ok=True)
    for item in EXAMPLE_FILES:
        source = REPO_ROOT / item
        if item == "definitions.lock" and not lock:
            continue
        if source.is_dir():  # a clone has no macros/ when the example defines no macro
            shutil.copytree(source, root / item)
        elif source.exists():
            shutil.copy(source, root / item)
    return root


@pytest.fixture(scope="session")
def built_example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the example project (this repository) on demo data (seed 3, scale 0.1), built once per
    session into its warehouse.duckdb. Read it in place; copy the folder before writing to it."""
    from kpiframe.demo import generate_demo

    root = copy_example(tmp_path_factory.mktemp("built_example"))
    con = duckdb.connect(str(root / "warehouse.duckdb"))
    try:
        generate_demo(con, seed=3, scale=0.1)
    finally:
        con.close()
    Project.load(root, warehouse=str(root / "warehouse.duckdb")).build()
    return root


# Markers, registered in pyproject.toml. Test files do not set them: the hook below does, from where a test
# lives, its name and the fixtures it uses. `pytest -m "not slow"` is the quick subset (under a minute on
# 2 cores); plain `pytest` runs everything. A test is slow when `pytest --durations=0` shows it taking more
# than about a second, or when it needs a shared fixture that does (demo data, a build of the example project,
# a PostgreSQL server).

# Every test in these files: the example built on demo data, Great Expectations runs, Hypothesis fuzzing,
# builds in subprocesses that are killed or resource-limited, the CLI run as a user runs it.
SLOW_FILES = frozenset(
    {
        "tests/acceptance/test_any_data.py",
        "tests/acceptance/test_bad_values.py",
        "tests/acceptance/test_expectations.py",
        "tests/acceptance/test_funnel_and_definitions.py",
        "tests/kpi/test_cli.py",
        "tests/kpi/test_example_project.py",
        "tests/quality/test_isolation.py",
        "tests/test_demo_atomic.py",
        "tests/unit/test_abandoned_builds.py",
        "tests/unit/test_docs_truth.py",
        "tests/unit/test_example_metric_tests.py",
        "tests/unit/test_fuzz_loader.py",
        "tests/unit/test_fuzz_where.py",
        "tests/unit/test_silent_noops.py",
        "tests/unit/test_volume_guard.py",
    }
)
# Tests that use one of these fixtures, directly or through another fixture: "file::name" for a fixture
# defined in that test file, a bare name for one from a conftest.py.
SLOW_FIXTURES = frozenset(
    {
        "postgres_dsn",
        "built_example",
        "tests/acceptance/test_acceptance.py::demo_warehouse",
        "tests/acceptance/test_acceptance.py::edge_warehouse",
        "tests/test_demo.py::full",
        "tests/unit/test_definitions.py::example_copy",
        "tests/unit/test_funnel_order.py::warehouse",
    }
)
# Single tests in otherwise quick files, every parameter of them: "file::function".
SLOW_TESTS = frozenset(
    {
        "tests/diff/test_cli.py::test_fail_on_breaking_exits_4",
        "tests/diff/test_schemas_and_ci.py::test_the_example_project_validates_against_its_schemas",
        "tests/quality/test_gx_run.py::test_a_million_rows_are_checked_in_the_warehouse",
        "tests/test_demo.py::test_rerun_replaces_the_tables",
        "tests/test_demo.py::test_same_seed_same_data_other_seed_other_data",
        "tests/test_demo.py::test_scale_changes_row_counts_proportionally",
        "tests/unit/test_cli.py::test_help_and_compile_do_not_import_great_expectations",
        "tests/unit/test_hostile_input.py::test_a_yaml_alias_bomb_is_refused_at_the_file",
        "tests/unit/test_hostile_input.py::test_hostile_templates_end_in_a_located_error",
        "tests/unit/test_internal_errors.py::test_funnel_into_head_stops_quietly",
        "tests/unit/test_list_and_progress.py::test_the_listed_dimensions_and_grains_are_exactly_what_a_query_accepts",
        "tests/unit/test_publish.py::test_killed_build_keeps_the_published_tables",
    }
)
FOLDER_MARKERS = {
    "tests/acceptance/": ("acceptance",),
    "tests/integration/test_postgres": ("postgres", "slow"),
    "tests/integration/test_spark": ("spark", "slow"),
    "tests/browser/": ("browser", "slow"),
}
POSTGRES_FIXTURE = "postgres_dsn"


def markers_for(test_file: str, function: str, fixtures: Iterable[str]) -> set[str]:
    """The markers of a test, from its file (relative to the repository), function name and fixture closure."""
    used = set(fixtures)
    markers = {m for folder, ms in FOLDER_MARKERS.items() if test_file.startswith(folder) for m in ms}
    if POSTGRES_FIXTURE in used:
        markers |= {"postgres", "slow"}
    slow_fixtures = (used | {f"{test_file}::{name}" for name in used}) & SLOW_FIXTURES
    if test_file in SLOW_FILES or f"{test_file}::{function}" in SLOW_TESTS or slow_fixtures:
        markers.add("slow")
    return markers


def stale_entries() -> list[str]:
    """Entries of the lists above that name nothing: a file that is gone, or a function or fixture that its
    file no longer defines."""
    stale = [f for f in sorted(SLOW_FILES) if not (REPO_ROOT / f).is_file()]
    for entry in sorted(SLOW_TESTS | {f for f in SLOW_FIXTURES if "::" in f}):
        test_file, name = entry.split("::")
        path = REPO_ROOT / test_file
        if not path.is_file() or f"def {name}(" not in path.read_text(encoding="utf-8"):
            stale.append(entry)
    return stale


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        test_file = item.path.resolve().relative_to(REPO_ROOT).as_posix()
        function = getattr(item, "originalname", item.name)
        for marker in sorted(markers_for(test_file, function, getattr(item, "fixturenames", ()))):
            item.add_marker(marker)
    items.sort(key=lambda item: first_groups_first(item.nodeid))  # stable: the files keep their order
    for entry in stale_entries():
        warnings.warn(
            f"tests/conftest.py marks {entry!r} slow, but it names no test file, test or fixture",
            pytest.PytestWarning,
            stacklevel=1,
        )


# pytest-xdist runs the suite in two processes (pyproject.toml's addopts: -n 2 --dist loadfile). A file's
# tests run in one worker, so its module fixtures are made once; the files below that start Spark in the test
# process form one group, as they share that process's Spark session (one per process, and the first one
# started sets the metastore) and the example's Spark build (tests/integration/conftest.py's spark_example):
# test_spark.py first, whose fixture starts the session. test_spark.py's killed builds run in Spark processes
# of their own: a group of their own. The longest groups are sent first, the local Spark group to one worker
# and the Spark servers' and processes' tests to the other; then either worker takes the next file whenever it
# is almost done.
SPARK_LOCAL_FILES = (
    "tests/integration/test_spark.py",
    "tests/integration/test_spark_acceptance.py",
    "tests/integration/test_spark_windows.py",
)
SPARK_LOCAL = "spark-local"
KILLED_SPARK_BUILDS = "tests/integration/test_spark.py::test_a_killed_build_"
FIRST_GROUPS = (
    SPARK_LOCAL,
    "tests/integration/test_spark_connect.py",
    "tests/integration/test_spark_standalone.py",
    KILLED_SPARK_BUILDS,
)


def xdist_group(nodeid: str) -> str:
    """The group a test is sent to a worker with: its file, SPARK_LOCAL or KILLED_SPARK_BUILDS."""
    if nodeid.startswith(KILLED_SPARK_BUILDS):
        return KILLED_SPARK_BUILDS
    test_file = nodeid.split("::", 1)[0]
    return SPARK_LOCAL if test_file in SPARK_LOCAL_FILES else test_file


def first_groups_first(nodeid: str) -> int:
    group = xdist_group(nodeid)
    return FIRST_GROUPS.index(group) if group in FIRST_GROUPS else len(FIRST_GROUPS)


# An xdist worker starts with COLUMNS=80 and LINES=24 in its environment, which the CLI's tables obey
# (kpiframe.cli.output._width: unwrapped when piped and COLUMNS is unset): each worker gets the controller's.
TERMINAL_ENV = ("COLUMNS", "LINES")


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, in the controller
def pytest_configure_node(node: Any) -> None:
    node.workerinput["terminal_env"] = {key: os.environ.get(key) for key in TERMINAL_ENV}


def pytest_configure(config: pytest.Config) -> None:
    given: dict[str, str | None] = getattr(config, "workerinput", {}).get("terminal_env", {})
    for key, value in given.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist (the dev extra)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """--dist loadfile with the groups of xdist_group, sent in the order collected (first_groups_first)."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SparkGroups(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_group(nodeid)

    config.option.loadscopereorder = False  # not by number of tests
    return SparkGroups(config, log)
