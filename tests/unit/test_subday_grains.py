"""Grains finer than a day: ad clicks by hour, minute, second and millisecond.

A period of a sub-day grain is the TIMESTAMP its hour (minute, ...) starts at; the answer has a row for
every hour of its range (0 where no click landed), as at day grain. The data has what real ad exports
have: clicks in the same second, a click on an hour's first millisecond, a NULL time, a campaign whose
clicks are all in one hour, and a second dataset whose time is a DATE (its rows are at midnight).
Every expected answer is SQL written here by hand over the raw rows.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from click.testing import CliRunner

from kpiframe.cli.main import main
from kpiframe.errors import QueryError
from kpiframe.project import Project
from tests.conftest import built_project, hand

FILES = {
    "kpi_project.yml": """
        name: ads
        warehouse: {path: ads.duckdb}
        calendar:
          time_spine: {start: 2026-01-01, end: 2026-12-31}
    """,
    "models/sources.yml": """
        sources:
          - name: raw
            schema: raw
            tables:
              - {name: clicks, columns: [click_id, campaign, {name: clicked_at, type: TIMESTAMP}, cost]}
              - {name: signups, columns: [signup_id, {name: signed_up_on, type: DATE}]}
    """,
    "models/stg_clicks.sql": "select * from {{ source('raw', 'clicks') }}",
    "models/stg_signups.sql": "select * from {{ source('raw', 'signups') }}",
    "metrics/ads.yml": """
        datasets:
          - name: clicks
            model: stg_clicks
            time: clicked_at
            entities: [{name: click, type: primary, expr: click_id}]
            dimensions: [{name: campaign}, {name: clicked_at, type: time}]
            measures:
              - {name: click_count, agg: count, expr: click_id}
              - {name: cost_total, agg: sum, expr: cost}
          - name: signups
            model: stg_signups
            time: signed_up_on
            entities: [{name: signup, type: primary, expr: signup_id}]
            measures:
              - {name: signup_count, agg: count, expr: signup_id}
        metrics:
          - {name: clicks, measure: click_count}
          - {name: ad_cost, measure: cost_total}
          - {name: signups, measure: signup_count}
          - {name: hourly_clicks, measure: click_count, grain: hour}
          - {name: clicks_spined, measure: click_count, join_to_timespine: true}
          - {name: clicks_3_hours, type: cumulative, metric: clicks, window: 3 hours}
          - {name: clicks_today, type: cumulative, metric: clicks, grain_to_date: day}
          - name: clicks_hour_before
            type: derived
            expr: before
            inputs: [{metric: clicks, alias: before, offset: 1 hour}]
          - name: clicks_90_minutes_before
            type: derived
            expr: before
            inputs: [{metric: clicks, alias: before, offset: 90 minutes}]
          - name: clicks_since_hour_start
            type: derived
            expr: first
            inputs: [{metric: clicks, alias: first, offset: start of hour}]
    """,
}
CLICKS = [
    ("c1", "search", "2026-03-01 01:59:59.999", 1.5),
    ("c2", "search", "2026-03-01 02:00:00", 2.0),  # an hour's first instant
    ("c3", "search", "2026-03-01 02:00:00", 2.0),  # the same second twice
    ("c4", "social", "2026-03-01 02:17:42.250", 0.5),
    ("c5", "social", "2026-03-01 05:05:05", 0.75),
    ("c6", "search", "2026-03-01 07:30:00", 1.0),
    ("c7", "display", "2026-03-01 07:31:00", 3.0),  # a campaign with one hour of clicks
    ("c8", "search", "2026-03-02 00:10:00", 1.25),  # the next day
    ("c9", "search", None, 9.0),  # a click without a time counts in no period
]
ROWS = (
    "create schema raw;\n"
    "create table raw.clicks (click_id varchar, campaign varchar, clicked_at timestamp, cost double);\n"
    "insert into raw.clicks values "
    + ", ".join(f"('{i}', '{c}', {f'timestamp {t!r}' if t else 'null'}, {cost})" for i, c, t, cost in CLICKS)
    + ";\ncreate table raw.signups (signup_id varchar, signed_up_on date);\n"
    "insert into raw.signups values ('s1', date '2026-03-01'), ('s2', date '2026-03-01');"
)
# every hour from the first click's to the last's, and the clicks in it: the spine written by hand
HOURLY = """
    with hours as (
        select unnest(generate_series(timestamp '2026-03-01 01:00', timestamp '2026-03-02 00:00', interval 1 hour)) h
    )
    select h, count(c.click_id), coalesce(sum(c.cost), 0)
    from hours left join raw.clicks c on date_trunc('hour', c.clicked_at) = h
    group by h order by h
