"""Cumulative metrics over count distinct, and derived metrics with `"<n> <unit>"` and `"start of <grain>"`
input offsets, over rows as real booking exports have them: the same guest twice a day, rows without a
guest or a time, a leap day, the last second of a month and of a year, NaN, -0.0 and infinities in a
measure, a row years before the rest, a unicode channel, empty loads.

Expected numbers come from SQL written here (distinct guests per window with a correlated count) and, for
offsets, from daily counts moved in Python (month ends clamped with the calendar module), never from kpiframe.
"""

from __future__ import annotations

import calendar as month_days
from datetime import date, timedelta

import pytest

from kpiframe.errors import QueryError
from kpiframe.project import Project
from tests.conftest import built_project, hand

FILES = {
    "kpi_project.yml": """
        name: hostile_windows
        warehouse: {path: windows.duckdb}
        calendar: {week_start: sunday, fiscal_year_start_month: 4}
    """,
    "models/sources.yml": """
        sources:
          - name: raw
            schema: raw
            tables:
              - name: bookings
                columns: [booking_id, guest_id, channel, {name: ts, type: TIMESTAMP}, score]
    """,
    "models/stg_bookings.sql": "select * from {{ source('raw', 'bookings') }}",
    "metrics/bookings.yml": """
        datasets:
          - name: bookings
            model: stg_bookings
            time: ts
            entities: [{name: booking, type: foreign, expr: booking_id}]
            dimensions: [{name: channel}, {name: kf_value, expr: channel}]  # named like kpiframe's column
            measures:
              - {name: booking_count, agg: count, expr: booking_id}
              - {name: guest_count, agg: count_distinct, expr: guest_id}
              - {name: score_count, agg: count_distinct, expr: score}
        metrics:
          - {name: bookings, measure: booking_count}
          - {name: guests, measure: guest_count}
          - {name: guests_or_null, measure: guest_count, fill_nulls_with: null}
          - {name: scores, measure: score_count}
          - {name: guests_7d, type: cumulative, metric: guests, window: 7 days}
          - {name: guests_7d_or_null, type: cumulative, metric: guests_or_null, window: 7 days}
          - {name: guests_1m, type: cumulative, metric: guests, window: 1 month}
          - {name: guests_mtd, type: cumulative, metric: guests, grain_to_date: month}
          - {name: guests_ytd, type: cumulative, metric: guests, grain_to_date: year}
          - {name: scores_7d, type: cumulative, metric: scores, window: 7 days}
          - {name: bookings_1m, type: cumulative, metric: bookings, window: 1 month}
          - {name: bookings_1y, type: cumulative, metric: bookings, window: 1 year}
          - {name: guests_1y, type: cumulative, metric: guests, window: 1 year}
          - name: bookings_5d_ago
            type: derived
            expr: b
            inputs: [{metric: bookings, alias: b, offset: 5 days}]
          - name: bookings_1m_ago
            type: derived
            expr: b
            inputs: [{metric: bookings, alias: b, offset: 1 month}]
          - name: bookings_1y_ago
            type: derived
            expr: b
            inputs: [{metric: bookings, alias: b, offset: 1 year}]
          - name: bookings_4q_ago
            type: derived
            expr: b
            inputs: [{metric: bookings, alias: b, offset: 4 quarters}]
          - name: bookings_since_week_start
            type: derived
            expr: bookings - b
            inputs: [{metric: bookings, alias: b, offset: start of week}]
          - name: bookings_quarter_start
            type: derived
            expr: b
            inputs: [{metric: bookings, alias: b, offset: start of quarter}]
          - name: bookings_fiscal_year_start
            type: derived
            expr: b
            inputs: [{metric: bookings, alias: b, offset: start of fiscal_year}]
    """,
}

