"""Date parts: `kpiframe query --by metric_time__extract_dow` (MetricFlow's date_part) groups each metric by a
part of its rows' local day across all periods: leads by day of the week, by month of the year.

Without a grain the part replaces the period (no period_start, grain `all`): a count distinct is distinct
over all the rows of a part, a ratio divides its inputs' totals there, a derived metric with an offset of
whole days reads its rows moved forward by the offset (the day a row counts on, and its part). What
cannot be answered by a part is KF428. `--where` takes the same names (`metric_time__extract_month = 1`, or
MetricFlow's `{{ TimeDimension('metric_time', date_part_name='month') }}`): each row is kept by that part of
its day, before aggregation. Every expected number comes from SQL written here over raw.leads.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import sqlglot
from click.testing import CliRunner

from kpiframe.cli.main import main
from kpiframe.errors import QueryError
from kpiframe.imports.metricflow_filters import translate_filter
from kpiframe.project import Project
from tests.conftest import built_project, hand

FILES = {
    "kpi_project.yml": """
        name: parts
        warehouse: {path: parts.duckdb}
    """,
    "models/sources.yml": """
        sources:
          - name: raw
            schema: raw
            tables:
              - name: leads
                columns: [lead_id, person_id, channel, status, {name: created_at, type: TIMESTAMP},
                          {name: won_at, type: TIMESTAMP}]
              - name: visits
                columns: [visit_id, {name: visited_at, type: TIMESTAMP}]
    """,
    "models/stg_leads.sql": "select * from {{ source('raw', 'leads') }}",
    "models/stg_visits.sql": "select * from {{ source('raw', 'visits') }}",
    "metrics/leads.yml": """
        datasets:
          - name: leads
            model: stg_leads
            time: created_at
            entities: [{name: lead, type: primary, expr: lead_id}]
            dimensions: [{name: channel}, {name: status}, {name: won_at, type: time}]
            measures:
              - {name: lead_count, agg: count, expr: lead_id}
              - {name: person_count, agg: count_distinct, expr: person_id}
          - name: visits
            model: stg_visits
            time: visited_at
            measures:
              - {name: visit_count, agg: count, expr: visit_id}
        metrics:
          - {name: leads, measure: lead_count}
          - {name: people, measure: person_count}
          - {name: visits, measure: visit_count}
          - {name: won_leads, measure: lead_count, filter: "status = 'won'"}
          - {name: win_rate, type: ratio, numerator: won_leads, denominator: leads}
          - {name: leads_running, type: cumulative, metric: leads, window: 7 days}
          - name: leads_week_ago
            type: derived
            expr: leads_before
            inputs: [{metric: leads, alias: leads_before, offset: 7 days}]
          - name: leads_change
            type: derived
            expr: leads - leads_before
            inputs: [{metric: leads}, {metric: leads, alias: leads_before, offset: 2 days}]
          - name: leads_month_ago
            type: derived
            expr: leads_before
            inputs: [{metric: leads, alias: leads_before, offset: 1 month}]
          - name: leads_growth
            type: derived
            expr: leads - leads_before
            inputs: [{metric: leads}, {metric: leads, alias: leads_before, offset: previous}]
    """,
}

# 2026-01-05 is a Monday, 2026-01-11 a Sunday; p1 comes back on another Monday; one lead has no time
ROWS = """
    create schema raw;
    create table raw.leads (lead_id varchar, person_id varchar, channel varchar, status varchar,
                            created_at timestamp, won_at timestamp);
    insert into raw.leads values
      ('l1', 'p1', 'ads',   'won',  '2026-01-05 09:00', '2026-02-02 10:00'),
      ('l2', 'p2', 'ads',   'lost', '2026-01-05 23:30', null),
      ('l3', 'p1', 'email', 'won',  '2026-01-12 08:00', '2026-03-01 08:00'),
      ('l4', 'p3', 'email', 'lost', '2026-01-11 12:00', null),
      ('l5', 'p4', null,    'won',  '2026-03-15 12:00', '2026-03-20 12:00'),
      ('l6', 'p5', 'ads',   'lost', '2025-03-03 10:00', null),
      ('l7', 'p6', 'ads',   'won',  null,               '2026-01-06 10:00');
    create table raw.visits (visit_id varchar, visited_at timestamp);
