"""`kpiframe query --by metric_time__day` without a metric: the periods of kpi_project.yml's time spine.

MetricFlow answers `mf query --group-by metric_time__week` (no metric) with the periods of its time spine
table. kpiframe's time spine is `calendar: time_spine: {start, end}`: with it, metric_time at a grain (or a
date part of it) without a metric lists the periods holding one of its days (or the parts those days have),
within --start/--end, crossed with the distinct values of the other dimensions asked for, which --where
filters as in any query of values. Without a time spine it stays KF415. Every expected row comes from SQL
written here, never from kpiframe's own answer.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import sqlglot
from click.testing import CliRunner

from kpiframe.cli.main import main
from kpiframe.errors import QueryError
from kpiframe.project import Project
from tests.conftest import built_project, hand

SPINE_START, SPINE_END = "2025-12-30", "2026-02-02"  # a Tuesday and a Monday

FILES = {
    "kpi_project.yml": f"""
        name: periods
        warehouse: {{path: periods.duckdb}}
        calendar:
          week_start: sunday
          time_spine: {{start: {SPINE_START}, end: {SPINE_END}}}
    """,
    "models/sources.yml": """
        sources:
          - name: raw
            schema: raw
            tables:
              - name: orders
                columns: [order_id, channel, {name: ordered_at, type: TIMESTAMP}]
    """,
    "models/stg_orders.sql": "select * from {{ source('raw', 'orders') }}",
    "metrics/orders.yml": """
        datasets:
          - name: orders
            model: stg_orders
            time: ordered_at
            entities: [{name: order, type: primary, expr: order_id}]
            dimensions: [{name: channel}, {name: ordered_at, type: time}]
            measures:
              - {name: order_count, agg: count, expr: order_id}
        metrics:
          - {name: orders, measure: order_count}
    """,
}

# orders far outside the time spine: the spine, not the data, gives the periods
ROWS = """
    create schema raw;
    create table raw.orders (order_id varchar, channel varchar, ordered_at timestamp);
    insert into raw.orders values ('o1', 'web', '2024-05-01 10:00'), ('o2', 'store', '2024-06-01 10:00'),
                                  ('o3', null, '2024-07-01 10:00');