ROWS = """
    create schema raw;
    create table raw.bookings (booking_id varchar, guest_id varchar, channel varchar, ts timestamp, score double);
    insert into raw.bookings values
      ('k1', 'g1', 'web', '2024-02-28 23:59:59', 1.0),
      ('k1', 'g1', 'web', '2024-02-28 23:59:59', 1.0),
      ('k2', 'g1', 'web', '2024-02-29 00:00:00', 'nan'),
      ('k3', 'g2', null, '2024-02-29 12:00:00', 'nan'),
      ('k4', null, 'web', '2024-03-01 00:00:00', '-0.0'),
      ('k5', 'g3', '日本語 ✓', '2024-03-01 08:00:00', 0.0),
      ('k6', 'g2', '日本語 ✓', '2024-03-31 23:59:59.999999', 'inf'),
      ('k7', 'g4', 'web', '2024-04-01 00:00:00', '-inf'),
      ('k8', 'g5', 'web', null, 5.0),
      ('k9', 'g1', 'mail', '2024-12-31 23:59:59', 2.0),
      ('k10', 'g6', 'mail', '2025-01-01 00:00:00', 2.0),
      ('k11', 'g1', 'web', '2025-02-28 10:00:00', 3.0),
      ('k12', 'g7', 'web', '2025-03-31 10:00:00', 3.0),
      ('k13', 'g8', 'mail', '2019-06-15 10:00:00', null);
"""

FIRST, LAST = date(2024, 2, 1), date(2025, 4, 30)  # the days most tests ask for


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return built_project(tmp_path_factory.mktemp("hostile_windows"), FILES, "windows.duckdb", ROWS)


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def answer(project: Project, metrics: list[str], **request: object) -> dict[object, tuple[object, ...]]:
    dims = len(request.get("dimensions", ()))  # type: ignore[arg-type]
    rows = project.query(metrics=metrics, **request).rows  # type: ignore[arg-type]
    return {(row[0] if not dims else tuple(row[: dims + 1])): tuple(row[dims + 1 :]) for row in rows}


def window_sql(
    first_row: str, periods: list[date], value: str = "guest_id", where: str = "true", period: str = "day"
) -> str:
    """(p, n) for each period p: the distinct `value`s (count(distinct): NULL skipped, NaN one value) of the
    timed rows whose period lies from `first_row` (SQL over `{p}`) to p. `period`: day or sunday_week."""
    row_period = "cast(b.ts as date)" if period == "day" else SUNDAY_WEEK.format(x="b.ts")
    values = ", ".join(f"(date '{p}')" for p in periods)
    return f"""
        select p.p, (select count(distinct b.{value}) from raw.bookings b
                     where b.ts is not null and ({where})
                       and {row_period} >= {first_row.format(p="p.p")} and {row_period} <= p.p)
        from (values {values}) p(p)
    """


def day_sql(first_row: str, value: str = "guest_id", where: str = "true", periods: list[date] | None = None) -> str:
    return window_sql(first_row, periods or days(FIRST, LAST), value, where)


SUNDAY_WEEK = "cast(date_trunc('week', {x} + interval 1 day) - interval 1 day as date)"


def test_count_distinct_windows_by_day(project):
    mine = answer(
        project, ["guests_7d", "guests_1m", "guests_mtd", "guests_ytd", "scores_7d"], grain="day", start=FIRST, end=LAST
    )
    sqls = [
        day_sql("cast({p} - interval 6 day as date)"),
        day_sql("cast({p} - interval 1 month + interval 1 day as date)"),  # after p - 1 month
        day_sql("date_trunc('month', {p})"),
        day_sql("date_trunc('year', {p})"),
        day_sql("cast({p} - interval 6 day as date)", value="score"),
    ]
    columns = [dict(hand(project, sql)) for sql in sqls]
    theirs = {p: tuple(c[p] for c in columns) for p in days(FIRST, LAST)}
    assert mine == theirs
    # g1 booked twice on 28 February (one row loaded twice) and again on the 29th: one guest
    assert mine[date(2024, 2, 29)][0] == 2  # g1 and g2; the row without a guest is not a guest
    assert mine[date(2024, 3, 31)][2] == 2  # March to date: g3 and g2 (its last microsecond); not g4 (1 April)
    assert mine[date(2024, 3, 1)][4] == 3  # 1.0, NaN and 0.0 (= -0.0)
    assert mine[date(2025, 1, 1)][3] == 1  # a year to date starts again at midnight


