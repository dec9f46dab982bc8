"""Issue 16: a request by two grains (weeks labelled by quarter) through kpiframe against hand-written SQL.

Run: .venv/bin/python bench/bench_two_grains.py [--scale 5] [--repeat 7]

The example project is copied to a temporary folder, given demo data (`kpiframe demo --scale S`) and built
once. Then web sessions (a count distinct) and leads by week and quarter are asked, every (week, quarter)
pair of the range's days, a week straddling two quarters in both (MetricFlow's
`--group-by metric_time__week,metric_time__quarter`):
  * hand-written SQL: one DuckDB connection to the built file, the pairs of a series of days left-joined
    to the two counts per pair, execute + fetch;
  * kpiframe: `Project.query(metrics=["sessions", "leads"], dimensions=["metric_time__week",
    "metric_time__quarter"])` in this process, the project loaded once (each call compiles, then runs).
Both answers are checked equal before anything is timed; the sides alternate (bench_subday's way).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from bench_serve import prepare  # the example with demo data, built in a temporary folder
from bench_subday import race, report

REPO = Path(__file__).resolve().parents[1]
HAND_SQL = """
with sessions as (
    select date_trunc('week', started_at)::date as w, date_trunc('quarter', started_at)::date as q,
        count(distinct session_id) as n
    from analytics.stg_web_sessions where started_at is not null group by 1, 2
), leads as (
    select date_trunc('week', created_at)::date as w, date_trunc('quarter', created_at)::date as q,
        count(lead_id) as n
    from analytics.stg_leads where created_at is not null group by 1, 2
), bounds as (
    select min(w) as first, max(w) as last from (select w from sessions union all select w from leads)
), pairs as (
    select distinct date_trunc('week', d)::date as w, date_trunc('quarter', d)::date as q
    from (select unnest(generate_series((select first from bounds), (select last from bounds) + interval 6 day,
                                        interval 1 day))::date as d)
)
select pairs.w, pairs.q, coalesce(sessions.n, 0), coalesce(leads.n, 0)
from pairs left join sessions using (w, q) left join leads using (w, q)
order by 1, 2
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from kpiframe.project import Project

    root = prepare(args.scale)
    try:
        project = Project.load(root)

        def by_kpiframe() -> list[tuple[object, ...]]:
            asked = ["metric_time__week", "metric_time__quarter"]
            return project.query(metrics=["sessions", "leads"], dimensions=asked).rows

        rows, times = race(str(root / project.warehouse_spec.path), HAND_SQL, by_kpiframe, args.repeat)
        report(f"bench/bench_two_grains.py --scale {args.scale} --repeat {args.repeat}", rows, times)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