"""


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return built_project(tmp_path_factory.mktemp("parts"), FILES, "parts.duckdb", ROWS)


def floats(rows: list[tuple]) -> list[tuple]:
    return [tuple(v if v is None or isinstance(v, str) else float(v) for v in row) for row in rows]


def test_a_date_part_alone_replaces_the_period(parts):
    result = parts.query(metrics=["leads"], dimensions=["metric_time__extract_dow"])
    assert result.columns == ["metric_time__extract_dow", "leads"]  # no period_start
    expected = hand(
        parts,
        "select isodow(created_at), count(*) from raw.leads where created_at is not null group by 1 order by 1",
    )
    assert floats(result.rows) == floats(expected) == [(1.0, 4.0), (7.0, 2.0)]  # ISO: Monday 1, Sunday 7
    ordered = parts.query(
        metrics=["leads"], dimensions=["metric_time__extract_dow"], order=["-metric_time__extract_dow"]
    )
    assert floats(ordered.rows) == [(7.0, 2.0), (1.0, 4.0)]


def test_month_of_year_puts_every_year_together(parts):
    result = parts.query(metrics=["leads"], dimensions=["metric_time__extract_month"])
    expected = hand(
        parts,
        "select month(created_at), count(*) from raw.leads where created_at is not null group by 1 order by 1",
    )
    assert floats(result.rows) == floats(expected) == [(1.0, 4.0), (3.0, 2.0)]  # March 2025 and 2026


def test_a_date_part_with_a_dimension(parts):
    result = parts.query(metrics=["leads"], dimensions=["metric_time__extract_dow", "channel"])
    assert result.columns == ["metric_time__extract_dow", "channel", "leads"]
    expected = hand(
        parts,
        """
        select isodow(created_at), channel, count(*) from raw.leads
        where created_at is not null group by 1, 2 order by 1, 2 nulls last
        """,
    )
    # the combinations the data has, as for two dimensions over all time
    assert floats(result.rows) == floats(expected)
    assert (1.0, "ads", 3.0) in floats(result.rows) and (7.0, None, 1.0) in floats(result.rows)


def test_two_date_parts(parts):
    result = parts.query(metrics=["leads"], dimensions=["metric_time__extract_year", "metric_time__extract_quarter"])
    expected = hand(
        parts,
        """
        select year(created_at), quarter(created_at), count(*) from raw.leads
        where created_at is not null group by 1, 2 order by 1, 2
        """,
    )
    # the combinations the data has, as with two dimensions: the two years' first quarters
    assert floats(result.rows) == floats(expected) == [(2025.0, 1.0, 1.0), (2026.0, 1.0, 5.0)]
    day_and_doy = parts.query(metrics=["leads"], dimensions=["metric_time__extract_day", "metric_time__extract_doy"])
    by_hand = hand(
        parts,
        """
        select day(created_at), dayofyear(created_at), count(*) from raw.leads
        where created_at is not null group by 1, 2 order by 1, 2
        """,
    )
    assert [row for row in floats(day_and_doy.rows) if row[2]] == floats(by_hand)


def test_a_ratio_and_a_count_distinct_by_a_date_part_come_from_their_inputs(parts):
    result = parts.query(metrics=["win_rate", "people", "won_leads", "leads"], dimensions=["metric_time__extract_dow"])
    expected = hand(
        parts,
        """
        select isodow(created_at),
               count(*) filter (where status = 'won') / count(*),
               count(distinct person_id),
               count(*) filter (where status = 'won'),
               count(*)
        from raw.leads where created_at is not null group by 1 order by 1
        """,
    )
    assert floats(result.rows) == floats(expected)
    # p1 led twice on Mondays (5 and 12 January): once among Monday's people, not a sum of two weeks
    assert floats(result.rows)[0] == (1.0, 0.5, 3.0, 2.0, 4.0)


def test_a_derived_metric_with_an_offset_of_days_reads_the_rows_moved_forward(parts):
    """MetricFlow's rule: each day reads the metric 7 days back and takes its own part, so a lead counts
    on the day 7 days after it, with that day's part."""
    result = parts.query(metrics=["leads_week_ago", "leads_change"], dimensions=["metric_time__extract_doy"])
    expected = hand(
        parts,
        """
        with days as (
            select doy from (
                select dayofyear(created_at) as doy from raw.leads where created_at is not null
                union select dayofyear(created_at + interval 7 day) from raw.leads where created_at is not null
                union select dayofyear(created_at + interval 2 day) from raw.leads where created_at is not null
            )
        )
        select d.doy,
               (select count(*) from raw.leads where dayofyear(created_at + interval 7 day) = d.doy),
               (select count(*) from raw.leads where dayofyear(created_at) = d.doy)
               - (select count(*) from raw.leads where dayofyear(created_at + interval 2 day) = d.doy)
        from days d order by 1
        """,
    )
    assert floats(result.rows) == floats(expected)
    assert (12.0, 2.0, 1.0) in floats(result.rows)  # the two leads of 5 January a week on; 12 January's own


