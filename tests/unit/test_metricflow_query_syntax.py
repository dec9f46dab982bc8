"""`kpiframe query` in MetricFlow's request syntax: `--metrics a,b`, `--group-by metric_time__day`,
`entity__dim__grain`, `--where "{{ Dimension('order__channel') }} = 'web'"`.

The project is `kpiframe init`'s, with its time and its key declared as dimensions, over hand-written
orders; every answer is compared with SQL written by hand over the same rows.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from kpiframe.cli.main import main
from kpiframe.project import Project

ORDERS = [  # order_id, ordered_at, channel, amount
    ("o1", "2026-01-30 10:00:00", "web", 10),
    ("o2", "2026-01-31 11:00:00", "store", 20),
    ("o3", "2026-02-01 09:00:00", "web", 30),
    ("o4", "2026-02-01 17:00:00", "web", 5),
    ("o5", "2026-02-14 12:00:00", "store", 40),
    ("o6", "2026-03-02 08:00:00", "web", 7),
]
KEY_DIMENSIONS = """    dimensions:
      - {name: channel}
      - {name: ordered_at, type: time}
      - {name: order_key, expr: order_id}
"""


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def make_project(root: Path, dimensions: str = KEY_DIMENSIONS) -> Path:
    assert run("init", str(root))[0] == 0
    metrics = root / "metrics" / "orders.yml"
    text = metrics.read_text(encoding="utf-8")
    metrics.write_text(text.replace("    dimensions:\n      - {name: channel}\n", dimensions), encoding="utf-8")
    con = duckdb.connect(str(root / "warehouse.duckdb"))
    con.execute("create schema raw")
    con.execute(
        "create table raw.orders (order_id varchar, ordered_at timestamp, channel varchar, amount decimal(12,2))"
    )
    con.executemany("insert into raw.orders values (?, ?, ?, ?)", ORDERS)
    con.close()
    code, out = run("build", "--project-dir", str(root))
    assert code == 0, out
    return root


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("mf_syntax") / "shop")


def query(root: Path, *args: str) -> list[tuple[object, ...]]:
    code, out = run("query", "--project-dir", str(root), "--format", "json", *args)
    assert code == 0, out
    return [tuple(v for k, v in row.items() if k != "period_complete") for row in json.loads(out)]


def fails(root: Path, *args: str) -> str:
    code, out = run("query", "--project-dir", str(root), *args)
    assert code != 0, out
    return out


def hand(sql: str) -> list[tuple[object, ...]]:
    con = duckdb.connect()
    con.execute("create table orders (order_id varchar, ordered_at timestamp, channel varchar, amount decimal(12,2))")
    con.executemany("insert into orders values (?, ?, ?, ?)", ORDERS)
    return [tuple(float(v) if isinstance(v, Decimal) else v for v in row) for row in con.execute(sql).fetchall()]


DAILY_BY_CHANNEL = """
    with days as (select unnest(generate_series(date '2026-01-30', date '2026-03-02', interval 1 day))::date d),
         channels as (select distinct channel from orders)
    select strftime(d, '%Y-%m-%d'), c.channel, count(o.order_id), coalesce(sum(o.amount), 0)
    from days cross join channels c left join orders o on o.ordered_at::date = d and o.channel = c.channel
    group by all order by 1, 2"""


def test_metricflow_names_give_what_kpiframe_names_give(shop):
    mf = query(shop, "--metrics", "orders,revenue", "--group-by", "metric_time__day", "--group-by", "order__channel")
    own = query(shop, "--metric", "orders", "--metric", "revenue", "--by", "order__channel", "--grain", "day")
    assert mf == own == hand(DAILY_BY_CHANNEL)


def test_metric_time_alone_is_day_and_the_metrics_own_time_dimension_at_a_grain_is_the_period(shop):
    assert query(shop, "--metrics", "orders", "--group-by", "metric_time") == hand(
        """with days as (select unnest(generate_series(date '2026-01-30', date '2026-03-02', interval 1 day))::date d)
           select strftime(d, '%Y-%m-%d'), count(o.order_id) from days left join orders o on o.ordered_at::date = d
           group by all order by 1"""
    )
    monthly = hand(
        "select strftime(date_trunc('month', ordered_at), '%Y-%m-%d'), count(*) from orders group by 1 order by 1"
    )
    assert query(shop, "--metrics", "orders", "--group-by", "order__ordered_at__month") == monthly
    assert query(shop, "--metrics", "orders", "--group-by", "metric_time__month", "--grain", "month") == monthly


def test_where_in_metricflow_jinja_form(shop):
    where = "{{ Dimension('order__channel') }} = 'web' AND {{ TimeDimension('metric_time', 'day') }} >= '2026-02-01'"
    rows = query(shop, "--metrics", "orders,revenue", "--group-by", "metric_time__month", "--where", where)
    assert rows == hand(
        """select strftime(date_trunc('month', ordered_at), '%Y-%m-%d'), count(*), sum(amount) from orders
           where channel = 'web' and ordered_at >= '2026-02-01' group by 1 order by 1"""
    )
    by_month = "{{ TimeDimension('metric_time', 'month') }} = '2026-02-01'"
    assert query(shop, "--metrics", "revenue", "--group-by", "metric_time__year", "--where", by_month) == hand(
        "select '2026-01-01', sum(amount) from orders where date_trunc('month', ordered_at) = date '2026-02-01'"
    )


def test_an_entity_in_where_is_its_key(shop):
    rows = query(shop, "--metrics", "revenue", "--group-by", "metric_time__month",
                 "--where", "{{ Entity('order') }} IN ('o1', 'o3', 'o6')")  # fmt: skip
    assert rows == hand(
        """select strftime(date_trunc('month', ordered_at), '%Y-%m-%d'), sum(amount) filter (where order_id in
           ('o1', 'o3', 'o6')) from orders group by 1 order by 1"""
    )


def test_an_entity_the_metrics_lack_is_refused_with_a_hint(tmp_path):
    root = make_project(tmp_path / "shop", "    dimensions:\n      - {name: channel}\n")
    out = fails(root, "--metrics", "orders", "--where", "{{ Entity('customer') }} = 'c1'")
    assert "KF413" in out and "Entity('customer')" in out and "no dataset of the metrics" in out
    out = fails(root, "--metrics", "orders", "--where", "{{ TimeDimension('metric_time', 'day') }} >= '2026-02-01'")
    assert "KF413" in out and "'ordered_at' of dataset 'orders', which is not a declared dimension" in out


def test_two_grains_give_the_finer_as_the_period_and_the_coarser_as_a_column(shop):
    # a saved `mf query --group-by metric_time__day,metric_time__month` works unchanged: each day with its month
    by_day = query(shop, "--metrics", "orders", "--group-by", "metric_time__day", "--group-by", "metric_time__month")
    assert by_day == hand(
        """with days as (select unnest(generate_series(date '2026-01-30', date '2026-03-02', interval 1 day))::date d)
           select strftime(d, '%Y-%m-%d'), strftime(date_trunc('month', d), '%Y-%m-%d'), count(o.order_id)
           from days left join orders o on o.ordered_at::date = d group by all order by 1"""
    )
    # --grain beside a group-by's grain: weeks by month; the week of 26 January holds the orders of 30 and 31
    # January and of 1 February, so it has a row in each month
    by_week = query(shop, "--metrics", "orders", "--group-by", "metric_time__month", "--grain", "week")
    assert by_week == hand(
        """with days as (select unnest(generate_series(date '2026-01-26', date '2026-03-08', interval 1 day))::date d),
                pairs as (select distinct date_trunc('week', d)::date w, date_trunc('month', d)::date m from days)
           select strftime(w, '%Y-%m-%d'), strftime(m, '%Y-%m-%d'), count(o.order_id) from pairs
           left join orders o
             on date_trunc('week', o.ordered_at)::date = w and date_trunc('month', o.ordered_at)::date = m
           group by all order by 1, 2"""
    )
    assert by_week[:2] == [("2026-01-26", "2026-01-01", 2), ("2026-01-26", "2026-02-01", 2)]


def test_what_kpiframe_cannot_group_by_is_refused_with_a_hint(shop):
    out = fails(shop, "--metrics", "orders", "--group-by", "metric_time__microsecond")
    assert "KF413" in out and "metric_time__millisecond" in out
    where = "{{ TimeDimension('metric_time', 'nanosecond') }} > '2026-01-01'"
    out = fails(shop, "--metrics", "orders", "--where", where)
    assert "KF413" in out and "finest grain is millisecond" in out
    out = fails(shop, "--metrics", "orders", "--where", "{{ Metric('orders', group_by=['order', 'customer']) }} > 1")
    assert "KF413" in out and "exactly one entity" in out
    out = fails(shop, "--metrics", "orders", "--where", "{{ Metric('order', group_by=['order']) }} > 1")
    assert "KF413" in out and "Metric('order')" in out and "orders" in out  # the did-you-mean


def test_the_api_path_takes_the_grain_from_the_group_by(shop):
    project = Project.load(shop)
    request = project.request(["orders,revenue"], ["metric_time__week", "order__channel"])
    assert (request.metrics, request.dimensions, request.grain) == (("orders", "revenue"), ("order__channel",), "week")
    assert project.request(["orders"]).grain == "month"  # nothing said: month, as before
