"""explain: which days are compared. A finished period against the whole other period; a period in
progress day N with day N; the output says which.

The funnel fixture (see conftest) gets a few more opportunities in a private warehouse, so whole and
cut-short periods differ on the KGI too:
  * 2026-01-30 at 4,000: January has 21 opportunities (24,000) in all, 20 (20,000) in its first 28 days;
  * 2025-11-10 and 2025-11-20 at 2,000: Q4 2025 has more than December;
  * 2025-02-03, 02-14 at 500 and 02-27 at 2,000: February a year ago;
  * 2024-02-10 at 300 and 2024-02-29 at 700: a leap day, which only a whole-month baseline counts.
Expected values come from SQL over the raw rows, written here, not from kpiframe.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from kpiframe.cli import main
from kpiframe.errors import KpiframeError
from kpiframe.kpi.periods import Window, compare, parse_period
from kpiframe.kpi.session import KpiSession
from kpiframe.project import Project
from tests.kpi.conftest import write

EXTRA_OPPS = [
    ("X20260130", datetime(2026, 1, 30, 10), 4000),
    ("X20251110", datetime(2025, 11, 10, 10), 2000),
    ("X20251120", datetime(2025, 11, 20, 10), 2000),
    ("X20250203", datetime(2025, 2, 3, 10), 500),
    ("X20250214", datetime(2025, 2, 14, 10), 500),
    ("X20250227", datetime(2025, 2, 27, 10), 2000),
    ("X20240210", datetime(2024, 2, 10, 10), 300),
    ("X20240229", datetime(2024, 2, 29, 10), 700),
]
END_OF_MARCH = date(2026, 3, 31)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, funnel_db: Path) -> Project:
    """The funnel project over a copy of its warehouse with EXTRA_OPPS, built again."""
    root = write(tmp_path_factory.mktemp("explain_windows"))
    warehouse = root / "funnel.duckdb"
    shutil.copy(funnel_db, warehouse)
    con = duckdb.connect(str(warehouse))
    con.executemany("insert into raw.opps values (?, ?, ?)", EXTRA_OPPS)
    con.close()
    project = Project.load(root, warehouse=str(warehouse))
    project.build()
    return project


def hand(project: Project, sql: str, first: date, last: date) -> float:
    """One number from the raw rows between two days, both included (a connection of its own, closed)."""
    con = duckdb.connect(project.warehouse_spec.path, read_only=True)
    try:
        row = con.execute(sql, [first, last + timedelta(days=1)]).fetchone()
    finally:
        con.close()
    assert row is not None
    return float(row[0] or 0)


def opps(project: Project, first: date, last: date) -> float:
    return hand(project, "select count(*) from raw.opps where created_at >= ? and created_at < ?", first, last)


def pipeline(project: Project, first: date, last: date) -> float:
    return hand(project, "select sum(amount) from raw.opps where created_at >= ? and created_at < ?", first, last)


def leads(project: Project, first: date, last: date) -> float:
    return hand(project, "select count(*) from raw.leads where created_at >= ? and created_at < ?", first, last)


def mqls(project: Project, first: date, last: date) -> float:
    return hand(project, "select count(*) from raw.mqls where qualified_at >= ? and qualified_at < ?", first, last)


def explain(project: Project, period: str, vs: str, as_of: date = END_OF_MARCH, depth: int | None = 1):
    return KpiSession(project, as_of=as_of).explain("pipeline", parse_period(period), vs, depth=depth)


def two_driver_shapley(before: tuple[float, float], after: tuple[float, float]) -> tuple[float, float]:
    """f = a × b: each driver's change, valued half at the other's baseline and half at its actual."""
    (a0, b0), (a1, b1) = before, after
    return (a1 - a0) * (b0 + b1) / 2, (b1 - b0) * (a0 + a1) / 2


def by_driver(explanation) -> dict[str, float]:
    return {c.driver: c.contribution for c in explanation.contributions}


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_the_rule_by_hand_on_calendar_days():
    feb, jan = parse_period("2026-02"), parse_period("2026-01")
    finished = compare(feb, jan, date(2026, 3, 31))
    assert (finished.actual.days, finished.baseline.days, finished.rule) == (28, 31, "whole periods")
    assert finished.text == "baseline: whole January 2026 (period finished as of 2026-03-31)"
    # the last day of data is the period's last day: finished
    assert compare(feb, jan, date(2026, 2, 28)).rule == "whole periods"
    running = compare(parse_period("2026-03"), feb, date(2026, 3, 30))
    # day 30 of March against February, which has 28 days: all of them
    assert (running.actual, running.baseline) == (Window(date(2026, 3, 1), date(2026, 3, 30)), feb.window)
    assert running.text == (
        "baseline: February 2026, all 28 of its days, fewer than the 30 of 1-30 Mar 2026 "
        "(period in progress as of 2026-03-30)"
    )
    # March 1-30 one month earlier is all of February, not February 1-27
    assert running.actual.shift_months(-1) == feb.window


def test_a_finished_month_is_compared_with_the_whole_previous_month(history):
    explanation = explain(history, "2026-02", "previous")
    jan = (date(2026, 1, 1), date(2026, 1, 31))
    feb = (date(2026, 2, 1), date(2026, 2, 28))
    assert (explanation.baseline, explanation.actual) == (pipeline(history, *jan), pipeline(history, *feb))
    assert explanation.baseline == 24000  # all 31 days: the opportunity of January 30 counts
    assert explanation.rule == "whole periods"
    assert explanation.baseline_rule == "baseline: whole January 2026 (period finished as of 2026-03-31)"
    assert (explanation.baseline_window, explanation.actual_window) == (Window(*jan), Window(*feb))
    assert explanation.baseline_window.days == 31
    before = (opps(history, *jan), pipeline(history, *jan) / opps(history, *jan))
    after = (opps(history, *feb), pipeline(history, *feb) / opps(history, *feb))
    expected = two_driver_shapley(before, after)
    assert by_driver(explanation) == pytest.approx(
        {"opportunities": expected[0], "avg_opportunity_amount": expected[1]}
    )
    assert sum(by_driver(explanation).values()) == pytest.approx(explanation.change)


def test_full_depth_drivers_read_whole_months_moved_by_their_lag(history):
    explanation = explain(history, "2026-02", "previous", depth=None)
    dec, jan, feb = (
        (date(2025, 12, 1), date(2025, 12, 31)),
        (date(2026, 1, 1), date(2026, 1, 31)),
        (date(2026, 2, 1), date(2026, 2, 28)),
    )
    rows = {c.driver: c for c in explanation.contributions}
    lagged = rows["leads (1 mo. earlier)"]
    # all of December, not December 1-28 (which misses 3 weekdays of leads)
    assert (lagged.baseline, lagged.actual) == (leads(history, *dec), leads(history, *jan))
    assert (lagged.baseline_window, lagged.actual_window) == (Window(*dec), Window(*jan))
    rate = rows["lead_to_mql_rate (1 mo. earlier)"]
    assert (rate.baseline, rate.actual) == pytest.approx(
        (mqls(history, *dec) / leads(history, *dec), mqls(history, *jan) / leads(history, *jan))
    )
    conversion = rows["mql_to_opportunity_rate"]  # opportunities of the month over MQLs of the month before
    assert (conversion.baseline, conversion.actual) == pytest.approx(
        (opps(history, *jan) / mqls(history, *dec), opps(history, *feb) / mqls(history, *jan))
    )
    assert (conversion.baseline_window, conversion.actual_window) == (Window(*jan), Window(*feb))
    assert conversion.inner_lags == {"mqls": 1} and lagged.inner_lags == {}
    assert sum(c.contribution for c in explanation.contributions) == pytest.approx(
        pipeline(history, *feb) - pipeline(history, *jan)
    )


def test_a_finished_month_vs_year_is_compared_with_the_whole_month_a_year_ago(history):
    explanation = explain(history, "2026-02", "year")
    feb25, feb26 = (date(2025, 2, 1), date(2025, 2, 28)), (date(2026, 2, 1), date(2026, 2, 28))
    assert (explanation.baseline, explanation.actual) == (pipeline(history, *feb25), pipeline(history, *feb26))
    assert explanation.baseline_rule == "baseline: whole February 2025 (period finished as of 2026-03-31)"
    before = (opps(history, *feb25), pipeline(history, *feb25) / opps(history, *feb25))
    after = (opps(history, *feb26), pipeline(history, *feb26) / opps(history, *feb26))
    expected = two_driver_shapley(before, after)
    assert by_driver(explanation) == pytest.approx(
        {"opportunities": expected[0], "avg_opportunity_amount": expected[1]}
    )
    # February 2025 against the leap February 2024: all 29 days, the 29th's 700 included
    leap = explain(history, "2025-02", "year")
    feb24 = (date(2024, 2, 1), date(2024, 2, 29))
    assert leap.baseline_window == Window(*feb24) and leap.baseline_window.days == 29
    assert leap.baseline == pipeline(history, *feb24) == 1000


def test_a_month_in_progress_on_day_15_is_compared_with_days_1_to_15(history):
    explanation = explain(history, "2026-03", "previous", as_of=date(2026, 3, 15), depth=None)
    mar, feb, jan = (
        (date(2026, 3, 1), date(2026, 3, 15)),
        (date(2026, 2, 1), date(2026, 2, 15)),
        (date(2026, 1, 1), date(2026, 1, 15)),
    )
    assert (explanation.baseline, explanation.actual) == (pipeline(history, *feb), pipeline(history, *mar))
    assert explanation.rule == "like for like"
    assert explanation.baseline_rule == (
        "baseline: 1-15 Feb 2026, the same 15 days as 1-15 Mar 2026 (period in progress as of 2026-03-15)"
    )
    assert (explanation.baseline_window, explanation.actual_window) == (Window(*feb), Window(*mar))
    lagged = next(c for c in explanation.contributions if c.driver == "leads (1 mo. earlier)")
    assert (lagged.baseline, lagged.actual) == (leads(history, *jan), leads(history, *feb))
    assert (lagged.baseline_window, lagged.actual_window) == (Window(*jan), Window(*feb))


def test_a_quarter_finished_and_in_progress(history):
    finished = explain(history, "2026-Q1", "previous")
    q4, q1 = (date(2025, 10, 1), date(2025, 12, 31)), (date(2026, 1, 1), date(2026, 3, 31))
    assert (finished.baseline, finished.actual) == (pipeline(history, *q4), pipeline(history, *q1))
    assert finished.baseline_rule == "baseline: whole Q4 2025 (period finished as of 2026-03-31)"
    before = (opps(history, *q4), pipeline(history, *q4) / opps(history, *q4))
    after = (opps(history, *q1), pipeline(history, *q1) / opps(history, *q1))
    expected = two_driver_shapley(before, after)
    assert by_driver(finished) == pytest.approx({"opportunities": expected[0], "avg_opportunity_amount": expected[1]})
    # day 45 of Q1 (February 14) against day 45 of Q4 (November 14): November 20 is not counted
    running = explain(history, "2026-Q1", "previous", as_of=date(2026, 2, 14))
    first_45 = (date(2025, 10, 1), date(2025, 11, 14))
    assert running.baseline_window == Window(*first_45) and running.baseline_window.days == 45
    assert (running.baseline, running.actual) == (
        pipeline(history, *first_45),
        pipeline(history, date(2026, 1, 1), date(2026, 2, 14)),
    )
    assert running.baseline_rule == (
        "baseline: 1 Oct-14 Nov 2025, the same 45 days as 1 Jan-14 Feb 2026 (period in progress as of 2026-02-14)"
    )


def test_a_period_not_started_is_a_user_error(history):
    with pytest.raises(KpiframeError) as raised:
        explain(history, "2026-04", "previous")
    assert raised.value.diagnostic.code == "KF854" and "2026-04 has not started" in str(raised.value)


def test_the_cli_states_the_rule_in_json_text_csv_and_the_published_table(history, tmp_path):
    warehouse = tmp_path / "published.duckdb"
    shutil.copy(history.warehouse_spec.path, warehouse)
    args = [
        "--project-dir",
        str(history.root),
        "--warehouse",
        str(warehouse),
        "--period",
        "2026-02",
        "--as-of",
        "2026-03-31",
    ]
    code, out, err = run("explain", "pipeline", *args, "--format", "json", "--depth", "1")
    assert code == 0, err
    data = json.loads(out)
    assert (data["rule"], data["baseline_rule"]) == (
        "whole periods",
        "baseline: whole January 2026 (period finished as of 2026-03-31)",
    )
    assert data["baseline_window"] == {"start": "2026-01-01", "end": "2026-01-31"}
    assert data["actual_window"] == {"start": "2026-02-01", "end": "2026-02-28"}
    assert data["baseline"] == 24000.0

    code, out, err = run("explain", "pipeline", *args)
    assert code == 0, err
    assert "baseline: whole January 2026 (period finished as of 2026-03-31)" in out
    # the lagged drivers' days are shown: December against January
    assert "December 2025 → January 2026" in out and "January 2026 → February 2026; mqls 1 mo. earlier" in out

    code, out, err = run("explain", "pipeline", *args, "--format", "csv", "--depth", "1", "--publish")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {(r["driver"], r["rule"], r["baseline_start"], r["baseline_end"], r["actual_end"]) for r in rows} == {
        ("opportunities", "whole periods", "2026-01-01", "2026-01-31", "2026-02-28"),
        ("avg_opportunity_amount", "whole periods", "2026-01-01", "2026-01-31", "2026-02-28"),
    }
    con = duckdb.connect(str(warehouse), read_only=True)
    published = con.execute(
        "select distinct rule, baseline_start::varchar, baseline_end::varchar from metrics.kpi_explain"
    ).fetchall()
    con.close()
    assert published == [("whole periods", "2026-01-01", "2026-01-31")]
