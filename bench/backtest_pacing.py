"""Backtest of `kpiframe status` projections against the straight line, over the demo data's history.

For every as-of day, project the month (and the quarter) that contains it to its end, once with
kpiframe's pacing (weekday profile × month-of-year index, kpiframe.kpi.pacing) and once with the
straight line (the period's daily average so far, continued), and compare both with the period's actual
value. Each projection only sees the days up to its as-of day. Prints the MAPE per metric, and over all
metrics by how far into the period the as-of day is. Results are in docs/kpi-pacing.md.

    kpiframe demo --warehouse /tmp/x.duckdb && kpiframe build --warehouse /tmp/x.duckdb
    python bench/backtest_pacing.py --warehouse /tmp/x.duckdb [--project-dir .] [--weeks 8] [--no-seasonality]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from datetime import date, timedelta
from statistics import mean

from kpiframe.kpi.algebra import MetricAlgebra
from kpiframe.kpi.data import Evaluator, Store, fetch_store
from kpiframe.kpi.pacing import project, project_straight
from kpiframe.kpi.periods import Period, period_of
from kpiframe.kpi.specs import PacingSettings
from kpiframe.project import Project

METRICS = ("leads", "mqls", "opportunities", "pipeline", "ad_spend", "sessions", "lead_to_mql_rate", "cost_per_mql")
THIRDS = ("first third", "second third", "last third")


@dataclass
class Errors:
    """Absolute percentage errors of both methods, per metric and per third of the period elapsed."""

    paced: dict[str, list[float]] = field(default_factory=dict)
    straight: dict[str, list[float]] = field(default_factory=dict)

    def add(self, keys: tuple[str, ...], paced: float, straight: float) -> None:
        for key in keys:
            self.paced.setdefault(key, []).append(paced)
            self.straight.setdefault(key, []).append(straight)


def backtest(
    evaluator: Evaluator, store: Store, metrics: tuple[str, ...], grain: str, settings: PacingSettings, since: date
) -> Errors:
    errors = Errors()
    day = since
    while day < store.last:
        period = period_of(day, grain)
        if period.end <= store.last and day < period.end:
            _score(evaluator, store, metrics, period, day, settings, errors)
        day += timedelta(days=1)
    return errors


def _score(
    evaluator: Evaluator,
    store: Store,
    metrics: tuple[str, ...],
    period: Period,
    day: date,
    settings: PacingSettings,
    errors: Errors,
) -> None:
    seen = store.until(day)
    paced = evaluator.with_store(project(seen, seen.leaves, period.end, settings))
    straight = evaluator.with_store(project_straight(seen, seen.leaves, period.window))
    third = THIRDS[min(2, 3 * ((day - period.start).days + 1) // (period.days + 1))]
    for metric in metrics:
        actual = evaluator.value(metric, period.window)
        if not actual:
            continue
        by_pace, by_line = paced.value(metric, period.window), straight.value(metric, period.window)
        errors.add(
            (metric, third, "all"),
            abs((by_pace or 0.0) - actual) / abs(actual),
            abs((by_line or 0.0) - actual) / abs(actual),
        )


def report(errors: Errors, grain: str, since: date, last: date, settings: PacingSettings) -> None:
    print(
        f"\n{grain}: MAPE of the projection to period end, as-of days {since}..{last} "
        f"(weeks={settings.weeks}, seasonality={settings.seasonality})"
    )
    print(f"{'':<20}{'pacing':>10}{'straight':>10}{'projections':>13}")
    for key in (*METRICS, *THIRDS, "all"):
        if key in errors.paced:
            paced, straight = errors.paced[key], errors.straight[key]
            print(f"{key:<20}{mean(paced):>9.1%}{mean(straight):>10.1%}{len(paced):>13}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project-dir", default=".")
    parser.add_argument("--warehouse", default=None)
    parser.add_argument("--weeks", type=int, default=8, help="trailing weeks of the weekday profile")
    parser.add_argument("--no-seasonality", action="store_true", help="leave out the month-of-year index")
    parser.add_argument(
        "--since",
        type=date.fromisoformat,
        default=None,
        help="first as-of day (default: 8 weeks after the first day of data)",
    )
    args = parser.parse_args()
    project_ = Project.load(args.project_dir, warehouse=args.warehouse)
    algebra = MetricAlgebra(project_.graph, project_.layer)
    leaves = [leaf for metric in METRICS for leaf in algebra.leaves(metric)]
    last = project_.query(metrics=["sessions"], grain="day").rows[-1][0]
    store = fetch_store(project_, leaves, last)
    evaluator = Evaluator(algebra, store)
    settings = PacingSettings(weeks=args.weeks, seasonality=not args.no_seasonality)
    since = args.since or store.first + timedelta(weeks=8)
    for grain in ("month", "quarter"):
        report(backtest(evaluator, store, METRICS, grain, settings, since), grain, since, last, settings)


if __name__ == "__main__":
    main()
