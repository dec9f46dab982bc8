"""Conversion metrics over rows as real CRM and web exports have them: duplicated rows, NULL users and
times, a buy before any visit, a buy exactly one window after its visit, the same user buying twice, two
visits at the same instant, NaN amounts, a visit and its buy on either side of midnight on New Year's Eve,
a visit in 1900, dimension values with quotes and unicode, dimensions named like kpiframe's own columns
(event_time, conversion_value), empty loads and a duplicated row of a dimension table.

Every expected number comes from SQL written here: each buy's visit is found with a correlated MAX over
the visits (then, among visits at that instant, the least channel), never from kpiframe's SQL.
"""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

import pytest

from kpiframe.errors import ExpectationsFailed, QueryError
from kpiframe.project import Project
from tests.conftest import built_project, hand, write_files

FILES = {
    "kpi_project.yml": """
        name: hostile_conversions
        warehouse: {path: conversions.duckdb}
    """,
    "models/sources.yml": """
        sources:
          - name: raw
            schema: raw
            tables:
              - name: visits
                columns: [visit_id, user_id, session_id, channel, {name: ts, type: TIMESTAMP}, event_time,
                          conversion_value]
              - name: buys
                columns: [buy_id, user_id, session_id, {name: ts, type: TIMESTAMP}, amount]
    """,
    "models/stg_visits.sql": "select * from {{ source('raw', 'visits') }}",
    "models/stg_buys.sql": "select * from {{ source('raw', 'buys') }}",
    "metrics/conversions.yml": """
        datasets:
          - name: visits
            model: stg_visits
            time: ts
            entities: [{name: user, type: foreign, expr: user_id}, {name: session, type: foreign, expr: session_id}]
            dimensions: [{name: channel}, {name: event_time}, {name: conversion_value}]
            measures: [{name: visit_count, agg: count, expr: visit_id}]
          - name: buys
            model: stg_buys
            time: ts
            entities: [{name: user, type: foreign, expr: user_id}, {name: session, type: foreign, expr: session_id}]
            measures:
              - {name: buy_count, agg: count, expr: buy_id}
              - {name: buyers, agg: count_distinct, expr: user_id}
              - {name: amount_sum, agg: sum, expr: amount}
        metrics:
          - {name: visits, measure: visit_count}
          - {name: rate_7d, type: conversion, base_measure: visit_count, conversion_measure: buy_count,
             entity: user, window: 7 days}
          - {name: buys_7d, type: conversion, base_measure: visit_count, conversion_measure: buy_count,
             entity: user, window: 7 days, calculation: conversions}
          - {name: buyers_7d, type: conversion, base_measure: visit_count, conversion_measure: buyers,
             entity: user, window: 7 days, calculation: conversions}
          - {name: revenue_ever, type: conversion, base_measure: visit_count, conversion_measure: amount_sum,
             entity: user, calculation: conversions}
          - {name: rate_same_session, type: conversion, base_measure: visit_count, conversion_measure: buy_count,
             entity: user, window: 7 days,
             constant_properties: [{base_property: session, conversion_property: session}]}
    """,
}

