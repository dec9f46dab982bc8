"""Empty periods and the time spine, on rows with gaps: a month without leads, weeks without rows, a
channel missing from a month, deals in a few months only.

Every expected number is hand arithmetic from the rows below or SQL written here over raw.*.
"""

from __future__ import annotations

from datetime import date

import pytest

from kpiframe.project import Project
from tests.conftest import built_project, hand

FILES = {
    "kpi_project.yml": """
        name: gaps
        warehouse: {path: gaps.duckdb}
        calendar: {week_start: monday}
    """,
    "models/sources.yml": """
        sources:
          - name: raw
            schema: raw
            tables:
              - {name: leads, columns: [lead_id, channel, {name: created_at, type: TIMESTAMP}]}
              - name: deals
                columns: [deal_id, channel, {name: closed_at, type: TIMESTAMP}, {name: amount, type: "DECIMAL(10,2)"},
                          {name: won, type: BOOLEAN}]
    """,
    "models/stg_leads.sql": "select * from {{ source('raw', 'leads') }}",
    "models/stg_deals.sql": "select * from {{ source('raw', 'deals') }}",
    "metrics/gaps.yml": """
        datasets:
          - name: leads
            model: stg_leads
            time: created_at
            entities: [{name: lead, type: primary, expr: lead_id}]
            dimensions: [{name: channel}]
            measures: [{name: lead_count, agg: count, expr: lead_id}]
          - name: deals
            model: stg_deals
            time: closed_at
            entities: [{name: deal, type: primary, expr: deal_id}]
            dimensions: [{name: channel}, {name: won}]
            measures:
              - {name: deal_count, agg: count, expr: deal_id}
              - {name: deal_amount, agg: sum, expr: amount}
        metrics:
          - {name: leads, measure: lead_count}
          - {name: bookings, measure: deal_amount, filter: won}
          - {name: won_deals, measure: deal_count, filter: won}
          - {name: closed_deals, measure: deal_count}
          - {name: win_rate, type: ratio, numerator: won_deals, denominator: closed_deals}
          - {name: bookings_mtd, type: cumulative, metric: bookings, grain_to_date: month}
          - {name: bookings_ytd, type: cumulative, metric: bookings, grain_to_date: year}
          - {name: bookings_3m, type: cumulative, metric: bookings, window: 3 months}
          - name: leads_lag
            type: derived
            expr: leads - leads_before
            inputs: [{metric: leads, alias: leads_before, offset: previous}]
    """,
}

# Leads by month, Jan 2025 to Mar 2026: 3, 0, 2, 2, then 0 until 1 in Mar 2026. Weeks start on Monday:
# the week of 13 Jan 2025 has none. 'seo' has no lead in March 2025; one April lead has no channel.
# Deals closed by month, Jan 2025 to Feb 2026: won amounts 100, 0, 200, 0, 30, then 0 until 10.
ROWS = """
    create schema raw;
    create table raw.leads (lead_id varchar, channel varchar, created_at timestamp);
    insert into raw.leads values
      ('l1', 'ads', '2025-01-06 09:00'), ('l2', 'ads', '2025-01-07 10:00'), ('l3', 'seo', '2025-01-20 11:00'),
      ('l4', 'ads', '2025-03-03 09:00'), ('l5', 'ads', '2025-03-17 09:00'),
      ('l6', 'seo', '2025-04-02 09:00'), ('l7', null, '2025-04-03 09:00'),
      ('l8', 'ads', '2026-03-10 09:00');
    create table raw.deals (deal_id varchar, channel varchar, closed_at timestamp, amount decimal(10,2), won boolean);
    insert into raw.deals values
      ('d1', 'ads', '2025-01-10 12:00', 100, true), ('d2', 'seo', '2025-01-25 12:00', 50, false),
      ('d3', 'ads', '2025-03-05 12:00', 200, true), ('d4', 'ads', '2025-04-20 12:00', 70, false),
      ('d5', 'seo', '2025-05-15 12:00', 30, true), ('d6', 'ads', '2026-02-10 12:00', 10, true);
"""

MONTHS_2025 = [date(2025, m, 1) for m in range(1, 13)]
LEADS_BY_MONTH = dict(
    zip(
        [*MONTHS_2025, date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)],
        [3, 0, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        strict=True,
    )
)


