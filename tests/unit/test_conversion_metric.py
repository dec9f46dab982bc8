"""Conversion metrics (`type: conversion`): each buy is credited to the same user's latest visit at or before
it (within the window, sharing the constant properties), and counted at that visit's day and referrer.

Every expected number comes from SQL written here over raw.visits and raw.buys, which finds the credited
visit another way (the latest visit day by a correlated MAX, then that visit's row), never from kpiframe.
"""

from __future__ import annotations

from datetime import date

import pytest

from kpiframe.errors import ProjectInvalid
from kpiframe.project import Project
from tests.conftest import built_project, hand, write_files

FILES = {
    "kpi_project.yml": """
        name: conversions
        warehouse: {path: conversions.duckdb}
    """,
    "models/sources.yml": """
        sources:
          - name: raw
            schema: raw
            tables:
              - name: visits
                columns: [visit_id, user_id, session_id, referrer, {name: ds, type: DATE}]
              - name: buys
                columns: [buy_id, user_id, session_id, {name: ds, type: DATE}]
    """,
    "models/stg_visits.sql": "select * from {{ source('raw', 'visits') }}",
    "models/stg_buys.sql": "select * from {{ source('raw', 'buys') }}",
    "metrics/conversions.yml": """
        datasets:
          - name: visits
            model: stg_visits
            time: ds
            entities: [{name: user, type: foreign, expr: user_id}, {name: session, type: foreign, expr: session_id}]
            dimensions: [{name: referrer}]
            measures: [{name: visit_count, agg: count, expr: visit_id}]
          - name: buys
            model: stg_buys
            time: ds
            entities: [{name: user, type: foreign, expr: user_id}, {name: session, type: foreign, expr: session_id}]
            measures: [{name: buy_count, agg: count, expr: buy_id}]
        metrics:
          - {name: rate_7d, type: conversion, base_measure: visit_count, conversion_measure: buy_count,
             entity: user, window: 7 days}
          - {name: rate_ever, type: conversion, base_measure: visit_count, conversion_measure: buy_count,
             entity: user, calculation: conversion_rate}
          - {name: buys_7d, type: conversion, base_measure: visit_count, conversion_measure: buy_count,
             entity: user, window: 7 days, calculation: conversions}
          - {name: rate_7d_same_session, type: conversion, base_measure: visit_count, conversion_measure: buy_count,
             entity: user, window: 7 days,
             constant_properties: [{base_property: session, conversion_property: session}]}
          - {name: rate_7d_or_null, type: conversion, base_measure: visit_count, conversion_measure: buy_count,
             entity: user, window: 7 days, fill_nulls_with: null}
    """,
}

# u1: a buy exactly 7 days after the visit (outside a 7-day window, inside an unbounded one);
# u2: a buy before the first visit (never counted), then one after it;
# u3: two visits, the buy in the first visit's session (the latest visit wins unless the session must match);
# u4: a buy 6 days after the visit, in February's month; u5: a visit without a buy.
ROWS = """
    create schema raw;
    create table raw.visits (visit_id varchar, user_id varchar, session_id varchar, referrer varchar, ds date);
    create table raw.buys (buy_id varchar, user_id varchar, session_id varchar, ds date);
    insert into raw.visits values
      ('v1', 'u1', 's1', 'ads', '2026-01-01'),
      ('v2', 'u2', 's3', 'ads', '2026-01-05'),
      ('v3', 'u3', 's4', 'ads', '2026-01-02'),
      ('v4', 'u3', 's5', 'mail', '2026-01-04'),
      ('v5', 'u4', 's6', 'mail', '2026-01-28'),
      ('v6', 'u5', 's7', 'ads', '2026-01-05');
    insert into raw.buys values
      ('b1', 'u1', 's1', '2026-01-08'),
      ('b2', 'u2', 's2', '2026-01-02'),
      ('b3', 'u2', 's3', '2026-01-06'),
      ('b4', 'u3', 's4', '2026-01-06'),
      ('b5', 'u4', 's6', '2026-02-03');
"""


def credited(window_days: int | None, same_session: bool) -> str:
    """Each buy with the visit it is credited to: the latest visit of its user at or before it."""
    window = f"and v.ds > b.ds - interval {window_days} day" if window_days else ""
    session = "and v.session_id = b.session_id" if same_session else ""
    return f"""
        select b.buy_id, v.ds, v.referrer from raw.buys b join raw.visits v
          on v.user_id = b.user_id and v.ds = (
            select max(v2.ds) from raw.visits v2
            where v2.user_id = b.user_id and v2.ds <= b.ds {window.replace("v.", "v2.")}
              {session.replace("v.", "v2.")})
    """


def by(keys: str, window_days: int | None, same_session: bool = False) -> str:
    """(conversions, rate) per key (`ds`, month or `referrer`), over every key the visits have."""
    return f"""
        with c as ({credited(window_days, same_session)}),
        opportunities as (select {keys} as k, count(visit_id) as visits from raw.visits v group by 1),
        conversions as (select {keys.replace("v.", "")} as k, count(buy_id) as buys from c group by 1)
        select o.k, coalesce(conversions.buys, 0), coalesce(conversions.buys, 0) / o.visits
        from opportunities o left join conversions on o.k = conversions.k order by 1
    """


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return built_project(tmp_path_factory.mktemp("conversions"), FILES, "conversions.duckdb", ROWS)


