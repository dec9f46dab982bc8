"""Conversion metrics with filters: `base_filter` keeps only some base events (visits), `conversion_filter`
only some conversions (buys). A visit the filter drops is no visit at all: it is not counted in the rate's
denominator, and a buy after it goes to the latest visit the filter keeps.

Every expected number comes from SQL written here over raw.visits, raw.buys and raw.users (the credited
visit found by a correlated MAX over the kept visits), never from kpiframe.
"""

from __future__ import annotations

from datetime import date

import pytest

from kpiframe.errors import KpiframeError, ProjectInvalid
from kpiframe.project import Project
from tests.conftest import built_project, hand, write_files

FILES = {
    "kpi_project.yml": """
        name: conversion_filters
        warehouse: {path: conversion_filters.duckdb}
    """,
    "models/sources.yml": """
        sources:
          - name: raw
            schema: raw
            tables:
              - name: visits
                columns: [visit_id, user_id, referrer, {name: ds, type: DATE}]
              - name: buys
                columns: [buy_id, user_id, kind, {name: ds, type: DATE}]
              - name: users
                columns: [user_id, plan]
    """,
    "models/stg_visits.sql": "select * from {{ source('raw', 'visits') }}",
    "models/stg_buys.sql": "select * from {{ source('raw', 'buys') }}",
    "models/stg_users.sql": "select * from {{ source('raw', 'users') }}",
    "metrics/conversions.yml": """
        datasets:
          - name: visits
            model: stg_visits
            time: ds
            entities: [{name: visit, type: primary, expr: visit_id}, {name: user, type: foreign, expr: user_id}]
            dimensions: [{name: referrer}]
            measures: [{name: visit_count, agg: count, expr: visit_id}]
          - name: buys
            model: stg_buys
            time: ds
            entities: [{name: user, type: foreign, expr: user_id}]
            dimensions: [{name: kind}]
            measures: [{name: buy_count, agg: count, expr: buy_id}]
          - name: users
            model: stg_users
            entities: [{name: user, type: primary, expr: user_id}]
            dimensions: [{name: plan}]
        metrics:
          - {name: rate, type: conversion, base_measure: visit_count, conversion_measure: buy_count,
             entity: user, window: 7 days}
          - {name: ads_rate, type: conversion, base_measure: visit_count, conversion_measure: buy_count,
             entity: user, window: 7 days, base_filter: "referrer = 'ads'"}
          - {name: ads_buys, type: conversion, base_measure: visit_count, conversion_measure: buy_count,
             entity: user, window: 7 days, base_filter: "referrer = 'ads'", calculation: conversions}
          - {name: paid_rate, type: conversion, base_measure: visit_count, conversion_measure: buy_count,
             entity: user, window: 7 days, conversion_filter: "kind = 'paid'"}
          - {name: pro_paid_rate, type: conversion, base_measure: visit_count, conversion_measure: buy_count,
             entity: user, window: 7 days, base_filter: "user__plan = 'pro'",
             conversion_filter: "kind = 'paid' and user__plan = 'pro'"}
          - {name: wrong_side, type: conversion, base_measure: visit_count, conversion_measure: buy_count,
             entity: user, conversion_filter: "referrer = 'ads'"}
    """,
}
NOT_SQL = """
          - {name: not_sql, type: conversion, base_measure: visit_count, conversion_measure: buy_count,
             entity: user, base_filter: "referrer = 'ads'; drop table raw.visits"}
"""

