"""`query: {cumulative_past_data: true}` (MetricFlow's rule, written by `kpiframe import metricflow`): a
cumulative metric's series runs on past the last data for as long as its window holds rows, never past the
last day of `calendar: time_spine:`; without the setting (kpiframe's own rule) a series ends with the last
period with data, and without a time spine nothing runs on.

The orders run from 5 January to 31 March 2026; the time spine ends on 30 June 2026. Every expected number
comes from SQL written here over raw.orders.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from kpiframe.project import Project
from tests.conftest import built_project, hand
from tests.unit.test_all_time_query import FILES, ROWS, floats

SETTINGS = """
    name: totals
    warehouse: {path: totals.duckdb}
    query: {cumulative_past_data: true}
"""
SPINE = "    calendar:\n      time_spine: {start: 2025-01-01, end: 2026-06-30}\n"


def project_with(root: Path, settings: str) -> Project:
    return built_project(root, {**FILES, "kpi_project.yml": settings}, "totals.duckdb", ROWS)


@pytest.fixture(scope="module")
def running_on(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return project_with(tmp_path_factory.mktemp("past_data"), SETTINGS + SPINE)


def trailing_30(project: Project, last: str) -> list[tuple]:
    return hand(
        project,
        f"""
        select d, (select coalesce(sum(amount), 0) from raw.orders
                   where ordered_at::date > d - 30 and ordered_at::date <= d)
        from (select unnest(generate_series(date '2026-01-05', date '{last}', interval 1 day))::date as d)
        order by d
        """,
    )


def test_a_window_runs_on_while_it_holds_the_last_rows(running_on):
    # the 30 days of 29 April hold the orders of 31 March; those of 30 April no longer do
    result = running_on.query(metrics=["revenue_30_days"], grain="day")
    assert result.rows[-1][0] == date(2026, 4, 29)
    assert [floats(row) for row in result.rows] == [floats(row) for row in trailing_30(running_on, "2026-04-29")]
    # the metric it accumulates still ends with its data
    orders = running_on.query(metrics=["orders"], grain="day")
    assert orders.rows[-1][0] == date(2026, 3, 31)


def test_a_grain_to_date_runs_to_its_period_end_but_not_past_the_time_spine(running_on):
    # the year to date would run to 31 December; the time spine ends on 30 June
    result = running_on.query(metrics=["revenue_ytd"], grain="month")
    expected = hand(
        running_on,
        """
        select m, (select sum(amount) from raw.orders where ordered_at < m + interval 1 month)
        from (select unnest(generate_series(date '2026-01-01', date '2026-06-01', interval 1 month))::date as m)
        order by m
        """,
    )
    assert [floats(row) for row in result.rows] == [floats(row) for row in expected]
    assert result.rows[-1][0] == date(2026, 6, 1)


def test_kpiframes_own_rule_and_a_project_without_time_spine_end_with_the_data(tmp_path):
    for name, settings in (
        ("own", SETTINGS.replace("    query: {cumulative_past_data: true}\n", "") + SPINE),
        ("no_spine", SETTINGS),
    ):
        project = project_with(tmp_path / name, settings)
        result = project.query(metrics=["revenue_30_days"], grain="day")
        assert result.rows[-1][0] == date(2026, 3, 31), name
        assert [floats(row) for row in result.rows] == [floats(row) for row in trailing_30(project, "2026-03-31")]
