"""`kpiframe import metricflow` of conversion metrics with filters.

MetricFlow applies a conversion metric's own `filter:` and its base measure's `filter:` to the base events
(as a query's where filter); both become kpiframe's `base_filter`. A filter on the conversion measure
MetricFlow does not apply (its validation warns); the import writes it as `conversion_filter` and says so
at its file and line. The imported project is built on DuckDB over a few rows written here, and every
number is compared with SQL written by hand over those rows.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import duckdb
import pytest
import yaml

from kpiframe.imports.metricflow import plan_import, write_import
from kpiframe.project import Project

DBT = {
    "dbt_project.yml": """
        name: funnel_dbt
        version: "1.0.0"
        profile: funnel
        model-paths: ["models"]
    """,
    "models/sources.yml": """
        version: 2
        sources:
          - name: web
            schema: raw
            tables:
              - name: visits
              - name: buys
    """,
    "models/stg_visits.sql": "select * from {{ source('web', 'visits') }}",
    "models/stg_buys.sql": "select * from {{ source('web', 'buys') }}",
    "models/semantic.yml": """
        semantic_models:
          - name: visits
            model: ref('stg_visits')
            defaults:
              agg_time_dimension: ds
            entities:
              - {name: visit, type: primary, expr: visit_id}
              - {name: user, type: foreign, expr: user_id}
            dimensions:
              - {name: ds, type: time, type_params: {time_granularity: day}}
              - {name: referrer, type: categorical}
            measures:
              - {name: visit_count, agg: count, expr: visit_id}
          - name: buys
            model: ref('stg_buys')
            defaults:
              agg_time_dimension: ds
            entities:
              - {name: buy, type: primary, expr: buy_id}
              - {name: user, type: foreign, expr: user_id}
            dimensions:
              - {name: ds, type: time, type_params: {time_granularity: day}}
              - {name: kind, type: categorical}
            measures:
              - {name: buy_count, agg: count, expr: buy_id}
        metrics:
          - name: ads_rate
            type: conversion
            filter: "{{ Dimension('visit__referrer') }} = 'ads'"
            type_params:
              conversion_type_params:
                base_measure: visit_count
                conversion_measure: buy_count
                entity: user
                window: 7 days
          - name: ads_rate_on_measure
            type: conversion
            type_params:
              conversion_type_params:
                base_measure:
                  name: visit_count
                  filter: "{{ Dimension('visit__referrer') }} = 'ads'"
                conversion_measure: buy_count
                entity: user
                window: 7 days
          - name: paid_conversions
            type: conversion
            type_params:
              conversion_type_params:
                base_measure: visit_count
                conversion_measure:
                  name: buy_count
                  filter: "{{ Dimension('buy__kind') }} = 'paid'"
                entity: user
                window: 7 days
                calculation: conversions
          - name: metric_filtered_rate
            type: conversion
            filter: "{{ Metric('visit_count', group_by=['user']) }} > 1"
            type_params:
              conversion_type_params:
                base_measure: visit_count
                conversion_measure: buy_count
                entity: user
    """,
}

# u1: an 'ads' visit, a later 'mail' visit, then a paid buy (credited to 'mail' unfiltered, to 'ads' with the
# filter); u2: an 'ads' visit, a trial and a paid buy; u3: a 'mail' visit and a paid buy.
ROWS = """
    create schema raw;
    create table raw.visits (visit_id varchar, user_id varchar, referrer varchar, ds timestamp);
    create table raw.buys (buy_id varchar, user_id varchar, kind varchar, ds timestamp);
    insert into raw.visits values
      ('v1', 'u1', 'ads', '2026-01-01'), ('v2', 'u1', 'mail', '2026-01-03'),
      ('v3', 'u2', 'ads', '2026-01-01'), ('v4', 'u3', 'mail', '2026-01-02');
    insert into raw.buys values
      ('b1', 'u1', 'paid', '2026-01-04'), ('b2', 'u2', 'trial', '2026-01-02'),
      ('b3', 'u2', 'paid', '2026-01-05'), ('b4', 'u3', 'paid', '2026-01-03');