# The `event_time` and `conversion_value` columns of the visits are a client clock and an ad platform's
# expected value: dimensions whose names kpiframe's conversion SQL once used for its own columns.
ROWS = """
    create schema raw;
    create table raw.visits (visit_id varchar, user_id varchar, session_id varchar, channel varchar, ts timestamp,
                             event_time varchar, conversion_value varchar);
    create table raw.buys (buy_id varchar, user_id varchar, session_id varchar, ts timestamp, amount double);
    insert into raw.visits values
      -- u1: one visit loaded twice, just before midnight of a leap day; a later visit in another channel
      ('v1', 'u1', 's1', 'ads', '2024-02-28 23:59:59', 'client-a', 'low'),
      ('v1', 'u1', 's1', 'ads', '2024-02-28 23:59:59', 'client-a', 'low'),
      ('v7', 'u1', 's7', 'mail', '2024-03-02 00:00:00', 'client-b', 'high'),
      -- a visit without a user, one without a time
      ('v2', null, 's2', 'ads', '2024-02-29 00:00:00', 'client-a', 'low'),
      ('v4', 'u3', 's4', 'mail', null, 'client-b', 'low'),
      -- u2: a visit without a channel (its buys: one before it, one exactly 7 days after it, amount NaN)
      ('v3', 'u2', 's3', null, '2024-02-29 12:00:00', 'client-a', null),
      -- u4: a quoted channel, its buy exactly 7 days later; u5: a unicode channel, its buy has no time
      ('v5', 'u4', 's5', 'it''s "quoted"', '2024-03-01 00:00:00', 'client-c', 'high'),
      ('v6', 'u5', 's6', '日本語 ✓', '2024-03-31 10:00:00', 'client-c', 'high'),
      -- u6: two visits at the same instant in two channels
      ('v8', 'u6', 's8', 'zz', '2024-03-10 08:00:00', 'client-b', 'low'),
      ('v9', 'u6', 's9', 'ads', '2024-03-10 08:00:00', 'client-a', 'high'),
      -- u7: buys twice after one visit (then a row without a visit id: no visit, it takes no buy);
      -- u8: visits before midnight on New Year's Eve, buys after it
      ('v10', 'u7', 's10', 'mail', '2024-03-15 09:00:00', 'client-a', 'low'),
      (null, 'u7', 's10', 'ads', '2024-03-15 12:00:00', 'client-b', 'high'),
      ('v11', 'u8', 's11', 'ads', '2024-12-31 23:59:59', 'client-b', 'low'),
      -- u9: a visit in 1900 (a CRM's placeholder date), a buy in 2024; u10: no session on either side
      ('v12', 'u9', 's12', 'ads', '1900-01-01 00:00:00', 'client-c', 'low'),
      ('v13', 'u10', null, 'mail', '2024-03-20 10:00:00', 'client-c', 'low');
    insert into raw.buys values
      ('b1', 'u1', 's1', '2024-02-29 00:00:01', 10),
      ('b1', 'u1', 's1', '2024-02-29 00:00:01', 10),
      ('b7', 'u1', 's1', '2024-03-05 00:00:00', 2),
      ('b2', null, 's2', '2024-02-29 01:00:00', 5),
      ('b8', 'u3', 's4', '2024-03-01 00:00:00', 4),
      ('b3', 'u2', 's3', '2024-02-28 12:00:00', 7),
      ('b4', 'u2', 's3', '2024-03-07 12:00:00', 'nan'),
      ('b5', 'u4', 's5', '2024-03-08 00:00:00', 1),
      ('b6', 'u5', 's6', null, 1),
      ('b9', 'u6', 's8', '2024-03-11 08:00:00', 3),
      ('b10', 'u7', 's10', '2024-03-16 09:00:00', 6),
      ('b11', 'u7', 's10', '2024-03-17 09:00:00', 6),
      ('b12', 'u8', 's11', '2025-01-01 00:00:00', 8),
      ('b13', 'u9', 's12', '2024-01-01 00:00:00', 9),
      ('b14', 'u10', null, '2024-03-21 10:00:00', 1);
"""


def credited(window_days: int | None = None, same_session: bool = False, visits: str = "true") -> str:
    """Each buy (one row per loaded row) with the time and least channel, event_time and conversion_value of
    the visits it is credited to: its user's latest visit (a row with a visit_id, where `visits` holds) at or
    before it, within the window, in its session."""
    where = f"v.user_id = b.user_id and v.ts <= b.ts and v.visit_id is not null and ({visits})"
    if window_days:
        where += f" and v.ts > b.ts - interval {window_days} day"
    if same_session:
        where += " and v.session_id = b.session_id"
    latest = f"(select max(v.ts) from raw.visits v where {where})"
    at = f"v.user_id = b.user_id and v.ts = b.visit_ts and v.visit_id is not null and ({visits})"
    if same_session:
        at += " and v.session_id = b.session_id"
    return f"""
        select b.*,
          (select min(v.channel) from raw.visits v where {at}) as channel,
          (select min(v.event_time) from raw.visits v where {at}) as event_time,
          (select min(v.conversion_value) from raw.visits v where {at}) as conversion_value
        from (select b.*, {latest} as visit_ts from raw.buys b where b.ts is not null and b.buy_id is not null) b
        where b.visit_ts is not null
    """


