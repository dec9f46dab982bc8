"""Metric types on a tiny project: every answer is compared with SQL written by hand over raw.*."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from kpiframe.errors import QueryError
from kpiframe.project import Project
from tests.conftest import hand


@pytest.fixture
def shop(make_project):
    root = make_project()
    project = Project.load(root)
    project.build()
    return project


def test_simple_ratio_and_derived_by_month(shop):
    result = shop.query(metrics=["orders", "revenue", "paid_share", "aov"], grain="month")
    assert result.columns == ["period_start", "orders", "revenue", "paid_share", "aov"]
    expected = hand(
        shop,
        """
        select cast(date_trunc('month', ordered_at) as date), count(*), sum(amount),
               count(*) filter (where status = 'paid') / count(*), sum(amount) / count(*)
        from raw.orders where status <> 'test' group by 1 order by 1""",
    )
    assert [(r[0], r[1], float(r[2]), r[3], r[4]) for r in result.rows] == [
        (r[0], r[1], float(r[2]), r[3], float(r[4])) for r in expected
    ]


def test_joined_dimension_keeps_unknown_customers_as_null_group(shop):
    result = shop.query(metrics=["revenue"], dimensions=["customer__region"], grain="quarter")
    # every quarter from the first to the last with orders, for every region seen (0 where none)
    expected = hand(
        shop,
        """
        with o as (select cast(date_trunc('quarter', o.ordered_at) as date) as q, c.region, o.amount
                   from raw.orders o left join raw.customers c using (customer_id) where o.status <> 'test'),
        quarters as (select distinct q from o), regions as (select distinct region from o)
        select quarters.q, regions.region, coalesce(sum(o.amount), 0)
        from quarters cross join regions
        left join o on o.q = quarters.q and o.region is not distinct from regions.region
        group by all order by 1, 2 nulls last""",
    )
    assert [(r[0], r[1], float(r[2])) for r in result.rows] == [(r[0], r[1], float(r[2])) for r in expected]
    assert any(r[1] is None for r in result.rows)


def test_short_dimension_name_resolves_through_the_join(shop):
    result = shop.query(metrics=["orders"], dimensions=["region"], grain="year")
    assert result.columns == ["period_start", "region", "orders"]
    assert sum(r[2] for r in result.rows) == 7


def test_count_over_no_rows_is_zero_and_ratio_over_zero_is_null(shop):
    # paid_orders has no rows in 2026-02-01's week where only a refund happened
    result = shop.query(
        metrics=["paid_orders", "orders", "paid_share"], grain="day", start=date(2026, 2, 1), end=date(2026, 2, 1)
    )
    assert result.rows == [(date(2026, 2, 1), 0, 1, 0.0)]


def test_week_starts_on_the_configured_day_and_fiscal_year_in_april(shop):
    weeks = shop.query(metrics=["orders"], grain="week")
    expected_weeks = hand(
        shop,
        """
        with o as (select cast(o.ordered_at as date) - cast(dayofweek(o.ordered_at) as integer) as sunday
                   from raw.orders o where status <> 'test'),
        weeks as (select cast(unnest(generate_series(min(sunday), max(sunday), interval 7 day)) as date) as w
                  from o)
        select w, count(o.sunday) from weeks left join o on o.sunday = weeks.w group by 1 order by 1""",
    )
    assert weeks.rows == expected_weeks
    fiscal = shop.query(metrics=["revenue"], grain="fiscal_year")
    assert [(r[0], float(r[1])) for r in fiscal.rows] == [(date(2025, 4, 1), 280.0), (date(2026, 4, 1), 40.0)]


def test_month_and_year_to_date(shop):
    result = shop.query(
        metrics=["revenue", "revenue_mtd", "revenue_ytd"], grain="day", start=date(2026, 1, 2), end=date(2026, 2, 3)
    )
    expected = hand(
        shop,
        """
        with days as (select cast(unnest(generate_series(date '2026-01-01', date '2026-02-03', interval 1 day))
                              as date) as day),
        d as (select days.day, coalesce(sum(amount), 0) as r from days
              left join raw.orders on cast(ordered_at as date) = days.day and status <> 'test' group by 1),
        w as (select day, r, sum(r) over (partition by date_trunc('month', day) order by day) as mtd,
                     sum(r) over (partition by date_trunc('year', day) order by day) as ytd from d)
        select * from w where day between '2026-01-02' and '2026-02-03' order by 1""",
    )
    assert [tuple(float(v) if i else v for i, v in enumerate(r)) for r in result.rows] == [
        tuple(float(v) if i else v for i, v in enumerate(r)) for r in expected
    ]


def test_rolling_window_counts_only_days_inside_it(shop):
    result = shop.query(metrics=["revenue_3d"], grain="day", start=date(2026, 1, 1), end=date(2026, 1, 31))
    values = {r[0]: float(r[1]) for r in result.rows}
    assert values[date(2026, 1, 2)] == 150.0  # 1st and 2nd
    assert values[date(2026, 1, 5)] == 30.0  # the 2nd is 3 days back: outside a 3-day window


def test_declared_offset_and_query_time_compare(shop):
    result = shop.query(metrics=["revenue", "revenue_growth"], grain="month", compare="previous")
    assert result.columns == [
        "period_start",
        "revenue",
        "revenue__previous",
        "revenue__change",
        "revenue_growth",
        "revenue_growth__previous",
        "revenue_growth__change",
    ]
    by_month = {r[0]: r for r in result.rows}
    feb = by_month[date(2026, 2, 1)]
    assert (float(feb[1]), float(feb[2])) == (90.0, 180.0)
    assert feb[3] == pytest.approx(-0.5)
    assert float(feb[4]) == -90.0
    # December has no orders: revenue 0 (not NULL), and a change from 0 is NULL
    assert (by_month[date(2026, 1, 1)][2], by_month[date(2026, 1, 1)][3]) == (0, None)
    yearly = shop.query(metrics=["orders"], grain="month", compare="year")
    assert [(r[2], r[3]) for r in yearly.rows] == [(0, None)] * 4


def test_where_filter_and_median(shop):
    result = shop.query(metrics=["median_order", "orders"], grain="year", where="customer__region = 'emea'")
    expected = hand(
        shop,
        """
        select median(o.amount), count(*) from raw.orders o join raw.customers c using (customer_id)
        where c.region = 'emea' and o.status <> 'test'""",
    )
    assert (float(result.rows[0][1]), result.rows[0][2]) == (float(expected[0][0]), expected[0][1])


@pytest.mark.parametrize(
    "where", ["1=1; DROP TABLE raw.orders", "order_id in (select 1)", "exists (select * from raw.orders)"]
)
def test_a_filter_may_only_be_an_expression(shop, where):
    with pytest.raises(QueryError) as caught:
        shop.query(metrics=["orders"], where=where)
    assert "expression" in str(caught.value)
    assert hand(shop, "select count(*) from raw.orders") == [(8,)]


def test_dimension_that_does_not_apply_is_an_error(shop):
    with pytest.raises(QueryError) as caught:
        shop.query(metrics=["orders"], dimensions=["customer__segment"])
    assert caught.value.diagnostic.code == "KF410"


def test_fan_out_join_is_refused_with_the_reason(make_project):
    root = make_project(
        {
            "metrics/customers.yml": """
        datasets:
          - name: signups
            model: stg_customers
            time: signed_up
            entities: [{name: customer, type: primary, expr: customer_id}]
            measures: [{name: customer_count, agg: count, expr: customer_id}]
        metrics: [{name: customers, measure: customer_count}]
    """
        }
    )
    project = Project.load(root)
    with pytest.raises(QueryError) as caught:
        project.query(metrics=["customers"], dimensions=["order__status"])
    assert "multiply rows" in str(caught.value)


def test_explain_renders_every_dialect_and_parses_back(shop):
    import sqlglot

    for dialect in ("duckdb", "postgres", "snowflake", "bigquery"):
        sql = shop.explain(
            dialect=dialect,
            metrics=["aov", "revenue_ytd", "revenue_growth"],
            dimensions=["customer__region"],
            grain="month",
            compare="year",
        )
        assert sqlglot.parse_one(sql, read=dialect) is not None


def test_year_comparison_at_day_grain_has_one_row_around_a_leap_day(make_project):
    root = make_project()
    con = duckdb.connect(str(root / "shop.duckdb"))
    con.execute("""insert into raw.orders values ('l1', 'c1', '2024-02-28 10:00', 1, 'paid'),
                   ('l2', 'c1', '2024-02-29 10:00', 2, 'paid'), ('l3', 'c1', '2025-02-28 10:00', 4, 'paid')""")
    con.close()
    project = Project.load(root)
    project.build()
    result = project.query(
        metrics=["revenue"], grain="day", compare="year", start=date(2025, 2, 27), end=date(2025, 3, 1)
    )
    # 28 Feb 2025 compares with 28 Feb 2024; 29 Feb 2024 has no day a year later; the days around
    # have no orders in either year
    assert [(r[0], float(r[1]), float(r[2])) for r in result.rows] == [
        (date(2025, 2, 27), 0.0, 0.0),
        (date(2025, 2, 28), 4.0, 1.0),
        (date(2025, 3, 1), 0.0, 0.0),
    ]


def test_a_filter_on_a_ratio_is_refused_rather_than_ignored(make_project):
    from kpiframe.errors import ProjectInvalid

    root = make_project(
        {
            "metrics/more.yml": """
        metrics:
          - {name: paid_share_c1, type: ratio, numerator: paid_orders, denominator: orders, filter: "status = 'x'"}
    """
        },
        rows=False,
    )
    with pytest.raises(ProjectInvalid) as caught:
        Project.load(root)
    assert "error[KF202]: a ratio metric cannot take a filter" in caught.value.render()


def test_source_names_with_double_underscores(make_project):
    root = make_project(
        {
            "models/sources.yml": """
            sources:
              - name: raw__crm
                schema: raw
                tables: [{name: orders}, {name: customers}]
        """,
            "models/stg_orders.sql": "select * from {{ source('raw__crm', 'orders') }} where status <> 'test'",
            "models/stg_customers.sql": "select * from {{ source('raw__crm', 'customers') }}",
        }
    )
    project = Project.load(root)
    project.build()
    assert project.query(metrics=["orders"], grain="year").rows == [(date(2026, 1, 1), 7)]