def answer(project: Project, metrics: list[str], **kwargs: object) -> dict[object, tuple[object, ...]]:
    result = project.query(metrics=metrics, **kwargs)  # type: ignore[arg-type]
    return {row[0]: tuple(None if v is None else float(v) for v in row[1:]) for row in result.rows}


def expected(project: Project, sql: str) -> dict[object, tuple[object, ...]]:
    return {row[0]: tuple(float(v) for v in row[1:]) for row in hand(project, sql)}


def test_daily_conversions_and_rate_with_a_7_day_window(project):
    mine = answer(project, ["buys_7d", "rate_7d"], grain="day")
    theirs = expected(project, by("v.ds", 7))
    for day, values in theirs.items():
        assert mine[day] == values, day
    # days without a visit have neither conversions nor a rate
    assert all(mine[d] == (0.0, None) for d in mine if d not in theirs)
    # u1's buy came exactly 7 days after the visit: outside the window; u2's early buy counts for nothing
    assert mine[date(2026, 1, 1)] == (0.0, 0.0)
    assert mine[date(2026, 1, 5)] == (1.0, 0.5)  # u2's later buy; u5 never bought


def test_without_a_window_the_buy_a_week_later_counts(project):
    mine = answer(project, ["rate_ever"], grain="day")
    theirs = expected(project, by("v.ds", None))
    assert {day: mine[day] for day in theirs} == {day: (rate,) for day, (_, rate) in theirs.items()}
    assert mine[date(2026, 1, 1)] == (1.0,)


def test_credited_to_the_visits_month_not_the_buys(project):
    mine = answer(project, ["buys_7d", "rate_7d"], grain="month")
    theirs = expected(project, by("cast(date_trunc('month', v.ds) as date)", 7))
    assert mine == theirs
    assert mine[date(2026, 1, 1)][0] == 3.0  # u4's buy on 3 February is January's: the visit's month


def test_grouped_by_the_visits_referrer_the_latest_visit_wins(project):
    mine = answer(project, ["buys_7d", "rate_7d"], grain="all", dimensions=["referrer"])
    theirs = expected(project, by("v.referrer", 7))
    assert mine == theirs
    assert mine["mail"][0] == 2.0  # u3's buy goes to the later 'mail' visit


def test_constant_property_keeps_the_visit_of_the_same_session(project):
    mine = answer(project, ["rate_7d_same_session"], grain="all", dimensions=["referrer"])
    theirs = expected(project, by("v.referrer", 7, same_session=True))
    assert mine == {key: (rate,) for key, (_, rate) in theirs.items()}
    # u3's buy now goes to the earlier 'ads' visit of its session: ads 2 of 4 visits, mail 1 of 2
    assert mine == {"ads": (0.5,), "mail": (0.5,)}


def test_fill_nulls_with_null_leaves_the_rate_null_where_nothing_was_credited(project):
    mine = answer(project, ["rate_7d_or_null"], grain="day")
    theirs = expected(project, by("v.ds", 7))
    assert {day: mine[day] for day in theirs} == {
        day: (rate if buys else None,) for day, (buys, rate) in theirs.items()
    }
    assert mine[date(2026, 1, 1)] == (None,)  # a visit, no buy within the week: NULL, not 0


def test_an_entity_the_conversion_dataset_lacks_is_reported_at_its_line(tmp_path):
    files = dict(FILES)
    files["metrics/conversions.yml"] = FILES["metrics/conversions.yml"].replace(
        "entity: user, window: 7 days}", "entity: shopper, window: 7 days}", 1
    )
    with pytest.raises(ProjectInvalid) as caught:
        Project.load(write_files(tmp_path, files))
    found = [d.render() for d in caught.value.diagnostics]
    assert found and all("KF203" in f and "'shopper'" in f for f in found), found
    assert found[0].startswith("metrics/conversions.yml:"), found


def test_conversion_fields_on_another_type_are_refused(tmp_path):
    files = dict(FILES)
    files["metrics/conversions.yml"] += "      - {name: oops, measure: visit_count, entity: user}\n"
    with pytest.raises(ProjectInvalid) as caught:
        Project.load(write_files(tmp_path, files))
    assert "belong to conversion metrics only" in caught.value.diagnostics[0].render()


def test_the_metric_catalog_describes_a_conversion_metric_in_words():
    from kpiframe.build.catalog import formula_text
    from kpiframe.load.specs import MetricSpec

    rate = MetricSpec(
        name="visit_to_buy",
        type="conversion",
        base_measure="visits",
        conversion_measure="buys",
        entity="user",
        window="7 days",
    )
    count = rate.model_copy(update={"calculation": "conversions", "window": None})
    assert formula_text(rate, {}) == "share of visits followed by buys of the same user within 7 days"
    assert formula_text(count, {}) == "count of visits followed by buys of the same user"