"""
DAYS = f"select d::date as day from generate_series(date '{SPINE_START}', date '{SPINE_END}', interval 1 day) t(d)"


@pytest.fixture(scope="module")
def spine(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return built_project(tmp_path_factory.mktemp("periods"), FILES, "periods.duckdb", ROWS)


def test_metric_time_alone_lists_every_day_of_the_time_spine(spine):
    result = spine.query(metrics=[], dimensions=["metric_time"])
    assert result.columns == ["period_start"]
    assert result.rows == hand(spine, f"{DAYS} order by 1")
    assert len(result.rows) == 35 and result.rows[0] == (date(2025, 12, 30),)


@pytest.mark.parametrize("grain", ["week", "month", "quarter", "year"])
def test_a_grain_lists_the_periods_that_hold_a_day_of_the_time_spine(spine, grain):
    result = spine.query(metrics=[], dimensions=[f"metric_time__{grain}"])
    # weeks start on Sunday here: the week of Tuesday 30 December starts on Sunday 28 December
    trunc = "d.day - cast(dayofweek(d.day) as integer)" if grain == "week" else f"date_trunc('{grain}', d.day)"
    assert result.rows == hand(spine, f"select distinct ({trunc})::date from ({DAYS}) d order by 1")
    if grain == "week":
        assert result.rows[0] == (date(2025, 12, 28),) and result.rows[-1] == (date(2026, 2, 1),)


def test_a_date_part_lists_the_parts_the_days_have(spine):
    result = spine.query(metrics=[], dimensions=["metric_time__extract_dow"])
    assert result.columns == ["metric_time__extract_dow"]
    assert result.rows == [(part,) for part in range(1, 8)]  # ISO: Monday 1 to Sunday 7
    by_month = spine.query(metrics=[], dimensions=["metric_time__month", "metric_time__extract_day"])
    expected = hand(spine, f"select distinct date_trunc('month', day)::date, day(day) from ({DAYS}) order by 1, 2")
    assert by_month.columns == ["period_start", "metric_time__extract_day"]
    assert by_month.rows == expected and by_month.rows[:2] == [(date(2025, 12, 1), 30), (date(2025, 12, 1), 31)]


def test_other_dimensions_are_crossed_with_the_periods_and_filtered(spine):
    result = spine.query(metrics=[], dimensions=["channel", "metric_time__month"])
    assert result.columns == ["period_start", "channel"]
    expected = hand(
        spine,
        f"""
        select distinct date_trunc('month', d.day)::date, o.channel
        from ({DAYS}) d cross join raw.orders o order by 1, 2 nulls last
        """,
    )
    assert result.rows == expected and len(result.rows) == 9  # 3 months × web, store and NULL
    kept = spine.query(metrics=[], dimensions=["metric_time__month", "channel"], where="channel = 'web'")
    assert kept.rows == [(date(2025, 12, 1), "web"), (date(2026, 1, 1), "web"), (date(2026, 2, 1), "web")]


def test_two_grains_list_the_weeks_with_each_month_their_days_have(spine):
    # the week of Sunday 28 December holds days of December and of January: a row with each month
    result = spine.query(metrics=[], dimensions=["metric_time__week", "metric_time__month"])
    assert result.columns == ["period_start", "metric_time__month"]
    week = "d.day - cast(dayofweek(d.day) as integer)"
    expected = hand(
        spine, f"select distinct ({week})::date, date_trunc('month', d.day)::date from ({DAYS}) d order by 1, 2"
    )
    assert result.rows == expected
    assert result.rows[:2] == [(date(2025, 12, 28), date(2025, 12, 1)), (date(2025, 12, 28), date(2026, 1, 1))]


def test_the_range_bounds_the_periods(spine):
    bounded = spine.query(metrics=[], dimensions=["metric_time__week"], start=date(2026, 1, 4), end=date(2026, 1, 18))
    assert bounded.rows == [(date(2026, 1, 4),), (date(2026, 1, 11),), (date(2026, 1, 18),)]
    # MetricFlow's time constraint: instants, widened to the periods holding them
    constrained = spine.query(
        metrics=[], dimensions=["metric_time__day"], start_time="2026-01-03", end_time="2026-01-04"
    )
    assert constrained.rows == [(date(2026, 1, 3),), (date(2026, 1, 4),)]
    ordered = spine.query(metrics=[], dimensions=["metric_time__day"], order=["-metric_time__day"], limit=2)
    assert ordered.rows == [(date(2026, 2, 2),), (date(2026, 2, 1),)]


def test_without_a_time_spine_metric_time_needs_a_metric(tmp_path: Path):
    files = {**FILES, "kpi_project.yml": "name: periods\nwarehouse: {path: periods.duckdb}\n"}
    project = built_project(tmp_path / "plain", files, "periods.duckdb", ROWS)
    for asked in ({"dimensions": ["metric_time__day"]}, {"dimensions": ["channel"], "grain": "month"}):
        with pytest.raises(QueryError) as raised:
            project.query(metrics=[], **asked)
        assert raised.value.diagnostic.code == "KF415"
    with pytest.raises(QueryError) as raised:
        project.query(metrics=[], dimensions=["metric_time"])
    assert "time_spine" in (raised.value.diagnostic.hint or "")


@pytest.mark.parametrize(
    ("asked", "code", "message"),
    [
        ({"dimensions": ["metric_time__day"], "compare": "previous"}, "KF415", "--compare previous without a metric"),
        ({"dimensions": ["metric_time__day"], "where": "channel = 'web'"}, "KF415", "no dimension to filter"),
        ({"dimensions": ["metric_time__microsecond"]}, "KF413", "finer than a millisecond"),
        ({"dimensions": ["metric_time__extract_week"]}, "KF402", "unknown date part"),
        (
            {"dimensions": ["channel", "metric_time"], "where": "metric_time__extract_dow = 1"},
            "KF415",
            "without a metric",
        ),
    ],
)
def test_what_the_time_spine_cannot_answer_is_refused(spine, asked, code, message):
    with pytest.raises(QueryError) as raised:
        spine.query(metrics=[], **asked)
    found = raised.value.diagnostic
    assert found.code == code and message in found.message and found.hint, found


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "spark", "snowflake", "bigquery"])
def test_the_sql_compiles_for_each_dialect(spine, dialect):
    sql = spine.explain(
        dialect=dialect, metrics=[], dimensions=["metric_time__week", "metric_time__extract_dow", "channel"]
    )
    sqlglot.parse_one(sql, read=dialect)


def test_the_cli_lists_the_periods(spine):
    args = ["query", "--project-dir", str(spine.root), "--by", "metric_time__month", "--format", "json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    rows = rows["rows"] if isinstance(rows, dict) else rows
    # no data tells whether a period has ended: period_complete is null, as for any period without data
    assert rows == [
        {"period_start": start, "period_complete": None} for start in ("2025-12-01", "2026-01-01", "2026-02-01")
    ]
