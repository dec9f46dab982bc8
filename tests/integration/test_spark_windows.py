"""A rolling window of months or years asked by day or week on Spark, whose frame bounds must be single
literals: kpiframe's `INTERVAL 1 MONTH - INTERVAL 1 DAY` reach is rewritten there (engine/spark_sql.py).
The same project answers on DuckDB and on Spark local, and both equal SQL written here: the sum of the
days in (p - window, p]."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from kpiframe.project import Project
from tests.conftest import built_project, hand

FILES = {
    "kpi_project.yml": """
        name: windows
        warehouse: {path: windows.duckdb}
        schemas: {models: kfwin_models, metrics: kfwin_metrics}
    """,
    "models/sources.yml": """
        sources:
          - name: raw
            schema: raw
            tables:
              - name: sales
                columns: [sale_id, {name: sold_on, type: DATE}, channel, {name: amount, type: DOUBLE}]
    """,
    "models/stg_sales.sql": "select * from {{ source('raw', 'sales') }}",
    "metrics/sales.yml": """
        datasets:
          - name: sales
            model: stg_sales
            time: sold_on
            entities: [{name: sale, type: primary, expr: sale_id}]
            dimensions: [{name: channel}]
            measures: [{name: amount_sum, agg: sum, expr: amount}]
        metrics:
          - {name: revenue, measure: amount_sum}
          - {name: revenue_1m, type: cumulative, metric: revenue, window: 1 month}
          - {name: revenue_1y, type: cumulative, metric: revenue, window: 1 year}
    """,
}

# month ends, a leap day, a sale exactly one month and one year before another, two channels
SALES = [
    ("s1", date(2024, 1, 31), "ads", 1.0),
    ("s2", date(2024, 2, 29), "ads", 2.0),
    ("s3", date(2024, 3, 29), "mail", 4.0),
    ("s4", date(2024, 3, 31), "ads", 8.0),
    ("s5", date(2024, 4, 30), "ads", 16.0),
    ("s6", date(2025, 1, 31), "mail", 32.0),
    ("s7", date(2025, 2, 28), "ads", 64.0),
]
VALUES = ", ".join(f"('{i}', date '{d}', '{c}', {a})" for i, d, c, a in SALES)
ROWS = f"""
    create schema raw;
    create table raw.sales (sale_id varchar, sold_on date, channel varchar, amount double);
    insert into raw.sales values {VALUES};
"""


@pytest.fixture(scope="module")
def duck(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return built_project(tmp_path_factory.mktemp("windows"), FILES, "windows.duckdb", ROWS)


@pytest.fixture(scope="module")
def spark(duck: Project) -> Project:
    """The same project on Spark local, its model table written straight into the session's catalog."""
    project = Project.load(duck.root, warehouse="spark:local[1]")
    warehouse = project.connect()
    try:
        session = warehouse.session  # type: ignore[attr-defined]
        session.sql("create database if not exists kfwin_models")
        session.sql("drop table if exists kfwin_models.stg_sales")
        session.sql(
            "create table kfwin_models.stg_sales using parquet as select * from values "
            f"{VALUES} as t(sale_id, sold_on, channel, amount)"
        )
    finally:
        warehouse.close()
    return project


def by_hand(duck: Project, window: str, grain: str, by_channel: bool) -> list[tuple]:
    """Each period start p of the range (days, or Monday weeks) and the sales of the periods starting
    within (p - window, p]."""
    step = "1 day" if grain == "day" else "7 days"
    channels = "(select distinct channel from raw.sales)" if by_channel else "(select null as channel)"
    return hand(
        duck,
        f"""
        with periods as (
          select cast(p as date) as p from generate_series(
            (select date_trunc('{grain}', min(sold_on)) from raw.sales),
            (select date_trunc('{grain}', max(sold_on)) from raw.sales), interval '{step}') as t(p)
        )
        select p, c.channel, coalesce((select sum(amount) from raw.sales s
                        where date_trunc('{grain}', s.sold_on) > p - interval '{window}'
                          and date_trunc('{grain}', s.sold_on) <= p
                          and (c.channel is null or s.channel = c.channel)), 0)
        from periods, {channels} as c
        order by p, c.channel
        """,
    )


@pytest.mark.parametrize(
    ("metric", "window", "grain", "by_channel"),
    [
        ("revenue_1m", "1 month", "day", False),
        ("revenue_1m", "1 month", "week", True),
        ("revenue_1y", "1 year", "week", False),
    ],
)
def test_month_and_year_windows_by_day_and_week_answer_alike(duck, spark, metric, window, grain, by_channel):
    dims = ["channel"] if by_channel else []
    expected = [
        (p, c, float(v)) if by_channel else (p, float(v)) for p, c, v in by_hand(duck, window, grain, by_channel)
    ]
    on_duckdb = duck.query(metrics=[metric], dimensions=dims, grain=grain).rows
    on_spark = spark.query(metrics=[metric], dimensions=dims, grain=grain).rows

    def rows(result: list[tuple]) -> list[tuple]:
        return sorted(
            (tuple(float(v) if isinstance(v, (int, float, Decimal)) else v for v in row) for row in result),
            key=lambda row: (row[0], str(row[1:-1])),
        )

    assert rows(on_duckdb) == rows(on_spark) == rows(expected)
    assert any(row[-1] for row in expected)  # the windows do hold sales


def test_the_edge_day_a_window_back_is_outside_it(duck, spark):
    # 2024-03-31 reaches back to (2024-02-29, 2024-03-31]: s2 on the leap day is outside, s3 and s4 inside
    day = date(2024, 3, 31)
    for project in (duck, spark):
        rows = project.query(metrics=["revenue_1m"], grain="day", start=day, end=day).rows
        assert [(r[0], float(r[1])) for r in rows] == [(day, 12.0)]
    assert day - timedelta(days=31) == date(2024, 2, 29)
