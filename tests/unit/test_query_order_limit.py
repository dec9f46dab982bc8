"""MetricFlow's `mf query` options beyond metrics and group-by: `--order` (`-name` descending), `--limit`,
`--start-time`/`--end-time` (instants whose periods bound the answer), `--csv FILE` and `--decimals`, through
the CLI, the Python API and the HTTP API. Every expected answer is SQL written here over the raw rows of the
shop project (tests/conftest.py: weeks start on Sunday, the fiscal year in April)."""

from __future__ import annotations

import asyncio
import csv
from datetime import date
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from kpiframe.cli.main import main
from kpiframe.errors import QueryError
from kpiframe.project import Project
from kpiframe.serve import create_app
from kpiframe.serve.openapi import openapi_document
from tests.conftest import SHOP_PROJECT, SHOP_ROWS, built_project, hand

# revenue and orders per customer region by month, from the raw rows (test orders dropped, unknown
# customers in the NULL region); every month x region combination the data has
BY_REGION = """
    select date_trunc('month', o.ordered_at)::date as period_start, c.region,
           coalesce(sum(o.amount), 0) as revenue, count(o.order_id) as orders
    from raw.orders o left join raw.customers c on o.customer_id = c.customer_id
    where o.status <> 'test'
    group by all
"""


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return built_project(tmp_path_factory.mktemp("ordered"), SHOP_PROJECT, "shop.duckdb", SHOP_ROWS)


def _by_region(shop: Project, order: str, limit: int | None = None) -> list[tuple]:
    # months x regions with rows only: kpiframe's spine adds the combinations without rows (0 revenue),
    # which the limit-free comparisons below remove before comparing
    sql = f"select * from ({BY_REGION}) order by {order}" + (f" limit {limit}" if limit is not None else "")
    return hand(shop, sql)


def test_order_descending_by_a_metric_then_limit(shop):
    result = shop.query(metrics=["revenue", "orders"], dimensions=["customer__region"], order=["-revenue"], limit=3)
    assert result.columns == ["period_start", "customer__region", "revenue", "orders"]
    expected = _by_region(shop, "revenue desc, period_start, region nulls last", limit=3)
    assert [(r[0], r[1], float(r[2]), r[3]) for r in result.rows] == [(r[0], r[1], float(r[2]), r[3]) for r in expected]
    assert float(result.rows[0][2]) == 150.0  # o1 and o2 (refunded still counts), January, emea


def test_order_by_dimension_and_metric_time_keeps_every_row(shop):
    ordered = shop.query(metrics=["revenue"], dimensions=["region"], order=["customer__region", "-metric_time"])
    plain = shop.query(metrics=["revenue"], dimensions=["region"])
    assert sorted(ordered.rows, key=repr) == sorted(plain.rows, key=repr)  # the same rows, reordered
    regions = [row[1] for row in ordered.rows]
    assert regions == sorted(regions, key=lambda r: (r is None, r or ""))  # region first (NULL last) ...
    for region in set(regions):
        periods = [row[0] for row in ordered.rows if row[1] == region]
        assert periods == sorted(periods, reverse=True)  # ... then the newest month first
    with_rows = {(r[0], r[1]): float(r[2]) for r in ordered.rows if r[2]}
    assert with_rows == {(r[0], r[1]): float(r[2]) for r in _by_region(shop, "1") if r[2]}


def test_order_accepts_commas_and_the_period_column(shop):
    result = shop.query(metrics=["orders"], grain="month", order=["-orders,period_start"], limit=2)
    expected = hand(
        shop,
        "select date_trunc('month', ordered_at)::date, count(*) from raw.orders where status <> 'test' "
        "group by 1 order by 2 desc, 1 limit 2",
    )
    assert result.rows == expected == [(date(2026, 1, 1), 3), (date(2026, 2, 1), 2)]


def test_limit_zero_answers_the_columns_without_rows(shop):
    result = shop.query(metrics=["orders"], limit=0)
    assert result.columns == ["period_start", "orders"] and result.rows == []


def test_order_of_a_dimension_values_query(shop):
    result = shop.query(metrics=[], dimensions=["customer__region"], order=["-customer__region"], limit=1)
    assert result.rows == hand(shop, "select max(region) from raw.customers") == [("emea",)]


@pytest.mark.parametrize(
    ("order", "limit", "code"),
    [(["nope"], None, "KF418"), (["-status"], None, "KF418"), ([], -1, "KF419")],
)
def test_bad_order_or_limit_is_refused_with_the_answers_columns(shop, order, limit, code):
    with pytest.raises(QueryError) as refused:
        shop.query(metrics=["revenue"], order=order, limit=limit)
    assert refused.value.diagnostic.code == code
    if code == "KF418":
        assert "period_start, revenue" in (refused.value.diagnostic.hint or "")  # status is not in the answer


@pytest.mark.parametrize(
    ("grain", "start_time", "end_time", "first", "last"),
    [
        # the month, quarter and fiscal quarter (from April) that hold each instant
        ("month", "2026-01-15", "2026-03-31T23:00:00", "2026-01-01", "2026-03-01"),
        ("quarter", "2026-02-10T08:00:00", "2026-04-01", "2026-01-01", "2026-04-01"),
        ("fiscal_quarter", "2026-03-31", "2026-04-01", "2026-01-01", "2026-04-01"),
        # weeks start on Sunday here: Sunday 2026-01-04 holds Tuesday 2026-01-06
        ("week", "2026-01-06", "2026-01-06", "2026-01-04", "2026-01-04"),
    ],
)
def test_start_and_end_time_bound_the_periods_that_hold_them(shop, grain, start_time, end_time, first, last):
    result = shop.query(metrics=["orders"], grain=grain, start_time=start_time, end_time=end_time)
    periods = [row[0] for row in result.rows]
    assert periods[0] == date.fromisoformat(first) and periods[-1] == date.fromisoformat(last)
    same = shop.query(metrics=["orders"], grain=grain, start=first, end=last)
    assert result.rows == same.rows


