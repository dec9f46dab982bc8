"""Days, weeks and months of a TIMESTAMP WITH TIME ZONE are counted in the project's time zone
(`calendar: time_zone:`, UTC by default), whatever the machine's zone: before, DuckDB took the process's
TZ, so the same rows gave other monthly numbers on a laptop in California than in CI. Every expected
number comes from SQL written here, run in a DuckDB session set to the zone by hand."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from kpiframe.cli.main import main
from kpiframe.errors import ProjectInvalid
from kpiframe.project import Project
from tests.conftest import built_project, write_files

FILES = {
    "kpi_project.yml": """
        name: zones
        warehouse: {path: zones.duckdb}
    """,
    "models/sources.yml": """
        sources:
          - name: raw
            schema: raw
            tables:
              - name: signups
                columns: [signup_id, {name: signed_up_at, type: TIMESTAMP WITH TIME ZONE}]
    """,
    "models/stg_signups.sql": "select * from {{ source('raw', 'signups') }}",
    "metrics/signups.yml": """
        datasets:
          - name: signups
            model: stg_signups
            time: signed_up_at
            entities: [{name: signup, type: primary, expr: signup_id}]
            measures: [{name: signup_count, agg: count, expr: signup_id}]
        metrics:
          - {name: signups, measure: signup_count}
        tables:
          - {name: signups_monthly, grain: month, metrics: [signups]}
    """,
    "metrics/tests.yml": """
        metric_tests:
          - name: month_edges_in_utc
            given:
              raw.signups:
                - {signup_id: a, signed_up_at: "2026-01-31 23:30:00+00"}
                - {signup_id: b, signed_up_at: "2026-02-01 00:30:00+00"}
            expect:
              - metrics: [signups]
                grain: month
                rows:
                  - {period_start: 2026-01-01, signups: 1}
                  - {period_start: 2026-02-01, signups: 1}
    """,
}

# around the turn of January in UTC: 23:30 on the 31st, 00:30 and 06:00 on February 1st, and 20:00 on
# February 28th (March 1st in Tokyo)
ROWS = """
    create schema raw;
    create table raw.signups (signup_id varchar, signed_up_at timestamptz);
    insert into raw.signups values
      ('a', '2026-01-31 23:30:00+00'), ('b', '2026-02-01 00:30:00+00'), ('c', '2026-02-01 06:00:00+00'),
      ('d', '2026-02-28 20:00:00+00');
