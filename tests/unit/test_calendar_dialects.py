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

from kpiframe.sql.calendar import WEEKDAYS, Calendar

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