def test_start_time_at_grain_all_counts_from_that_day(shop):
    result = shop.query(metrics=["orders"], grain="all", start_time="2026-01-02T12:00:00", end_time="2026-02-03")
    expected = hand(
        shop,
        "select count(*) from raw.orders where status <> 'test' "
        "and ordered_at::date between date '2026-01-02' and date '2026-02-03'",
    )
    assert result.rows == expected == [(4,)]


def test_start_time_and_start_together_are_refused(shop):
    with pytest.raises(QueryError) as refused:
        shop.query(metrics=["orders"], start="2026-01-01", start_time="2026-01-01")
    assert refused.value.diagnostic.code == "KF417"


def test_cli_takes_a_saved_mf_query_unchanged(shop, tmp_path: Path):
    out = tmp_path / "rows.csv"
    args = [
        "query", "--project-dir", str(shop.root), "--metrics", "revenue,orders", "--group-by",
        "metric_time__month,customer__region", "--order", "-revenue", "--limit", "2",
        "--start-time", "2026-01-01T00:00:00", "--end-time", "2026-03-31T00:00:00",
        "--decimals", "1", "--csv", str(out),
    ]  # fmt: skip
    run = CliRunner().invoke(main, args)
    assert run.exit_code == 0, run.output
    assert "wrote 2 rows" in run.output
    with out.open(newline="") as handle:
        rows = list(csv.reader(handle))
    expected = hand(
        shop,
        f"select * from ({BY_REGION}) where period_start between date '2026-01-01' and date '2026-03-01' "
        "order by revenue desc, period_start, region nulls last limit 2",
    )
    assert rows[0] == ["period_start", "customer__region", "revenue", "orders", "period_complete"]
    assert [r[:4] for r in rows[1:]] == [[str(e[0]), e[1] or "", f"{float(e[2]):.1f}", str(e[3])] for e in expected]


def test_cli_bad_order_is_a_clear_error_not_a_traceback(shop):
    run = CliRunner().invoke(main, ["query", "--project-dir", str(shop.root), "--metrics", "revenue", "--order", "x"])
    assert run.exit_code == 1
    assert "error[KF418]: cannot order by 'x'" in run.output and "Traceback" not in run.output


def test_http_query_takes_order_and_limit_as_its_schema_says(shop):
    async def post(body: dict[str, object]) -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(shop), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.post("/v1/query", json=body)

    body = {"metrics": ["orders"], "by": ["customer__region"], "grain": "all", "order": ["-orders"], "limit": 1}
    answer = asyncio.run(post(body))
    assert answer.status_code == 200, answer.text
    expected = hand(
        shop,
        "select c.region, count(*) from raw.orders o left join raw.customers c on o.customer_id = c.customer_id "
        "where o.status <> 'test' group by 1 order by 2 desc limit 1",
    )
    assert [tuple(r) for r in answer.json()["rows"]] == expected == [("emea", 3)]
    assert asyncio.run(post({**body, "limit": -1})).status_code == 422
    unknown = asyncio.run(post({**body, "order": ["-nope"]}))
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "KF418"
    schema = openapi_document("shop")["components"]["schemas"]["QueryRequest"]["properties"]
    assert schema["limit"]["minimum"] == 0 and schema["order"]["items"] == {"type": "string"}


def test_saved_query_answers_its_published_tables_request(shop):
    """`--saved-query NAME` (MetricFlow's; a saved query is imported as a published table) asks what the
    table shop_monthly holds (orders, revenue, aov by customer region per month), live, with --order and
    --limit on top; the answer equals the published table's rows."""
    args = ["query", "--project-dir", str(shop.root), "--saved-query", "shop_monthly", "--format", "csv"]
    run = CliRunner().invoke(main, [*args, "--order", "-revenue", "--limit", "2"])
    assert run.exit_code == 0, run.output
    lines = run.output.strip().splitlines()
    assert lines[0] == "period_start,customer__region,orders,revenue,aov,period_complete"
    published = hand(
        shop,
        "select period_start, customer__region, orders, revenue from metrics.shop_monthly "
        "order by revenue desc, period_start, customer__region nulls last limit 2",
    )
    expected = hand(shop, f"select period_start, region, orders, revenue from ({BY_REGION}) order by 4 desc, 1 limit 2")
    assert [tuple(r[:2]) + (int(r[2]), float(r[3])) for r in published] == [
        (e[0], e[1], e[2], float(e[3])) for e in expected
    ]
    got = [line.split(",") for line in lines[1:]]
    assert [(g[0], g[1], int(g[2]), float(g[3])) for g in got] == [
        (str(e[0]), e[1] or "", e[2], float(e[3])) for e in expected
    ]


@pytest.mark.parametrize(
    ("extra", "code"),
    [(["--saved-query", "shop_montly"], "KF426"), (["--saved-query", "shop_monthly", "--metric", "orders"], "KF427")],
)
def test_saved_query_mistakes_are_clear_errors(shop, extra, code):
    run = CliRunner().invoke(main, ["query", "--project-dir", str(shop.root), *extra])
    assert run.exit_code == 1 and f"error[{code}]" in run.output and "Traceback" not in run.output
    if code == "KF426":
        assert "shop_monthly" in run.output  # did you mean
