"""Passing checks told by counts (kpiframe.quality.prescreen) get the very result Great Expectations gives.

GX stays the judge of every other check: a failed one, one whose arguments a count does not cover, an
empty table. Each case below runs both ways on the same DuckDB file and the results must be equal,
field by field; the build then loads GX only when some check of a table needs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kpiframe.build.expectations import ExpectationRun
from kpiframe.engine.duckdb import DuckDBWarehouse
from kpiframe.load.specs import WarehouseSpec
from kpiframe.quality import ExpectationResult, run_expectations
from kpiframe.quality.prescreen import passing_results
from tests.quality.test_gx_run import LEADS_CHECKS, LEADS_ROWS, checks

# passing checks of every kind the counts cover, beside LEADS_CHECKS (which mixes passes and failures)
MORE_CHECKS: list[dict[str, Any]] = [
    {"not_null": "channel"},  # 0
    {"unique": "lead_id", "mostly": 0.9},  # 1: GX's own uniqueness
    {"expect_compound_columns_to_be_unique": {"column_list": ["lead_id", "dup_id"]}},  # 2
    {"accepted_values": {"column": "employee_count", "values": [10, 20, -5, 40, 50, 60, 70, 80, 90, 100]}},  # 3
    {"between": {"column": "pipeline", "min": 100, "max": 950}},  # 4
    {"between": {"column": "pipeline", "min": 99.5, "strict_min": True}, "mostly": 1.0},  # 5
    {"matches_regex": {"column": "channel", "regex": "^(web|ads|event)$"}},  # 6
    {
        "expect_column_pair_values_a_to_be_greater_than_b": {"column_A": "pipeline", "column_B": "score"},
    },  # 7
    {"row_count_between": {"max": 10}},  # 8
    {"freshness": {"column": "created_at", "max_age_hours": 300, "as_of": "2026-03-02 00:00:00"}},  # 9
    {"references": {"column": "lead_id", "to": {"table": "stg_activity", "column": "lead_id"}}},  # 10
    {"rate_between_0_and_1": "score", "severity": "warn"},  # 11
    {"between": {"column": "employee_count", "min": 0}, "mostly": 0.5},  # 12: passes, 1 unexpected: GX
    {"not_null": "email", "mostly": 0.5},  # 13: passes with 2 NULLs: GX (its sample)
    {"unique": "dup_id"},  # 14: fails: GX
]
# the checks of each list that must be told without GX (passing, nothing unexpected)
LEADS_TOLD = {0, 2, 4, 8, 10, 14, 16}
MORE_TOLD = set(range(12))


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> DuckDBWarehouse:
    path = tmp_path_factory.mktemp("prescreen") / "warehouse.duckdb"
    warehouse = DuckDBWarehouse(WarehouseSpec(path=str(path)))
    warehouse.con.execute(LEADS_ROWS)
    warehouse.con.execute("insert into analytics.stg_activity select i, i, i from range(1, 11) t(i)")
    warehouse.con.execute("create table analytics.empty as select * from analytics.stg_leads__kf_new limit 0")
    yield warehouse
    warehouse.close()


def both_ways(
    warehouse: DuckDBWarehouse, items: list[dict[str, Any]], table: str = "stg_leads__kf_new"
) -> tuple[list[ExpectationResult | None], list[ExpectationResult]]:
    expectations = checks(items, f"model {table}")
    told = passing_results(warehouse, "analytics", table, expectations)
    by_gx = run_expectations(warehouse.con, warehouse.path, "analytics", table, expectations)
    return told, by_gx


@pytest.mark.parametrize(("items", "told_ones"), [(LEADS_CHECKS, LEADS_TOLD), (MORE_CHECKS, MORE_TOLD)])
def test_a_check_told_by_counts_has_the_result_gx_gives(warehouse, items, told_ones):
    told, by_gx = both_ways(warehouse, items)
    for index, (ours, gx) in enumerate(zip(told, by_gx, strict=True)):
        if ours is not None:
            assert ours == gx, index
    assert {i for i, result in enumerate(told) if result is not None} == told_ones


def test_every_check_of_an_empty_table_goes_to_gx(warehouse):
    told, by_gx = both_ways(warehouse, [{"not_null": "lead_id"}, {"unique": "lead_id"}], table="empty")
    assert told == [None, None] and all(r.success for r in by_gx)


def test_a_missing_table_leaves_every_check_to_gx(warehouse):
    expectations = checks([{"not_null": "lead_id"}], "model gone")
    assert passing_results(warehouse, "analytics", "gone", expectations) == [None]


def test_a_build_loads_gx_only_for_the_checks_counts_cannot_settle(warehouse, monkeypatch):
    expectations = checks([MORE_CHECKS[0], MORE_CHECKS[14], MORE_CHECKS[4], MORE_CHECKS[13]], "model stg_leads")
    sent: list[list[str]] = []

    def gx(con: Any, path: str, schema: str, table: str, left: list[Any], *args: Any) -> list[ExpectationResult]:
        sent.append([e.label for e in left])
        return run_expectations(con, path, schema, table, left, *args)

    monkeypatch.setattr("kpiframe.quality.run_expectations", gx)
    run = ExpectationRun({("model", "stg_leads"): expectations})
    run.check_table(warehouse, ("model", "stg_leads"), "analytics", "stg_leads__kf_new")
    assert sent == [[expectations[1].label, expectations[3].label]]
    assert [r.expectation for r in run.results] == expectations  # in the declared order
    expected = run_expectations(warehouse.con, warehouse.path, "analytics", "stg_leads__kf_new", expectations)
    assert run.results == expected

    sent.clear()
    passing = ExpectationRun({("model", "stg_leads"): [expectations[0], expectations[2]]})
    passing.check_table(warehouse, ("model", "stg_leads"), "analytics", "stg_leads__kf_new")
    assert sent == [] and all(r.success for r in passing.results)


def test_gx_is_not_imported_by_counting(tmp_path: Path):
    """In a fresh interpreter: passing checks never import great_expectations."""
    import subprocess
    import sys

    code = f"""
import sys
from kpiframe.engine.duckdb import DuckDBWarehouse
from kpiframe.load.specs import WarehouseSpec
from kpiframe.quality import parse_expectations
from kpiframe.quality.prescreen import passing_results
w = DuckDBWarehouse(WarehouseSpec(path={str(tmp_path / "w.duckdb")!r}))
w.con.execute("create schema s; create table s.t as select range as id from range(100)")
items = [{{"unique": "id"}}, {{"not_null": "id"}}, {{"between": {{"column": "id", "min": 0}}}}]
expectations, problems = parse_expectations(items, "model t", lambda path: None)
assert not problems
assert all(r is not None and r.success for r in passing_results(w, "s", "t", expectations))
assert "great_expectations" not in sys.modules and "pandas" not in sys.modules
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