def test_an_offset_of_days_by_month_and_date_part_moves_the_rows_forward(parts):
    # 7 days is no whole number of months: each lead counts in the month and weekday of its day a week on
    result = parts.query(metrics=["leads_week_ago"], dimensions=["metric_time__extract_dow"], grain="month")
    expected = hand(
        parts,
        """
        with moved as (select created_at + interval 7 day as t from raw.leads where created_at is not null),
            months as (select unnest(generate_series(date '2025-03-01', date '2026-03-01', interval 1 month))::date m),
            dows as (select distinct isodow(t) as dow from moved)
        select m, dow, (select count(*) from moved where date_trunc('month', t)::date = m and isodow(t) = dow)
        from months cross join dows order by m, dow
        """,
    )
    assert [(row[0], *floats([row[1:]])[0]) for row in result.rows] == [(r[0], *floats([r[1:]])[0]) for r in expected]
    # the leads of 5 and 12 January (Mondays) a week on are three Mondays of January
    assert (date(2026, 1, 1), 1.0, 3.0) in [(row[0], *floats([row[1:]])[0]) for row in result.rows]


def test_the_part_of_a_time_dimension_that_is_not_the_metrics_time(parts):
    result = parts.query(metrics=["leads"], dimensions=["lead__won_at__extract_month"])
    assert result.columns == ["lead__won_at__extract_month", "leads"]
    expected = hand(
        parts,
        "select month(won_at), count(*) from raw.leads where created_at is not null group by 1 order by 1 nulls last",
    )
    # a lead never won has no part: its row is NULL, as a NULL dimension value is
    assert floats(result.rows) == floats(expected) == [(2.0, 1.0), (3.0, 2.0), (None, 3.0)]


def test_null_times_are_left_out_and_an_empty_table_has_no_row(parts):
    total = sum(row[1] for row in parts.query(metrics=["leads"], dimensions=["metric_time__extract_dow"]).rows)
    assert total == hand(parts, "select count(*) from raw.leads where created_at is not null")[0][0] == 6
    empty = parts.query(metrics=["visits"], dimensions=["metric_time__extract_dow"])
    assert empty.columns == ["metric_time__extract_dow", "visits"]
    assert empty.rows == hand(parts, "select isodow(visited_at), count(*) from raw.visits group by 1") == []


