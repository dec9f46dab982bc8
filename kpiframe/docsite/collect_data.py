"""The docs site's data pages once the project is built, asked of the facades as the CLI commands ask them:
`KpiSession` for the KPI trees, targets and projections (what `kpiframe status` shows),
`Project.query_with_coverage` for the monthly trends, `Project.funnel` for the funnels; the movements
between definition versions from the members collect_snapshot.py read.

Trends are batched: metrics whose queries scan the same datasets and time columns (with the same
filters where a scan is filtered throughout) share one query, which answers each of them with exactly
the periods it gets alone. A page that fails on its own is left out with a line in `problems`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from kpiframe.docsite.collect_snapshot import WarehouseState
from kpiframe.docsite.model import (
    FunnelCohort,
    FunnelStage,
    FunnelView,
    Movement,
    SiteData,
    TreeNode,
    TreeView,
    TrendSeries,
)
from kpiframe.errors import KpiframeError
from kpiframe.kpi.periods import Period, period_of
from kpiframe.semantic.funnels import window_closed
from kpiframe.semantic.layer import SemanticLayer, reached_measures

if TYPE_CHECKING:
    from kpiframe.kpi.data import Evaluator
    from kpiframe.kpi.session import KpiSession
    from kpiframe.kpi.status import StatusRow
    from kpiframe.project import Project

TREND_GRAIN = "month"
METRICS_PER_QUERY = 100  # a trend query's SQL grows with its metrics; a few big queries beat many small ones
T = TypeVar("T")


class DataCollector:
    """Fills the data pages of a SiteData from the state read and the facades."""

    def __init__(self, project: Project, state: WarehouseState, site: SiteData, tell: Callable[[str], None]) -> None:
        self.project, self.state, self.site, self.tell = project, state, site, tell
        self.problems = site["problems"]

    def collect(self, period: Period | None, grains: dict[str, list[str]]) -> None:
        self.site["runs"], self.site["expectations"] = self.state.runs, self.state.expectations
        self.problems.extend(self.state.problems)
        if not self.state.built:
            return
        self.tell("definition movements")
        self._movements()
        session = self._session()
        if session is not None and session.model.trees:
            self.tell(f"{len(session.model.trees)} KPI tree(s)")
            self.site["trees"] = self._trees(session, period)
        self.tell("trends")
        self.site["trends"] = self._trends([m for m, g in grains.items() if TREND_GRAIN in g], session)
        if self.project.graph.funnels:
            self.tell(f"{len(self.project.graph.funnels)} funnel(s)")
            self.site["funnels"] = [f for f in map(self._funnel, self.project.graph.funnels) if f is not None]

    def _guarded(self, what: str, run: Callable[[], T]) -> T | None:
        try:
            return run()
        except KpiframeError as exc:
            self.problems.append(f"{what}: {exc.diagnostic.message}")
            return None

    # --- definitions -------------------------------------------------------------------------------------
    def _movements(self) -> None:
        from kpiframe.diff.impact import leavers_and_entrants

        for view in self.site["definitions"]:
            members = self.state.members.get(view["name"])
            if members is None:
                continue
            versions = [v["version"] for v in view["versions"]]
            for old, new in zip(versions, versions[1:], strict=False):
                before, after = members.get(old, set()), members.get(new, set())
                leavers, entrants = leavers_and_entrants(before, after)
                view["movements"].append(
                    Movement(
                        from_version=old,
                        to_version=new,
                        entrants=len(entrants),
                        leavers=len(leavers),
                        both=len(before & after),
                    )
                )

    # --- KPI trees -----------------------------------------------------------------------------------------
    def _session(self) -> KpiSession | None:
        """The KPI model with its data as of the last day with data (what `kpiframe status` counts up to)."""
        from kpiframe.kpi.session import KpiSession

        def open_session() -> KpiSession:
            session = KpiSession(self.project)
            _ = session.as_of  # fetches the data, so that a warehouse problem shows here
            return session

        return self._guarded("KPI data", open_session)

    def _trees(self, base: KpiSession, period: Period | None) -> list[TreeView]:
        views = []
        for name in base.model.trees:
            view = self._guarded(f"KPI tree {name}", partial(self._tree, base, name, period))
            if view is not None:
                views.append(view)
        return views

    def _tree(self, base: KpiSession, name: str, period: Period | None) -> TreeView:
        """One tree's status: as `kpiframe status --tree NAME` shows it, or as of the end of `period`."""
        from kpiframe.kpi.session import KpiSession

        alone = len(base.model.trees) == 1  # then the base session is that tree's own
        if period is None:
            session = base if alone else KpiSession(self.project, name)
        else:
            as_of = min(period.end, base.as_of)
            if period.start > base.as_of:
                self.problems.append(
                    f"KPI tree {name}: {period.label} starts after the last day with data ({base.as_of}), "
                    "so the tree shows the periods of that day"
                )
            same = alone and as_of == base.as_of
            session = base if same else KpiSession(self.project, name, as_of, base.scenario)
        tree = session.tree
        rows = [r for r in session.status() if r.dimension is None and r.role != "benchmark"]
        return _tree_view(tree.name, tree.label, rows, {m: f.children for m, f in tree.formulas.items()})

    # --- trends --------------------------------------------------------------------------------------------
    def _trends(self, metrics: list[str], session: KpiSession | None) -> list[TrendSeries]:
        """Monthly series of every metric with data; metrics that scan alike share a query."""
        groups: dict[frozenset[tuple[tuple[str, str], frozenset[str | None] | None]], list[str]] = {}
        for name in metrics:
            key = scan_key(self.project.layer, name)
            if key:  # a metric over no measure has no rows to show
                groups.setdefault(key, []).append(name)
        pace = _Pace(session) if session is not None else None
        units = self.project.units()
        series: dict[str, TrendSeries] = {}
        for names in groups.values():
            for chunk in _chunks(names, METRICS_PER_QUERY):
                for name, found in self._query(chunk, pace, units):
                    series[name] = found
        return [series[name] for name in metrics if name in series]

    def _query(self, names: list[str], pace: _Pace | None, units: dict[str, str]) -> Iterator[tuple[str, TrendSeries]]:
        try:
            result, coverage = self.project.query_with_coverage(metrics=names, grain=TREND_GRAIN)
        except KpiframeError as exc:
            if len(names) > 1:  # find the one that fails, keep the others
                for name in names:
                    yield from self._query([name], pace, units)
            else:
                self.problems.append(f"trend of {names[0]}: {exc.diagnostic.message}")
            return
        for name in names:
            column = result.columns.index(name)
            points = [(_day(row[0]).isoformat(), _number(row[column])) for row in result.rows]
            if not any(value for _, value in points):
                continue  # no data (or only zeros): nothing to draw
            last = _day(result.rows[-1][0])
            cover = coverage.get(result.rows[-1][0])
            in_progress = last if cover is not None and cover.complete is False else None
            months = [_day(row[0]) for row in result.rows]
            yield (
                name,
                TrendSeries(
                    metric=name,
                    grain=TREND_GRAIN,
                    points=points,
                    targets=pace.targets(name, months) if pace else [],
                    in_progress=in_progress.isoformat() if in_progress else None,
                    projection=pace.projection(name, in_progress) if pace and in_progress else None,
                    unit=units.get(name),
                ),
            )

    # --- funnels -------------------------------------------------------------------------------------------
    def _funnel(self, name: str) -> FunnelView | None:
        spec = self.project.graph.funnels[name].spec
        answer = self._guarded(f"funnel {name}", lambda: self.project.funnel(name, grain=TREND_GRAIN))
        if answer is None:
            return None
        result, bottleneck = answer
        newest = self.state.newest_entry.get(name)
        cohorts: dict[date, list[FunnelStage]] = {}
        for row in result.as_dicts():
            cohorts.setdefault(_day(row["cohort_start"]), []).append(
                FunnelStage(
                    stage=str(row["stage"]),
                    entities=int(row["entities"] or 0),
                    conversion_from_previous=_number(row["conversion_from_previous"]),
                    conversion_from_first=_number(row["conversion_from_first"]),
                )
            )
        return FunnelView(
            name=name,
            stages=[s.name for s in spec.stages],
            window_days=spec.window_days,
            cohorts=[
                FunnelCohort(
                    cohort_start=start.isoformat(),
                    stages=stages,
                    window_closed=window_closed(start, TREND_GRAIN, spec.window_days, newest),
                )
                for start, stages in sorted(cohorts.items())
            ],
            bottleneck=bottleneck,
        )


