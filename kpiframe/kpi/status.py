"""`kpiframe status`: every node's actual to date, target, attainment, projection and status."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from kpiframe.kpi.data import Evaluator, Store, equals_filter
from kpiframe.kpi.model import KpiModel
from kpiframe.kpi.pacing import project
from kpiframe.kpi.periods import Period, Window, period_of
from kpiframe.kpi.targets import Dimension, Target, TargetResolver
from kpiframe.kpi.trees import Node, Tree


@dataclass
class StatusRow:
    tree: str
    node: str
    role: str  # kgi | kpi | driver | benchmark (a benchmarked metric outside the tree)
    ksf: str | None
    metric: str
    dimension: str | None
    period: str
    grain: str
    as_of: date
    day: int
    days: int
    actual: float | None
    target: float | None
    attainment: float | None  # actual to date over target; target over actual when lower is better
    gap: float | None  # actual to date minus target
    projection: float | None  # the period's value at its end
    projected_attainment: float | None
    status: str  # on track | at risk | off track | no target | no data
    owner: str | None
    direction: str | None
    timing: str | None
    cadence: str | None
    unit: str | None
    benchmark: str | None
    benchmark_verdict: str | None
    scenario: str
    target_source: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class StatusRun:
    """What a status computation needs: the model, one store per filter, the as-of day and scenario."""

    model: KpiModel
    tree: Tree
    stores: dict[str | None, Store]
    as_of: date
    scenario: str = "plan"
    derive: Callable[[str, Period, str], float | None] | None = None

    def evaluator(self, dimension: Dimension | None = None) -> Evaluator:
        where = equals_filter(*dimension) if dimension else None
        return Evaluator(self.model.algebra, self.stores[where])

    def resolver(self) -> TargetResolver:
        return TargetResolver(
            self.model.targets, self.model.algebra, self.evaluator, self.model.benchmarks, self.as_of, self.derive
        )


def wanted_metrics(model: KpiModel, tree: Tree) -> dict[str | None, list[str]]:
    """Metrics to fetch per filter: the tree's nodes and benchmarked metrics, and per-dimension targets."""
    metrics = list(tree.nodes) + [m for m in model.benchmarks if m not in tree.nodes]
    wanted: dict[str | None, list[str]] = {None: metrics}
    for metric in tree.nodes:
        for dimension in model.targets.dimensions(metric):
            wanted.setdefault(equals_filter(*dimension), []).append(metric)
    return wanted


def compute_status(run: StatusRun) -> list[StatusRow]:
    """One row per node (and per dimension value with targets), then benchmarked metrics outside the tree."""
    resolver = run.resolver()
    projected = {where: _projected(run, store) for where, store in run.stores.items()}
    rows = []
    for node in run.tree.nodes.values():
        rows.append(_row(run, resolver, projected, node, None))
        for dimension in run.model.targets.dimensions(node.metric):
            rows.append(_row(run, resolver, projected, node, dimension))
    for metric in run.model.benchmarks:
        if metric not in run.tree.nodes:
            spec = run.model.algebra.spec(metric)
            watch = Node(
                metric,
                "benchmark",
                spec.label or metric,
                None,
                spec.owner,
                spec.direction,
                spec.timing,
                None,
                "month",
                run.tree.location,
            )
            rows.append(_row(run, resolver, projected, watch, None))
    return rows


def _projected(run: StatusRun, store: Store) -> Store:
    """The store with the rest of the longest period asked for filled by the pacing model."""
    grains = {n.grain or "month" for n in run.tree.nodes.values()} | {"month"}
    until = max(period_of(run.as_of, g).end for g in grains)
    return project(store, store.leaves, until, run.model.settings.pacing)


def _row(
    run: StatusRun,
    resolver: TargetResolver,
    projected: dict[str | None, Store],
    node: Node,
    dimension: Dimension | None,
) -> StatusRow:
    period = period_of(run.as_of, node.grain or "month")
    to_date = Window(period.start, min(run.as_of, period.end))
    evaluator = run.evaluator(dimension)
    lags = run.tree.context_lags(node.metric)
    actual = evaluator.value(node.metric, to_date, lags)
    where = equals_filter(*dimension) if dimension else None
    projection = (
        actual
        if run.as_of >= period.end
        else evaluator.with_store(projected[where]).value(node.metric, period.window, lags)
    )
    target = resolver.target(node.metric, period, run.scenario, dimension)
    spec = run.model.algebra.spec(node.metric)
    benchmark = run.model.benchmarks.get(node.metric)
    attainment = _attainment(actual, target, node.direction)
    projected_attainment = _attainment(projection, target, node.direction)
    return StatusRow(
        tree=run.tree.name,
        node=node.label + (f" ({dimension[1]})" if dimension else "") + _lag_note(lags),
        role=node.role,
        ksf=node.ksf,
        metric=node.metric,
        dimension=f"{dimension[0]}={dimension[1]}" if dimension else None,
        period=period.label,
        grain=period.grain,
        as_of=run.as_of,
        day=to_date.days,
        days=period.days,
        actual=actual,
        target=target.value if target else None,
        attainment=attainment,
        gap=actual - target.value if actual is not None and target and target.value is not None else None,
        projection=projection,
        projected_attainment=projected_attainment,
        status=_status(run, projected_attainment, target, projection),
        owner=node.owner,
        direction=node.direction,
        timing=node.timing,
        cadence=node.cadence,
        unit=spec.unit,
        benchmark=benchmark.describe(spec.unit) if benchmark else None,
        benchmark_verdict=benchmark.verdict(actual) if benchmark else None,
        scenario=run.scenario,
        target_source=target.source if target else None,
    )


def _lag_note(lags: dict[str, int]) -> str:
    return "".join(f" ({name} {months} mo. earlier)" for name, months in lags.items())


def _attainment(value: float | None, target: Target | None, direction: str | None) -> float | None:
    """Share of the target reached; for lower-is-better metrics the target over the value, so >100 % is good."""
    if value is None or target is None or target.value is None:
        return None
    if direction == "lower":
        return target.value / value if value else None
    return value / target.value if target.value else None


def _status(run: StatusRun, projected_attainment: float | None, target: Target | None, projection: float | None) -> str:
    if target is None or target.value is None:
        return "no target"
    if projection is None or projected_attainment is None:
        return "no data"
    thresholds = run.model.settings.status_thresholds
    if projected_attainment >= thresholds.on_track:
        return "on track"
    return "at risk" if projected_attainment >= thresholds.at_risk else "off track"