def test_start_and_end_bound_the_days_and_a_grain_keeps_the_period(parts):
    bounded = parts.query(
        metrics=["leads"], dimensions=["metric_time__extract_dow"], start=date(2026, 1, 1), end=date(2026, 1, 31)
    )
    expected = hand(
        parts,
        """
        select isodow(created_at), count(*) from raw.leads
        where cast(created_at as date) between date '2026-01-01' and date '2026-01-31' group by 1 order by 1
        """,
    )
    assert floats(bounded.rows) == floats(expected) == [(1.0, 3.0), (7.0, 1.0)]
    # with a grain as well, the rows are per period and part (MetricFlow's week and month of the year)
    monthly = parts.query(metrics=["leads"], dimensions=["metric_time__extract_dow"], grain="month")
    assert monthly.columns == ["period_start", "metric_time__extract_dow", "leads"]
    by_hand = hand(
        parts,
        """
        select date_trunc('month', created_at)::date, isodow(created_at), count(*) from raw.leads
        where created_at is not null group by 1, 2 order by 1, 2
        """,
    )
    assert [row for row in monthly.rows if row[2]] == by_hand


def test_the_date_part_is_of_the_local_day(tmp_path: Path):
    files = {
        **FILES,
        "kpi_project.yml": "name: parts\nwarehouse: {path: parts.duckdb}\ncalendar: {time_zone: Asia/Tokyo}\n",
        "models/sources.yml": FILES["models/sources.yml"].replace(
            "{name: created_at, type: TIMESTAMP}", "{name: created_at, type: TIMESTAMP WITH TIME ZONE}"
        ),
    }
    rows = ROWS.replace("created_at timestamp", "created_at timestamptz")
    project = built_project(tmp_path / "tokyo", files, "parts.duckdb", rows)
    result = project.query(metrics=["leads"], dimensions=["metric_time__extract_dow"])
    expected = hand(
        project,
        """
        select isodow(cast(timezone('Asia/Tokyo', created_at) as date)), count(*) from raw.leads
        where created_at is not null group by 1 order by 1
        """,
    )
    # Monday 5 January 23:30 UTC is Tuesday morning in Tokyo
    assert floats(result.rows) == floats(expected)
    assert (2.0, 1.0) in floats(result.rows)


@pytest.mark.parametrize(
    ("asked", "message"),
    [
        ({"metrics": ["leads_running"]}, "metric 'leads_running' accumulates earlier periods"),
        ({"metrics": ["leads_month_ago"]}, "reads 'leads' 1 month earlier"),
        ({"metrics": ["leads_growth"]}, "reads 'leads' previous earlier"),
        ({"metrics": ["leads_week_ago"], "grain": "week"}, "reads 'leads' 7 days earlier"),
        ({"metrics": ["leads"], "compare": "previous"}, "--compare previous by a date part"),
    ],
)
def test_what_has_no_value_by_a_date_part_is_refused(parts, asked, message):
    with pytest.raises(QueryError) as raised:
        parts.explain(dimensions=["metric_time__extract_dow"], **asked)
    found = raised.value.diagnostic
    assert found.code == "KF428" and message in found.message and found.hint


def test_a_date_part_of_a_dimension_that_is_not_a_time_or_an_unknown_part_is_refused(parts):
    with pytest.raises(QueryError) as raised:
        parts.explain(metrics=["leads"], dimensions=["lead__channel__extract_month"])
    assert raised.value.diagnostic.code == "KF428" and "not a time dimension" in raised.value.diagnostic.message
    with pytest.raises(QueryError) as unknown:
        parts.explain(metrics=["leads"], dimensions=["metric_time__extract_week"])
    assert unknown.value.diagnostic.code == "KF402" and "dow" in (unknown.value.diagnostic.hint or "")


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "spark", "snowflake"])
def test_the_sql_compiles_for_each_dialect(parts, dialect):
    sql = parts.explain(
        dialect=dialect,
        metrics=["leads", "people", "win_rate", "leads_change"],
        dimensions=["metric_time__extract_dow", "lead__won_at__extract_month", "channel"],
    )
    sqlglot.parse_one(sql, read=dialect)  # reads back as that dialect's SQL
    # ISO day of the week counted from a Monday: no dialect's own spelling (ISODOW, DAYOFWEEKISO, ...)
    flat = " ".join(sql.upper().split())
    assert "% 7 ) + 7 ) % 7 ) + 1" in flat and "'2001-01-01'" in flat
    month = {"snowflake": "DATE_PART(MONTH, CAST("}.get(dialect, "EXTRACT(MONTH FROM CAST(")
    assert month in flat