@pytest.fixture(scope="module")
def gaps(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return built_project(tmp_path_factory.mktemp("gaps"), FILES, "gaps.duckdb", ROWS)


def numbers(rows: list[tuple]) -> list[tuple]:
    return [
        tuple(float(v) if isinstance(v, (int, float)) or hasattr(v, "as_tuple") else v for v in row) for row in rows
    ]


# --- 0, not NULL, in comparisons ---------------------------------------------------------------------


def test_compare_previous_month_reads_0_for_an_empty_month_and_before_the_first(gaps):
    result = gaps.query(metrics=["leads"], grain="month", compare="previous")
    assert result.columns == ["period_start", "leads", "leads__previous", "leads__change"]
    rows = {r[0]: r[1:] for r in result.rows}
    assert list(rows) == list(LEADS_BY_MONTH)  # every month from the first to the last with leads
    assert rows[date(2025, 1, 1)] == (3, 0, None)  # December 2024 had none: 0, and a change from 0 is NULL
    assert rows[date(2025, 2, 1)] == (0, 3, -1.0)  # a month without leads is 0
    assert rows[date(2025, 3, 1)] == (2, 0, None)  # the month after it reads 0, not NULL
    assert rows[date(2025, 4, 1)] == (2, 2, 0.0)
    assert rows[date(2025, 5, 1)] == (0, 2, -1.0)
    assert rows[date(2026, 3, 1)] == (1, 0, None)


def test_compare_year_reads_the_same_month_a_year_before_or_0(gaps):
    result = gaps.query(metrics=["leads"], grain="month", compare="year")
    rows = {r[0]: r[1:] for r in result.rows}
    assert all(rows[m][1:] == (0, None) for m in MONTHS_2025)  # nothing in 2024
    assert rows[date(2026, 1, 1)] == (0, 3, -1.0)
    assert rows[date(2026, 2, 1)] == (0, 0, None)
    assert rows[date(2026, 3, 1)] == (1, 2, -0.5)


def test_compare_previous_week_with_weeks_without_rows(gaps):
    result = gaps.query(metrics=["leads"], grain="week", compare="previous")
    expected = hand(
        gaps,
        """
        with l as (select cast(date_trunc('week', created_at) as date) as w from raw.leads),
        weeks as (select cast(unnest(generate_series(date '2025-01-06', date '2026-03-09', interval 7 day))
                              as date) as w),
        n as (select weeks.w, count(l.w) as leads from weeks left join l using (w) group by 1)
        select cur.w, cur.leads, coalesce(prev.leads, 0),
               case when coalesce(prev.leads, 0) = 0 then null
                    else (cur.leads - prev.leads) / prev.leads end
        from n cur left join n prev on prev.w = cur.w - 7 order by 1""",
    )
    assert len(expected) == 62
    assert result.rows == expected
    by_week = {r[0]: r[1:] for r in result.rows}
    assert by_week[date(2025, 1, 13)] == (0, 2, -1.0)  # the week without rows
    assert by_week[date(2025, 1, 20)] == (1, 0, None)


def test_a_declared_offset_reads_0_for_an_empty_earlier_period(gaps):
    result = gaps.query(metrics=["leads", "leads_lag"], grain="month", end=date(2025, 5, 31))
    assert result.rows == [
        (date(2025, 1, 1), 3, 3),
        (date(2025, 2, 1), 0, -3),
        (date(2025, 3, 1), 2, 2),
        (date(2025, 4, 1), 2, 0),
        (date(2025, 5, 1), 0, -2),
    ]


def test_a_ratio_is_0_without_numerator_rows_and_null_without_denominator_rows(gaps):
    result = gaps.query(
        metrics=["won_deals", "closed_deals", "win_rate"], grain="month", compare="previous", end=date(2025, 6, 30)
    )
    assert result.columns[-3:] == ["win_rate", "win_rate__previous", "win_rate__change"]
    assert [(r[0], r[1], r[4], r[7], r[8], r[9]) for r in result.rows] == [
        (date(2025, 1, 1), 1, 2, 0.5, None, None),  # December 2024 closed nothing: NULL rate
        (date(2025, 2, 1), 0, 0, None, 0.5, None),  # no deal closed: NULL
        (date(2025, 3, 1), 1, 1, 1.0, None, None),
        (date(2025, 4, 1), 0, 1, 0.0, 1.0, -1.0),  # a lost deal, none won: 0
        (date(2025, 5, 1), 1, 1, 1.0, 0.0, None),
        (date(2025, 6, 1), 0, 0, None, 1.0, None),
    ]


# --- cumulative metrics carry across empty periods ---------------------------------------------------


def test_ytd_and_rolling_window_carry_across_months_without_bookings(gaps):
    result = gaps.query(metrics=["bookings", "bookings_ytd", "bookings_3m"], grain="month")
    expected = hand(
        gaps,
        """
        with months as (select cast(unnest(generate_series(date '2025-01-01', date '2026-02-01', interval 1 month))
                                    as date) as m),
        b as (select m, coalesce(sum(amount) filter (where won), 0) as bookings from months
              left join raw.deals on cast(date_trunc('month', closed_at) as date) = m group by 1)
        select m, bookings, sum(bookings) over (partition by date_trunc('year', m) order by m),
               sum(bookings) over (order by m rows between 2 preceding and current row)
        from b order by 1""",
    )
    assert numbers(result.rows) == numbers(expected)
    by_month = {r[0]: tuple(float(v) for v in r[1:]) for r in result.rows}
    assert by_month[date(2025, 2, 1)] == (0.0, 100.0, 100.0)  # no bookings: YTD so far, still
    assert by_month[date(2025, 4, 1)] == (0.0, 300.0, 200.0)
    assert by_month[date(2025, 12, 1)] == (0.0, 330.0, 0.0)
    assert by_month[date(2026, 1, 1)] == (0.0, 0.0, 0.0)


def test_mtd_carries_across_days_without_bookings(gaps):
    result = gaps.query(metrics=["bookings", "bookings_mtd"], grain="day", start=date(2025, 3, 1), end=date(2025, 4, 2))
    assert len(result.rows) == 33  # every day of the range
    by_day = {r[0]: (float(r[1]), float(r[2])) for r in result.rows}
    assert by_day[date(2025, 3, 4)] == (0.0, 0.0)
    assert by_day[date(2025, 3, 5)] == (200.0, 200.0)
    assert by_day[date(2025, 3, 31)] == (0.0, 200.0)
    assert by_day[date(2025, 4, 1)] == (0.0, 0.0)


# --- the range: --start/--end ------------------------------------------------------------------------


def test_a_range_before_the_data_gives_rows_of_0(gaps):
    result = gaps.query(
        metrics=["leads", "bookings_ytd"], grain="month", start=date(2024, 10, 1), end=date(2024, 12, 31)
    )
    assert numbers(result.rows) == [
        (date(2024, 10, 1), 0.0, 0.0),
        (date(2024, 11, 1), 0.0, 0.0),
        (date(2024, 12, 1), 0.0, 0.0),
    ]


def test_a_range_after_the_data_gives_0_and_carries_the_ytd(gaps):
    result = gaps.query(
        metrics=["bookings", "bookings_ytd", "leads"], grain="month", start=date(2026, 3, 1), end=date(2026, 5, 31)
    )
    assert numbers(result.rows) == [
        (date(2026, 3, 1), 0.0, 10.0, 1.0),
        (date(2026, 4, 1), 0.0, 10.0, 0.0),
        (date(2026, 5, 1), 0.0, 10.0, 0.0),
    ]


def test_the_first_period_of_the_range_compares_with_the_one_before_it(gaps):
    april = gaps.query(
        metrics=["leads"], grain="month", compare="previous", start=date(2025, 4, 1), end=date(2025, 4, 30)
    )
    assert april.rows == [(date(2025, 4, 1), 2, 2, 0.0)]  # March's real count, though outside the range
    early = gaps.query(
        metrics=["leads"], grain="month", compare="previous", start=date(2024, 12, 1), end=date(2025, 2, 28)
    )
    assert early.rows == [
        (date(2024, 12, 1), 0, 0, None),
        (date(2025, 1, 1), 3, 0, None),
        (date(2025, 2, 1), 0, 3, -1.0),
    ]


def test_a_range_starting_inside_a_month_keeps_the_months_starting_in_it(gaps):
    result = gaps.query(metrics=["leads"], grain="month", start=date(2025, 1, 15), end=date(2025, 3, 15))
    assert result.rows == [(date(2025, 2, 1), 0), (date(2025, 3, 1), 2)]


# --- dimensions --------------------------------------------------------------------------------------


def test_every_channel_has_a_row_in_every_month(gaps):
    result = gaps.query(metrics=["leads"], dimensions=["channel"], grain="month")
    expected = hand(
        gaps,
        """
        with months as (select cast(unnest(generate_series(date '2025-01-01', date '2026-03-01', interval 1 month))
                                    as date) as m),
        channels as (select distinct channel from raw.leads)
        select m, c.channel, count(l.lead_id) from months cross join channels c
        left join raw.leads l on cast(date_trunc('month', l.created_at) as date) = m
                             and l.channel is not distinct from c.channel
        group by all order by 1, 2 nulls last""",
    )
    assert len(expected) == 15 * 3
    assert result.rows == expected
    assert (date(2025, 3, 1), "seo", 0) in result.rows  # seo's gap gets its row of 0
    assert (date(2025, 2, 1), None, 0) in result.rows  # and so does the lead without a channel


def test_a_range_keeps_every_channel_the_data_has(gaps):
    result = gaps.query(
        metrics=["leads"], dimensions=["channel"], grain="month", start=date(2025, 3, 1), end=date(2025, 3, 31)
    )
    assert result.rows == [(date(2025, 3, 1), "ads", 2), (date(2025, 3, 1), "seo", 0), (date(2025, 3, 1), None, 0)]


def test_ytd_by_channel_carries_for_each_channel(gaps):
    result = gaps.query(metrics=["bookings_ytd"], dimensions=["channel"], grain="quarter", end=date(2025, 12, 31))
    assert numbers(result.rows) == [
        (date(2025, 1, 1), "ads", 300.0),
        (date(2025, 1, 1), "seo", 0.0),
        (date(2025, 4, 1), "ads", 300.0),
        (date(2025, 4, 1), "seo", 30.0),
        (date(2025, 7, 1), "ads", 300.0),
        (date(2025, 7, 1), "seo", 30.0),
        (date(2025, 10, 1), "ads", 300.0),
        (date(2025, 10, 1), "seo", 30.0),
    ]
