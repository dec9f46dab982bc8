"""Two grains of metric time in one request: the finer is the period, the coarser a label of each row.

`--grain week --by metric_time__quarter` (MetricFlow's `--group-by metric_time__week,metric_time__quarter`)
groups each row by the week and by the quarter of its day, so a week that straddles two quarters has a
row in each, holding the rows of its days in that quarter. The spine lists the (week, quarter) pairs of
the range's days; a cumulative metric takes each pair's value from its days (period_agg). What reads
another period's rows (--compare, an input offset) is refused (KF428), a label finer than the period is
KF414. Every expected number comes from SQL written here over raw.orders.
"""

from __future__ import annotations

from datetime import date

import pytest
import sqlglot
from click.testing import CliRunner

from kpiframe.cli.main import main
from kpiframe.errors import QueryError
from kpiframe.project import Project
from kpiframe.sql.metric_query import MetricRequest, compile_request
from tests.conftest import built_project, hand
from tests.unit.test_all_time_query import FILES, floats

# the week of Monday 30 March holds two days of the first quarter and five of the second, the week of
# Monday 29 June two of the second and five of the third; c1 and c3 order on both sides of 1 April
ROWS = """
    create schema raw;
    create table raw.orders (order_id varchar, customer_id varchar, region varchar, status varchar,
                             ordered_at timestamp, amount decimal(10,2));
    insert into raw.orders values
      ('o1', 'c1', 'north', 'paid',     '2026-03-25 10:00', 100.00),
      ('o2', 'c3', 'north', 'paid',     '2026-03-31 09:00',  40.00),
      ('o3', 'c1', 'south', 'refunded', '2026-04-01 08:00',  30.00),
      ('o4', 'c3', 'north', 'paid',     '2026-04-02 12:00',  60.00),
      ('o5', 'c2', 'south', 'refunded', '2026-04-09 10:00',  20.00),
      ('o6', 'c1', null,    'paid',     '2026-06-30 18:00',  50.00),
      ('o7', 'c2', 'north', 'paid',     '2026-07-02 23:30',  70.00);
"""

# every day of the weeks from the first order's to the last's, with its week and quarter
DAYS = """
    select d, date_trunc('week', d)::date as w, date_trunc('quarter', d)::date as q
    from (select unnest(generate_series(date '2026-03-23', date '2026-07-05', interval 1 day))::date as d)
"""


# inputs read 5 days earlier: whole days, which a week or a month cannot be shifted by
OFFSETS = """
          - name: orders_5_days_ago
            type: derived
            expr: orders_before
            inputs: [{metric: orders, alias: orders_before, offset: 5 days}]
          - name: ytd_5_days_ago
            type: derived
            expr: ytd_before
            inputs: [{metric: revenue_ytd, alias: ytd_before, offset: 5 days}]
"""


# a published table by two grains (what a MetricFlow saved query by week and quarter is imported as)
TABLES = """
    tables:
      - name: orders_weekly_by_quarter
        grain: week
        dimensions: [metric_time__quarter]
        metrics: [orders, customers, revenue]
"""


@pytest.fixture(scope="module")
def orders(tmp_path_factory: pytest.TempPathFactory) -> Project:
    files = {**FILES, "metrics/totals.yml": FILES["metrics/totals.yml"].rstrip(" ") + OFFSETS.lstrip("\n")}
    files["metrics/tables.yml"] = TABLES
    return built_project(tmp_path_factory.mktemp("two_grains"), files, "totals.duckdb", ROWS)


def by_week_and_quarter(project: Project) -> list[tuple]:
    return hand(
        project,
        f"""
        with pairs as (select distinct w, q from ({DAYS})),
        counted as (
            select date_trunc('week', ordered_at)::date as w, date_trunc('quarter', ordered_at)::date as q,
                count(*) as n, count(distinct customer_id) as c, sum(amount) as s
            from raw.orders group by all
        )
        select w, q, coalesce(n, 0), coalesce(c, 0), coalesce(s, 0)
        from pairs left join counted using (w, q) order by w, q
        """,
    )


