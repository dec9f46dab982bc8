"""Value impact: both versions of each changed metric and definition, run on the warehouse, period by period.

Metrics are answered by each version's own compiler (`compile_request` with that version's semantic
layer) over that version's models, built in the sandbox. Definitions are compared entity by entity:
per period of qualification, who is in the old version, who in the new, who leaves and who enters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlglot import exp

from kpiframe.diff.model import EntityPeriod, PeriodValue, Series
from kpiframe.diff.sandbox import Sandbox, Version, models_read_by
from kpiframe.errors import KpiframeError
from kpiframe.load.names import version_model
from kpiframe.sql.calendar import Calendar
from kpiframe.sql.expressions import relocate
from kpiframe.sql.metric_query import MetricRequest, compile_request

EXAMPLES = 3


@dataclass(frozen=True)
class Window:
    grain: str = "month"
    periods: int = 3
    end: date | None = None  # the last period to show; default: the latest with data


@dataclass(frozen=True)
class Comparison:
    """Members of definition `name`: version `old` in the base against version `new` in the head."""

    name: str
    old: int
    new: int

    @property
    def label(self) -> str:
        if self.old == self.new:
            return f"{self.name} v{self.new}: head vs base"
        return f"{self.name} v{self.new} vs v{self.old}"


Values = dict[str, Any]  # period -> value (metrics) or set of entity ids (definitions)
Empty = tuple[float | None, float | None]  # what a period without rows answers: (base, head)


class ImpactRunner:
    def __init__(self, sandbox: Sandbox, base: Version, head: Version, window: Window) -> None:
        self.sandbox, self.base, self.head, self.window = sandbox, base, head, window

    def run(self, metrics: list[str], comparisons: list[Comparison]) -> dict[str, Series]:
        raw: list[tuple[Series, Values | None, Values | None, Empty]] = []
        for name in metrics:
            series = Series(name, "metric", self.base.state.label, self.head.state.label)
            old, new = self._metric(self.base, name, series), self._metric(self.head, name, series)
            spec = (self.head.state.project.graph.metrics.get(name) or self.base.state.project.graph.metrics[name]).spec
            series.unit = spec.unit
            raw.append((series, old, new, (_empty_value(self.base, name), _empty_value(self.head, name))))
        for comparison in comparisons:
            definition = self.head.state.project.graph.definitions[comparison.name].spec
            series = Series(
                comparison.label, "definition", f"v{comparison.old}", f"v{comparison.new}", entity=definition.entity
            )
            if comparison.old == comparison.new:
                series.old_label, series.new_label = f"v{comparison.old} (base)", f"v{comparison.new} (head)"
            old = self._members(self.base, version_model(comparison.name, comparison.old), series)
            new = self._members(self.head, version_model(comparison.name, comparison.new), series)
            raw.append((series, old, new, (0, 0)))
        periods = self._periods([values for _, old, new, _ in raw for values in (old, new) if values])
        for series, old, new, empty in raw:
            if series.error:
                continue
            series.periods = [_period(series.kind, p, old, new, empty) for p in periods]
        return {series.name: series for series, *_ in raw}

    def _periods(self, every: list[Values]) -> list[str]:
        found = sorted(
            {p for values in every for p in values if self.window.end is None or p <= self.window.end.isoformat()}
        )
        return found[-self.window.periods :] if self.window.periods > 0 else []

    def _other(self, version: Version) -> Version:
        return self.head if version is self.base else self.base

    def _metric(self, version: Version, name: str, series: Series) -> Values | None:
        project = version.state.project
        if name not in project.graph.metrics:
            return None
        request = MetricRequest((name,), (), self.window.grain, None, self.window.end)
        try:
            tree = compile_request(project.layer, request)
        except KpiframeError as exc:
            series.error = f"{version.state.label}: {exc.diagnostic.message}"
            return None
        if not self._ready(version, models_read_by(tree, version.models_schema), series):
            return None
        try:
            result = self.sandbox.query(relocate(tree, version.places))
        except KpiframeError as exc:
            series.error = f"{version.state.label}: {exc.diagnostic.message}"
            return None
        return {_iso(row[0]): _number(row[1]) for row in result.rows}

    def _members(self, version: Version, model: str, series: Series) -> Values | None:
        graph = version.state.project.graph
        if model not in graph.models or not self._ready(version, {model}, series):
            return None
        node = version.node(model)
        assert node is not None
        key = node.query.named_selects[0]
        calendar = Calendar(graph.config.calendar.week_start, graph.config.calendar.fiscal_year_start_month)
        place = version.places[(version.models_schema, model)]
        qualified = exp.column("qualified_at", quoted=True)
        query = (
            exp.select(
                calendar.period_start(qualified, self.window.grain).as_("period"),
                exp.cast(exp.column(key, quoted=True), "VARCHAR").as_("entity_id"),
            )
            .from_(place.copy())
            .where(exp.Not(this=exp.Is(this=qualified.copy(), expression=exp.Null())))
        )
        try:
            rows = self.sandbox.query(query).rows
        except KpiframeError as exc:
            series.error = f"{version.state.label}: {exc.diagnostic.message}"
            return None
        members: Values = {}
        for period, entity in rows:
            members.setdefault(_iso(period), set()).add(entity)
        return members

    def _ready(self, version: Version, models: set[str], series: Series) -> bool:
        self.sandbox.build(version, models, views=False, other=self._other(version))
        failed = [f"{m}: {version.failed[m]}" for m in sorted(models) if m in version.failed]
        if failed:
            series.error = f"{version.state.label}: could not build {failed[0]}"
        return not failed


def _empty_value(version: Version, name: str) -> float | None:
    """What the metric answers, in this version, for a period without rows: a simple metric's
    `fill_nulls_with`, else 0 for sums and counts (MetricSpec.empty_value); None (unknown) otherwise."""
    project = version.state.project
    if name not in project.graph.metrics:
        return None
    spec = project.layer.metric(name)
    if spec.type != "simple":
        return None
    return spec.empty_value(project.layer.measures[spec.measure or ""].agg)


def _period(kind: str, period: str, old: Values | None, new: Values | None, empty: Empty) -> PeriodValue:
    if kind == "metric":
        return PeriodValue(
            period,
            old.get(period, empty[0]) if old is not None else None,
            new.get(period, empty[1]) if new is not None else None,
        )
    before: set[str] = (old or {}).get(period, set())
    after: set[str] = (new or {}).get(period, set())
    left, entered = leavers_and_entrants(before, after)
    return EntityPeriod(
        period,
        len(before) if old is not None else None,
        len(after) if new is not None else None,
        len(left),
        len(entered),
        left[:EXAMPLES],
        entered[:EXAMPLES],
    )


def leavers_and_entrants(before: set[str], after: set[str]) -> tuple[list[str], list[str]]:
    """Who leaves a definition (a member before, not after) and who enters it (after, not before), sorted;
    the docs site counts its version-to-version movements with this too."""
    return sorted(before - after), sorted(after - before)


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    return value.isoformat() if isinstance(value, date) else str(value)


def _number(value: Any) -> float | None:
    if value is None:
        return None
    return float(value) if isinstance(value, Decimal) else value
