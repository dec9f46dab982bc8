"""Two metric keys: `fill_nulls_with:` on a simple metric, what a period or dimension value without rows
answers; and `grain:`, the grain a request that names none answers at.

Unset, a count or sum over no rows is 0 and an average NULL (kpiframe's rule); `fill_nulls_with: null`
makes every aggregation NULL there (MetricFlow's rule), a number makes it that number. Ratios and derived
metrics compute over the inputs as they are, so a NULL input gives NULL. Every expected number comes from
SQL written here over raw.orders.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from kpiframe.errors import ProjectInvalid
from kpiframe.project import Project
from tests.conftest import built_project, hand, write_files

FILES = {
    "kpi_project.yml": """
        name: fills
        warehouse: {path: fills.duckdb}
    """,
    "models/sources.yml": """
        sources:
          - name: raw
            schema: raw
            tables:
              - name: orders
                columns: [order_id, status, {name: ordered_at, type: TIMESTAMP}, {name: amount, type: "DECIMAL(10,2)"}]
    """,
    "models/stg_orders.sql": "select * from {{ source('raw', 'orders') }}",
    "metrics/fills.yml": """
        datasets:
          - name: orders
            model: stg_orders
            time: ordered_at
            entities: [{name: order, type: primary, expr: order_id}]
            dimensions: [{name: status}]
            measures:
              - {name: order_count, agg: count, expr: order_id}
              - {name: amount_sum, agg: sum, expr: amount}
              - {name: amount_avg, agg: average, expr: amount}
        metrics:
          - {name: orders, measure: order_count}
          - {name: orders_or_null, measure: order_count, fill_nulls_with: null}
          - {name: paid_orders_or_null, measure: order_count, filter: "status = 'paid'", fill_nulls_with: null}
          - {name: paid_orders, measure: order_count, filter: "status = 'paid'"}
          - {name: revenue, measure: amount_sum}
          - {name: revenue_or_null, measure: amount_sum, fill_nulls_with: null}
          - {name: revenue_or_7, measure: amount_sum, fill_nulls_with: 7}
          - {name: average_order, measure: amount_avg}
          - {name: average_order_or_0, measure: amount_avg, fill_nulls_with: 0}
          - {name: paid_share_or_null, type: ratio, numerator: paid_orders_or_null, denominator: orders}
          - {name: paid_share, type: ratio, numerator: paid_orders, denominator: orders}
          - {name: revenue_left, type: derived, expr: revenue_or_null - revenue}
          - {name: revenue_ytd_or_null, type: cumulative, metric: revenue_or_null, grain_to_date: year}
          - {name: weekly_orders, measure: order_count, grain: week}
          - {name: weekly_revenue, measure: amount_sum, grain: week}
          - {name: monthly_orders, measure: order_count, grain: month}
    """,
}

# January: two paid orders and a refunded one; February: none; March: one refunded order.
ROWS = """
    create schema raw;
    create table raw.orders (order_id varchar, status varchar, ordered_at timestamp, amount decimal(10,2));
    insert into raw.orders values
      ('o1', 'paid', '2026-01-05 10:00', 100.00),
      ('o2', 'paid', '2026-01-20 10:00', 40.00),
      ('o3', 'refunded', '2026-01-21 10:00', 30.00),
      ('o4', 'refunded', '2026-03-02 10:00', 20.00);
"""

# every month from the first to the last with rows, each with what its rows aggregate to (NULL over none)
MONTHLY = """
    with months as (select cast(unnest(generate_series(date '2026-01-01', date '2026-03-01', interval 1 month))
                                as date) as m),
    o as (select cast(date_trunc('month', ordered_at) as date) as m, * from raw.orders),
    agg as (select m, count(order_id) as n, count(order_id) filter (where status = 'paid') as paid,
                   sum(amount) as s, avg(amount) as a
            from o group by 1)
    select months.m, agg.n, case when agg.paid > 0 then agg.paid end, agg.s, agg.a
    from months left join agg using (m) order by 1