def test_a_week_straddling_two_quarters_has_a_row_in_each(orders):
    result = orders.query(metrics=["orders", "customers", "revenue"], dimensions=["metric_time__quarter"], grain="week")
    assert result.columns == ["period_start", "metric_time__quarter", "orders", "customers", "revenue"]
    expected = by_week_and_quarter(orders)
    assert [floats(row) for row in result.rows] == [floats(row) for row in expected]
    straddling = [floats(row) for row in result.rows if row[0] == date(2026, 3, 30)]
    # o2 (c3) on 31 March; o3 (c1) and o4 (c3) in April: c3 counts in both rows
    assert straddling == [
        (date(2026, 3, 30), date(2026, 1, 1), 1.0, 1.0, 40.0),
        (date(2026, 3, 30), date(2026, 4, 1), 2.0, 2.0, 90.0),
    ]


def test_a_published_table_holds_a_row_per_week_and_quarter(orders):
    published = hand(
        orders, "select * from metrics.orders_weekly_by_quarter order by period_start, metric_time__quarter"
    )
    expected = by_week_and_quarter(orders)
    assert [floats(row[:5]) for row in published] == [floats(row) for row in expected]


def test_metricflow_names_two_grains_in_either_order(orders):
    expected = by_week_and_quarter(orders)
    for names in (["metric_time__week", "metric_time__quarter"], ["metric_time__quarter", "metric_time__week"]):
        result = orders.query(metrics=["orders", "customers", "revenue"], dimensions=names)
        assert result.columns[:2] == ["period_start", "metric_time__quarter"]
        assert [floats(row) for row in result.rows] == [floats(row) for row in expected]
    # a dimension beside them
    by_region = orders.query(metrics=["orders"], dimensions=["metric_time__month", "metric_time__year", "region"])
    expected_region = hand(
        orders,
        """
        with months as (select distinct date_trunc('month', d)::date as m from (
                select unnest(generate_series(date '2026-03-01', date '2026-07-31', interval 1 day))::date as d)),
            regions as (select distinct region from raw.orders)
        select m, regions.region, date_trunc('year', m)::date, (select count(*) from raw.orders o
            where date_trunc('month', o.ordered_at)::date = m and o.region is not distinct from regions.region)
        from months cross join regions order by m, region nulls last
        """,
    )
    assert by_region.columns == ["period_start", "region", "metric_time__year", "orders"]
    assert [floats(row) for row in by_region.rows] == [floats(row) for row in expected_region]


def test_a_cumulative_metric_reads_each_pair_from_its_days(orders):
    # the running values of every day of the weeks asked, by hand; each (week, quarter) pair reads its days:
    # the last day's (revenue_ytd), the first day's (revenue_ytd_first), their average (revenue_30_days_average)
    asked = ["revenue_ytd", "revenue_ytd_first", "revenue_30_days_average"]
    result = orders.query(metrics=asked, dimensions=["metric_time__quarter"], grain="week")
    expected = hand(
        orders,
        f"""
        with daily as (
            select d, w, q,
                (select coalesce(sum(amount), 0) from raw.orders
                 where ordered_at::date between date_trunc('year', d) and d) as ytd,
                (select coalesce(sum(amount), 0) from raw.orders
                 where ordered_at::date > d - 30 and ordered_at::date <= d) as trailing_30
            from ({DAYS})
        )
        select w, q, arg_max(ytd, d), arg_min(ytd, d), avg(trailing_30) from daily group by w, q order by w, q
        """,
    )
    assert [floats(row) for row in result.rows] == [floats(row) for row in expected]
    # the week of 29 June in the third quarter: 1 to 5 July, o7 on the 2nd (ytd 370 by the 5th, 300 on the 1st)
    assert floats(result.rows[-1])[:4] == (date(2026, 6, 29), date(2026, 7, 1), 370.0, 300.0)