def by_key(key: str, window_days: int | None = None, same_session: bool = False, visits: str = "true") -> str:
    """Per key of the visits (an expression over `{ts}`, `channel`, ...): visits, credited buys, distinct
    buyers, credited revenue, over every key some timed visit (where `visits` holds) has."""
    return f"""
        with c as ({credited(window_days, same_session, visits)}),
        base as (select {key.format(ts="ts")} as k, count(visit_id) as visits from raw.visits v
                 where ts is not null and ({visits}) group by 1),
        conv as (select {key.format(ts="visit_ts")} as k, count(buy_id) as buys,
                        count(distinct user_id) as buyers, sum(amount) as revenue from c group by 1)
        select base.k, base.visits, coalesce(conv.buys, 0), coalesce(conv.buyers, 0), coalesce(conv.revenue, 0)
        from base left join conv on base.k is not distinct from conv.k
    """


def same(a: object, b: object) -> bool:
    """Equal, NaN equal to NaN, numbers compared as floats."""
    if a is None or b is None:
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b)
    return a == b


def assert_rows(mine: dict[object, tuple[object, ...]], theirs: dict[object, tuple[object, ...]]) -> None:
    for key, expected in theirs.items():
        got = mine.get(key)
        assert got is not None and all(same(g, e) for g, e in zip(got, expected, strict=True)), (key, got, expected)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return built_project(tmp_path_factory.mktemp("hostile_conversions"), FILES, "conversions.duckdb", ROWS)


def answer(project: Project, metrics: list[str], keys: int = 1, **request: object) -> dict[object, tuple[object, ...]]:
    rows = project.query(metrics=metrics, **request).rows  # type: ignore[arg-type]
    return {(row[0] if keys == 1 else tuple(row[:keys])): tuple(row[keys:]) for row in rows}


def expected(project: Project, sql: str) -> dict[object, tuple[object, ...]]:
    """key -> (rate, buys, buyers, revenue) from by_key's rows."""
    return {
        k: ((buys / visits) if visits else None, buys, buyers, revenue)
        for k, visits, buys, buyers, revenue in hand(project, sql)
    }


METRICS = ["rate_7d", "buys_7d", "buyers_7d", "revenue_ever"]


def test_by_day_duplicates_nulls_early_and_late_buys(project):
    mine = answer(project, METRICS, grain="day")
    theirs = expected(project, by_key("cast({ts} as date)", 7))
    revenue = {k: v[3] for k, v in expected(project, by_key("cast({ts} as date)")).items()}
    assert_rows(mine, {k: (*v[:3], revenue[k]) for k, v in theirs.items()})
    # days without a timed visit: nothing credited, no rate
    assert all(mine[d] == (None, 0, 0, 0.0) for d in mine if d not in theirs)
    # u1's visit and buy were each loaded twice: 2 visits, 2 buys, 1 buyer; the NULL user's buy pairs with nothing
    assert mine[date(2024, 2, 28)] == (1.0, 2, 1, 20.0)
    # u2's buy before the visit counts for nothing, the one exactly 7 days later only without a window (NaN)
    assert mine[date(2024, 2, 29)][:3] == (0.0, 0, 0) and math.isnan(mine[date(2024, 2, 29)][3])
    assert mine[date(2024, 3, 1)] == (0.0, 0, 0, 1.0)  # u4: exactly 7 days later
    # u7 bought twice: 2 conversions of 1 visit, 1 buyer; its later row without a visit id takes neither
    assert mine[date(2024, 3, 15)] == (2.0, 2, 1, 12.0)
    assert mine[date(1900, 1, 1)] == (0.0, 0, 0, 9.0)  # a buy 124 years later counts only without a window


def test_by_channel_a_tie_goes_to_the_least_channel_and_odd_values_are_kept(project):
    mine = answer(project, METRICS, grain="all", dimensions=["channel"])
    theirs = expected(project, by_key("channel", 7))
    revenue = {k: v[3] for k, v in expected(project, by_key("channel")).items()}
    assert_rows(mine, {k: (*v[:3], revenue[k]) for k, v in theirs.items()})
    assert set(mine) == set(theirs) == {"ads", "mail", "zz", 'it\'s "quoted"', "日本語 ✓", None}
    assert mine["zz"][1] == 0  # u6's two simultaneous visits: the buy goes to 'ads', counted once
    assert sum(v[1] for v in mine.values()) == answer(project, ["buys_7d"], keys=0, grain="all")[()][0]