"""


@pytest.fixture(scope="module")
def fills(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return built_project(tmp_path_factory.mktemp("fills"), FILES, "fills.duckdb", ROWS)


def floats(row: tuple) -> tuple:
    return tuple(v if v is None or isinstance(v, (date, str)) else float(v) for v in row)


def monthly(project: Project) -> dict[date, tuple]:
    """Per month (count, paid count, sum, average), NULL where no row is aggregated."""
    return {row[0]: floats(row[1:]) for row in hand(project, MONTHLY)}


def test_unset_counts_and_sums_are_0_over_no_rows_and_null_answers_null(fills):
    expected = monthly(fills)
    result = fills.query(
        metrics=["orders", "orders_or_null", "paid_orders", "paid_orders_or_null", "revenue", "revenue_or_null"],
        grain="month",
    )
    got = [floats(row) for row in result.rows]
    assert got == [(m, n or 0.0, n, paid or 0.0, paid, s or 0.0, s) for m, (n, paid, s, _) in sorted(expected.items())]
    assert got[1] == (date(2026, 2, 1), 0.0, None, 0.0, None, 0.0, None)  # February: no row
    assert got[2] == (date(2026, 3, 1), 1.0, 1.0, 0.0, None, 20.0, 20.0)  # March: a row, none of them paid


def test_a_number_fills_any_aggregation_and_an_average_is_null_by_default(fills):
    expected = monthly(fills)
    result = fills.query(metrics=["revenue_or_7", "average_order", "average_order_or_0"], grain="month")
    assert [floats(row) for row in result.rows] == [
        (m, 7.0 if s is None else s, a, 0.0 if a is None else a) for m, (_, _, s, a) in sorted(expected.items())
    ]


def test_a_ratio_and_a_derived_metric_over_a_null_input_are_null(fills):
    expected = monthly(fills)
    result = fills.query(
        metrics=["paid_share", "paid_share_or_null", "revenue_left"], grain="month", end=date(2026, 3, 31)
    )

    def share(paid: float | None, n: float | None) -> float | None:
        return None if not n else (paid or 0.0) / n

    assert [floats(row) for row in result.rows] == [
        (m, share(paid, n), None if paid is None or not n else paid / n, None if s is None else 0.0)
        for m, (n, paid, s, _) in sorted(expected.items())
    ]
    rows = {row[0]: floats(row[1:]) for row in result.rows}
    assert rows[date(2026, 3, 1)] == (0.0, None, 0.0)  # no paid order in March: 0 by default, NULL here


def test_by_dimension_a_value_without_rows_in_a_period_is_null(fills):
    result = fills.query(metrics=["orders", "orders_or_null", "revenue_or_null"], dimensions=["status"], grain="month")
    expected = hand(
        fills,
        """
        with months as (select cast(unnest(generate_series(date '2026-01-01', date '2026-03-01',
                                                           interval 1 month)) as date) as m),
        statuses as (select distinct status from raw.orders),
        agg as (select cast(date_trunc('month', ordered_at) as date) as m, status, count(*) as n, sum(amount) as s
                from raw.orders group by 1, 2)
        select months.m, statuses.status, coalesce(agg.n, 0), agg.n, agg.s
        from months cross join statuses left join agg on agg.m = months.m and agg.status = statuses.status
        order by 1, 2""",
    )
    assert [floats(row) for row in result.rows] == [floats(row) for row in expected]
    assert floats(result.rows[1]) == (date(2026, 1, 1), "refunded", 1.0, 1.0, 30.0)
    assert floats(result.rows[2]) == (date(2026, 2, 1), "paid", 0.0, None, None)


def test_a_running_total_over_a_null_filled_metric_starts_null_then_carries(fills):
    result = fills.query(metrics=["revenue_or_null", "revenue_ytd_or_null"], grain="month")
    expected = hand(
        fills,
        """
        with months as (select cast(unnest(generate_series(date '2026-01-01', date '2026-03-01',
                                                           interval 1 month)) as date) as m),
        s as (select months.m, sum(amount) as s from months
              left join raw.orders on cast(date_trunc('month', ordered_at) as date) = months.m group by 1)
        select m, s, sum(s) over (order by m) from s order by 1""",
    )
    assert [floats(row) for row in result.rows] == [floats(row) for row in expected]
    assert floats(result.rows[1]) == (date(2026, 2, 1), None, 170.0)  # February carries January's total


def write_metric(tmp_path: Path, metric: str) -> Path:
    files = dict(FILES)
    files["metrics/extra.yml"] = f"""
        metrics:
          {metric}
    """
    return write_files(tmp_path, files)


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        (
            "- {name: odd_share, type: ratio, numerator: orders, denominator: revenue, fill_nulls_with: 0}",
            "a ratio metric cannot take 'fill_nulls_with'",
        ),
        ("- {name: odd, measure: order_count, fill_nulls_with: true}", "fill_nulls_with must be a number"),
        ("- {name: odd, measure: order_count, fill_nulls_with: zero}", "fill_nulls_with"),
        ("- {name: odd, measure: order_count, grain: fortnight}", "grain"),
    ],
)
def test_a_wrong_fill_nulls_with_or_grain_is_an_error_at_its_line(tmp_path, metric, message):
    with pytest.raises(ProjectInvalid) as caught:
        Project.load(write_metric(tmp_path, metric))
    found = [d.render() for d in caught.value.diagnostics]
    assert len(found) == 1 and found[0].startswith("metrics/extra.yml:2:") and message in found[0], found


# --- grain: ----------------------------------------------------------------------------------------------
WEEKLY = """
    with weeks as (select cast(unnest(generate_series(date '2026-01-05', date '2026-03-02', interval 7 day))
                               as date) as w),
    o as (select cast(date_trunc('week', ordered_at) as date) as w, * from raw.orders)
    select weeks.w, count(o.order_id) from weeks left join o using (w) group by 1 order by 1
