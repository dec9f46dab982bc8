"""The acceptance cases (tests/acceptance/cases/*.yml) and the example's metric tests on Spark local.

The raw rows are those of the DuckDB acceptance run: demo data (seed 7, scale 0.2) plus the edge rows of
tests/fixtures/edge_rows.py, written in an in-memory DuckDB and loaded into Spark the way `kpiframe demo`
loads Spark (kpiframe.demo.run.load_raw_through_parquet). The example project is built on Spark, and each
case's request must answer exactly what the case's hand-written check query answers, run by DuckDB over
the same raw rows. Case loading and comparison are the acceptance module's own.

A deliberately wrong metric test, run by `kpiframe test --warehouse spark:local[2]` in temporary views of
the session, must fail as it does in DuckDB (the example's own metric tests are compared on both engines
by test_spark.py's `kpiframe test` case).

Spark starts once for the module. In a run with tests/integration/test_spark.py the process already has
its session (one per process, with that module's metastore): this module then replaces raw.*, records a
baseline reset as `kpiframe demo` does, and builds, so it reads nothing the other module left.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner
from sqlglot import exp

from kpiframe.build.runs import record_baseline_reset
from kpiframe.cli import main
from kpiframe.demo.contract import RAW_TABLES, SCHEMA
from kpiframe.demo.generator import generate_demo
from kpiframe.demo.run import load_raw_through_parquet
from kpiframe.engine.spark import SparkWarehouse
from kpiframe.project import Project
from tests.acceptance.test_acceptance import (
    CASES,
    DEMO_SCALE,
    DEMO_SEED,
    Case,
    Warehouse,
    assert_engine_matches_check_query,
    case_params,
    check_answers,
    edge_rows,
)
from tests.conftest import copy_example

pytestmark = [pytest.mark.slow, pytest.mark.spark, pytest.mark.spark_extended]  # pytest -m spark_extended

SPARK = "spark:local[2]"
WRONG_METRIC_TEST = """
metric_tests:
  - name: deliberately_wrong_spend
    description: One spend of 100.00 in January; the first case expects 99.99 and must fail on any engine.
    given:
      raw.ad_spend:
        - {date: 2026-01-05, channel: google_ads, campaign_id: g1, impressions: 1000, clicks: 50, spend: 100.00}
    expect:
      - metrics: [ad_spend]
        grain: month
        rows:
          - {period_start: 2026-01-01, ad_spend: 99.99}
      - metrics: [ad_spend]
        grain: month
        rows:
          - {period_start: 2026-01-01, ad_spend: 100.00}
"""


@pytest.fixture(scope="module")
def raw_rows() -> Iterator[duckdb.DuckDBPyConnection]:
    """The acceptance run's raw rows in an in-memory DuckDB, which also runs the check queries."""
    con = duckdb.connect()
    generate_demo(con, seed=DEMO_SEED, scale=DEMO_SCALE)
    edge_rows.insert_edge_rows(con)
    yield con
    con.close()


@pytest.fixture(scope="module")
def on_spark(tmp_path_factory: pytest.TempPathFactory, raw_rows: duckdb.DuckDBPyConnection) -> Warehouse:
    """The example project on Spark, built over the raw rows; the check queries' answers beside it."""
    answers = check_answers(raw_rows)  # before anything touches Spark: they read raw.* in DuckDB only
    project = Project.load(copy_example(tmp_path_factory.mktemp("spark_acceptance")), warehouse=SPARK)
    warehouse = project.connect()
    load_raw_through_parquet(raw_rows, warehouse)
    record_baseline_reset(warehouse, "acceptance rows loaded")  # as `kpiframe demo` does
    project.build()
    return Warehouse(project=project, answers=answers)


def test_spark_holds_the_same_raw_rows_as_duckdb(raw_rows: duckdb.DuckDBPyConnection, on_spark: Warehouse) -> None:
    """Every raw table arrived whole: same row count, same number of distinct rows."""
    spark = on_spark.project.connect()
    for table in RAW_TABLES:
        counted = exp.select(exp.Count(this=exp.Star())).from_(_distinct_rows(table))
        total = exp.select(exp.Count(this=exp.Star())).from_(exp.table_(table, db=SCHEMA, quoted=True))
        expected = [_first(raw_rows.execute(q.sql(dialect="duckdb")).fetchone()) for q in (total, counted)]
        assert expected[0] > 0, table
        got = [_first(spark.query(q).rows[0]) for q in (total, counted)]
        assert (table, got) == (table, expected)


@pytest.mark.parametrize("case", case_params(CASES))
def test_spark_matches_check_query_on_demo_and_edge_rows(on_spark: Warehouse, case: Case) -> None:
    assert_engine_matches_check_query(on_spark.project, on_spark.answers, case)


def test_a_failing_metric_test_fails_alike_on_spark_and_in_duckdb(tmp_path: Path, on_spark: Warehouse) -> None:
    """`kpiframe test --warehouse spark:...` runs the metric tests on Spark (its jobs run) and fails a wrong
    case as DuckDB does. The example's own cases pass alike: test_spark.py's `kpiframe test` comparison."""
    root = copy_example(tmp_path / "metric_tests")
    (root / "metrics" / "tests" / "deliberately_wrong.yml").write_text(WRONG_METRIC_TEST, encoding="utf-8")
    command = ["test", "--metrics-only", "--select", "deliberately_wrong_spend", "--project-dir", str(root)]
    in_duckdb = CliRunner().invoke(main, command)
    spark = on_spark.project.connect()
    assert isinstance(spark, SparkWarehouse)
    tracker = spark.session.sparkContext.statusTracker()
    jobs_before = max(tracker.getJobIdsForGroup(None), default=-1)
    in_spark = CliRunner().invoke(main, [*command, "--warehouse", SPARK])
    assert max(tracker.getJobIdsForGroup(None), default=-1) > jobs_before  # Spark ran them
    assert (in_duckdb.exit_code, in_spark.exit_code) == (3, 3), in_spark.output
    assert (
        _verdicts(in_spark.output)
        == _verdicts(in_duckdb.output)
        == [
            "FAIL  metric test deliberately_wrong_spend[0]",
            "PASS  metric test deliberately_wrong_spend[1]",
            "1 passed, 1 failed",
        ]
    )
    assert "99.99" in in_spark.output  # the expected row, shown beside the actual one


def _verdicts(output: str) -> list[str]:
    """Each case's PASS or FAIL line (without the file:line of a failure) and the count, in order."""
    lines = [line.split("  (")[0] for line in output.splitlines() if line.startswith(("PASS ", "FAIL "))]
    return lines + [line for line in output.splitlines() if line.endswith(" failed")]


def _distinct_rows(table: str) -> exp.Subquery:
    rows = exp.select(exp.Star()).distinct().from_(exp.table_(table, db=SCHEMA, quoted=True))
    return rows.subquery("distinct_rows")


def _first(row: tuple[Any, ...] | None) -> Any:
    assert row is not None
    return row[0]
