"""`join_to_timespine: true` on a simple (or conversion) metric, with kpi_project.yml's `calendar: time_spine:`.

A request that reads such a metric (itself, or through a ratio, derived or cumulative metric) answers every
period holding a day of the time spine, where --start or --end does not say otherwise; where the data lies
further out than the time spine, the answer reaches it (no data is hidden). The metric answers its
`fill_nulls_with` where a period has no rows. A request that reads no such metric answers as before: the
periods from the first to the last with data. Every expected row comes from SQL written here over
raw.orders and raw.refunds, never from kpiframe's own answer.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from kpiframe.errors import ProjectInvalid
from kpiframe.imports.metricflow import plan_import
from kpiframe.project import Project
from tests.conftest import built_project, hand, write_files

SPINE_START, SPINE_END = "2025-12-10", "2026-04-20"  # a Wednesday and a Monday

FILES = {
    "kpi_project.yml": f"""
        name: spine
        warehouse: {{path: spine.duckdb}}
        calendar:
          time_spine: {{start: {SPINE_START}, end: {SPINE_END}}}
    """,
    "models/sources.yml": """
        sources:
          - name: raw
            schema: raw
            tables:
              - name: orders
                columns: [order_id, status, {name: ordered_at, type: TIMESTAMP}, {name: amount, type: "DECIMAL(10,2)"}]
              - name: refunds
                columns: [refund_id, {name: refunded_at, type: TIMESTAMP}]
    """,
    "models/stg_orders.sql": "select * from {{ source('raw', 'orders') }}",
    "models/stg_refunds.sql": "select * from {{ source('raw', 'refunds') }}",
    "metrics/spine.yml": """
        datasets:
          - name: orders
            model: stg_orders
            time: ordered_at
            entities: [{name: order, type: primary, expr: order_id}]
            dimensions: [{name: status}]
            measures:
              - {name: order_count, agg: count, expr: order_id}
              - {name: amount_sum, agg: sum, expr: amount}
          - name: refunds
            model: stg_refunds
            time: refunded_at
            entities: [{name: refund, type: primary, expr: refund_id}]
            measures:
              - {name: refund_count, agg: count, expr: refund_id}
        metrics:
          - {name: orders, measure: order_count}
          - {name: orders_or_null, measure: order_count, fill_nulls_with: null}
          - {name: orders_spine, measure: order_count, fill_nulls_with: null, join_to_timespine: true}
          - {name: orders_spine_0, measure: order_count, fill_nulls_with: 0, join_to_timespine: true}
          - {name: revenue_spine, measure: amount_sum, join_to_timespine: true}
          - {name: refunds_spine, measure: refund_count, fill_nulls_with: null, join_to_timespine: true}
          - {name: orders_without_spine, measure: order_count, join_to_timespine: false}
          - {name: spine_minus_plain, type: derived, expr: orders_spine_0 - orders_or_null}
          - {name: orders_7d, type: cumulative, metric: orders_spine_0, window: 7 days}
    """,
}

# Orders from 5 January to 2 May 2026 (after the spine's last day, 20 April), one without a time; no refunds.
ROWS = """
    create schema raw;
    create table raw.orders (order_id varchar, status varchar, ordered_at timestamp, amount decimal(10,2));
    insert into raw.orders values
      ('o1', 'paid', '2026-01-05 10:00', 100.00),
      ('o2', 'paid', '2026-01-06 11:00', 40.00),
      ('o3', 'refunded', '2026-01-06 12:00', 30.00),
      ('o4', 'paid', '2026-02-16 09:00', 20.00),
      ('o5', 'refunded', '2026-03-31 23:00', 5.00),
      ('o6', 'paid', '2026-05-02 08:00', 7.00),
      ('o7', 'paid', null, 1000.00);
    create table raw.refunds (refund_id varchar, refunded_at timestamp);
"""

# The days of the answer: the spine's, and the data's beyond it (to 2 May).
DAYS = f"""
    days as (select cast(unnest(generate_series(date '{SPINE_START}', date '2026-05-02', interval 1 day)) as date) d)