"""


def test_a_request_without_a_grain_answers_at_the_metrics_grain(fills):
    expected = [floats(row) for row in hand(fills, WEEKLY)]
    assert len(expected) == 9  # Monday 5 January to Monday 2 March
    for asked in ({}, {"dimensions": ["metric_time"]}):  # kpiframe's request, and MetricFlow's metric_time
        result = fills.query(metrics=["weekly_orders"], **asked)
        assert [floats(row) for row in result.rows] == expected, asked


def test_a_grain_asked_wins_and_metrics_without_one_share_month(fills):
    by_month = fills.query(metrics=["weekly_orders"], grain="month")
    assert [floats(row) for row in by_month.rows] == [
        (date(2026, 1, 1), 3.0), (date(2026, 2, 1), 0.0), (date(2026, 3, 1), 1.0)
    ]  # fmt: skip
    by_group = fills.query(metrics=["weekly_orders"], dimensions=["metric_time__month"])
    assert by_group.rows == by_month.rows
    assert fills.query(metrics=["weekly_orders", "weekly_revenue"]).rows[0][0] == date(2026, 1, 5)  # both weekly
    for metrics in (["weekly_orders", "orders"], ["weekly_orders", "monthly_orders"]):
        assert fills.query(metrics=metrics).rows[0][0] == date(2026, 1, 1), metrics  # no common grain: month


def test_metric_time_without_a_grain_is_the_coarsest_of_the_metrics_grains(fills):
    # as MetricFlow: the finest grain every metric's data has (a monthly metric has no weeks to answer by)
    weekly_and_monthly = fills.query(metrics=["weekly_orders", "monthly_orders"], dimensions=["metric_time"])
    assert [row[0] for row in weekly_and_monthly.rows[:2]] == [date(2026, 1, 1), date(2026, 2, 1)]  # month
    with_an_ungrained_metric = fills.query(metrics=["weekly_orders", "orders"], dimensions=["metric_time"])
    assert with_an_ungrained_metric.rows[1][0] == date(2026, 1, 12)  # week: the ungrained one is by day
