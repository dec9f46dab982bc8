"""The data-quality results table: appended per run, and upgraded in place when kpiframe adds columns."""

from __future__ import annotations

from kpiframe.build.expectations import RESULT_COLUMNS, store_results
from kpiframe.engine.duckdb import DuckDBWarehouse
from kpiframe.load.specs import WarehouseSpec
from kpiframe.quality.model import Expectation, ExpectationResult


def test_a_results_table_from_an_older_version_gains_the_new_columns() -> None:
    warehouse = DuckDBWarehouse(WarehouseSpec(path=":memory:"))
    try:
        warehouse.con.execute(
            "create schema kpiframe; create table kpiframe.expectation_results "
            "(run_id varchar, target varchar, expectation varchar, success boolean)"
        )
        check = Expectation(
            "expect_column_values_to_not_be_null", {"column": "email"}, "warn", "source raw.leads", None
        )
        store_results(warehouse, "r1", [ExpectationResult(check, False, None, 10, 3, 30.0)])
        rows = warehouse.con.execute(
            "select run_id, expectation, kind, severity, unexpected_count from kpiframe.expectation_results"
        ).fetchall()
        assert rows == [
            ("r1", "expect_column_values_to_not_be_null(email)", "expect_column_values_to_not_be_null", "warn", 3)
        ]
        old = ["run_id", "target", "expectation", "success"]
        added = [c for c in RESULT_COLUMNS if c not in old]
        assert list(warehouse.column_types("kpiframe", "expectation_results")) == old + added
    finally:
        warehouse.close()
