"""Grain `all`: a request with no period answers each metric over the whole range asked, one row per
dimension combination and no period_start column (MetricFlow's answer to a query without metric_time).

--start and --end bound the rows' days; filters apply as at any grain. A count distinct is distinct over
the whole range (a customer ordering in two months counts once), a ratio divides the totals, a derived
metric computes over them. A cumulative metric is its value on the range's last day (the year to date then);
what reads an earlier period (offsets, --compare) is KF423.
Every expected number comes from SQL written here over raw.orders.
"""

from __future__ import annotations

from datetime import date

import pytest
from click.testing import CliRunner

from kpiframe.cli.main import main
from kpiframe.errors import QueryError
from kpiframe.project import Project
from tests.conftest import built_project, hand

FILES = {
    "kpi_project.yml": """
        name: totals
        warehouse: {path: totals.duckdb}
    """,
    "models/sources.yml": """
        sources:
          - name: raw
            schema: raw
            tables:
              - name: orders
                columns: [order_id, customer_id, region, status, {name: ordered_at, type: TIMESTAMP},
                          {name: amount, type: "DECIMAL(10,2)"}]
    """,
    "models/stg_orders.sql": "select * from {{ source('raw', 'orders') }}",
    "metrics/totals.yml": """
        datasets:
          - name: orders
            model: stg_orders
            time: ordered_at
            entities: [{name: order, type: primary, expr: order_id}]
            dimensions: [{name: region}, {name: status}]
            measures:
              - {name: order_count, agg: count, expr: order_id}
              - {name: customer_count, agg: count_distinct, expr: customer_id}
              - {name: amount_sum, agg: sum, expr: amount}
              - {name: amount_avg, agg: average, expr: amount}
        metrics:
          - {name: orders, measure: order_count}
          - {name: customers, measure: customer_count}
          - {name: revenue, measure: amount_sum}
          - {name: average_order, measure: amount_avg}
          - {name: paid_orders, measure: order_count, filter: "status = 'paid'"}
          - {name: paid_share, type: ratio, numerator: paid_orders, denominator: orders}
          - {name: revenue_per_customer, type: derived, expr: revenue / customers}
          - {name: revenue_ytd, type: cumulative, metric: revenue, grain_to_date: year}
          - {name: revenue_30_days, type: cumulative, metric: revenue, window: 30 days}
          - {name: customers_to_date, type: cumulative, metric: customers, window: 100 years}
          - {name: revenue_ytd_first, type: cumulative, metric: revenue, grain_to_date: year, period_agg: first}
          - {name: revenue_30_days_average, type: cumulative, metric: revenue, window: 30 days, period_agg: average}
          - name: orders_growth
            type: derived
            expr: orders - orders_before
            inputs: [{metric: orders}, {metric: orders, alias: orders_before, offset: previous}]
    """,
}

# customer c1 orders in January and March, c2 in January, c3 in February (north) and March (south)
ROWS = """
    create schema raw;
    create table raw.orders (order_id varchar, customer_id varchar, region varchar, status varchar,
                             ordered_at timestamp, amount decimal(10,2));
    insert into raw.orders values
      ('o1', 'c1', 'north', 'paid',     '2026-01-05 10:00', 100.00),
      ('o2', 'c2', 'north', 'paid',     '2026-01-20 10:00',  40.00),
      ('o3', 'c1', 'south', 'refunded', '2026-01-31 23:00',  30.00),
      ('o4', 'c3', 'north', 'paid',     '2026-02-14 09:00',  60.00),
      ('o5', 'c3', 'south', 'refunded', '2026-03-02 10:00',  20.00),
      ('o6', 'c1', null,    'paid',     '2026-03-31 18:00',  50.00);
"""