def test_an_offset_of_days_moves_the_rows_into_the_period_of_their_day_that_much_later(orders):
    # MetricFlow sums, for each day of a month, the orders of 5 days before: each order counts in the month
    # of its day 5 days later (o6, 30 June, in July); the series runs on to the month of the last order + 5
    result = orders.query(metrics=["orders", "orders_5_days_ago"], grain="month")
    expected = hand(
        orders,
        """
        select m, (select count(*) from raw.orders where date_trunc('month', ordered_at)::date = m),
            (select count(*) from raw.orders where date_trunc('month', ordered_at + interval 5 day)::date = m)
        from (select unnest(generate_series(date '2026-03-01', date '2026-07-01', interval 1 month))::date as m)
        order by m
        """,
    )
    assert [floats(row) for row in result.rows] == [floats(row) for row in expected]
    # by week and quarter: each order in the week and quarter of its day 5 days on (o2, 31 March: 5 April),
    # from the week of the first order's moved day (30 March), to the last's (6 July)
    by_label = orders.query(metrics=["orders_5_days_ago"], dimensions=["metric_time__quarter"], grain="week")
    pairs = hand(
        orders,
        """
        with days as (select unnest(generate_series(date '2026-03-30', date '2026-07-12', interval 1 day))::date d),
            pairs as (select distinct date_trunc('week', d)::date w, date_trunc('quarter', d)::date q from days)
        select w, q, (select count(*) from raw.orders
                      where date_trunc('week', ordered_at + interval 5 day)::date = w
                        and date_trunc('quarter', ordered_at + interval 5 day)::date = q)
        from pairs order by w, q
        """,
    )
    assert [floats(row) for row in by_label.rows] == [floats(row) for row in pairs]


def test_an_offset_of_an_input_that_reads_earlier_periods_is_still_refused(orders):
    # the moved rows would not carry the year to date's history
    with pytest.raises(QueryError) as by_month:
        orders.query(metrics=["ytd_5_days_ago"], grain="month")
    assert by_month.value.diagnostic.code == "KF424"
    with pytest.raises(QueryError) as by_label:
        orders.query(metrics=["ytd_5_days_ago"], dimensions=["metric_time__quarter"], grain="week")
    assert by_label.value.diagnostic.code == "KF428"


def test_a_label_over_all_time_groups_the_whole_range(orders):
    result = orders.query(
        metrics=["orders", "customers", "revenue_ytd"], dimensions=["metric_time__quarter"], grain="all"
    )
    expected = hand(
        orders,
        """
        -- the year to date on the quarter's last day, or on 2 July (the last order's) in the third quarter
        select date_trunc('quarter', ordered_at)::date as q, count(*), count(distinct customer_id),
            (select sum(amount) from raw.orders i
             where i.ordered_at::date <= least(q + interval 3 month - interval 1 day, date '2026-07-02'))
        from raw.orders o group by q order by q
        """,
    )
    assert result.columns == ["metric_time__quarter", "orders", "customers", "revenue_ytd"]
    assert [floats(row) for row in result.rows] == [floats(row) for row in expected]


def test_a_label_finer_than_the_period_is_refused_with_the_request_to_ask(orders):
    # MetricFlow's names always make the finer grain the period; a request built otherwise is refused
    with pytest.raises(QueryError) as refused:
        compile_request(orders.layer, MetricRequest(("orders",), ("metric_time__week",), "quarter"))
    assert refused.value.diagnostic.code == "KF414"
    assert "--grain week --by metric_time__quarter" in (refused.value.diagnostic.hint or "")


@pytest.mark.parametrize(
    ("asked", "compare", "named"),
    [(["orders"], "previous", "--compare previous"), (["orders_growth"], None, "reads 'orders' previous earlier")],
)
def test_what_reads_another_periods_rows_is_refused_by_a_label(orders, asked, compare, named):
    with pytest.raises(QueryError) as refused:
        orders.query(metrics=asked, dimensions=["metric_time__quarter"], grain="week", compare=compare)
    assert refused.value.diagnostic.code == "KF428"
    assert named in refused.value.diagnostic.message
    assert "another grain of metric time" in refused.value.diagnostic.message