def scan_key(layer: SemanticLayer, metric: str) -> frozenset[tuple[tuple[str, str], frozenset[str | None] | None]]:
    """What decides the periods of a metric's query: the (dataset, time column) scans its measures need,
    each with its metric filters when all of them are filtered (the scan then keeps only the periods
    where some filter matched). Metrics of one key, asked together, get exactly the periods each gets
    alone, so batching them never changes a trend."""
    scans: dict[tuple[str, str], set[str | None]] = {}
    for spec, measure in reached_measures(layer, [metric]):
        scans.setdefault((measure.dataset, measure.time_name), set()).add(spec.filter)
    return frozenset((scan, None if None in filters else frozenset(filters)) for scan, filters in scans.items())


def _tree_view(name: str, label: str, rows: list[StatusRow], formulas: dict[str, list[str]]) -> TreeView:
    """A tree's status rows as nodes, each named as `kpiframe status` names it (a repeated name gets its metric)."""
    names: dict[str, str] = {}
    for row in rows:
        names[row.metric] = row.node if row.node not in names.values() else f"{row.node} [{row.metric}]"
    nodes = [
        TreeNode(
            node=names[row.metric],
            metric=row.metric,
            role=row.role,
            ksf=row.ksf,
            children=[names[child] for child in formulas.get(row.metric, []) if child in names],
            period=row.period,
            actual=row.actual,
            target=row.target,
            attainment=row.attainment,
            projection=row.projection,
            projected_attainment=row.projected_attainment,
            status=row.status,
            unit=row.unit,
        )
        for row in rows
    ]
    kgi = next((r for r in rows if r.role == "kgi"), rows[0] if rows else None)
    return TreeView(
        name=name,
        label=label,
        period=kgi.period if kgi else "",
        as_of=kgi.as_of.isoformat() if kgi else "",
        day=kgi.day if kgi else 0,
        days=kgi.days if kgi else 0,
        nodes=nodes,
    )


