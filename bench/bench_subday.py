"""Issue 16: an hourly metric query through kpiframe against the same answer in hand-written SQL.

Run: .venv/bin/python bench/bench_subday.py [--scale 5] [--repeat 7] [--grain hour]

The example project is copied to a temporary folder, given demo data (`kpiframe demo --scale S`; 5 is
about a million web sessions) and built once. Then web sessions and leads by the hour over the whole
range (every hour from the first to the last event, 0 where none happened) are asked:
  * hand-written SQL: one DuckDB connection to the built file, a series of hours left-joined to the two
    counts per hour, execute + fetch;
  * kpiframe: `Project.query(metrics=["sessions", "leads"], grain=...)` in this process, the project loaded
    once (each call compiles, counts the spine's periods (the KF435 guard), then runs).
Both answers are checked equal before anything is timed. The two sides alternate; figures are medians
and ranges in milliseconds, printed as Markdown with the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
from bench_serve import prepare  # the example with demo data, built in a temporary folder

REPO = Path(__file__).resolve().parents[1]
HAND_SQL = """
with sessions as (
    select date_trunc('{grain}', started_at) as p, count(distinct session_id) as n
    from analytics.stg_web_sessions where started_at is not null group by 1
), leads as (
    select date_trunc('{grain}', created_at) as p, count(lead_id) as n
    from analytics.stg_leads where created_at is not null group by 1
), bounds as (
    select min(p) as first, max(p) as last from (select p from sessions union all select p from leads)
), periods as (
    select unnest(generate_series((select first from bounds), (select last from bounds), interval 1 {grain})) as p
)
select periods.p, coalesce(sessions.n, 0), coalesce(leads.n, 0)
from periods left join sessions using (p) left join leads using (p)
order by 1
"""


def timed(run: Callable[[], list[tuple[object, ...]]]) -> float:
    started = time.perf_counter()
    run()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--grain", default="hour", choices=["hour", "minute"])
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from kpiframe.project import Project

    root = prepare(args.scale)
    try:
        project = Project.load(root)

        def by_kpiframe() -> list[tuple[object, ...]]:
            return project.query(metrics=["sessions", "leads"], grain=args.grain).rows

        path = str(root / project.warehouse_spec.path)
        rows, times = race(path, HAND_SQL.format(grain=args.grain), by_kpiframe, args.repeat)
        report(f"bench/bench_subday.py --scale {args.scale} --repeat {args.repeat} --grain {args.grain}", rows, times)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def race(
    path: str, hand_sql: str, by_kpiframe: Callable[[], list[tuple[object, ...]]], repeat: int
) -> tuple[int, dict[str, list[float]]]:
    """The rows of the answer (checked equal on both sides first) and `repeat` timings of each side, in
    turns: hand-written SQL on one read-only DuckDB connection to `path`, then kpiframe."""
    con = duckdb.connect(path, read_only=True)

    def by_hand() -> list[tuple[object, ...]]:
        return con.execute(hand_sql).fetchall()

    expected, got = by_hand(), by_kpiframe()
    if expected != got:
        raise SystemExit(f"answers differ: {len(expected)} rows by hand, {len(got)} by kpiframe")
    times: dict[str, list[float]] = {"hand-written SQL": [], "kpiframe": []}
    for _ in range(repeat):
        times["hand-written SQL"].append(timed(by_hand))
        con.close()  # kpiframe opens its own read-only connection: one reader at a time is the fair race
        times["kpiframe"].append(timed(by_kpiframe))
        con = duckdb.connect(path, read_only=True)
    con.close()
    return len(expected), times


def report(command: str, rows: int, times: dict[str, list[float]]) -> None:
    """The figures as Markdown: medians and ranges of each side, with the machine and its load."""
    load = os.getloadavg()
    print(f"`{command}`: {rows:,} rows")
    print(f"(Python {platform.python_version()}, DuckDB {duckdb.__version__}, {os.cpu_count()} CPUs, ", end="")
    print(f"load average after the run {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})\n")
    print("| side | median ms | range ms | median / hand-written |")
    print("|---|---:|---:|---:|")
    hand = statistics.median(times["hand-written SQL"])
    for side, values in times.items():
        median = statistics.median(values)
        print(f"| {side} | {median:,.0f} | {min(values):,.0f}-{max(values):,.0f} | {median / hand:.2f} |")


if __name__ == "__main__":
    main()