"""


def by_month_in(zone: str) -> list[tuple]:
    con = duckdb.connect()
    con.execute(f"set TimeZone = '{zone}'")
    con.execute(ROWS)
    return con.execute(
        "select date_trunc('month', signed_up_at)::date, count(*) from raw.signups group by 1 order by 1"
    ).fetchall()


def cli(root: Path, zone: str, *args: str) -> str:
    """The command in a new process whose machine time zone (TZ) is `zone`, as a user's shell would run it."""
    done = subprocess.run(
        [sys.executable, "-m", "kpiframe.cli.main_entry", *args, "--project-dir", str(root)],
        env={**os.environ, "TZ": zone},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_machine_time_zone_changes_no_number(tmp_path: Path):
    root = write_files(tmp_path / "zones", FILES)
    with duckdb.connect(str(root / "zones.duckdb")) as con:
        con.execute(ROWS)
    expected = "\n".join(["period_start,signups", *(f"{day},{n}" for day, n in by_month_in("UTC"))])
    assert by_month_in("America/Los_Angeles") != by_month_in("UTC")  # the rows do straddle the zones
    for zone in ("America/Los_Angeles", "Asia/Tokyo", "UTC"):
        cli(root, zone, "build")
        csv = cli(root, zone, "query", "--metric", "signups", "--grain", "month", "--format", "csv")
        assert "\n".join(line.rsplit(",", 1)[0] for line in csv.strip().splitlines()) == expected, zone
        assert "1 passed" in cli(root, zone, "test", "--metrics-only")  # the metric test's months too
    with duckdb.connect(str(root / "zones.duckdb"), read_only=True) as con:
        published = con.execute("select period_start, signups from metrics.signups_monthly order by 1").fetchall()
    assert published == by_month_in("UTC")


def test_the_calendar_time_zone_decides_the_day(tmp_path: Path):
    files = {
        **FILES,
        "kpi_project.yml": "name: zones\nwarehouse: {path: zones.duckdb}\ncalendar: {time_zone: Asia/Tokyo}\n",
    }
    project = built_project(tmp_path / "tokyo", files, "zones.duckdb", ROWS)
    result = project.query(metrics=["signups"], grain="month")
    assert result.rows == by_month_in("Asia/Tokyo") == [(date(2026, 2, 1), 3), (date(2026, 3, 1), 1)]
    # and the metric test, whose rows were written for UTC months, now counts Tokyo's
    failed = CliRunner().invoke(main, ["test", "--metrics-only", "--project-dir", str(project.root)])
    assert failed.exit_code == 3 and "month_edges_in_utc" in failed.output


@pytest.mark.parametrize(
    ("calendar", "message"),
    [
        ("calendar: {time_zone: Mars/Olympus_Mons}", "unknown time zone 'Mars/Olympus_Mons'"),
        ('calendar: {time_zone: "UTC\'; drop table x"}', "unknown time zone"),
    ],
)
def test_an_unknown_zone_is_refused_at_its_line(tmp_path: Path, calendar: str, message: str):
    files = {**FILES, "kpi_project.yml": f"name: zones\nwarehouse: {{path: zones.duckdb}}\n{calendar}\n"}
    root = write_files(tmp_path / "bad", files)
    with pytest.raises(ProjectInvalid) as refused:
        Project.load(root)
    rendered = refused.value.render()
    assert message in rendered and "kpi_project.yml:3:" in rendered


def test_time_zone_under_warehouse_points_to_calendar(tmp_path: Path):
    files = {**FILES, "kpi_project.yml": "name: zones\nwarehouse: {path: zones.duckdb, time_zone: UTC}\n"}
    root = write_files(tmp_path / "misplaced", files)
    with pytest.raises(ProjectInvalid) as refused:
        Project.load(root)
    assert "kpi_project.yml:2:" in refused.value.render() and "calendar" in refused.value.render()


def test_hours_are_the_calendar_zones_wall_clock_hours(tmp_path: Path):
    # Kolkata is UTC+05:30: its hours start at half past the hour in UTC, so a UTC hour would split them
    files = {
        **FILES,
        "kpi_project.yml": "name: zones\nwarehouse: {path: zones.duckdb}\ncalendar: {time_zone: Asia/Kolkata}\n",
    }
    project = built_project(tmp_path / "kolkata", files, "zones.duckdb", ROWS)
    window = {"start_time": "2026-02-01T05:00", "end_time": "2026-02-01T11:00"}
    result = project.query(metrics=["signups"], grain="hour", **window)
    con = duckdb.connect()
    con.execute("set TimeZone = 'Asia/Kolkata'")
    con.execute(ROWS)
    expected = con.execute(
        "select h, (select count(*) from raw.signups where date_trunc('hour', signed_up_at)::timestamp = h) "
        "from unnest(generate_series(timestamp '2026-02-01 05:00', timestamp '2026-02-01 11:00', interval 1 hour)) t(h)"
    ).fetchall()
    assert result.rows == expected
    # 23:30 UTC on 31 January is 05:00 in Kolkata, 00:30 UTC is 06:00, 06:00 UTC is 11:30
    assert [n for _, n in result.rows] == [1, 1, 0, 0, 0, 0, 1]
    # an instant with its own offset is that moment, read on the project's clock
    offsets = {"start_time": "2026-01-31T23:30:00Z", "end_time": "2026-02-01T00:30:00-05:00"}
    assert project.query(metrics=["signups"], grain="hour", **offsets).rows == result.rows
    # and its day is the project's: 20:00 in Los Angeles on 1 February is 09:30 on the 2nd in Kolkata
    late = project.query(metrics=["signups"], grain="day", start_time="2026-02-01T20:00:00-08:00")
    assert late.rows[0][0] == date(2026, 2, 2)
