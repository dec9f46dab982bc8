"""Derived-metric input offsets of any '<n> <unit>' window and 'start of <grain>', and cumulative metrics
over a count_distinct, on bookings that cross month ends (a leap February) and begin on 2024-01-03, so
that offsets and windows reach before the first data.

Every expected number comes from SQL written here over raw.bookings: a calendar of days (or weeks, or
months) left-joined to the bookings of the day the offset names.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from kpiframe.build.catalog import CATALOG_COLUMNS, catalog_rows
from kpiframe.errors import KpiframeError
from kpiframe.imports.metricflow import plan_import, write_import
from kpiframe.imports.metricflow_read import Note
from kpiframe.project import Project
from tests.conftest import built_project, hand, write_files

FILES = {
    "kpi_project.yml": """
        name: offsets
        warehouse: {path: offsets.duckdb}
    """,
    "models/sources.yml": """
        sources:
          - name: raw
            schema: raw
            tables:
              - {name: bookings, columns: [booking_id, guest, {name: booked_at, type: TIMESTAMP}]}
    """,
    "models/stg_bookings.sql": "select * from {{ source('raw', 'bookings') }}",
    "metrics/offsets.yml": """
        datasets:
          - name: bookings
            model: stg_bookings
            time: booked_at
            entities: [{name: booking, type: primary, expr: booking_id}]
            dimensions: [{name: guest}]
            measures:
              - {name: booking_count, agg: count, expr: booking_id}
              - {name: guest_count, agg: count_distinct, expr: guest}
        metrics:
          - {name: bookings, measure: booking_count}
          - {name: guests, measure: guest_count}
          - {name: guests_2_days, type: cumulative, metric: guests, window: 2 days}
          - {name: guests_2_months, type: cumulative, metric: guests, window: 2 months}
          - {name: guests_mtd, type: cumulative, metric: guests, grain_to_date: month}
          - name: guests_2_days_2_days_ago
            type: derived
            expr: before
            inputs: [{metric: guests_2_days, alias: before, offset: 2 days}]
          - name: bookings_5_days_ago
            type: derived
            expr: lagged
            inputs: [{metric: bookings, alias: lagged, offset: 5 days}]
          - name: bookings_growth_2_weeks
            type: derived
            expr: bookings - before
            inputs: [{metric: bookings}, {metric: bookings, alias: before, offset: 2 weeks}]
          - name: bookings_1_month_ago
            type: derived
            expr: before
            inputs: [{metric: bookings, alias: before, offset: 1 month}]
          - name: bookings_2_quarters_ago
            type: derived
            expr: before
            inputs: [{metric: bookings, alias: before, offset: 2 quarters}]
          - name: bookings_2_years_ago
            type: derived
            expr: before
            inputs: [{metric: bookings, alias: before, offset: 2 years}]
          - name: bookings_since_month_start
            type: derived
            expr: bookings - first_day
            inputs: [{metric: bookings}, {metric: bookings, alias: first_day, offset: start of month}]
          - name: bookings_at_quarter_start
            type: derived
            expr: first_month
            inputs: [{metric: bookings, alias: first_month, offset: start of quarter}]
          - name: twice_lagged
            type: derived
            expr: 2 * lagged
            inputs: [{metric: bookings_5_days_ago, alias: lagged, offset: 2 days}]
    """,
}

# 2024 is a leap year: 29 February has two bookings, 31 January and 31 March one each.
ROWS = """
    create schema raw;
    create table raw.bookings (booking_id varchar, guest varchar, booked_at timestamp);
    insert into raw.bookings values
      ('b1', 'ann', '2024-01-03 09:00'), ('b2', 'bob', '2024-01-03 18:00'), ('b3', 'ann', '2024-01-08 10:00'),
      ('b4', 'cy', '2024-01-17 10:00'), ('b5', 'bob', '2024-01-31 23:00'), ('b6', 'ann', '2024-02-01 08:00'),
      ('b7', 'cy', '2024-02-29 10:00'), ('b8', 'ann', '2024-02-29 11:00'), ('b9', 'bob', '2024-03-01 10:00'),
      ('b10', 'ann', '2024-03-06 10:00'), ('b11', 'cy', '2024-03-31 10:00'), ('b12', 'bob', '2024-04-30 10:00'),
      ('b13', 'ann', '2024-07-01 10:00');
