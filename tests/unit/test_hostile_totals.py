"""`fill_nulls_with`, grain `all` (and kpi_project.yml's `query: {without_time: all}`), metric `grain:` and the
periods of timestamps, over rows as real ad and CRM exports have them: NULL, NaN and ±Infinity spend, rows
without a time, duplicates, the last second of a month, a leap day, a fiscal year's first midnight, long,
quoted and unicode campaign names, timestamps with a time zone around a DST change, an empty load.

Expected numbers come from SQL written here over raw.spend, never from kpiframe. The time-zone test runs
`kpiframe query` in child processes whose TZ differs: the periods of a TIMESTAMPTZ must not depend on the
machine that asks.
"""

from __future__ import annotations

import csv
import io
import math
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

from kpiframe.errors import ProjectInvalid
from kpiframe.project import Project
from tests.conftest import built_project, hand

LONG = "x" * 5000

FILES = {
    "kpi_project.yml": """
        name: hostile_totals
        warehouse: {path: totals.duckdb}
        calendar: {week_start: sunday, fiscal_year_start_month: 4}
    """,
    "models/sources.yml": """
        sources:
          - name: raw
            schema: raw
            tables:
              - name: spend
                columns: [row_id, campaign, {name: ts, type: TIMESTAMP}, amount, clicks]
    """,
    "models/stg_spend.sql": "select * from {{ source('raw', 'spend') }}",
    "metrics/spend.yml": """
        datasets:
          - name: spend
            model: stg_spend
            time: ts
            entities: [{name: row, type: foreign, expr: row_id}]
            dimensions: [{name: campaign}]
            measures:
              - {name: amount_sum, agg: sum, expr: amount}
              - {name: amount_max, agg: max, expr: amount}
              - {name: amount_avg, agg: average, expr: amount}
              - {name: amount_median, agg: median, expr: amount}
              - {name: row_count, agg: count, expr: row_id}
              - {name: campaign_count, agg: count_distinct, expr: campaign}
        metrics:
          - {name: spend, measure: amount_sum}
          - {name: spend_or_null, measure: amount_sum, fill_nulls_with: null}
          - {name: spend_or_minus_1, measure: amount_sum, fill_nulls_with: -1}
          - {name: top_spend_or_0, measure: amount_max, fill_nulls_with: 0}
          - {name: average_spend, measure: amount_avg}
          - {name: median_spend, measure: amount_median}
          - {name: rows, measure: row_count}
          - {name: search_rows_or_null, measure: row_count, filter: "campaign like 'search%'", fill_nulls_with: null}
          - {name: campaigns, measure: campaign_count}
          - {name: weekly_rows, measure: row_count, grain: week}
          - {name: fiscal_rows, measure: row_count, grain: fiscal_year}
          - {name: spend_per_row, type: ratio, numerator: spend, denominator: rows}
    """,
}