"""


def by_day(visit_filter: str = "true", buy_filter: str = "true") -> str:
    """(day, conversions, visits) over the kept visits: each kept buy credited to the latest kept visit of its
    user at or before it, less than 7 days before."""
    return f"""
        with v as (select * from raw.visits where {visit_filter}),
        b as (select * from raw.buys where {buy_filter}),
        credited as (
          select b.buy_id, v.ds from b join v on v.user_id = b.user_id and v.ds = (
            select max(v2.ds) from v v2
            where v2.user_id = b.user_id and v2.ds <= b.ds and v2.ds > b.ds - interval 7 day)),
        opportunities as (select cast(ds as date) as day, count(*) as visits from v group by 1),
        conversions as (select cast(ds as date) as day, count(*) as buys from credited group by 1)
        select o.day, c.buys, o.visits from opportunities o left join conversions c using (day) order by 1
    """


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    dbt = tmp_path_factory.mktemp("funnel_dbt")
    for name, text in DBT.items():
        (dbt / name).parent.mkdir(parents=True, exist_ok=True)
        (dbt / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    root = tmp_path_factory.mktemp("funnel_kpis")
    result = plan_import(dbt, root)
    write_import(result)
    with duckdb.connect(str(root / "warehouse.duckdb")) as con:
        con.execute(ROWS)
    project = Project.load(root)
    project.build()
    return root, (project, result, dbt)


def hand(root: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def line_of(path: Path, text: str, after: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if after in line)
    return next(i for i, line in enumerate(lines) if i >= start and text in line) + 1


def written(root: Path, name: str) -> dict[str, object]:
    for path in (root / "metrics").rglob("*.yml"):
        for metric in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("metrics", []):
            if metric["name"] == name:
                return dict(metric)
    raise AssertionError(f"{name} not written")


def test_the_filters_are_written_as_base_filter_and_conversion_filter(imported):
    root, _ = imported
    assert written(root, "ads_rate")["base_filter"] == "visit__referrer = 'ads'"
    assert written(root, "ads_rate_on_measure")["base_filter"] == "visit__referrer = 'ads'"
    paid = written(root, "paid_conversions")
    assert paid["conversion_filter"] == "buy__kind = 'paid'" and "base_filter" not in paid


def test_a_conversion_measures_filter_is_reported_at_its_line_and_a_metric_filter_is_not_imported(imported):
    _, (_, result, dbt) = imported
    semantic = dbt / "models" / "semantic.yml"
    [changed] = [n for n in result.changed() if n.subject == "conversion metric 'paid_conversions'"]
    assert (changed.path, changed.line) == (
        "models/semantic.yml",
        line_of(semantic, "filter:", after="name: paid_conversions"),
    )
    assert "MetricFlow does not apply it" in changed.message
    [left_out] = [n for n in result.unmapped() if n.subject == "conversion metric 'metric_filtered_rate'"]
    assert left_out.line == line_of(semantic, "filter:", after="name: metric_filtered_rate")


def test_the_rates_count_only_the_filtered_visits(imported):
    root, (project, _, _) = imported
    rows = project.query(metrics=["ads_rate", "ads_rate_on_measure"], dimensions=["metric_time__day"])
    mine = {row[0]: (row[1], row[2]) for row in rows.rows if row[1] is not None or row[2] is not None}
    theirs = {day: ((buys or 0) / visits,) * 2 for day, buys, visits in hand(root, by_day("referrer = 'ads'"))}
    assert mine == theirs
    # u1's buy goes to the 'ads' visit of 1 January, not to the later 'mail' one: 3 buys over 2 visits
    assert list(theirs.values()) == [(1.5, 1.5)]


def test_the_conversions_count_only_the_filtered_buys(imported):
    root, (project, _, _) = imported
    rows = project.query(metrics=["paid_conversions"], dimensions=["metric_time__day"])
    mine = {row[0]: row[1] for row in rows.rows}
    theirs = {day: buys for day, buys, _ in hand(root, by_day(buy_filter="kind = 'paid'"))}
    assert mine == theirs  # imported with fill_nulls_with: null, MetricFlow's NULL where none was credited
    assert sum(v for v in theirs.values() if v) == 3  # u2's trial buy is no conversion