"""


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return built_project(tmp_path_factory.mktemp("offsets"), FILES, "offsets.duckdb", ROWS)


def by_period(grain: str, first: str, last: str, back: str) -> str:
    """Hand SQL: each period from `first` to `last` with the bookings of the period `back` (SQL over p)."""
    return f"""
        with periods as (select cast(unnest(generate_series(date '{first}', date '{last}', interval 1 {grain}))
                                 as date) as p),
        counts as (select cast(date_trunc('{grain}', booked_at) as date) as p, count(*) as n
                   from raw.bookings group by 1)
        select periods.p, coalesce(c.n, 0) from periods left join counts c on c.p = {back}
        order by 1"""


def column(result, name: str) -> list[tuple]:  # type: ignore[no-untyped-def]
    index = result.columns.index(name)
    return [(row[0], row[index]) for row in result.rows]


def test_a_5_day_offset_at_day_grain_reads_5_days_back_and_0_before_the_first_booking(shop):
    result = shop.query(metrics=["bookings_5_days_ago"], grain="day")
    expected = hand(shop, by_period("day", "2024-01-03", "2024-07-06", "cast(periods.p - interval 5 day as date)"))
    assert column(result, "bookings_5_days_ago") == expected
    assert expected[-1] == (date(2024, 7, 6), 1)  # the answer runs on to 5 days past the last booking
    assert dict(expected)[date(2024, 1, 8)] == 2  # the two bookings of the first day
    assert dict(expected)[date(2024, 1, 3)] == 0  # 29 December: before any booking


def test_a_2_week_offset_at_week_grain(shop):
    result = shop.query(metrics=["bookings", "bookings_growth_2_weeks"], grain="week")
    lagged = hand(shop, by_period("week", "2024-01-01", "2024-07-15", "cast(periods.p - interval 14 day as date)"))
    current = hand(shop, by_period("week", "2024-01-01", "2024-07-15", "periods.p"))
    expected = [(p, n - before) for (p, n), (_, before) in zip(current, lagged, strict=True)]
    assert column(result, "bookings_growth_2_weeks") == expected


def test_a_1_month_offset_at_day_grain_reads_the_last_day_of_a_shorter_month(shop):
    result = shop.query(metrics=["bookings_1_month_ago"], grain="day", start=date(2024, 3, 1), end=date(2024, 3, 31))
    expected = hand(shop, by_period("day", "2024-03-01", "2024-03-31", "cast(periods.p - interval 1 month as date)"))
    assert column(result, "bookings_1_month_ago") == expected
    # 29, 30 and 31 March all read 29 February, as MetricFlow's offset_window does
    assert [n for p, n in expected if p >= date(2024, 3, 29)] == [2, 2, 2]


def test_month_offsets_at_month_grain_and_an_offset_longer_than_the_spines_year_of_history(shop):
    result = shop.query(metrics=["bookings_2_quarters_ago"], grain="month")
    six = hand(shop, by_period("month", "2024-01-01", "2025-01-01", "cast(periods.p - interval 6 month as date)"))
    assert column(result, "bookings_2_quarters_ago") == six
    assert dict(six)[date(2024, 7, 1)] == 5  # January's five bookings
    result = shop.query(metrics=["bookings_2_years_ago"], grain="month")
    two = hand(shop, by_period("month", "2024-01-01", "2026-07-01", "cast(periods.p - interval 2 year as date)"))
    assert column(result, "bookings_2_years_ago") == two
    assert {n for p, n in two if p < date(2026, 1, 1)} == {0}  # before any data: 0, not NULL


def test_start_of_month_at_day_grain_and_start_of_quarter_at_month_grain(shop):
    result = shop.query(metrics=["bookings_since_month_start"], grain="day", start=date(2024, 2, 27))
    first_day = hand(shop, by_period("day", "2024-02-27", "2024-07-01", "cast(date_trunc('month', periods.p) as date)"))
    current = hand(shop, by_period("day", "2024-02-27", "2024-07-01", "periods.p"))
    expected = [(p, n - start) for (p, n), (_, start) in zip(current, first_day, strict=True)]
    assert column(result, "bookings_since_month_start") == expected
    quarters = shop.query(metrics=["bookings_at_quarter_start"], grain="month")
    first_month = hand(
        shop, by_period("month", "2024-01-01", "2024-07-01", "cast(date_trunc('quarter', periods.p) as date)")
    )
    assert column(quarters, "bookings_at_quarter_start") == first_month
    assert dict(first_month)[date(2024, 3, 1)] == 5  # March reads January


def test_an_offset_of_a_metric_that_is_itself_offset(shop):
    result = shop.query(metrics=["twice_lagged"], grain="day", end=date(2024, 3, 10))
    expected = hand(shop, by_period("day", "2024-01-03", "2024-03-10", "cast(periods.p - interval 7 day as date)"))
    assert column(result, "twice_lagged") == [(p, 2 * n) for p, n in expected]


def test_an_offset_by_dimension_keeps_each_guest_apart(shop):
    result = shop.query(metrics=["bookings_5_days_ago"], dimensions=["guest"], grain="day", end=date(2024, 1, 15))
    expected = hand(
        shop,
        """
        with days as (select cast(unnest(generate_series(date '2024-01-03', date '2024-01-15', interval 1 day))
                              as date) as p),
        guests as (select distinct guest from raw.bookings)
        select d.p, g.guest, count(b.booking_id) from days d cross join guests g
        left join raw.bookings b on b.guest = g.guest and cast(b.booked_at as date) = cast(d.p - interval 5 day as date)
        group by 1, 2 order by 1, 2""",
    )
    assert [(r[0], r[1], r[2]) for r in result.rows] == expected


def test_an_offset_of_days_by_month_counts_each_row_in_the_month_of_its_day_that_much_later(shop):
    # MetricFlow sums, for each day of a month, the bookings of 5 days (2 weeks) before: b5 (31 January) is
    # 5 days ago in February; the series runs on to the month of the last booking + 2 weeks (July)
    # twice_lagged: 2 x bookings_5_days_ago 2 days earlier, each booking moved 7 days on
    asked = ["bookings", "bookings_5_days_ago", "bookings_growth_2_weeks", "twice_lagged"]
    result = shop.query(metrics=asked, grain="month")
    expected = hand(
        shop,
        """
        select m,
            (select count(*) from raw.bookings where date_trunc('month', booked_at)::date = m),
            (select count(*) from raw.bookings where date_trunc('month', booked_at + interval 5 day)::date = m),
            (select count(*) from raw.bookings where date_trunc('month', booked_at)::date = m)
            - (select count(*) from raw.bookings where date_trunc('month', booked_at + interval 14 day)::date = m),
            2 * (select count(*) from raw.bookings where date_trunc('month', booked_at + interval 7 day)::date = m)
        from (select unnest(generate_series(date '2024-01-01', date '2024-07-01', interval 1 month))::date as m)
        order by m
        """,
    )
    assert [tuple(row) for row in result.rows] == expected
    assert result.rows[1][:3] == (date(2024, 2, 1), 3, 2)  # b5 moved into February, b7 and b8 out of it


@pytest.mark.parametrize(
    ("metric", "grain", "words"),
    [
        ("bookings_1_month_ago", "week", "offset '1 month' at week grain"),
        ("bookings_since_month_start", "week", "offset 'start of month' at week grain"),
    ],
)
def test_an_offset_that_moves_a_period_off_the_grain_is_kf424(shop, metric, grain, words):
    with pytest.raises(KpiframeError) as caught:
        shop.query(metrics=[metric], grain=grain)
    assert caught.value.diagnostic.code == "KF424"
    assert words in caught.value.render()


@pytest.mark.parametrize("offset", ["5 fortnights", "0 days", "start of decade", "last"])
def test_a_malformed_offset_stops_the_load(tmp_path, offset):
    files = dict(FILES)
    files["metrics/offsets.yml"] = FILES["metrics/offsets.yml"].replace("offset: 5 days", f"offset: {offset}")
    root = write_files(tmp_path, files)
    with pytest.raises(KpiframeError) as caught:
        Project.load(root)
    assert f"offset '{offset}'" in caught.value.render()
    assert "metrics/offsets.yml:" in caught.value.render()


# --- cumulative metrics over a count_distinct: each guest once per window ------------------------------


def distinct_guests(grain: str, first: str, last: str, since: str) -> str:
    """Hand SQL: per period p, the distinct guests of the bookings from `since` (SQL over p) through p."""
    return f"""
        with periods as (select cast(unnest(generate_series(date '{first}', date '{last}', interval 1 {grain}))
                                 as date) as p)
        select p, count(distinct b.guest) from periods
        left join raw.bookings b on cast(date_trunc('{grain}', b.booked_at) as date) between {since} and p
        group by p order by p"""


def test_a_2_day_distinct_count_counts_a_guest_of_both_days_once(shop):
    result = shop.query(metrics=["guests_2_days"], grain="day", end=date(2024, 3, 10))
    expected = hand(shop, distinct_guests("day", "2024-01-03", "2024-03-10", "cast(p - interval 1 day as date)"))
    assert column(result, "guests_2_days") == expected
    by_day = dict(expected)
    assert (by_day[date(2024, 3, 1)], by_day[date(2024, 2, 29)]) == (3, 2)  # ann, cy on the 29th; bob on the 1st
    assert by_day[date(2024, 2, 1)] == 2  # bob on the 31st, ann on the 1st: each once


def test_distinct_counts_over_2_months_and_month_to_date(shop):
    months = shop.query(metrics=["guests_2_months"], grain="month")
    expected = hand(shop, distinct_guests("month", "2024-01-01", "2024-07-01", "cast(p - interval 1 month as date)"))
    assert column(months, "guests_2_months") == expected
    assert dict(expected)[date(2024, 2, 1)] == 3  # ann, bob and cy booked in January or February: 3, not 3 + 3
    days = shop.query(metrics=["guests_mtd"], grain="day", start=date(2024, 2, 27), end=date(2024, 3, 31))
    mtd = hand(shop, distinct_guests("day", "2024-02-27", "2024-03-31", "cast(date_trunc('month', p) as date)"))
    assert column(days, "guests_mtd") == mtd


def test_an_offset_of_a_distinct_count_window_by_guest(shop):
    result = shop.query(
        metrics=["guests_2_days_2_days_ago"], grain="day", start=date(2024, 2, 28), end=date(2024, 3, 4)
    )
    expected = hand(
        shop, distinct_guests("day", "2024-02-26", "2024-03-02", "cast(p - interval 1 day as date)")
    )  # each day reads the 2-day window that ended 2 days before it
    assert column(result, "guests_2_days_2_days_ago") == [(p + timedelta(days=2), n) for p, n in expected]
    by_guest = shop.query(metrics=["guests_2_days"], dimensions=["guest"], grain="day", end=date(2024, 1, 9))
    ann = [(r[0], r[2]) for r in by_guest.rows if r[1] == "ann"]
    assert ann == [(date(2024, 1, d), 1 if d in (3, 4, 8, 9) else 0) for d in range(3, 10)]


# --- kpiframe import metricflow: offset_window, offset_to_grain, period_agg ---------------------------

MANIFEST = Path(__file__).resolve().parent.parent / "fixtures" / "metricflow" / "conformance" / "simple_manifest"


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, list[Note]]:
    root = tmp_path_factory.mktemp("mf_offsets")
    result = plan_import(MANIFEST, root)
    write_import(result)
    return Project.load(root), result.notes


def offsets_of(project: Project, metric: str) -> list[tuple[str, str | None]]:
    return [(i.metric, i.offset) for i in project.graph.metrics[metric].spec.inputs]


def test_offset_windows_and_offset_to_grain_are_imported_as_offsets(imported):
    project, notes = imported
    assert offsets_of(project, "bookings_5_day_lag") == [("bookings", "5 days")]  # offset_window: 5 days
    assert ("bookings", "14 days") in offsets_of(project, "bookings_growth_2_weeks")  # 14 days
    assert offsets_of(project, "bookings_1_month_ago") == [("bookings", "1 month")]  # no longer 'previous'
    assert ("bookings", "start of month") in offsets_of(project, "bookings_growth_since_start_of_month")
    assert offsets_of(project, "bookings_offset_twice") == [("bookings_offset_once", "2 days")]
    said = {(n.subject, n.kind) for n in notes if "offset_" in n.message}
    assert ("derived metric 'bookings_5_day_lag'", "changed") in said  # KF424 at coarser grains: reported
    assert ("derived metric 'bookings_offset_one_alien_day'", "unmapped") in said  # a custom grain
    assert "bookings_offset_one_alien_day" not in project.graph.metrics
    # finer than a day: kpiframe's grains reach a millisecond
    assert offsets_of(project, "subdaily_offset_window_metric") == [("archived_users", "1 hour")]
    assert offsets_of(project, "subdaily_offset_grain_to_date_metric") == [("archived_users", "start of hour")]


def test_a_cumulative_metric_with_period_agg_average_is_imported_with_its_window(imported):
    project, notes = imported
    spec = project.graph.metrics["trailing_2_months_revenue"].spec
    assert (spec.type, spec.window, spec.period_agg) == ("cumulative", "2 month", "average")
    assert project.graph.metrics["revenue_mtd"].spec.period_agg == "first"  # MetricFlow's default
    assert project.graph.metrics["revenue_all_time"].spec.period_agg == "last"  # written so in the manifest
    assert not any(n.subject == "cumulative metric 'trailing_2_months_revenue'" for n in notes)
    bookers = project.graph.metrics["every_two_days_bookers"].spec  # a count_distinct: its window's rows
    assert (bookers.type, bookers.window) == ("cumulative", "2 days")


def test_the_catalog_says_each_offset_in_words(shop):
    names = [name for name, _ in CATALOG_COLUMNS]
    rows = catalog_rows(shop.graph).rows
    formulas = {row[names.index("name")]: row[names.index("formula")] for row in rows}
    assert formulas["bookings_5_days_ago"] == "lagged; lagged = bookings of 5 days earlier"
    assert formulas["bookings_since_month_start"] == (
        "bookings - first_day; first_day = bookings of the start of the month"
    )