"""


@pytest.fixture(scope="module")
def spine(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return built_project(tmp_path_factory.mktemp("spine"), FILES, "spine.duckdb", ROWS)


def floats(row: tuple) -> tuple:
    return tuple(v if v is None or isinstance(v, (date, str)) else float(v) for v in row)


def rows(result) -> list[tuple]:
    return [floats(row) for row in result.rows]


def by_period(project: Project, grain: str, first: str, last: str) -> list[tuple]:
    """Per period of `grain` holding a day from `first` to `last`: (period, count, sum), NULL without rows."""
    return [
        floats(row)
        for row in hand(
            project,
            f"""
            with periods as (
                select distinct cast(date_trunc('{grain}', d) as date) as p
                from unnest(generate_series(date '{first}', date '{last}', interval 1 day)) t(d)),
            agg as (select cast(date_trunc('{grain}', ordered_at) as date) as p, count(order_id) as n,
                           sum(amount) as s
                    from raw.orders where ordered_at is not null group by 1)
            select periods.p, agg.n, agg.s from periods left join agg using (p) order by 1""",
        )
    ]


@pytest.mark.parametrize("grain", ["day", "week", "month"])
def test_every_period_of_the_time_spine_and_of_the_data_beyond_it(spine, grain):
    result = spine.query(metrics=["orders_spine", "orders_spine_0", "revenue_spine", "orders"], grain=grain)
    expected = by_period(spine, grain, SPINE_START, "2026-05-02")
    assert rows(result) == [(p, n, n or 0.0, s or 0.0, n or 0.0) for p, n, s in expected]
    first, last = result.rows[0][0], result.rows[-1][0]
    if grain == "week":  # the week (from Monday) holding the spine's first day, the one holding the data's last
        assert (first, last) == (date(2025, 12, 8), date(2026, 4, 27))
    if grain == "day":  # the order without a time is in no period
        assert sum(n or 0 for _, n, *_ in rows(result)) == 6


def test_without_the_option_the_periods_from_the_first_to_the_last_with_data(spine):
    result = spine.query(metrics=["orders", "orders_without_spine"], grain="week")
    expected = by_period(spine, "week", "2026-01-05", "2026-05-02")
    assert rows(result) == [(p, n or 0.0, n or 0.0) for p, n, _ in expected]


def test_an_empty_table_answers_every_period_of_the_spine(spine):
    result = spine.query(metrics=["refunds_spine"], grain="day")
    expected = hand(
        spine,
        f"""
        select cast(d as date), (select count(*) from raw.refunds r where cast(r.refunded_at as date) = d) as n
        from unnest(generate_series(date '{SPINE_START}', date '{SPINE_END}', interval 1 day)) t(d) order by 1""",
    )
    assert rows(result) == [(d, None) for d, n in expected if n == 0]
    assert len(result.rows) == len(expected) == 132


def test_a_range_before_all_data(spine):
    # both bounds given: exactly the days asked, none with rows
    result = spine.query(metrics=["orders_spine", "orders"], grain="day", start="2025-11-01", end="2025-12-31")
    assert rows(result) == [(d, n, n or 0.0) for d, n, _ in by_period(spine, "day", "2025-11-01", "2025-12-31")]
    assert len(result.rows) == 61 and all(n is None for _, n, _ in rows(result))
    # only --end: from the spine's first day
    result = spine.query(metrics=["orders_spine"], grain="day", end="2025-12-31")
    assert rows(result) == [(d, n) for d, n, _ in by_period(spine, "day", SPINE_START, "2025-12-31")]


def test_a_range_after_all_data(spine):
    # only --start, after the last order: to the spine's last period, or the data's if later (the week of 2 May)
    result = spine.query(metrics=["orders_spine_0"], grain="week", start="2026-05-04")
    assert rows(result) == []  # the range asked begins after both
    result = spine.query(metrics=["orders_spine_0"], grain="month", start="2026-04-01")
    expected = by_period(spine, "month", "2026-04-01", "2026-05-02")
    assert rows(result) == [(p, n or 0.0) for p, n, _ in expected] == [(date(2026, 4, 1), 0.0), (date(2026, 5, 1), 1.0)]


def test_a_derived_metric_over_one_input_with_the_option_and_one_without(spine):
    result = spine.query(metrics=["spine_minus_plain"], grain="day")
    expected = by_period(spine, "day", SPINE_START, "2026-05-02")
    # orders_spine_0 is 0 where there are no rows, orders_or_null NULL: so is their difference
    assert rows(result) == [(d, None if n is None else 0.0) for d, n, _ in expected]
    assert result.rows[0][0] == date(2025, 12, 10)


def test_a_cumulative_metric_over_a_metric_with_the_option(spine):
    result = spine.query(metrics=["orders_7d"], grain="day")
    expected = hand(
        spine,
        f"""
        {"with " + DAYS.strip()}
        select d, (select count(order_id) from raw.orders
                   where cast(ordered_at as date) > d - 7 and cast(ordered_at as date) <= d)
        from days order by 1""",
    )
    assert rows(result) == [floats(row) for row in expected]


def test_by_dimension_every_period_and_every_value(spine):
    result = spine.query(metrics=["orders_spine"], dimensions=["status"], grain="month")
    expected = hand(
        spine,
        f"""
        with months as (select distinct cast(date_trunc('month', d) as date) as m
                        from unnest(generate_series(date '{SPINE_START}', date '2026-05-02', interval 1 day)) t(d)),
        statuses as (select distinct status from raw.orders),
        agg as (select cast(date_trunc('month', ordered_at) as date) as m, status, count(*) as n
                from raw.orders where ordered_at is not null group by 1, 2)
        select months.m, statuses.status, agg.n
        from months cross join statuses left join agg on agg.m = months.m and agg.status = statuses.status
        order by 1, 2""",
    )
    assert rows(result) == [floats(row) for row in expected]
    assert rows(result)[0] == (date(2025, 12, 1), "paid", None)


def test_over_all_time_the_option_changes_nothing(spine):
    result = spine.query(metrics=["orders_spine", "revenue_spine"], grain="all")
    total = hand(spine, "select count(order_id), sum(amount) from raw.orders where ordered_at is not null")
    assert rows(result) == [floats(total[0])]


# --- the load ------------------------------------------------------------------------------------------


def load_with(tmp_path: Path, metrics: str, project: str = FILES["kpi_project.yml"]) -> Project:
    files = {**FILES, "kpi_project.yml": project, "metrics/spine.yml": FILES["metrics/spine.yml"].rstrip(" ") + metrics}
    return Project.load(write_files(tmp_path, files))


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        ("{name: bad, measure: order_count, join_to_timespine: 'yes'}", "join_to_timespine: Input should be"),
        ("{name: bad, measure: order_count, join_to_timespine: 1}", "join_to_timespine: Input should be"),
        ("{name: bad, type: derived, expr: orders * 2, join_to_timespine: true}", "set it on the simple metrics"),
        ("{name: bad, type: ratio, numerator: orders, denominator: orders, join_to_timespine: false}", "ratio"),
    ],
)
def test_a_bad_value_is_refused_at_its_line(tmp_path, metric, message):
    with pytest.raises(ProjectInvalid) as caught:
        load_with(tmp_path, f"          - {metric}\n")
    found = [d for d in caught.value.diagnostics if d.code == "KF014"]
    assert found and message in found[0].message, caught.value.render()
    assert found[0].location is not None and found[0].location.path.endswith("spine.yml")
    text = (tmp_path / "metrics" / "spine.yml").read_text().splitlines()
    assert "name: bad" in text[found[0].location.line - 1]


@pytest.mark.parametrize(
    ("spine_setting", "message"),
    [
        ("{start: 2026-04-20, end: 2025-12-10}", "ends (2025-12-10) before it starts (2026-04-20)"),
        ("{start: 1800-01-01, end: 2040-12-31}", "more than 200 years"),
        ("{start: 2025-12-10}", "missing required key 'end'"),
        ("{start: 2025-12-10, end: tomorrow}", "end"),
        ("{start: 2025-12-10, end: 2026-01-01, days: 3}", "days"),
    ],
)
def test_a_bad_time_spine_is_refused_at_its_line(tmp_path, spine_setting, message):
    project = f"""
        name: spine
        warehouse: {{path: spine.duckdb}}
        calendar:
          time_spine: {spine_setting}
    """
    with pytest.raises(ProjectInvalid) as caught:
        load_with(tmp_path, "", project)
    found = caught.value.diagnostics[0]
    assert found.code in ("KF012", "KF013", "KF014") and message in found.message, caught.value.render()
    assert found.location is not None and found.location.path.endswith("kpi_project.yml")
    assert found.location.line == 4


def test_the_option_without_a_time_spine_is_a_warning_at_its_line(tmp_path):
    project = """
        name: spine
        warehouse: {path: spine.duckdb}
    """
    loaded = load_with(tmp_path, "", project)
    warnings = [d for d in loaded.graph.diagnostics if d.code == "KF205"]
    assert sorted(d.message.split("'")[1] for d in warnings) == [
        "orders_spine",
        "orders_spine_0",
        "refunds_spine",
        "revenue_spine",
    ]
    lines = (tmp_path / "metrics" / "spine.yml").read_text().splitlines()
    assert all("join_to_timespine: true" in lines[d.location.line - 1] for d in warnings if d.location)
    assert "calendar: {time_spine:" in (warnings[0].hint or "")


def test_the_import_carries_join_to_timespine_over_and_asks_for_the_spine(tmp_path):
    acme = Path(__file__).resolve().parents[1] / "fixtures" / "metricflow" / "acme_dbt"
    result = plan_import(acme, tmp_path)
    metrics = result.files["metrics/marts/metrics.yml"]
    completed = metrics.split("- name: completed_revenue", 1)[1].split("- name:", 1)[0]
    assert "join_to_timespine: true" in completed and "fill_nulls_with: 0" in completed
    assert "#   time_spine: {start:" in result.files["kpi_project.yml"]
    assert any("calendar: time_spine" in note.message for note in result.changed())