# u1: an 'ads' visit, then a 'mail' visit, then a paid buy: unfiltered the buy goes to the later 'mail'
#     visit, with base_filter referrer = 'ads' to the earlier 'ads' one (the 'mail' visit is no visit);
# u2: an 'ads' visit and two buys, one a trial (dropped by conversion_filter kind = 'paid');
# u3: a 'mail' visit and a paid buy; u4: an 'ads' visit 10 days before its buy (outside the window);
# u5: an 'ads' visit on a second day, no buy. Plans: u1, u2 pro; u3, u4, u5 free.
ROWS = """
    create schema raw;
    create table raw.visits (visit_id varchar, user_id varchar, referrer varchar, ds date);
    create table raw.buys (buy_id varchar, user_id varchar, kind varchar, ds date);
    create table raw.users (user_id varchar, plan varchar);
    insert into raw.visits values
      ('v1', 'u1', 'ads', '2026-01-01'),
      ('v2', 'u1', 'mail', '2026-01-03'),
      ('v3', 'u2', 'ads', '2026-01-01'),
      ('v4', 'u3', 'mail', '2026-01-02'),
      ('v5', 'u4', 'ads', '2026-01-02'),
      ('v6', 'u5', 'ads', '2026-01-03');
    insert into raw.buys values
      ('b1', 'u1', 'paid', '2026-01-04'),
      ('b2', 'u2', 'trial', '2026-01-02'),
      ('b3', 'u2', 'paid', '2026-01-05'),
      ('b4', 'u3', 'paid', '2026-01-03'),
      ('b5', 'u4', 'paid', '2026-01-12');
    insert into raw.users values ('u1', 'pro'), ('u2', 'pro'), ('u3', 'free'), ('u4', 'free'), ('u5', 'free');
"""

VISITS = "select v.*, u.plan from raw.visits v left join raw.users u using (user_id)"
BUYS = "select b.*, u.plan from raw.buys b left join raw.users u using (user_id)"


def by_day(visit_filter: str = "true", buy_filter: str = "true") -> str:
    """(day, conversions, rate) over the kept visits' days: each kept buy credited to the latest kept visit
    of its user at or before it, less than 7 days before."""
    return f"""
        with v as (select * from ({VISITS}) where {visit_filter}),
        b as (select * from ({BUYS}) where {buy_filter}),
        credited as (
          select b.buy_id, v.ds from b join v on v.user_id = b.user_id and v.ds = (
            select max(v2.ds) from v v2
            where v2.user_id = b.user_id and v2.ds <= b.ds and v2.ds > b.ds - interval 7 day)),
        opportunities as (select ds, count(*) as visits from v group by 1),
        conversions as (select ds, count(*) as buys from credited group by 1)
        select o.ds, coalesce(c.buys, 0), coalesce(c.buys, 0) / o.visits
        from opportunities o left join conversions c using (ds) order by 1
    """


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return built_project(tmp_path_factory.mktemp("conversion_filters"), FILES, "conversion_filters.duckdb", ROWS)


def answer(project: Project, metrics: list[str], **kwargs: object) -> dict[object, tuple[object, ...]]:
    result = project.query(metrics=metrics, **kwargs)  # type: ignore[arg-type]
    return {row[0]: tuple(None if v is None else float(v) for v in row[1:]) for row in result.rows}


def expected(project: Project, sql: str, column: int) -> dict[object, tuple[object, ...]]:
    return {row[0]: (float(row[column]),) for row in hand(project, sql)}


def test_a_base_filter_drops_visits_from_the_rate_and_from_the_pairing(project):
    mine = answer(project, ["ads_rate"], grain="day")
    theirs = expected(project, by_day("referrer = 'ads'"), 2)
    assert {day: mine[day] for day in theirs} == theirs
    # days without a kept visit have no rate
    assert all(mine[day] == (None,) for day in mine if day not in theirs)
    # u1's buy goes to the 'ads' visit of 1 January (the later 'mail' visit is dropped), beside u2's two
    assert mine[date(2026, 1, 1)] == (1.5,)
    # unfiltered, u1's buy goes to the 'mail' visit of 3 January instead
    assert answer(project, ["rate"], grain="day")[date(2026, 1, 1)] == (1.0,)


def test_the_conversions_of_a_base_filter_by_month(project):
    mine = answer(project, ["ads_buys"], grain="month")
    theirs = {
        date(2026, 1, 1): (float(sum(row[1] for row in hand(project, by_day("referrer = 'ads'")))),),
    }
    assert mine == theirs == {date(2026, 1, 1): (3.0,)}