def test_the_cli_answers_two_grains_in_a_column_each(orders):
    root = str(orders.root)
    asked = ["query", "--project-dir", root, "--metric", "orders,revenue", "--by", "metric_time__week"]
    asked += ["--by", "metric_time__quarter", "--start", "2026-03-30", "--end", "2026-04-06", "--format", "csv"]
    result = CliRunner().invoke(main, asked)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0] == "period_start,metric_time__quarter,orders,revenue,period_complete"
    rows = ["2026-03-30,2026-01-01,1,40.0", "2026-03-30,2026-04-01,2,90.0", "2026-04-06,2026-04-01,1,20.0"]
    assert lines[1:] == [f"{row},True" for row in rows]


def test_the_answer_is_ordered_by_the_label_when_asked(orders):
    # the quarters first, each one's weeks from the last: the label is a column of its own, not the period
    result = orders.query(
        metrics=["orders"],
        dimensions=["metric_time__week", "metric_time__quarter"],
        order=["metric_time__quarter", "-metric_time__week"],
    )
    keys = [(row[1], row[0]) for row in result.rows]
    assert keys == sorted(keys, key=lambda key: (key[0], -key[1].toordinal()))
    assert keys[:2] == [(date(2026, 1, 1), date(2026, 3, 30)), (date(2026, 1, 1), date(2026, 3, 23))]


def test_hours_labelled_by_their_day(orders):
    # a sub-day period lies within one day: each hour has one row, with its day
    result = orders.query(
        metrics=["orders"],
        dimensions=["metric_time__hour", "metric_time__day"],
        start_time="2026-03-31T22:00",
        end_time="2026-04-01T09:00",
    )
    expected = hand(
        orders,
        """
        select h, h::date, (select count(*) from raw.orders where date_trunc('hour', ordered_at) = h)
        from (select unnest(generate_series(timestamp '2026-03-31 22:00', timestamp '2026-04-01 09:00',
                                            interval 1 hour)) as h)
        order by h
        """,
    )
    assert result.columns == ["period_start", "metric_time__day", "orders"]
    assert [floats(row) for row in result.rows] == [floats(row) for row in expected]
    assert sum(row[2] for row in result.rows) == 1  # o3, 1 April 08:00


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "spark", "snowflake", "bigquery"])
def test_the_sql_of_two_grains_renders_for_each_dialect(orders, dialect):
    # PostgreSQL and Spark run it (tests/integration); Snowflake and BigQuery are only rendered and read back
    sql = orders.explain(
        dialect=dialect,
        metrics=["orders", "revenue_30_days_average", "orders_5_days_ago"],
        dimensions=["metric_time__week", "metric_time__quarter"],
    )
    sqlglot.parse_one(sql, read=dialect)
    assert "SELECT DISTINCT" in " ".join(sql.upper().split())  # the (week, quarter) pairs of the spine's days


def test_an_empty_load_answers_no_pair_and_no_error(tmp_path):
    # the orders arrive empty: no week, so no (week, quarter) pair, for a count, a cumulative metric and an
    # offset alike; bounded by --start/--end, every pair of the range's days with 0
    empty = built_project(tmp_path, FILES, "totals.duckdb", ROWS.split("insert into")[0])
    asked = {"metrics": ["orders", "revenue_ytd"], "dimensions": ["metric_time__week", "metric_time__quarter"]}
    assert empty.query(**asked).rows == []
    bounded = empty.query(**asked, start=date(2026, 3, 30), end=date(2026, 4, 6))
    assert [(row[0], row[1], row[2]) for row in bounded.rows] == [
        (date(2026, 3, 30), date(2026, 1, 1), 0),
        (date(2026, 3, 30), date(2026, 4, 1), 0),
        (date(2026, 4, 6), date(2026, 4, 1), 0),
    ]