@pytest.mark.parametrize(("grain", "key"), [("month", "month"), ("year", "year")])
def test_by_month_and_year_a_conversion_after_midnight_counts_in_the_visits_period(project, grain, key):
    mine = answer(project, METRICS, grain=grain)
    theirs = expected(project, by_key(f"cast(date_trunc('{key}', {{ts}}) as date)", 7))
    revenue = {k: v[3] for k, v in expected(project, by_key(f"cast(date_trunc('{key}', {{ts}}) as date)")).items()}
    assert_rows(mine, {k: (*v[:3], revenue[k]) for k, v in theirs.items()})
    assert mine[date(2024, 12, 1) if grain == "month" else date(2024, 1, 1)][1] >= 1  # u8's buy on 1 January 2025
    assert date(2025, 1, 1) not in mine  # no visit in 2025: the buy is 2024's


@pytest.mark.parametrize("dimension", ["event_time", "conversion_value", "visits__conversion_value"])
def test_dimensions_named_like_the_conversion_columns(project, dimension):
    mine = answer(project, ["rate_7d", "buys_7d", "revenue_ever"], grain="all", dimensions=[dimension])
    column = dimension.split("__")[-1]
    revenue = {k: v[3] for k, v in expected(project, by_key(column)).items()}
    theirs = {k: (*v[:2], revenue[k]) for k, v in expected(project, by_key(column, 7)).items()}
    assert_rows(mine, theirs)
    assert set(mine) == set(theirs)


def test_a_session_that_must_match_never_matches_null(project):
    mine = answer(project, ["rate_same_session"], grain="day")
    theirs = expected(project, by_key("cast({ts} as date)", 7, same_session=True))
    assert_rows(mine, {k: v[:1] for k, v in theirs.items()})
    assert mine[date(2024, 3, 20)] == (0.0,)  # u10: neither the visit nor the buy has a session
    assert mine[date(2024, 3, 2)] == (0.0,)  # u1's second buy is in the first visit's session, 3 days before
    assert answer(project, ["rate_7d"], grain="day")[date(2024, 3, 2)] == (1.0,)


def test_range_and_where_apply_to_the_visits_not_the_buys(project):
    where = "channel <> 'zz' and channel <> 'it''s \"quoted\"'"
    mine = answer(project, ["rate_7d", "buys_7d"], grain="day", start="2024-03-01", end="2024-03-15", where=where)
    sql = by_key("cast({ts} as date)", 7, visits=where.replace("channel", "v.channel"))
    theirs = {k: v[:2] for k, v in expected(project, sql).items() if date(2024, 3, 1) <= k <= date(2024, 3, 15)}
    assert_rows(mine, theirs)
    assert sorted(mine) == [date(2024, 3, d) for d in range(1, 16)]
    assert mine[date(2024, 3, 15)] == (2.0, 2)  # u7's buys on the 16th and 17th, after the range, count
    assert mine[date(2024, 3, 10)] == (1.0, 1)  # u6: without the 'zz' visit the buy is the 'ads' visit's


def test_a_name_the_base_events_lack_is_refused_with_a_hint(project):
    with pytest.raises(QueryError) as raised:
        project.query(metrics=["rate_7d"], grain="all", dimensions=["amount"])
    diagnostic = raised.value.diagnostic
    assert diagnostic.code == "KF410"
    assert "rate_7d" in diagnostic.message
    assert diagnostic.hint and "base events" in diagnostic.hint and "visits" in diagnostic.hint


EMPTY_VISITS = ROWS.split("insert into raw.visits")[0] + "insert into raw.buys" + ROWS.split("insert into raw.buys")[1]
EMPTY_BUYS = ROWS.split("insert into raw.buys")[0]


