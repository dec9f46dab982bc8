"""Periods mean the same in every dialect: each rendering, read back by sqlglot and run on DuckDB.

sqlglot knows each engine's date semantics (BigQuery's plain WEEK starts on Sunday, for one), so the
SQL written for an engine, translated back to DuckDB, must give the period starts of a reference
written here in Python.
"""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from kpiframe.sql.calendar import WEEKDAYS, Calendar, date_series

DIALECTS = ("duckdb", "postgres", "snowflake", "bigquery")
DAYS = [date(2025, 12, 20) + timedelta(days=i) for i in range(120)]


def period_starts(calendar: Calendar, grain: str, dialect: str) -> dict[date, date]:
    start = calendar.period_start(exp.column("d"), grain)
    sql = exp.select(exp.column("d"), start.as_("p")).from_("days").sql(dialect=dialect)
    on_duckdb = sqlglot.transpile(sql, read=dialect, write="duckdb")[0]
    con = duckdb.connect()
    con.execute("create table days (d date)")
    con.executemany("insert into days values (?)", [[d] for d in DAYS])
    return dict(con.execute(on_duckdb).fetchall())


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("week_start", ["monday", "sunday", "wednesday"])
def test_weeks_start_on_the_configured_day_in_every_dialect(dialect: str, week_start: str) -> None:
    first = WEEKDAYS.index(week_start)
    expected = {d: d - timedelta(days=(d.weekday() - first) % 7) for d in DAYS}
    assert period_starts(Calendar(week_start=week_start), "week", dialect) == expected


@pytest.mark.parametrize("dialect", DIALECTS)
def test_fiscal_quarters_start_on_the_configured_month_in_every_dialect(dialect: str) -> None:
    def fiscal_quarter(d: date) -> date:  # fiscal year from April: quarters start Apr, Jul, Oct, Jan
        month = d.month - (d.month - 4) % 3
        return date(d.year, month, 1)

    expected = {d: fiscal_quarter(d) for d in DAYS}
    assert period_starts(Calendar(fiscal_year_start_month=4), "fiscal_quarter", dialect) == expected


# --- the time spine's date series -------------------------------------------------------------------


def python_series(first: date, last: date, grain: str) -> list[date]:
    """Period starts from `first`, one period apart, up to `last`: written here without SQL."""
    months = {"month": 1, "fiscal_quarter": 3, "year": 12}
    found, current, index = [], first, 0
    while current <= last:
        found.append(current)
        index += 1
        if grain in ("day", "week"):
            current = first + timedelta(days=index * (7 if grain == "week" else 1))
        else:
            total = first.month - 1 + index * months[grain]
            current = date(first.year + total // 12, total % 12 + 1, 1)
    return found


def series_sql(first: date, last: date, grain: str, dialect: str) -> str:
    def bound(value: date) -> exp.Expr:
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")

    return date_series(bound(first), bound(last), grain, "p").sql(dialect=dialect)


def run_on_duckdb(sql: str, dialect: str) -> list[date]:
    if dialect != "snowflake":
        on_duckdb = sqlglot.transpile(sql, read=dialect, write="duckdb")[0]
        return [row[0] for row in duckdb.sql(on_duckdb).fetchall()]
    # sqlglot cannot write Snowflake's FLATTEN back for DuckDB: run its two parts, DATEDIFF (how many
    # periods) and DATEADD (each period), each translated by sqlglot, over DuckDB's range()
    tree = sqlglot.parse_one(sql, read="snowflake")
    count = tree.find(exp.DateDiff)
    add = tree.find(exp.DateAdd)
    assert count is not None and add is not None
    step = add.copy().transform(lambda n: exp.column("i") if isinstance(n, exp.Column) else n)
    query = f"select cast({step.sql('duckdb')} as date) from range(0, ({count.sql('duckdb')}) + 1) as t(i) order by 1"
    return [row[0] for row in duckdb.sql(query).fetchall()]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    ("grain", "first", "last"),
    [
        ("day", date(2024, 2, 27), date(2024, 3, 2)),
        ("week", date(2024, 12, 22), date(2025, 2, 2)),  # Sundays across a year end: Snowflake counts Mondays
        ("month", date(2024, 11, 1), date(2025, 3, 1)),
        ("fiscal_quarter", date(2024, 4, 1), date(2025, 1, 1)),  # fiscal year from April
        ("year", date(2021, 1, 1), date(2024, 1, 1)),
    ],
)
def test_the_spine_has_every_period_in_every_dialect(dialect: str, grain: str, first: date, last: date) -> None:
    sql = series_sql(first, last, grain, dialect)
    assert sqlglot.parse_one(sql, read=dialect) is not None
    assert run_on_duckdb(sql, dialect) == python_series(first, last, grain)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_spine_is_empty_when_the_range_is(dialect: str) -> None:
    assert run_on_duckdb(series_sql(date(2025, 3, 1), date(2025, 2, 1), "month", dialect), dialect) == []
