"""A standard grain of a time dimension other than the metrics' own time (`listing__created_at__month`,
MetricFlow's `TimeDimension('listing__created_at', 'month')`): per row, the start of the period holding that
row's time in the project's calendar (kpiframe.sql.time_grains). Every expected number comes from SQL
written here over raw.bookings and raw.listings.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest

from kpiframe.errors import QueryError
from kpiframe.project import Project
from tests.conftest import built_project, hand

FILES = {
    "kpi_project.yml": """
        name: other_grains
        warehouse: {path: other.duckdb}
        calendar: {week_start: sunday, fiscal_year_start_month: 4}
    """,
    "models/sources.yml": """
        sources:
          - name: raw
            schema: raw
            tables:
              - name: bookings
                columns: [booking_id, listing_id, {name: booked_at, type: TIMESTAMP},
                          {name: checked_in_at, type: TIMESTAMP}]
              - name: listings
                columns: [listing_id, city, {name: created_at, type: TIMESTAMP}]
    """,
    "models/stg_bookings.sql": "select * from {{ source('raw', 'bookings') }}",
    "models/stg_listings.sql": "select * from {{ source('raw', 'listings') }}",
    "metrics/bookings.yml": """
        datasets:
          - name: bookings
            model: stg_bookings
            time: booked_at
            entities: [{name: booking, type: primary, expr: booking_id},
                       {name: listing, type: foreign, expr: listing_id}]
            dimensions: [{name: booked_at, type: time}, {name: checked_in_at, type: time}]
            measures: [{name: booking_count, agg: count, expr: booking_id}]
          - name: listings
            model: stg_listings
            entities: [{name: listing, type: primary, expr: listing_id}]
            dimensions: [{name: city}, {name: created_at, type: time}]
        metrics:
          - {name: bookings, measure: booking_count}
          - {name: bookings_running, type: cumulative, metric: bookings, window: 7 days}
          - name: bookings_last_month
            type: derived
            expr: before
            inputs: [{metric: bookings, alias: before, offset: 1 month}]
    """,
}

# 2026-01-03 is a Saturday (its Sunday week starts 2025-12-28), 2026-01-04 a Sunday; listing l4 has no
# creation time and booking b6's listing l9 does not exist
ROWS = """
    create schema raw;
    create table raw.listings (listing_id varchar, city varchar, created_at timestamp);
    insert into raw.listings values
      ('l1', 'Oslo',  '2026-01-03 10:00'),
      ('l2', 'Oslo',  '2026-01-04 23:00'),
      ('l3', 'Paris', '2026-02-10 08:00'),
      ('l4', 'Paris', null);
    create table raw.bookings (booking_id varchar, listing_id varchar, booked_at timestamp, checked_in_at timestamp);
    insert into raw.bookings values
      ('b1', 'l1', '2026-01-05 09:00', '2026-02-01 12:00'),
      ('b2', 'l1', '2026-01-20 09:00', '2026-01-25 12:00'),
      ('b3', 'l2', '2026-02-02 09:00', null),
      ('b4', 'l3', '2026-02-15 09:00', '2026-03-01 12:00'),
      ('b5', 'l4', '2026-02-16 09:00', '2026-02-20 12:00'),
      ('b6', 'l9', '2026-01-07 09:00', null);