@pytest.mark.parametrize("rows", [EMPTY_VISITS, EMPTY_BUYS], ids=["no visits", "no buys"])
def test_empty_loads(tmp_path, rows):
    project = built_project(tmp_path, FILES, "conversions.duckdb", rows)
    mine = answer(project, METRICS, grain="year")
    visits = dict(
        hand(
            project,
            "select cast(date_trunc('year', ts) as date), count(visit_id) from raw.visits where ts is not null "
            "group by 1",
        )
    )
    assert {k: v for k, v in mine.items() if k in visits} == {year: (0.0, 0, 0, 0) for year in visits}
    assert all(v == (None, 0, 0, 0) for k, v in mine.items() if k not in visits)
    assert answer(project, METRICS, keys=0, grain="all")[()] == ((0.0 if visits else None), 0, 0, 0)


EVENTS = {
    "kpi_project.yml": FILES["kpi_project.yml"],
    "models/sources.yml": """
        sources:
          - name: raw
            schema: raw
            tables:
              - {name: events, columns: [event_id, user_id, event_type, {name: ts, type: TIMESTAMP}]}
    """,
    "models/stg_events.sql": "select * from {{ source('raw', 'events') }}",
    "metrics/events.yml": """
        datasets:
          - name: events
            model: stg_events
            time: ts
            entities: [{name: user, type: foreign, expr: user_id}]
            dimensions: [{name: event_type}]
            measures:
              - {name: visit_count, agg: count, expr: "case when event_type = 'visit' then event_id end"}
              - {name: buy_count, agg: count, expr: "case when event_type = 'buy' then event_id end"}
        metrics:
          - {name: rate_7d, type: conversion, base_measure: visit_count, conversion_measure: buy_count,
             entity: user, window: 7 days}
          - {name: buys_7d, type: conversion, base_measure: visit_count, conversion_measure: buy_count,
             entity: user, window: 7 days, calculation: conversions}
    """,
}


def test_visits_and_buys_in_one_event_table(tmp_path):
    rows = """
        create schema raw;
        create table raw.events (event_id varchar, user_id varchar, event_type varchar, ts timestamp);
        insert into raw.events values
          ('e1', 'u1', 'visit', '2024-01-01 10:00'), ('e2', 'u1', 'buy', '2024-01-05 10:00'),
          ('e3', 'u2', 'buy', '2024-01-05 11:00'), ('e4', 'u3', 'visit', '2024-01-05 09:00'),
          ('e5', 'u3', 'page_view', '2024-01-05 09:30'), ('e6', 'u3', 'buy', '2024-01-05 10:00');
    """
    project = built_project(tmp_path, EVENTS, "conversions.duckdb", rows)
    mine = answer(project, ["rate_7d", "buys_7d"], grain="day")
    theirs = hand(
        project,
        """
        with v as (select * from raw.events where event_type = 'visit'),
        b as (select b.*, (select max(v.ts) from v where v.user_id = b.user_id and v.ts <= b.ts
                           and v.ts > b.ts - interval 7 day) as visit_ts
              from raw.events b where event_type = 'buy'),
        base as (select cast(ts as date) as d, count(*) as visits from v group by 1),
        conv as (select cast(visit_ts as date) as d, count(*) as buys from b where visit_ts is not null group by 1)
        select base.d, coalesce(conv.buys, 0) / base.visits, coalesce(conv.buys, 0)
        from base left join conv on base.d = conv.d
        """,
    )
    assert {d: v for d, v in mine.items() if v != (None, 0)} == {d: (rate, buys) for d, rate, buys in theirs}
    # a buy is not a visit: u2 never visited, u3's buy goes to its visit, not to its page view or itself
    assert mine == {
        date(2024, 1, 1): (1.0, 1),
        date(2024, 1, 2): (None, 0),
        date(2024, 1, 3): (None, 0),
        date(2024, 1, 4): (None, 0),
        date(2024, 1, 5): (1.0, 1),
    }


DUPLICATED_USER = {
    **FILES,
    "models/sources.yml": FILES["models/sources.yml"].rstrip(" ")
    + "              - {name: users, columns: [user_id, segment]}\n",
    "models/stg_users.sql": "select * from {{ source('raw', 'users') }}",
    "metrics/conversions.yml": FILES["metrics/conversions.yml"].replace(
        "        metrics:\n",
        """          - name: users
            model: stg_users
            entities: [{name: user, type: primary, expr: user_id}]
            dimensions: [{name: segment}]
        metrics:
""",
    ),
}