ROWS = f"""
    create schema raw;
    create table raw.spend (row_id varchar, campaign varchar, ts timestamp, amount double, clicks integer);
    insert into raw.spend values
      ('r1', 'search brand', '2024-02-29 23:59:59', 10.0, 1),
      ('r1', 'search brand', '2024-02-29 23:59:59', 10.0, 1),
      ('r2', 'search brand', '2024-03-01 00:00:00', null, 2),
      ('r3', 'display', '2024-03-02 10:00:00', null, 3),
      ('r4', 'display', '2024-03-03 10:00:00', 'nan', 4),
      ('r5', 'it''s "video"', '2024-03-04 10:00:00', 'inf', 5),
      ('r6', 'it''s "video"', '2024-03-04 11:00:00', '-inf', 6),
      ('r7', '日本語 ✓', '2024-03-31 23:59:59.999999', 2.5, 7),
      ('r8', null, '2024-04-01 00:00:00', 4.0, 8),
      ('r9', '{LONG}', '2024-12-31 23:59:59', 1.0, 9),
      ('r10', 'search generic', '2025-01-01 00:00:00', 3.0, 10),
      ('r11', 'search generic', null, 100.0, 11),
      ('r12', null, '2024-03-06 10:00:00', -0.0, 12);
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return built_project(tmp_path_factory.mktemp("hostile_totals"), FILES, "totals.duckdb", ROWS)


def same(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return (math.isnan(a) and math.isnan(b)) or a == b or math.isclose(a, b)
    return a == b


def assert_same(mine: list[tuple], theirs: list[tuple]) -> None:
    assert len(mine) == len(theirs), (mine, theirs)
    for got, want in zip(mine, theirs, strict=True):
        assert all(same(g, w) for g, w in zip(got, want, strict=True)), (got, want)


FILLS = ["spend", "spend_or_null", "spend_or_minus_1", "top_spend_or_0", "average_spend", "search_rows_or_null"]


def fills_sql(key: str, keys: str) -> str:
    """Per key of the spine `keys` (a SELECT of every key): the metrics of FILLS, written as they are defined."""
    return f"""
        with k as (select * from ({keys}) keys(k)),
        a as (select {key} as k, coalesce(sum(amount), 0) as spend, sum(amount) as spend_or_null,
                     coalesce(sum(amount), -1) as spend_or_minus_1, coalesce(max(amount), 0) as top,
                     avg(amount) as average,
                     case when count(*) filter (where campaign like 'search%') > 0
                          then count(row_id) filter (where campaign like 'search%') end as search
              from raw.spend where ts is not null group by 1)
        select k.k, coalesce(a.spend, 0), a.spend_or_null, coalesce(a.spend_or_minus_1, -1), coalesce(a.top, 0),
               a.average, a.search
        from k left join a on k.k = a.k order by 1
    """


def test_fill_nulls_with_by_day_over_null_nan_and_infinite_spend(project):
    mine = project.query(metrics=FILLS, grain="day", start="2024-02-28", end="2024-03-08").rows
    days = "select cast(unnest(generate_series(date '2024-02-28', date '2024-03-08', interval 1 day)) as date)"
    theirs = hand(project, fills_sql("cast(ts as date)", days))
    assert_same(mine, theirs)
    by_day = {row[0]: row[1:] for row in mine}
    # spend only NULL: a count-like sum is 0 (the default fills it like no row), NULL with fill_nulls_with: null
    assert by_day[date(2024, 3, 2)][:3] == (0, None, -1)
    # NaN and ±Infinity are values, not NULL: fill_nulls_with never replaces them; NaN sorts above every number
    assert math.isnan(by_day[date(2024, 3, 3)][0]) and math.isnan(by_day[date(2024, 3, 3)][3])
    assert math.isnan(by_day[date(2024, 3, 4)][0]) and by_day[date(2024, 3, 4)][3] == math.inf
    assert by_day[date(2024, 3, 5)] == (0, None, -1, 0, None, None)  # no row at all


def test_fill_nulls_with_by_campaign_over_all_time(project):
    mine = project.query(metrics=FILLS, grain="all", dimensions=["campaign"]).rows
    campaigns = "select distinct campaign from raw.spend where ts is not null"
    theirs = hand(project, fills_sql("campaign", campaigns).replace("on k.k = a.k", "on k.k is not distinct from a.k"))
    assert_same(mine, theirs)
    names = [row[0] for row in mine]
    assert names[-1] is None and LONG in names and 'it\'s "video"' in names and "日本語 ✓" in names


def test_all_time_totals_leave_out_rows_without_a_time_and_count_distinct_once(project):
    metrics = ["rows", "campaigns", "spend_per_row", "median_spend"]
    mine = project.query(metrics=metrics, grain="all").rows
    theirs = hand(
        project,
        """
        select count(row_id), count(distinct campaign), sum(amount) / count(row_id), median(amount)
        from raw.spend where ts is not null
        """,
    )
    assert_same(mine, theirs)
    assert mine[0][0] == 12  # r11 has no time: it is in no period, so in no total either
    monthly = project.query(metrics=["rows"], grain="month").rows
    assert sum(row[1] for row in monthly) == mine[0][0]


@pytest.mark.parametrize(
    ("start", "end"), [("2024-02-29", "2024-02-29"), ("2024-03-01", "2024-03-31"), ("2024-12-31", "2025-01-01")]
)
def test_all_time_over_a_range_keeps_the_whole_first_and_last_day(project, start, end):
    mine = project.query(metrics=["rows", "spend"], grain="all", start=start, end=end).rows
    theirs = hand(
        project,
        f"""
        select count(row_id), coalesce(sum(amount), 0) from raw.spend
        where cast(ts as date) between date '{start}' and date '{end}'
        """,
    )
    assert_same(mine, theirs)


def test_a_project_whose_requests_without_time_answer_totals(tmp_path):
    files = dict(FILES)
    files["kpi_project.yml"] = FILES["kpi_project.yml"].rstrip(" ") + "        query: {without_time: all}\n"
    project = built_project(tmp_path, files, "totals.duckdb", ROWS)
    mine = project.query(metrics=["rows", "spend"], dimensions=["campaign"])
    assert mine.columns == ["campaign", "rows", "spend"]
    theirs = hand(
        project,
        """
        select campaign, count(row_id), coalesce(sum(amount), 0) from raw.spend where ts is not null
        group by 1 order by 1 nulls last
        """,
    )
    assert_same(mine.rows, theirs)


SUNDAY = "cast(date_trunc('week', ts + interval 1 day) - interval 1 day as date)"
FISCAL_YEAR = "cast(date_trunc('year', ts - interval 3 month) + interval 3 month as date)"


@pytest.mark.parametrize(("metric", "period"), [("weekly_rows", SUNDAY), ("fiscal_rows", FISCAL_YEAR)])
def test_a_metrics_grain_is_the_default_and_edges_fall_in_the_right_period(project, metric, period):
    mine = project.query(metrics=[metric]).rows
    theirs = dict(hand(project, f"select {period}, count(row_id) from raw.spend where ts is not null group by 1"))
    assert {p: n for p, n in mine if n} == theirs
    starts = [p for p, _ in mine]
    assert starts == sorted(starts) and min(starts) == min(theirs) and max(starts) == max(theirs)
    if metric == "fiscal_rows":  # 31 March 23:59:59.999999 ends a fiscal year, 1 April 00:00 starts one
        assert dict(mine) == {date(2023, 4, 1): 9, date(2024, 4, 1): 3}


def test_an_empty_load(tmp_path):
    project = built_project(tmp_path, FILES, "totals.duckdb", ROWS.split("insert into")[0])
    assert project.query(metrics=FILLS, grain="all").rows == [(0, None, -1, 0, None, None)]
    assert project.query(metrics=FILLS, grain="all", dimensions=["campaign"]).rows == []
    assert project.query(metrics=["weekly_rows"]).rows == []


# --- timestamps with a time zone ----------------------------------------------------------------------------

TZ_FILES = {
    **FILES,
    "models/sources.yml": FILES["models/sources.yml"].replace("type: TIMESTAMP}", "type: TIMESTAMPTZ}"),
}

# New York moves its clocks on 10 March 2024 at 07:00 UTC; Berlin on 31 March at 01:00 UTC
TZ_ROWS = """
    create schema raw;
    create table raw.spend (row_id varchar, campaign varchar, ts timestamptz, amount double, clicks integer);
    insert into raw.spend values
      ('z1', 'a', '2024-03-10 06:59:59+00', 1, 1),
      ('z2', 'a', '2024-03-10 07:00:00+00', 1, 1),
      ('z3', 'a', '2024-03-10 03:30:00-05', 1, 1),
      ('z4', 'a', '2024-03-31 01:30:00+02', 1, 1),
      ('z5', 'a', '2024-03-31 23:30:00-01', 1, 1),
      ('z6', 'a', '2024-04-01 00:30:00+02', 1, 1),
      ('z7', 'a', '2024-12-31 22:00:00-05', 1, 1);
