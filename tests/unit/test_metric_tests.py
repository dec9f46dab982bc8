"""Metric unit tests written in YAML: passing, failing with a side-by-side report, isolated from the warehouse."""

from __future__ import annotations

from click.testing import CliRunner

from kpiframe.cli import main
from tests.conftest import SHOP_METRIC_TEST


def test_a_correct_metric_test_passes(make_project):
    root = make_project({"metrics/tests.yml": SHOP_METRIC_TEST}, rows=False)
    result = CliRunner().invoke(main, ["test", "--project-dir", str(root)])
    assert result.exit_code == 0, result.output
    assert "PASS  metric test revenue_by_region[0]" in result.output
    assert not (root / "shop.duckdb").exists()  # ran in memory, never touched the warehouse


def test_a_wrong_expectation_fails_showing_expected_and_actual(make_project):
    wrong = SHOP_METRIC_TEST.replace("revenue: 10, orders: 1}", "revenue: 11, orders: 1}")
    root = make_project({"metrics/tests.yml": wrong}, rows=False)
    result = CliRunner().invoke(main, ["test", "--project-dir", str(root)])
    assert result.exit_code == 3
    assert "FAIL  metric test revenue_by_region[0]  (metrics/tests.yml:2:5)" in result.output
    expected_line = next(line for line in result.output.splitlines() if "expected" in line and "emea" in line)
    actual_line = next(line for line in result.output.splitlines() if "actual" in line and "emea" in line)
    assert "11" in expected_line and "10" in actual_line


def test_rows_for_an_unknown_table_are_reported(make_project):
    bad = SHOP_METRIC_TEST.replace("raw.customers:", "raw.customer:")
    root = make_project({"metrics/tests.yml": bad}, rows=False)
    result = CliRunner().invoke(main, ["test", "--project-dir", str(root)])
    assert result.exit_code == 3 and "unknown table(s) raw.customer" in result.output


def test_a_metric_test_builds_the_models_its_metrics_read_and_only_those(make_project):
    """A model that fails on the given rows fails the metric tests that read it (KF703) and no other:
    a model the metrics do not reach is not built, as a build of their tables would not need it."""
    failing = "select cast(status as integer) as n from {{ source('raw', 'orders') }}"  # 'paid' is no integer
    root = make_project({"metrics/tests.yml": SHOP_METRIC_TEST, "models/status_numbers.sql": failing}, rows=False)
    result = CliRunner().invoke(main, ["test", "--project-dir", str(root)])
    assert result.exit_code == 0, result.output
    assert "PASS  metric test revenue_by_region[0]" in result.output
    # the same model upstream of the orders dataset: now the metric test needs it, and reports it
    reads_it = (
        "select o.* from {{ source('raw', 'orders') }} o where status <> 'test' "
        "and not exists (select 1 from {{ ref('status_numbers') }} where n < 0)"
    )
    root = make_project(
        {
            "metrics/tests.yml": SHOP_METRIC_TEST,
            "models/status_numbers.sql": failing,
            "models/stg_orders.sql": reads_it,
        },
        rows=False,
    )
    result = CliRunner().invoke(main, ["test", "--project-dir", str(root)])
    assert result.exit_code == 3
    assert "model 'status_numbers' failed on the given rows" in result.output