USERS_TWICE = """
    create table raw.users (user_id varchar, segment varchar);
    insert into raw.users values ('u1', 'smb'), ('u1', 'smb'), ('u2', 'enterprise'), (null, 'smb'), (null, 'smb');
"""


@pytest.mark.parametrize("key", ["user_id", "USER_ID"])  # SQL reads the column in any case: so does the check
def test_a_dimension_row_loaded_twice_is_reported_at_the_key(tmp_path: Path, key: str):
    # joined through a primary entity, u1's second row doubles its segment's visits: the key's implied
    # unique check reports it (severity warn), naming the key and the line that declares it
    entity = f"{{name: user, type: primary, expr: {key}}}"
    files = {**DUPLICATED_USER}
    files["metrics/conversions.yml"] = files["metrics/conversions.yml"].replace(
        "{name: user, type: primary, expr: user_id}", entity
    )
    project = built_project(tmp_path, files, "conversions.duckdb", ROWS + USERS_TWICE)
    [found] = [r for r in project.last_expectation_results if r.expectation.target.startswith("model stg_users")]
    repeated = hand(
        project,
        "select count(*) from raw.users where user_id in "
        "(select user_id from raw.users group by 1 having count(*) > 1)",
    )
    assert found.expectation.target == f"model stg_users (implied by dataset users: one row per {key})"
    # the table's own spelling of the column
    assert (found.status, found.expectation.kwargs, found.unexpected_count) == (
        "warn",
        {"column": "user_id"},
        repeated[0][0],
    )
    declared_at = (tmp_path / "metrics" / "conversions.yml").read_text(encoding="utf-8").splitlines()
    line, column = next((n, text.index(entity) + 1) for n, text in enumerate(declared_at, 1) if entity in text)
    assert found.expectation.location is not None
    assert (found.expectation.location.line, found.expectation.location.column) == (line, column)
    assert str(found.expectation.location.path).endswith("metrics/conversions.yml")
    assert found.expectation.description == f"implied: primary entity 'user' of dataset 'users' is one row per {key}"
    # and in what the build leaves for CI: target/run_results.json
    results = json.loads((tmp_path / "target" / "run_results.json").read_text(encoding="utf-8"))["results"]
    assert [r["status"] for r in results if r["target"] == found.expectation.target] == ["warn"]


@pytest.mark.parametrize(
    ("entity", "checked"),
    [
        ("{name: user, type: unique, expr: user_id}", ["user_id"]),
        ("{name: user, type: unique, expr: lower(user_id)}", []),  # an expression, not a column: not checked
        ("{name: user, type: foreign, expr: user_id}", []),  # many rows per key: nothing joins to it
    ],
)
def test_which_entity_keys_are_checked(tmp_path: Path, entity: str, checked: list[str]):
    files = {**DUPLICATED_USER}
    files["metrics/conversions.yml"] = files["metrics/conversions.yml"].replace(
        "{name: user, type: primary, expr: user_id}", entity
    )
    write_files(tmp_path, files)
    implied = Project.load(tmp_path).graph.expectations.get(("model", "stg_users"), [])
    assert [e.kwargs["column"] for e in implied if e.kind == "expect_column_values_to_be_unique"] == checked
    assert all(e.severity == "warn" for e in implied)


def test_a_key_the_model_declares_unique_takes_the_declared_severity(tmp_path: Path):
    # to stop the build on a repeated key, declare `unique` on the model's key column (severity error by
    # default): it replaces the implied check
    files = {
        **DUPLICATED_USER,
        "models/users.yml": "models:\n  - name: stg_users\n    expectations: [{unique: user_id}]\n",
    }
    with pytest.raises(ExpectationsFailed) as failed:
        built_project(tmp_path, files, "conversions.duckdb", ROWS + USERS_TWICE)
    assert str(failed.value).endswith("failed: expect_column_values_to_be_unique on model stg_users")
    results = json.loads((tmp_path / "target" / "run_results.json").read_text(encoding="utf-8"))["results"]
    assert [(r["status"], r["description"]) for r in results if r["target"].startswith("model stg_users")] == [
        ("fail", None)
    ]