def test_the_cli_groups_by_a_date_part(parts):
    args = ["query", "--project-dir", str(parts.root), "--metric", "leads", "--by", "metric_time__extract_dow"]
    result = CliRunner().invoke(main, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    rows = rows["rows"] if isinstance(rows, dict) else rows
    assert rows == [{"metric_time__extract_dow": 1, "leads": 4}, {"metric_time__extract_dow": 7, "leads": 2}]
    refused = CliRunner().invoke(main, [*args[:-3], "leads_running", "--by", "metric_time__extract_dow"])
    assert refused.exit_code != 0 and "KF428" in refused.output


# --- --where on a date part ----------------------------------------------------------------------------------
def test_a_filter_on_a_date_part_keeps_the_rows_of_that_part(parts):
    january = parts.query(metrics=["leads", "people", "win_rate"], grain="all", where="metric_time__extract_month = 1")
    expected = hand(
        parts,
        """
        select count(*), count(distinct person_id), count(*) filter (where status = 'won') / count(*)
        from raw.leads where month(created_at) = 1
        """,
    )
    # l1 to l4: January of 2026; p1 led twice and counts once; 2 of 4 won
    assert floats(january.rows) == floats(expected) == [(4.0, 3.0, 0.5)]
    sundays = parts.query(metrics=["leads"], dimensions=["channel"], grain="all", where="metric_time__extract_dow = 7")
    by_hand = hand(
        parts,
        "select channel, count(*) from raw.leads where isodow(created_at) = 7 group by 1 order by 1 nulls last",
    )
    assert [row for row in floats(sundays.rows) if row[1]] == floats(by_hand) == [("email", 1.0), (None, 1.0)]


def test_a_date_part_filter_with_a_grain_and_with_other_conditions(parts):
    result = parts.query(
        metrics=["leads"],
        grain="month",
        where="metric_time__extract_dow = 1 and (metric_time__extract_year = 2026 or channel = 'ads')",
    )
    expected = hand(
        parts,
        """
        select date_trunc('month', created_at)::date, count(*) from raw.leads
        where isodow(created_at) = 1 and (year(created_at) = 2026 or channel = 'ads') group by 1 order by 1
        """,
    )
    # March 2025's lead is a Monday of ads; the periods between are answered with 0, as for any filter
    assert [row for row in result.rows if row[1]] == expected == [(date(2025, 3, 1), 1), (date(2026, 1, 1), 3)]
    quarters = parts.query(
        metrics=["leads"],
        grain="all",
        where="metric_time__extract_quarter in (1) and "
        "metric_time__extract_day between 5 and 11 and metric_time__extract_doy < 12",
    )
    assert (
        quarters.rows
        == hand(
            parts,
            "select count(*) from raw.leads where quarter(created_at) = 1 and day(created_at) between 5 and 11 "
            "and dayofyear(created_at) < 12",
        )
        == [(3,)]
    )


def test_a_filter_on_the_part_of_a_time_dimension(parts):
    for name in ("lead__won_at__extract_month", "won_at__extract_month"):  # full and short name
        result = parts.query(metrics=["leads"], grain="all", where=f"{name} = 3")
        # a lead whose won_at is NULL has no part: the filter drops it, as `won_at = ...` would
        assert (
            result.rows
            == hand(parts, "select count(*) from raw.leads where month(won_at) = 3 and created_at is not null")
            == [(2,)]
        )


def test_the_filter_and_the_group_by_see_the_same_moved_day(parts):
    """By a date part, a derived metric's input offset of days counts each row on its day N days later;
    a filter on the part keeps the rows by that later day's part, the one the group-by shows them under (by
    their own day, Monday's rows read 2 days back would be kept and shown under Wednesday)."""
    result = parts.query(
        metrics=["leads_change"], dimensions=["metric_time__extract_dow"], where="metric_time__extract_dow = 1"
    )
    expected = hand(
        parts,
        """
        select (select count(*) from raw.leads where isodow(created_at) = 1)
             - (select count(*) from raw.leads where isodow(created_at + interval 2 day) = 1)
        """,
    )
    assert floats(result.rows) == [(1.0, float(expected[0][0]))] == [(1.0, 4.0)]


@pytest.mark.parametrize(
    ("metricflow", "kpiframe"),
    [
        ("{{ TimeDimension('metric_time', date_part_name='dow') }} = 1", "metric_time__extract_dow = 1"),
        ("{{ TimeDimension('metric_time', 'day', date_part_name='MONTH') }} = 1", "metric_time__extract_month = 1"),
        ("{{ Dimension('metric_time').date_part('year') }} = 2026", "metric_time__extract_year = 2026"),
        (
            "{{ TimeDimension('lead__won_at', date_part_name='month') }} in (2, 3)",
            "lead__won_at__extract_month in (2, 3)",
        ),
        ("{{ Dimension('lead__won_at').date_part('doy') }} > 40", "lead__won_at__extract_doy > 40"),
    ],
)
def test_metricflow_date_parts_in_where_are_kpiframes(parts, metricflow, kpiframe):
    asked = parts.request(metrics=["leads"], grain="all", where=metricflow)
    assert asked.where == kpiframe
    result = parts.query(metrics=["leads"], grain="all", where=metricflow)
    assert result.rows == parts.query(metrics=["leads"], grain="all", where=kpiframe).rows
    condition = kpiframe.replace("metric_time__extract_", "date_part_").replace("lead__won_at__extract_", "won_part_")
    by_hand = hand(
        parts,
        f"""
        select count(*) from (
            select month(created_at) as date_part_month, isodow(created_at) as date_part_dow,
                   year(created_at) as date_part_year, month(won_at) as won_part_month,
                   dayofyear(won_at) as won_part_doy
            from raw.leads where created_at is not null
        ) where {condition}
        """,
    )
    assert result.rows == by_hand


def test_a_filter_on_a_period_of_metric_time_keeps_the_rows_of_that_period(parts):
    # MetricFlow's `metric_time__day >= '...'` written as SQL: the period of each row's own time
    result = parts.query(metrics=["leads"], grain="all", where="metric_time__week = '2026-01-05'")
    expected = hand(parts, "select count(*) from raw.leads where date_trunc('week', created_at) = '2026-01-05'")
    assert result.rows == expected == [(3,)]  # l1, l2 and l4 (Sunday 11 January): the week of Monday 5 January
    where = "metric_time__day >= '2026-01-11' and metric_time__month < '2026-03-01'"
    result = parts.query(metrics=["leads"], grain="month", where=where)
    assert [(str(p), n) for p, n in result.rows] == [("2026-01-01", 2)]  # l3 and l4


def test_the_filter_is_on_the_local_day(tmp_path: Path):
    files = {
        **FILES,
        "kpi_project.yml": "name: parts\nwarehouse: {path: parts.duckdb}\ncalendar: {time_zone: Asia/Tokyo}\n",
        "models/sources.yml": FILES["models/sources.yml"].replace(
            "{name: created_at, type: TIMESTAMP}", "{name: created_at, type: TIMESTAMP WITH TIME ZONE}"
        ),
    }
    project = built_project(
        tmp_path / "tokyo", files, "parts.duckdb", ROWS.replace("created_at timestamp", "created_at timestamptz")
    )
    result = project.query(metrics=["leads"], grain="all", where="metric_time__extract_dow = 2")
    expected = hand(
        project,
        "select count(*) from raw.leads where isodow(cast(timezone('Asia/Tokyo', created_at) as date)) = 2",
    )
    # Monday 5 January 23:30 UTC is Tuesday morning in Tokyo
    assert result.rows == expected == [(1,)]


@pytest.mark.parametrize(
    ("where", "code", "message", "hint"),
    [
        ("metric_time__extract_week = 1", "KF402", "unknown date part 'week'", "year, quarter, month, day, dow, doy"),
        ("lead__won_at__extract_hour = 1", "KF402", "unknown date part 'hour'", "lead__won_at__extract_year"),
        ("{{ TimeDimension('metric_time', date_part_name='week') }} = 1", "KF402", "unknown date part", "dow"),
        (
            "lead__channel__extract_month = 1",
            "KF428",
            "'lead__channel' is not a time dimension, so it has no month",
            "metric_time__extract_month",
        ),
        ("status__extract_year = 2026", "KF428", "'status' is not a time dimension", "metric_time__extract_year"),
        ("{{ Dimension('lead__channel').date_part('dow') }} = 1", "KF428", "not a time dimension", "part of a time"),
        ("created_att__extract_month = 1", "KF410", "is not a dimension", "date parts"),
        ("metric_time__microsecond = '2026-01-05'", "KF410", "is not a dimension", "lead__won_at"),
        (
            "{{ TimeDimension('metric_time', 'month', date_part_name='month') }} = 1",
            "KF413",
            "a grain and a date part",
            "dimensions",
        ),
    ],
)
def test_a_date_part_filter_kpiframe_cannot_answer_is_refused_with_a_hint(parts, where, code, message, hint):
    with pytest.raises(QueryError) as raised:
        parts.explain(metrics=["leads"], where=where)
    found = raised.value.diagnostic
    assert found.code == code and message in found.message and hint in (found.hint or ""), found
    assert found.message.startswith("--where: ")
    if where.startswith("metric_time__microsecond"):  # a grain is not offered the date part of the same name
        assert "extract" not in found.message


def test_a_date_part_filter_of_a_query_of_dimension_values_needs_a_metric(parts):
    for where, code in (("metric_time__extract_month = 1", "KF415"), ("lead__won_at__extract_month = 3", "KF428")):
        with pytest.raises(QueryError) as raised:
            parts.query(metrics=[], dimensions=["channel"], where=where)
        assert raised.value.diagnostic.code == code and "without a metric" in raised.value.diagnostic.message
        assert "--metric" in (raised.value.diagnostic.hint or "")


def test_a_date_part_reaches_nothing_a_filter_may_not(parts):
    for where in ("columns('metric_time__extract_month') = 1", "t.metric_time__extract_month = 1"):
        with pytest.raises(QueryError) as raised:
            parts.explain(metrics=["leads"], where=where)
        assert raised.value.diagnostic.code == "KF412"


def test_a_metric_filter_takes_no_date_part_on_import():
    """A metric's own filter is resolved without date parts: the import reports a MetricFlow date part there
    as not imported, and names the --where that asks it."""
    template = "{{ TimeDimension('metric_time', date_part_name='month') }} = 1"
    imported = translate_filter(template, lambda: "booking__ds")
    assert imported.text is None and "--where does: metric_time__extract_month = 1" in imported.reasons[0]
    assert translate_filter(template, lambda: "booking__ds", date_parts=True).text == "metric_time__extract_month = 1"


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "spark", "snowflake"])
def test_a_date_part_filter_compiles_for_each_dialect(parts, dialect):
    sql = parts.explain(
        dialect=dialect,
        metrics=["leads", "win_rate"],
        where="metric_time__extract_dow = 1 and lead__won_at__extract_month = 2",
    )
    sqlglot.parse_one(sql, read=dialect)
    flat = " ".join(sql.upper().split())
    assert "% 7 ) + 7 ) % 7 ) + 1 = 1" in flat


def test_the_cli_filters_on_a_date_part(parts):
    args = ["query", "--project-dir", str(parts.root), "--metric", "leads", "--grain", "all", "--format", "json"]
    for where in ("metric_time__extract_month = 3", "{{ TimeDimension('metric_time', date_part_name='month') }} = 3"):
        result = CliRunner().invoke(main, [*args, "--where", where])
        assert result.exit_code == 0, result.output
        rows = json.loads(result.output)
        assert (rows["rows"] if isinstance(rows, dict) else rows) == [{"leads": 2}]
    refused = CliRunner().invoke(main, [*args, "--where", "channel__extract_month = 3"])
    assert refused.exit_code == 1 and "KF428" in refused.output
