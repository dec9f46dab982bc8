"""A tiny funnel project whose every number can be computed by hand.

Data, 2025-12-01 .. 2026-03-31 (2026-01-01 is a Thursday, 2026-03-01 a Sunday):
  * leads: 10 each weekday (6 paid_search, 4 email), 4 each weekend day (2 + 2), created at 10:00;
  * MQLs: 2 each weekday (the day's first two leads), none at weekends;
  * opportunities: one a day on days 1..N of the month: Dec N=10, Jan 20, Feb 25 at 1,000; Mar 22 at 1,500;
  * ad spend: 100 every day.

Weekdays / weekend days: Dec 2025 23/8, Jan 2026 22/9, Feb 20/8, Mar 22/9. So per month:

    month    leads            mqls  opps  pipeline  spend
    2025-12  23*10+8*4 = 262   46    10    10,000   3,100
    2026-01  22*10+9*4 = 256   44    20    20,000   3,100
    2026-02  20*10+8*4 = 232   40    25    25,000   2,800
    2026-03  22*10+9*4 = 256   44    22    33,000   3,100
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from kpiframe.project import Project

FIRST, LAST = date(2025, 12, 1), date(2026, 3, 31)
OPPS_PER_MONTH = {(2025, 12): (10, 1000), (2026, 1): (20, 1000), (2026, 2): (25, 1000), (2026, 3): (22, 1500)}

FILES = {
    "kpi_project.yml": """
        name: funnel
        warehouse: {path: funnel.duckdb}
    """,
    "models/sources.yml": """
        sources:
          - name: raw
            schema: raw
            tables:
              - {name: leads, columns: [lead_id, created_at, channel]}
              - {name: mqls, columns: [lead_id, qualified_at]}
              - {name: opps, columns: [opp_id, created_at, amount]}
              - {name: spend, columns: [day, amount]}
    """,
    "models/stg_leads.sql": "select * from {{ source('raw', 'leads') }}",
    "models/stg_mqls.sql": "select * from {{ source('raw', 'mqls') }}",
    "models/stg_opps.sql": "select * from {{ source('raw', 'opps') }}",
    "models/stg_spend.sql": "select * from {{ source('raw', 'spend') }}",
    "metrics/funnel.yml": """
        datasets:
          - name: leads
            model: stg_leads
            time: created_at
            entities: [{name: lead, type: primary, expr: lead_id}]
            dimensions: [{name: channel}, {name: created_at, type: time}]
            measures: [{name: lead_count, agg: count, expr: lead_id}]
          - name: mqls
            model: stg_mqls
            primary_entity: mql
            time: qualified_at
            entities: [{name: lead, type: foreign, expr: lead_id}]
            measures: [{name: mql_count, agg: count, expr: lead_id}]
          - name: opps
            model: stg_opps
            time: created_at
            entities: [{name: opp, type: primary, expr: opp_id}]
            measures:
              - {name: opp_count, agg: count, expr: opp_id}
              - {name: opp_amount, agg: sum, expr: amount}
              - {name: opp_median, agg: median, expr: amount}
          - name: spend
            model: stg_spend
            primary_entity: spend
            time: day
            measures: [{name: spend_sum, agg: sum, expr: amount}]
        metrics:
          - {name: leads, measure: lead_count, unit: count, owner: mops, direction: higher}
          - {name: mqls, measure: mql_count, unit: count}
          - {name: opportunities, measure: opp_count, unit: count}
          - {name: pipeline, measure: opp_amount, unit: currency}
          - {name: median_amount, measure: opp_median, unit: currency}
          - {name: ad_spend, measure: spend_sum, unit: currency}
          - {name: lead_to_mql_rate, type: ratio, numerator: mqls, denominator: leads, unit: percent}
          - {name: mql_to_opportunity_rate, type: ratio, numerator: opportunities, denominator: mqls, unit: percent}
          - {name: avg_opportunity_amount, type: ratio, numerator: pipeline, denominator: opportunities,
             unit: currency}
          - {name: cost_per_mql, type: derived, expr: ad_spend / mqls, unit: currency, direction: lower}
          - {name: pipeline_ytd, type: cumulative, metric: pipeline, grain_to_date: year}
    """,
    "metrics/tree.yml": """
        trees:
          - name: funnel
            kgi: {metric: pipeline, owner: revops, direction: higher, timing: lagging, cadence: monthly,
                  grain: quarter}
            ksfs:
              - name: volume
                label: More leads
                kpis:
                  - {metric: leads, owner: mops, direction: higher, timing: leading, cadence: weekly, grain: month}
                  - {metric: lead_to_mql_rate, owner: mops, direction: higher, timing: leading, cadence: monthly,
                     grain: month}
                  - {metric: mqls, owner: mops, direction: higher, timing: leading, cadence: weekly, grain: month}
                  - {metric: cost_per_mql, owner: perf, direction: lower, timing: lagging, cadence: monthly,
                     grain: month}
              - name: conversion
                label: Better conversion
                kpis:
                  - {metric: opportunities, owner: sdr, direction: higher, timing: leading, cadence: weekly,
                     grain: month}
            formulas:
              - {metric: pipeline, expr: opportunities * avg_opportunity_amount}
              - {metric: opportunities, expr: mqls * mql_to_opportunity_rate, lag: {mqls: 1}}
              - {metric: mqls, expr: leads * lead_to_mql_rate}
        benchmarks:
          - {metric: lead_to_mql_rate, low: 0.1, high: 0.2}
    """,
    "metrics/targets.yml": """
        targets:
          - {metric: pipeline, values: {2026-Q1: 90000}}
          - metric: leads
            values: {2026-01: 250, 2026-02: 250, 2026-03: 300}
          - metric: leads
            since: 2026-03-10
            reason: budget cut
            values: {2026-03: 260}
          - {metric: leads, dimension: {lead__channel: paid_search}, values: {2026-03: 150}}
          - {metric: mqls, values: {2026-03: 50}}
          - {metric: mqls, scenario: stretch, values: {2026-03: 60}}
          - {metric: opportunities, values: {2026-03: derived}}
          - {metric: lead_to_mql_rate, values: {2026-03: {baseline: {periods: 2, factor: 1.1}}}}
          - {metric: cost_per_mql, values: {2026-03: 70}}
    """,
}


def _days() -> list[date]:
    return [FIRST + timedelta(days=i) for i in range((LAST - FIRST).days + 1)]


def insert_rows(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema raw")
    con.execute("create table raw.leads (lead_id varchar, created_at timestamp, channel varchar)")
    con.execute("create table raw.mqls (lead_id varchar, qualified_at timestamp)")
    con.execute("create table raw.opps (opp_id varchar, created_at timestamp, amount decimal(12,2))")
    con.execute("create table raw.spend (day date, amount decimal(12,2))")
    leads, mqls, opps, spend = [], [], [], []
    for day in _days():
        weekday = day.weekday() < 5
        channels = ["paid_search"] * 6 + ["email"] * 4 if weekday else ["paid_search"] * 2 + ["email"] * 2
        at = datetime(day.year, day.month, day.day, 10)
        for index, channel in enumerate(channels):
            leads.append((f"L{day:%Y%m%d}{index}", at, channel))
        mqls += [(f"L{day:%Y%m%d}{i}", at + timedelta(hours=1)) for i in range(2 if weekday else 0)]
        count, amount = OPPS_PER_MONTH[(day.year, day.month)]
        if day.day <= count:
            opps.append((f"O{day:%Y%m%d}", at, amount))
        spend.append((day, 100))
    con.executemany("insert into raw.leads values (?, ?, ?)", leads)
    con.executemany("insert into raw.mqls values (?, ?)", mqls)
    con.executemany("insert into raw.opps values (?, ?, ?)", opps)
    con.executemany("insert into raw.spend values (?, ?)", spend)


def write(root: Path, changes: dict[str, str | None] | None = None) -> Path:
    files = dict(FILES)
    for name, text in (changes or {}).items():
        if text is None:
            files.pop(name, None)
        else:
            files[name] = text
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def funnel_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The funnel project built once: raw rows in, models and metric tables built."""
    root = write(tmp_path_factory.mktemp("funnel_built"))
    con = duckdb.connect(str(root / "funnel.duckdb"))
    insert_rows(con)
    con.close()
    Project.load(root).build()
    return root / "funnel.duckdb"


@pytest.fixture
def funnel(tmp_path: Path, funnel_db: Path) -> Callable[..., Project]:
    """The funnel project with files changed, over the built warehouse (a private copy when writing)."""

    def make(changes: dict[str, str | None] | None = None, writable: bool = False) -> Project:
        root = write(tmp_path / "funnel", changes)
        warehouse = funnel_db
        if writable:
            warehouse = tmp_path / "copy.duckdb"
            shutil.copy(funnel_db, warehouse)
        return Project.load(root, warehouse=str(warehouse))

    return make