def test_count_distinct_window_with_fill_null_and_where_and_a_start_mid_month(project):
    where = "channel <> 'mail'"
    mine = answer(
        project, ["guests_7d_or_null", "guests_mtd"], grain="day", start="2024-03-15", end="2024-04-10", where=where
    )
    period = days(date(2024, 3, 15), date(2024, 4, 10))
    window = dict(hand(project, day_sql("cast({p} - interval 6 day as date)", where=f"b.{where}", periods=period)))
    rows = dict(
        hand(
            project,
            day_sql("cast({p} - interval 6 day as date)", value="booking_id", where=f"b.{where}", periods=period),
        )
    )
    to_date = dict(hand(project, day_sql("date_trunc('month', {p})", where=f"b.{where}", periods=period)))
    assert mine == {p: (window[p] if rows[p] else None, to_date[p]) for p in period}
    assert mine[date(2024, 3, 20)] == (None, 1)  # no row in the week: NULL; g3 on 1 March counts before the start
    assert mine[date(2024, 4, 1)] == (2, 1)


@pytest.mark.parametrize("dimension", ["channel", "kf_value"])
def test_count_distinct_window_by_a_dimension_with_null_and_unicode_values(project, dimension):
    mine = answer(project, ["guests_7d"], grain="day", start=FIRST, end=LAST, dimensions=[dimension])
    channels = [row[0] for row in hand(project, "select distinct channel from raw.bookings where ts is not null")]
    theirs: dict[object, tuple[object, ...]] = {}
    for channel in channels:
        where = "b.channel is null" if channel is None else f"b.channel = '{channel}'"
        for p, n in hand(project, day_sql("cast({p} - interval 6 day as date)", where=where)):
            theirs[(p, channel)] = (n,)
    assert mine == theirs
    assert mine[(date(2024, 3, 2), "日本語 ✓")] == (1,) and mine[(date(2024, 3, 2), None)] == (1,)


def week_sql(first_row: str, value: str, weeks: list[date], distinct: bool = True) -> str:
    sql = window_sql(first_row, weeks, value, period="sunday_week")
    return sql if distinct else sql.replace(f"count(distinct b.{value})", f"count(b.{value})")


WEEKS = [date(2024, 2, 25) + timedelta(weeks=n) for n in range(62)]  # Sundays, 25 February 2024 to 2025-04-27


def test_count_distinct_windows_by_sunday_week(project):
    # "the periods that start within the window before the current one's start": a week starting after p - window
    mine = answer(project, ["guests_1m", "guests_1y", "guests_mtd"], grain="week", start=WEEKS[0], end=WEEKS[-1])
    sqls = [
        week_sql("cast({p} - interval 1 month + interval 1 day as date)", "guest_id", WEEKS),
        week_sql("cast({p} - interval 1 year + interval 1 day as date)", "guest_id", WEEKS),
        week_sql("date_trunc('month', {p})", "guest_id", WEEKS),
    ]
    columns = [dict(hand(project, sql)) for sql in sqls]
    assert mine == {w: tuple(c[w] for c in columns) for w in WEEKS}


def test_a_monthly_or_yearly_sum_window_by_week_covers_the_weeks_that_start_within_it(project):
    mine = answer(project, ["bookings_1m", "bookings_1y"], grain="week", start=WEEKS[0], end=WEEKS[-1])
    sqls = [
        week_sql("cast({p} - interval 1 month + interval 1 day as date)", "booking_id", WEEKS, distinct=False),
        week_sql("cast({p} - interval 1 year + interval 1 day as date)", "booking_id", WEEKS, distinct=False),
    ]
    columns = [dict(hand(project, sql)) for sql in sqls]
    assert mine == {w: tuple(c[w] for c in columns) for w in WEEKS}