"""


@pytest.fixture(scope="module")
def ads(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return built_project(tmp_path_factory.mktemp("subday"), FILES, "ads.duckdb", ROWS)


def test_hourly_clicks_and_cost_have_a_row_for_every_hour(ads):
    result = ads.query(metrics=["clicks", "ad_cost"], grain="hour")
    assert result.columns == ["period_start", "clicks", "ad_cost"]
    expected = hand(ads, HOURLY)
    assert len(expected) == 24
    assert [(p, n, pytest.approx(c)) for p, n, c in result.rows] == expected
    assert all(isinstance(row[0], datetime) for row in result.rows)


def test_metricflow_names_for_minutes_and_a_metrics_default_sub_day_grain(ads):
    by_minute = ads.query(metrics=["clicks"], dimensions=["metric_time__minute", "campaign"])
    kept = {(p, c): n for p, c, n in by_minute.rows if n}
    expected = hand(
        ads,
        "select date_trunc('minute', clicked_at), campaign, count(*) from raw.clicks "
        "where clicked_at is not null group by all",
    )
    assert kept == {(p, c): n for p, c, n in expected}
    # `grain: hour` on the metric: metric_time without a grain is its hour
    default = ads.query(metrics=["hourly_clicks"], dimensions=["metric_time"])
    assert [(p, n) for p, n in default.rows] == [(p, n) for p, n, _ in hand(ads, HOURLY)]


def test_time_constraints_are_instants_widened_to_whole_periods(ads):
    result = ads.query(
        metrics=["clicks"], grain="hour", start_time="2026-03-01T02:30:00", end_time="2026-03-01T05:10:00"
    )
    expected = hand(
        ads,
        "select h, (select count(*) from raw.clicks where date_trunc('hour', clicked_at) = h) from "
        "unnest(generate_series(timestamp '2026-03-01 02:00', timestamp '2026-03-01 05:00', interval 1 hour)) t(h)",
    )
    assert result.rows == expected
    assert [row[1] for row in result.rows] == [3, 0, 0, 1]


def test_the_metrics_own_time_at_a_sub_day_grain_is_the_period_and_bounded_it_answers(ads):
    window = {"start_time": "2026-03-01T01:59:59.990", "end_time": "2026-03-01T02:00:00.005"}
    result = ads.query(metrics=["clicks"], dimensions=["click__clicked_at__millisecond"], **window)
    assert len(result.rows) == 16  # every millisecond from .990 to .005
    expected = hand(
        ads,
        "select date_trunc('millisecond', clicked_at), count(*) from raw.clicks "
        "where clicked_at between timestamp '2026-03-01 01:59:59.990' and timestamp '2026-03-01 02:00:00.005' "
        "group by 1",
    )
    assert {p: n for p, n in result.rows if n} == dict(expected)
    values = ads.query(metrics=[], dimensions=["click__clicked_at__second"])
    assert values.rows == hand(
        ads,
        "select distinct date_trunc('second', clicked_at) s from raw.clicks order by s nulls last",
    )


def test_a_date_time_is_at_midnight_at_an_hour_grain(ads):
    result = ads.query(metrics=["signups"], grain="hour")
    assert result.rows == [(datetime(2026, 3, 1), 2)]


def test_windows_day_to_date_and_hour_offsets_over_hours(ads):
    metrics = ["clicks", "clicks_3_hours", "clicks_today", "clicks_hour_before", "clicks_since_hour_start"]
    result = ads.query(metrics=metrics, grain="hour")
    expected = hand(
        ads,
        f"""
        with hourly as (select h, n from ({HOURLY.replace("'2026-03-02 00:00'", "'2026-03-02 01:00'")}) t(h, n, cost))
        select h, n,
            sum(n) over (order by h range between interval 2 hour preceding and current row),
            sum(n) over (partition by date_trunc('day', h) order by h),
            coalesce((select n from hourly b where b.h = hourly.h - interval 1 hour), 0),
            n
        from hourly order by h
        """,
    )
    assert result.rows == expected
    assert result.rows[-1][0] == datetime(2026, 3, 2, 1)  # an hour past the data: its hour before has a click


def test_compare_with_the_previous_hour(ads):
    window = {"start_time": "2026-03-01T02:00", "end_time": "2026-03-01T08:00"}
    result = ads.query(metrics=["clicks"], grain="hour", compare="previous", **window)
    assert result.columns == ["period_start", "clicks", "clicks__previous", "clicks__change"]
    hours = dict(hand(ads, HOURLY.replace("count(c.click_id), coalesce(sum(c.cost), 0)", "count(c.click_id)")))
    for period, now, before, change in result.rows:
        earlier = hours.get(period - timedelta(hours=1), 0)
        assert (now, before) == (hours[period], earlier)
        assert change == (None if earlier == 0 else pytest.approx((now - earlier) / earlier))


def test_an_offset_of_minutes_at_minute_grain(ads):
    window = {"start_time": "2026-03-01T03:28", "end_time": "2026-03-01T03:32"}
    result = ads.query(metrics=["clicks_90_minutes_before"], grain="minute", **window)
    # 03:29 reads 01:59 (c1, at 01:59:59.999), 03:30 reads 02:00 (c2 and c3)
    assert [(p.strftime("%H:%M"), n) for p, n in result.rows] == [
        ("03:28", 0), ("03:29", 1), ("03:30", 2), ("03:31", 0), ("03:32", 0)
    ]  # fmt: skip


def test_join_to_timespine_at_an_hour_grain_lists_every_hour_of_the_range(ads):
    result = ads.query(
        metrics=["clicks_spined"], grain="hour", start_time="2026-02-28T22:00", end_time="2026-03-01T03:00"
    )
    assert [p.hour for p, _ in result.rows] == [22, 23, 0, 1, 2, 3]
    assert [n for _, n in result.rows] == [0, 0, 0, 1, 3, 0]


def test_metric_time_alone_lists_the_time_spines_seconds_within_the_bounds(ads):
    result = ads.query(
        metrics=[], dimensions=["metric_time__second"], start_time="2026-03-01T02:00:58", end_time="2026-03-01T02:01:02"
    )
    assert [p.isoformat() for (p,) in result.rows] == [
        f"2026-03-01T02:0{m}:{s:02d}" for m, s in ((0, 58), (0, 59), (1, 0), (1, 1), (1, 2))
    ]


@pytest.mark.parametrize(
    ("asked", "code", "says"),
    [
        ({"metrics": [], "dimensions": ["metric_time__second"]}, "KF435", "31,536,000 periods"),
        ({"metrics": ["clicks_spined"], "grain": "second"}, "KF435", "31,536,000 periods"),
        # the data's own range: 22 hours and 10 minutes of milliseconds, counted before they are listed
        ({"metrics": ["clicks"], "grain": "millisecond"}, "KF435", "79,800,002 periods"),
        ({"metrics": ["clicks"], "grain": "hour", "compare": "year"}, "KF435", "--compare year"),
        ({"metrics": ["clicks"], "dimensions": ["metric_time__microsecond"]}, "KF413", "finer than a millisecond"),
        ({"metrics": ["clicks_90_minutes_before"], "grain": "hour"}, "KF424", "offset '90 minutes' at hour grain"),
    ],
)
def test_what_a_sub_day_request_cannot_answer_is_refused_with_a_hint(ads, asked, code, says):
    with pytest.raises(QueryError) as raised:
        ads.query(**asked)
    found = raised.value.diagnostic
    assert found.code == code and says in found.message and found.hint, found


def test_the_cli_prints_and_exports_hours(ads):
    root = str(ads.root)
    args = ["query", "--project-dir", root, "--metric", "clicks", "--grain", "hour"]
    window = ["--start-time", "2026-03-01T02:00", "--end-time", "2026-03-01T03:00"]
    shown = CliRunner().invoke(main, [*args, *window])
    assert shown.exit_code == 0, shown.output
    assert "2026-03-01T02:00:00" in shown.output and "2026-03-01T03:00:00" in shown.output
    exported = CliRunner().invoke(main, [*args, *window, "--format", "json"])
    assert exported.exit_code == 0, exported.output
    rows = json.loads(exported.output)
    assert [(r["period_start"], r["clicks"]) for r in rows] == [("2026-03-01T02:00:00", 3), ("2026-03-01T03:00:00", 0)]
    # milliseconds over the whole data: counted before they are listed, refused, and kept in no cache
    for _ in range(2):
        refused = CliRunner().invoke(
            main, ["query", "--project-dir", root, "--metric", "clicks", "--grain", "millisecond"]
        )
        assert refused.exit_code != 0 and "KF435" in refused.output and "--start-time" in refused.output