class _Pace:
    """Targets per month and the projection of the month in progress, as `kpiframe status` works them out."""

    def __init__(self, session: KpiSession) -> None:
        model = session.model
        self.session, self.model = session, model
        self.resolver = session.resolver()
        # what the session fetched: tree nodes, metrics with targets, benchmarked metrics
        self.tracked = model.targets.metrics() | set(model.benchmarks)
        self.tracked |= {metric for tree in model.trees.values() for metric in tree.nodes}
        self.month_targets: dict[str, set[date]] = {}
        for entry in model.targets.entries:
            if entry.period.grain == TREND_GRAIN and entry.dimension is None:
                self.month_targets.setdefault(entry.metric, set()).add(entry.period.start)
        self._projected: Evaluator | None = None

    def targets(self, metric: str, months: Iterable[date]) -> list[tuple[str, float]]:
        """The target of every month shown, and of the later months the targets file sets."""
        if metric not in self.tracked:
            return []
        found = []
        for start in sorted({*months, *self.month_targets.get(metric, set())}):
            try:
                target = self.resolver.target(metric, Period(TREND_GRAIN, start), self.session.scenario)
            except KpiframeError:
                continue  # a target that cannot be worked out is shown as none, as status does
            if target is not None and target.value is not None:
                found.append((start.isoformat(), float(target.value)))
        return found

    def projection(self, metric: str, month: date) -> float | None:
        """The month's value at its end, paced from the last day with data; only for the month of that day."""
        algebra = self.model.algebra
        if metric not in self.tracked or period_of(self.session.as_of, TREND_GRAIN).start != month:
            return None
        if algebra.unsupported(metric) is not None:
            return None
        evaluator = self._evaluator()
        if any(leaf not in evaluator.store.series for leaf in algebra.leaves(metric)):
            return None  # not fetched for status: no projection rather than a guess
        return evaluator.value(metric, Period(TREND_GRAIN, month).window)

    def _evaluator(self) -> Evaluator:
        from kpiframe.kpi.data import Evaluator
        from kpiframe.kpi.pacing import project

        if self._projected is None:
            store = self.session.stores[None]
            until = period_of(self.session.as_of, TREND_GRAIN).end
            projected = project(store, store.leaves, until, self.model.settings.pacing)
            self._projected = Evaluator(self.model.algebra, projected)
        return self._projected


def _chunks(names: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(names), size):
        yield names[start : start + size]


def _day(value: Any) -> date:
    return value.date() if isinstance(value, datetime) else value


def _number(value: Any) -> float | None:
    if value is None:
        return None
    return float(value) if isinstance(value, (int, float, Decimal)) else None
