"""The acceptance cases (tests/acceptance/cases/*.yml) and the example's metric tests on Spark local.

The raw rows are those of the DuckDB acceptance run: demo data (seed 7, scale 0.2) plus the edge rows of
tests/fixtures/edge_rows.py, loaded into Spark the way `kpiframe demo` loads Spark
(kpiframe.demo.run.load_raw_through_parquet), and the example project is built on them: the session's
build (tests/integration/conftest.py's spark_example), which test_spark.py compares with DuckDB. Each
case's request must answer exactly what the case's hand-written check query answers, run by DuckDB over
the same raw rows. Case loading and comparison are the acceptance module's own.

A deliberately wrong metric test, run by `kpiframe test --warehouse spark:local[2]` in temporary views of
the session, must fail as it does in DuckDB (the example's own metric tests are compared on both engines
by test_spark.py's `kpiframe test` case).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner
from sqlglot import exp

from kpiframe.cli import main
from kpiframe.demo.contract import RAW_TABLES, SCHEMA
from kpiframe.engine.spark import SparkWarehouse
from kpiframe.project import Project
from tests.acceptance.test_acceptance import CASES, Case, Warehouse, assert_engine_matches_check_query, case_params
from tests.conftest import copy_example
from tests.integration.conftest import SPARK, SparkExample

pytestmark = [pytest.mark.slow, pytest.mark.spark, pytest.mark.spark_extended]  # pytest -m spark_extended

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
def raw_rows(spark_example: SparkExample) -> duckdb.DuckDBPyConnection:
    """The acceptance run's raw rows in an in-memory DuckDB, which also runs the check queries."""
    return spark_example.raw_rows


@pytest.fixture(scope="module")
def on_spark(spark_example: SparkExample) -> Warehouse:
    """The example project on Spark, built over the raw rows; the check queries' answers beside it."""
    return Warehouse(project=Project.load(spark_example.on_spark, warehouse=SPARK), answers=spark_example.answers)


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