def test_a_conversion_filter_drops_buys(project):
    mine = answer(project, ["paid_rate"], grain="day")
    theirs = expected(project, by_day(buy_filter="kind = 'paid'"), 2)
    assert {day: mine[day] for day in theirs} == theirs
    # u2's trial buy (2 January) is dropped; its paid buy on 5 January still counts for the 1 January visit
    unfiltered = expected(project, by_day(), 1)
    assert unfiltered != expected(project, by_day(buy_filter="kind = 'paid'"), 1)


def test_filters_on_both_sides_through_a_joined_dimension(project):
    mine = answer(project, ["pro_paid_rate"], grain="all", dimensions=["referrer"])
    sql = f"select referrer, count(*) from ({VISITS}) where plan = 'pro' group by 1"
    visits = dict(hand(project, sql))
    credited = f"""
        with v as (select * from ({VISITS}) where plan = 'pro'),
        b as (select * from ({BUYS}) where kind = 'paid' and plan = 'pro')
        select v.referrer, count(*) from b join v on v.user_id = b.user_id and v.ds = (
          select max(v2.ds) from v v2 where v2.user_id = b.user_id and v2.ds <= b.ds
            and v2.ds > b.ds - interval 7 day)
        group by 1
    """
    buys = dict(hand(project, credited))
    theirs = {referrer: (buys.get(referrer, 0) / count,) for referrer, count in visits.items()}
    assert mine == theirs == {"ads": (0.5,), "mail": (1.0,)}  # u2's trial buy and the free users drop out


def test_a_request_where_applies_to_the_base_events_beside_the_filter(project):
    result = project.query(metrics=["ads_rate"], grain="all", where="user__plan = 'pro'")
    rows = hand(project, by_day("referrer = 'ads' and plan = 'pro'"))
    visits = hand(project, f"select count(*) from ({VISITS}) where referrer = 'ads' and plan = 'pro'")[0][0]
    theirs = sum(row[1] for row in rows) / visits
    assert [tuple(float(v) for v in row) for row in result.rows] == [(theirs,)] == [(1.5,)]


def test_a_filter_naming_a_dimension_of_the_other_side_is_refused(project):
    with pytest.raises(KpiframeError) as caught:
        project.query(metrics=["wrong_side"], grain="all")
    assert caught.value.diagnostic.code == "KF410"
    assert "referrer" in caught.value.diagnostic.message


def test_a_filter_that_is_not_one_expression_is_refused_when_the_project_loads(tmp_path):
    metrics = next(name for name in FILES if name.startswith("metrics/"))
    files = {**FILES, metrics: FILES[metrics].rstrip() + "\n" + NOT_SQL.strip("\n") + "\n"}
    root = write_files(tmp_path / "not_sql", files)
    with pytest.raises(ProjectInvalid) as caught:
        Project.load(root)
    rendered = caught.value.render()
    assert "error[KF120]: base_filter:" in rendered and f"{metrics}:" in rendered


def test_the_metric_catalog_names_the_filters():
    from kpiframe.build.catalog import formula_text
    from kpiframe.load.specs import MetricSpec

    spec = MetricSpec(
        name="ads_to_paid",
        type="conversion",
        base_measure="visits",
        conversion_measure="buys",
        entity="user",
        base_filter="referrer = 'ads'",
        conversion_filter="kind = 'paid'",
    )
    assert formula_text(spec, {}) == (
        "share of visits (where referrer = 'ads') followed by buys (where kind = 'paid') of the same user"
    )


def test_filters_belong_to_conversion_metrics_only():
    from kpiframe.load.spec_model import SpecInvalid
    from kpiframe.load.specs import MetricSpec

    with pytest.raises(SpecInvalid, match="belong to conversion metrics only"):
        MetricSpec(name="x", measure="visits", base_filter="referrer = 'ads'")