def daily_bookings(project: Project) -> dict[date, int]:
    return dict(hand(project, "select cast(ts as date), count(booking_id) from raw.bookings group by 1"))


def months_before(day: date, months: int) -> date:
    """`day` moved `months` calendar months back, to the month's last day when it is shorter."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, month_days.monthrange(year, month + 1)[1]))


def test_window_and_start_of_offsets_by_day(project):
    metrics = [
        "bookings_5d_ago",
        "bookings_1m_ago",
        "bookings_1y_ago",
        "bookings_since_week_start",
        "bookings_quarter_start",
        "bookings_fiscal_year_start",
    ]
    mine = answer(project, metrics, grain="day", start=FIRST, end=LAST)
    daily = daily_bookings(project)

    def at(day: date) -> int:
        return daily.get(day, 0)

    def expected(p: date) -> tuple[int, ...]:
        sunday = p - timedelta(days=(p.weekday() + 1) % 7)
        quarter = date(p.year, 3 * ((p.month - 1) // 3) + 1, 1)
        fiscal = date(p.year if p.month >= 4 else p.year - 1, 4, 1)
        return (
            at(p - timedelta(days=5)),
            at(months_before(p, 1)),
            at(months_before(p, 12)),
            at(p) - at(sunday),
            at(quarter),
            at(fiscal),
        )

    assert mine == {p: expected(p) for p in days(FIRST, LAST)}
    # 29, 30 and 31 March 2024 all read 29 February a month back; 28 February 2025 reads 28 February 2024
    assert [mine[date(2024, 3, d)][1] for d in (28, 29, 30, 31)] == [2, 2, 2, 2]
    assert mine[date(2025, 2, 28)][2] == 2 and mine[date(2025, 3, 1)][2] == 2  # the leap day is never read
    assert mine[date(2024, 4, 1)][5] == 1  # 1 April starts the fiscal year: it reads itself


def test_without_an_end_the_offset_runs_past_the_last_booking(project):
    mine = answer(project, ["bookings_5d_ago"], grain="day", start="2025-03-25")
    assert mine == {p: (1 if p == date(2025, 4, 5) else 0,) for p in days(date(2025, 3, 25), date(2025, 4, 5))}


def test_a_row_years_before_the_rest_by_month(project):
    mine = answer(project, ["bookings", "bookings_1m_ago", "bookings_1y_ago", "guests_ytd"], grain="month")
    monthly = dict(
        hand(
            project,
            "select cast(date_trunc('month', ts) as date), count(booking_id) from raw.bookings group by 1",
        )
    )
    ytd = dict(
        hand(
            project,
            """
            select m.p, (select count(distinct guest_id) from raw.bookings b
                         where b.ts >= date_trunc('year', m.p) and b.ts < m.p + interval 1 month)
            from (select cast(unnest(generate_series(date '2019-06-01', date '2025-03-01', interval 1 month))
                  as date) as p) m
            """,
        )
    )
    months = sorted(ytd)
    assert sorted(mine)[: len(months)] == months  # June 2019 to March 2025, every month, then the offsets' reach
    for p in months:
        assert mine[p] == (
            monthly.get(p, 0),
            monthly.get(months_before(p, 1), 0),
            monthly.get(months_before(p, 12), 0),
            ytd[p],
        ), p
    # the spine runs on for the 1-year offset: March 2026 reads March 2025
    assert max(mine) == date(2026, 3, 1) and mine[date(2026, 3, 1)][2] == 1


@pytest.mark.parametrize(
    ("grain", "period"),
    [
        ("year", "cast(date_trunc('year', ts) as date)"),
        ("fiscal_year", "cast(date_trunc('year', ts - interval 3 month) + interval 3 month as date)"),
        ("quarter", "cast(date_trunc('quarter', ts) as date)"),
    ],
    ids=["year", "fiscal_year", "quarter"],
)
def test_a_year_back_at_year_fiscal_year_and_quarter_grain(project, grain, period):
    # "year grain for multiples of 12 months": 1 year and 4 quarters land on a (fiscal) year's start
    mine = answer(project, ["bookings", "bookings_1y_ago", "bookings_4q_ago"], grain=grain)
    counts = dict(
        hand(project, f"select {period}, count(booking_id) from raw.bookings where ts is not null group by 1")
    )
    assert max(mine) == months_before(max(counts), -12)  # the spine runs on a year past the last booking
    for p, (now, year_ago, quarters_ago) in mine.items():
        assert now == counts.get(p, 0), p
        assert year_ago == quarters_ago == counts.get(months_before(p, 12), 0), p


def test_a_year_back_at_week_grain_is_refused_clearly(project):
    with pytest.raises(QueryError) as refused:
        project.query(metrics=["bookings_1y_ago"], grain="week")
    assert refused.value.diagnostic.code == "KF424" and refused.value.diagnostic.hint


def test_placeholder_dates_of_year_1_and_9999(tmp_path):
    rows = (
        ROWS.split("insert into")[0]
        + """
        insert into raw.bookings values
          ('p1', 'g1', 'web', '0001-01-01 00:00:00', 1.0), ('p2', 'g2', 'web', '9999-12-31 23:59:59', 1.0),
          ('p3', 'g1', 'web', '2024-06-01 00:00:00', 1.0), ('p4', 'g3', 'web', '2024-07-01 00:00:00', 1.0);
    """
    )
    project = built_project(tmp_path, FILES, "windows.duckdb", rows)
    mine = answer(project, ["bookings", "guests_ytd"], grain="year")
    theirs = hand(
        project,
        "select cast(date_trunc('year', ts) as date), count(booking_id), count(distinct guest_id) "
        "from raw.bookings group by 1",
    )
    assert len(mine) == 9999 and min(mine) == date(1, 1, 1) and max(mine) == date(9999, 1, 1)
    assert {p: v for p, v in mine.items() if v != (0, 0)} == {p: (n, g) for p, n, g in theirs}
    assert project.query(metrics=["bookings", "guests"], grain="all").rows == [(4, 3)]


EMPTY = ROWS.split("insert into")[0]


def test_an_empty_load(tmp_path):
    project = built_project(tmp_path, FILES, "windows.duckdb", EMPTY)
    metrics = ["guests_7d", "guests_7d_or_null", "guests_mtd", "bookings_5d_ago", "bookings_quarter_start"]
    assert project.query(metrics=metrics, grain="day").rows == []
    ranged = answer(project, metrics, grain="day", start="2024-02-27", end="2024-03-02")
    assert ranged == {p: (0, None, 0, 0, 0) for p in days(date(2024, 2, 27), date(2024, 3, 2))}


def test_nan_and_infinities_are_distinct_values_in_a_window(project):
    mine = answer(project, ["scores_7d"], grain="day", start="2024-04-01", end="2024-04-01")
    theirs = hand(
        project,
        "select count(distinct score) from raw.bookings where ts >= '2024-03-26' and ts < '2024-04-02'",
    )
    assert mine == {date(2024, 4, 1): (theirs[0][0],)} == {date(2024, 4, 1): (2,)}  # inf and -inf


def test_a_dimension_a_distinct_window_cannot_use_names_the_metric(project):
    with pytest.raises(QueryError) as refused:
        project.query(metrics=["guests_7d"], grain="day", dimensions=["campaign"])
    assert refused.value.diagnostic.code == "KF410"
    assert "metric guests_7d (dataset 'bookings')" in refused.value.diagnostic.message, refused.value.diagnostic.message