@pytest.fixture(scope="module")
def totals(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return built_project(tmp_path_factory.mktemp("totals"), FILES, "totals.duckdb", ROWS)


def floats(row: tuple) -> tuple:
    return tuple(v if v is None or isinstance(v, (str, date)) else float(v) for v in row)


def test_all_time_is_one_row_without_period_start(totals):
    result = totals.query(metrics=["orders", "customers", "revenue", "average_order"], grain="all")
    assert result.columns == ["orders", "customers", "revenue", "average_order"]
    expected = hand(
        totals, "select count(order_id), count(distinct customer_id), sum(amount), avg(amount) from raw.orders"
    )
    assert [floats(row) for row in result.rows] == [floats(row) for row in expected]
    assert floats(result.rows[0]) == (6.0, 3.0, 300.0, 50.0)


def test_count_distinct_is_distinct_over_the_whole_range_not_a_sum_of_periods(totals):
    whole = totals.query(metrics=["customers"], grain="all").rows[0][0]
    per_month = sum(row[1] for row in totals.query(metrics=["customers"], grain="month").rows)
    (distinct,) = hand(totals, "select count(distinct customer_id) from raw.orders")[0]
    (summed,) = hand(
        totals,
        "select sum(n) from (select count(distinct customer_id) as n from raw.orders "
        "group by date_trunc('month', ordered_at))",
    )[0]
    assert whole == distinct == 3
    assert per_month == summed == 5  # c1 and c3 come back in March


def test_ratio_and_derived_divide_the_totals_by_dimension(totals):
    result = totals.query(
        metrics=["paid_share", "customers", "revenue_per_customer"], dimensions=["region"], grain="all"
    )
    assert result.columns == ["region", "paid_share", "customers", "revenue_per_customer"]
    expected = hand(
        totals,
        """
        select region,
               count(order_id) filter (where status = 'paid') / count(order_id),
               count(distinct customer_id),
               sum(amount) / count(distinct customer_id)
        from raw.orders group by region order by region nulls last
        """,
    )
    assert [floats(row) for row in result.rows] == [floats(row) for row in expected]
    assert floats(result.rows[0]) == ("north", 1.0, 3.0, 200.0 / 3)


def test_start_and_end_bound_the_days_and_where_filters(totals):
    result = totals.query(
        metrics=["orders", "customers", "revenue"],
        grain="all",
        start=date(2026, 1, 31),
        end=date(2026, 3, 2),
        where="status = 'paid' or region = 'south'",
    )
    expected = hand(
        totals,
        """
        select count(order_id), count(distinct customer_id), sum(amount) from raw.orders
        where cast(ordered_at as date) between date '2026-01-31' and date '2026-03-02'
          and (status = 'paid' or region = 'south')
        """,
    )
    assert [floats(row) for row in result.rows] == [floats(row) for row in expected] == [(3.0, 2.0, 110.0)]


def test_a_value_without_rows_in_the_range_still_has_its_row(totals):
    """As at any grain, every combination the data has is answered: 0 for a count over no rows."""
    result = totals.query(metrics=["orders", "revenue"], dimensions=["region"], grain="all", start=date(2026, 3, 1))
    expected = hand(
        totals,
        """
        select r.region, count(o.order_id), coalesce(sum(o.amount), 0)
        from (select distinct region from raw.orders) r
        left join raw.orders o on o.region is not distinct from r.region and o.ordered_at >= date '2026-03-01'
        group by r.region order by r.region nulls last
        """,
    )
    assert [floats(row) for row in result.rows] == [floats(row) for row in expected]
    assert floats(result.rows[0]) == ("north", 0.0, 0.0)


def test_a_cumulative_metric_over_all_time_is_its_value_on_the_last_day(totals):
    # the last day is --end, or else the last day with orders (31 March); by region, each region's series
    asked = ["revenue_ytd", "revenue_30_days", "customers_to_date", "orders"]
    result = totals.query(metrics=asked, dimensions=["region"], grain="all")
    expected = hand(
        totals,
        """
        select region,
            sum(amount) filter (where ordered_at >= '2026-01-01' and ordered_at < '2026-04-01'),
            coalesce(sum(amount) filter (where ordered_at >= date '2026-03-31' - 29), 0),
            count(distinct customer_id),
            count(*)
        from raw.orders group by region order by region nulls last
        """,
    )
    assert [floats(row) for row in result.rows] == [floats(row) for row in expected]
    # bounded: the year to 14 February, the 30 days to it, every customer to it; the orders of the range
    bounded = totals.query(metrics=asked, grain="all", start=date(2026, 2, 1), end=date(2026, 2, 14))
    (by_hand,) = hand(
        totals,
        """
        select sum(amount) filter (where ordered_at < '2026-02-15'),
            sum(amount) filter (where ordered_at >= '2026-01-16' and ordered_at < '2026-02-15'),
            count(distinct customer_id) filter (where ordered_at < '2026-02-15'),
            count(*) filter (where ordered_at >= '2026-02-01' and ordered_at < '2026-02-15')
        from raw.orders
        """,
    )
    assert [floats(row) for row in bounded.rows] == [floats(by_hand)]
    assert floats(bounded.rows[0]) == (230.0, 130.0, 3.0, 1.0)


# the running values of every day from `first` to the last order's, written by hand
DAILY = """
    with days as (
        select unnest(generate_series(date '{first}', date '2026-03-31', interval 1 day))::date as d
    )
    select d,
        (select coalesce(sum(amount), 0) from raw.orders
         where ordered_at::date between date_trunc('year', d) and d) as ytd,
        (select coalesce(sum(amount), 0) from raw.orders
         where ordered_at::date > d - 30 and ordered_at::date <= d) as trailing_30
    from days
"""


def test_period_agg_first_and_average_read_the_days_of_each_month(totals):
    # MetricFlow's period_agg: a cumulative metric by month is its last day's value (kpiframe's default),
    # its first day's, or the average of its days': every day of the month, the first order's (5 January) or not
    asked = ["revenue_ytd", "revenue_ytd_first", "revenue_30_days_average"]
    result = totals.query(metrics=asked, grain="month")
    expected = hand(
        totals,
        f"""
        with daily as ({DAILY.format(first="2026-01-01")})
        select date_trunc('month', d)::date as m,
            arg_max(ytd, d), arg_min(ytd, d), avg(trailing_30)
        from daily group by m order by m
        """,
    )
    assert [floats(row) for row in result.rows] == [floats(row) for row in expected]
    # February: 200 by its last day, 170 on its first (January's 170), the average of 28 trailing sums
    assert floats(result.rows[1])[:3] == (date(2026, 2, 1), 230.0, 170.0)
    # bounded to February: its days, not the range's
    february = totals.query(metrics=asked, grain="month", start=date(2026, 2, 1), end=date(2026, 2, 1))
    assert [floats(row) for row in february.rows] == [floats(expected[1])]
    # over all time: the range's last day, first day, average of its days (from the first order's)
    (whole,) = hand(
        totals,
        f"with daily as ({DAILY.format(first='2026-01-05')}) "
        "select arg_max(ytd, d), arg_min(ytd, d), avg(trailing_30) from daily",
    )
    assert [floats(row) for row in totals.query(metrics=asked, grain="all").rows] == [floats(whole)]


def test_period_agg_is_a_cumulative_metrics_only(tmp_path):
    from kpiframe.errors import ProjectInvalid
    from tests.conftest import write_files

    files = dict(FILES)
    odd = "        metrics:\n          - {name: odd, measure: order_count, period_agg: first}\n"
    files["metrics/totals.yml"] = files["metrics/totals.yml"].replace("        metrics:\n", odd, 1)
    root = write_files(tmp_path / "odd", files)
    with pytest.raises(ProjectInvalid) as refused:
        Project.load(root)
    assert "'period_agg' belongs to cumulative metrics" in refused.value.render()


@pytest.mark.parametrize(
    ("asked", "named"),
    [
        ({"metrics": ["orders_growth"]}, "derived metric 'orders_growth'"),
        ({"metrics": ["orders"], "compare": "previous"}, "--compare previous"),
    ],
)
def test_what_reads_earlier_periods_is_refused_over_all_time(totals, asked, named):
    with pytest.raises(QueryError) as raised:
        totals.explain(grain="all", **asked)
    found = raised.value.diagnostic
    assert found.code == "KF423"
    assert named in found.message and "--grain month" in (found.hint or "")


def test_the_cli_answers_grain_all_without_a_period_column(totals):
    runner = CliRunner()
    args = ["query", "--project-dir", str(totals.root), "--metric", "orders,customers", "--grain", "all"]
    result = runner.invoke(main, [*args, "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["orders,customers", "6,3"]  # no period_start, no period_complete
    refused = runner.invoke(
        main, ["query", "--project-dir", str(totals.root), "--metric", "orders_growth", "--grain", "all"]
    )
    assert refused.exit_code != 0 and "KF423" in refused.output


def test_the_http_api_answers_grain_all_as_its_schema_says(totals):
    import asyncio

    import httpx

    from kpiframe.serve import create_app
    from kpiframe.serve.openapi import openapi_document

    async def post(body: dict[str, object]) -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(totals), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.post("/v1/query", json=body)

    response = asyncio.run(post({"metrics": ["orders", "customers"], "by": ["region"], "grain": "all"}))
    assert response.status_code == 200, response.text
    expected = hand(
        totals,
        "select region, count(order_id), count(distinct customer_id) from raw.orders "
        "group by region order by region nulls last",
    )
    assert response.json()["columns"] == ["region", "orders", "customers"]
    assert [tuple(row) for row in response.json()["rows"]] == expected
    refused = asyncio.run(post({"metrics": ["orders_growth"], "grain": "all"}))
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "KF423"
    grain = openapi_document("totals")["components"]["schemas"]["QueryRequest"]["properties"]["grain"]
    assert "all" in grain["enum"]


def test_a_project_whose_requests_without_time_answer_totals(tmp_path):
    """kpi_project.yml's `query: {without_time: all}` (what `kpiframe import metricflow` writes): a request
    naming no grain and no time answers the totals; --grain and metric_time__<grain> still name a period."""
    files = dict(FILES)
    files["kpi_project.yml"] = """
        name: totals
        warehouse: {path: totals.duckdb}
        query: {without_time: all}
    """
    project = built_project(tmp_path, files, "totals.duckdb", ROWS)
    totals = project.query(metrics=["orders", "customers"], dimensions=["region"])
    assert totals.columns == ["region", "orders", "customers"]
    expected = hand(
        project,
        "select region, count(order_id), count(distinct customer_id) from raw.orders "
        "group by region order by region nulls last",
    )
    assert [floats(row) for row in totals.rows] == [floats(row) for row in expected]
    by_month = project.query(metrics=["orders"], dimensions=["metric_time__month"])
    assert by_month.columns == ["period_start", "orders"] and len(by_month.rows) == 3
    assert project.query(metrics=["orders"], grain="quarter").columns == ["period_start", "orders"]