"""


def query_in_zone(root: Path, zone: str, grain: str) -> list[tuple[str, str]]:
    """`kpiframe query --metric rows` run by a machine whose TZ is `zone`: (period_start, rows) pairs."""
    command = [sys.executable, "-c", "from kpiframe.cli import main; main()", "query", "--project-dir", str(root)]
    command += ["--metric", "rows", "--grain", grain, "--format", "csv"]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TZ": zone}, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return [
        (row["period_start"], row["rows"]) for row in csv.DictReader(io.StringIO(done.stdout)) if row["rows"] != "0"
    ]


def utc_periods(root: Path, period: str) -> list[tuple[str, str]]:
    utc = period.format(ts="timezone('UTC', ts)")  # the instant's UTC wall clock, whatever the session's zone
    with duckdb.connect(str(root / "totals.duckdb"), read_only=True) as con:
        rows = con.execute(f"select {utc}, count(row_id) from raw.spend group by 1 order by 1").fetchall()
    return [(str(p), str(n)) for p, n in rows]


@pytest.fixture(scope="module")
def zoned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_project(tmp_path_factory.mktemp("zoned"), TZ_FILES, "totals.duckdb", TZ_ROWS).root


DAY = "cast({ts} as date)"


def test_timestamptz_periods_are_utc_days_on_a_utc_machine(zoned):
    assert query_in_zone(zoned, "UTC", "day") == utc_periods(zoned, DAY)


def test_timestamptz_periods_do_not_depend_on_the_machines_zone(zoned):
    utc = utc_periods(zoned, DAY)
    assert {zone: query_in_zone(zoned, zone, "day") for zone in ("America/New_York", "Europe/Berlin")} == {
        "America/New_York": utc,
        "Europe/Berlin": utc,
    }


# --- a dimension named like the answer's period column ------------------------------------------------------

PERIOD_NAMED = {
    **FILES,
    "metrics/spend.yml": FILES["metrics/spend.yml"].replace(
        "dimensions: [{name: campaign}]", "dimensions: [{name: campaign}, {name: period_start, expr: campaign}]"
    ),
}


def test_a_dimension_named_period_start_is_refused_where_it_is_declared(tmp_path):
    # every answer by period has a column period_start: the project is refused when it loads, at the name
    for name in ("period_start", "Period_Start"):
        files = {**PERIOD_NAMED, "metrics/spend.yml": PERIOD_NAMED["metrics/spend.yml"].replace("period_start", name)}
        with pytest.raises(ProjectInvalid) as invalid:
            built_project(tmp_path / name, files, "totals.duckdb", ROWS)
        [found] = [d for d in invalid.value.diagnostics if d.code == "KF113"]
        text = (tmp_path / name / "metrics" / "spend.yml").read_text(encoding="utf-8").splitlines()
        assert found.location is not None and str(found.location.path).endswith("metrics/spend.yml")
        assert f"name: {name}" in text[found.location.line - 1]
        assert f"dimension '{name}' of dataset 'spend'" in found.message
        assert found.hint == "rename it, keeping its column: {name: spend_period_start, expr: campaign}"