"""

JOINED = "from raw.bookings b left join raw.listings l on l.listing_id = b.listing_id where b.booked_at is not null"


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return built_project(tmp_path_factory.mktemp("other_grains"), FILES, "other.duckdb", ROWS)


def norm(rows: list[tuple]) -> list[tuple]:
    """Rows with dates as ISO text and counts as ints, sorted (NULL first)."""

    def value(v: object) -> object:
        if isinstance(v, datetime):
            return v.date().isoformat()
        if isinstance(v, date):
            return v.isoformat()
        return int(v) if isinstance(v, float | int) else v

    return sorted((tuple(value(v) for v in row) for row in rows), key=lambda row: [str(v) for v in row])


def test_the_month_of_a_joined_datasets_time(other):
    result = other.query(metrics=["bookings"], dimensions=["listing__created_at__month"], grain="all")
    assert result.columns == ["listing__created_at__month", "bookings"]
    expected = hand(other, f"select date_trunc('month', l.created_at)::date, count(*) {JOINED} group by 1")
    assert norm(result.rows) == norm(expected) == [("2026-01-01", 3), ("2026-02-01", 1), (None, 2)]


def test_the_week_of_a_joined_time_starts_on_the_calendars_week_start(other):
    result = other.query(metrics=["bookings"], dimensions=["listing__created_at__week"], grain="all")
    expected = hand(
        other,
        "select cast(l.created_at as date) - cast(dayofweek(l.created_at) as integer), count(*)"
        f" {JOINED} group by 1",  # dayofweek: Sunday 0
    )
    assert norm(result.rows) == norm(expected)
    assert ("2025-12-28", 2) in norm(result.rows) and ("2026-01-04", 1) in norm(result.rows)


def test_a_fiscal_grain_of_a_joined_time(other):
    result = other.query(metrics=["bookings"], dimensions=["listing__created_at__fiscal_year"], grain="all")
    expected = hand(
        other,
        "select case when month(l.created_at) >= 4 then make_date(year(l.created_at), 4, 1)"
        f" else make_date(year(l.created_at) - 1, 4, 1) end, count(*) {JOINED} group by 1",
    )
    assert norm(result.rows) == norm(expected) == [("2025-04-01", 4), (None, 2)]


def test_a_second_time_of_the_metrics_own_dataset(other):
    result = other.query(metrics=["bookings"], dimensions=["booking__checked_in_at__month"], grain="all")
    expected = hand(other, "select date_trunc('month', checked_in_at)::date, count(*) from raw.bookings group by 1")
    assert norm(result.rows) == norm(expected) == [("2026-01-01", 1), ("2026-02-01", 2), ("2026-03-01", 1), (None, 2)]
    short = other.query(metrics=["bookings"], dimensions=["checked_in_at__month"], grain="all")
    assert norm(short.rows) == norm(expected)


def test_with_a_grain_of_metric_time(other):
    result = other.query(metrics=["bookings"], dimensions=["listing__created_at__month"], grain="month")
    expected = hand(
        other,
        "select date_trunc('month', b.booked_at)::date, date_trunc('month', l.created_at)::date, count(*)"
        f" {JOINED} group by all",
    )
    assert norm([row for row in result.rows if row[-1]]) == norm(expected)
    assert ("2026-02-01", "2026-01-01", 1) in norm(expected)
    # MetricFlow's names: metric_time's grain is the period, the other time's is a column
    translated = other.query(metrics=["bookings"], dimensions=["metric_time__month", "listing__created_at__month"])
    assert norm(translated.rows) == norm(result.rows)


def test_the_metrics_own_time_at_a_grain_stays_the_request_grain(other):
    result = other.query(metrics=["bookings"], dimensions=["booking__booked_at__month"])
    assert "booking__booked_at__month" not in result.columns
    expected = hand(other, "select date_trunc('month', booked_at)::date, count(*) from raw.bookings group by 1")
    assert norm([(row[0], row[-1]) for row in result.rows]) == norm(expected)


def test_a_filter_on_another_times_month(other):
    result = other.query(metrics=["bookings"], grain="all", where="listing__created_at__month = '2026-01-01'")
    expected = hand(other, f"select count(*) {JOINED} and date_trunc('month', l.created_at) = date '2026-01-01'")
    assert [int(row[-1]) for row in result.rows] == [expected[0][0]] == [3]
    translated = other.query(
        metrics=["bookings"], grain="all", where="{{ TimeDimension('listing__created_at', 'month') }} = '2026-02-01'"
    )
    assert [int(row[-1]) for row in translated.rows] == [1]
    chained = other.query(
        metrics=["bookings"], grain="all", where="{{ Dimension('listing__created_at').grain('week') }} = '2026-01-04'"
    )
    assert [int(row[-1]) for row in chained.rows] == [1]  # l2's Sunday week: b3


def test_without_a_metric_the_values_of_a_times_periods(other):
    # MetricFlow's `mf query --group-by listing__created_at__month,listing__city`
    rows = other.query(metrics=[], dimensions=["listing__created_at__week", "listing__city"]).rows
    expected = hand(
        other,
        """select distinct cast(date_trunc('week', created_at + interval 1 day) - interval 1 day as date), city
           from raw.listings""",
    )  # the project's weeks start on Sunday
    assert norm(rows) == norm(expected)
    assert ("2025-12-28", "Oslo") in norm(rows) and (None, "Paris") in norm(rows)  # l4 has no creation time


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        ({"metrics": ["bookings_running"], "dimensions": ["listing__created_at__month"], "grain": "all"}, "KF428"),
        ({"metrics": ["bookings_last_month"], "dimensions": ["listing__created_at__month"], "grain": "month"}, "KF428"),
        ({"metrics": ["bookings"], "dimensions": ["listing__created_at__month"], "compare": "previous"}, "KF428"),
        ({"metrics": ["bookings"], "dimensions": ["listing__city__month"], "grain": "all"}, "KF413"),
        ({"metrics": ["bookings"], "dimensions": ["city__month"], "grain": "all"}, "KF428"),
    ],
)
def test_refusals(other, request_, code):
    with pytest.raises(QueryError) as refused:
        other.query(**request_)
    assert refused.value.diagnostic.code == code
