"""Targets derived backwards: from a KGI target down the tree's formulas to every node's required value.

The KGI's period target is split into months (by its month-of-year index, so a weak August asks for
less), then each formula is solved month by month for one child while the other children keep their
trailing history (a rate over the last N complete months, read with the formula's lags). A child read
with a lag is required that many months earlier: leads of December feed opportunities of January.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from kpiframe.kpi.algebra import Expr, evaluate
from kpiframe.kpi.data import Evaluator
from kpiframe.kpi.pacing import seasonal_index
from kpiframe.kpi.periods import Period, Window, period_of
from kpiframe.kpi.targets import trailing_window
from kpiframe.kpi.trees import Tree


@dataclass
class PlanRow:
    metric: str
    role: str  # target | solved | assumption | not linked
    period: str
    required: float | None
    basis: str
    grain: str = "window"  # window: the node's total; month: one month of it


@dataclass
class Plan:
    tree: str
    metric: str
    period: Period
    target: float
    history: Window  # the months the assumptions come from
    monthly: dict[str, dict[Period, float | None]] = field(default_factory=dict)
    assumptions: dict[str, float | None] = field(default_factory=dict)
    rows: list[PlanRow] = field(default_factory=list)

    def total(self, metric: str, additive: bool) -> float | None:
        values = list(self.monthly.get(metric, {}).values())
        if not values or any(v is None for v in values):
            return None
        numbers = [v for v in values if v is not None]
        return sum(numbers) if additive else sum(numbers) / len(numbers)


def solve(expr: Expr, unknown: str, known: dict[str, float | None], goal: float, start: float = 1.0) -> float | None:
    """The value of `unknown` that makes `expr` equal `goal`, the others held at `known`.

    Linear in the unknown (sums, products) is solved exactly; otherwise (the unknown divides) by secant.
    """

    def f(x: float) -> float | None:
        return evaluate(expr, lambda name: x if name == unknown else known.get(name))

    f1, f2, f3 = f(1.0), f(2.0), f(3.0)
    if f1 is not None and f2 is not None and f3 is not None and abs((f3 - f2) - (f2 - f1)) <= 1e-9 * max(1.0, abs(f3)):
        return 1.0 + (goal - f1) / (f2 - f1) if f2 != f1 else None
    x0, x1 = start or 1.0, (start or 1.0) * 1.1
    for _ in range(100):
        y0, y1 = f(x0), f(x1)
        if y0 is None or y1 is None or y1 == y0:
            return None
        x0, x1 = x1, x1 - (y1 - goal) * (x1 - x0) / (y1 - y0)
        if abs(x1 - x0) <= 1e-12 * max(1.0, abs(x1)):
            return x1
    return None


def plan_targets(
    tree: Tree, evaluator: Evaluator, metric: str, period: Period, target: float, window: int, as_of: date
) -> Plan:
    """Required value of every node under `metric` for `target` in `period`, with the assumptions used."""
    algebra = evaluator.algebra
    history = trailing_window("month", window, min(as_of, period.start - timedelta(days=1)))
    plan = Plan(tree.name, metric, period, target, history)
    plan.monthly[metric] = _split(evaluator, metric, period, target)
    _walk(tree, evaluator, plan, metric)
    _rows(tree, plan, lambda m: algebra.is_additive(m))
    return plan


def _split(evaluator: Evaluator, metric: str, period: Period, target: float) -> dict[Period, float | None]:
    """A volume's period target over its months by days × month-of-year index; a rate is the same each month."""
    months = period.months()
    if not evaluator.algebra.is_additive(metric):
        return {m: target for m in months}
    index = {m: 1.0 for m in range(1, 13)}
    for leaf in evaluator.algebra.leaves(metric)[:1]:
        index = seasonal_index(evaluator.store, leaf)
    weights = [m.days * index[m.start.month] for m in months]
    return {m: target * w / sum(weights) for m, w in zip(months, weights, strict=True)}


def _walk(tree: Tree, evaluator: Evaluator, plan: Plan, metric: str) -> None:
    formula = tree.formulas.get(metric)
    if formula is None:
        return
    unknown = tree.solve_child(formula)
    known: dict[str, float | None] = {}
    plan.monthly.setdefault(unknown, {})  # keeps the walk's order: the solved child first
    for child in formula.children:
        if child != unknown:
            known[child] = evaluator.value(child, plan.history, formula.lags)
            plan.assumptions[child] = known[child]
            shift = formula.lags.get(child, 0)
            plan.monthly[child] = {m.shift(-shift): known[child] for m in plan.monthly[metric]}
    start = evaluator.value(unknown, plan.history, formula.lags) or 1.0
    lag = formula.lags.get(unknown, 0)
    solved: dict[Period, float | None] = {}
    for month, required in plan.monthly[metric].items():
        value = solve(formula.expr, unknown, known, required, start) if required is not None else None
        solved[month.shift(-lag)] = value
    plan.monthly[unknown] = solved
    _walk(tree, evaluator, plan, unknown)


def _rows(tree: Tree, plan: Plan, additive: Callable[[str], bool]) -> None:
    history = f"trailing {plan.history.label}"
    walked = [m for m in plan.monthly if m in tree.nodes]
    for node in [tree.nodes[m] for m in walked] + [n for n in tree.nodes.values() if n.metric not in walked]:
        months = plan.monthly.get(node.metric)
        if months is None:
            plan.rows.append(
                PlanRow(
                    node.metric,
                    "not linked",
                    plan.period.label,
                    None,
                    f"no formula links it to {plan.metric}; keep its own target",
                )
            )
            continue
        label = Window(min(m.start for m in months), max(m.end for m in months)).label
        role, basis = _role(tree, plan, node.metric, history)
        plan.rows.append(PlanRow(node.metric, role, label, plan.total(node.metric, additive(node.metric)), basis))
        for month, value in sorted(months.items()):
            plan.rows.append(PlanRow(node.metric, role, month.label, value, basis, "month"))


def _role(tree: Tree, plan: Plan, metric: str, history: str) -> tuple[str, str]:
    if metric == plan.metric:
        return "target", f"{plan.metric} {plan.period.label} target, split by days × month-of-year index"
    parent = next(f for f in tree.formulas.values() if metric in f.children and f.metric in plan.monthly)
    lag = parent.lags.get(metric, 0)
    lag_text = f"; needed {lag} month(s) before {parent.metric}" if lag else ""
    if metric in plan.assumptions:
        lagged = ", ".join(f"{name} {months} month(s) earlier" for name, months in parent.lags.items())
        return "assumption", f"{history}" + (f" ({lagged})" if lagged else "")
    return "solved", f"{parent.metric} = {parent.text}{lag_text}"


class Deriver:
    """Derived targets of a node: plan the KGI's target periods its months feed, take the node's share."""

    def __init__(
        self,
        tree: Tree,
        evaluator: Evaluator,
        kgi_grain: str,
        window: int,
        as_of: date,
        kgi_target: Callable[[Period, str], float | None],
    ) -> None:
        self.tree, self.evaluator, self.kgi_grain = tree, evaluator, kgi_grain
        self.window, self.as_of, self.kgi_target = window, as_of, kgi_target
        self._plans: dict[tuple[Period, str], Plan | None] = {}

    def derive(self, metric: str, period: Period, scenario: str) -> float | None:
        lead = self._lead(self.tree.kgi.metric, metric)
        if lead is None:
            return None
        values = []
        for month in period.months():
            kgi_period = period_of(month.shift(lead).start, self.kgi_grain)
            plan = self._plan(kgi_period, scenario)
            values.append(plan.monthly.get(metric, {}).get(month) if plan else None)
        if any(v is None for v in values):
            return None
        numbers = [v for v in values if v is not None]
        return sum(numbers) if self.evaluator.algebra.is_additive(metric) else sum(numbers) / len(numbers)

    def _lead(self, node: str, metric: str) -> int | None:
        """Months by which `metric` precedes the KGI along the formulas (None when not below it)."""
        if node == metric:
            return 0
        formula = self.tree.formulas.get(node)
        for child in formula.children if formula else []:
            below = self._lead(child, metric)
            if below is not None:
                return below + formula.lags.get(child, 0) if formula else below
        return None

    def _plan(self, period: Period, scenario: str) -> Plan | None:
        if (period, scenario) not in self._plans:
            target = self.kgi_target(period, scenario)
            self._plans[(period, scenario)] = (
                None
                if target is None
                else plan_targets(
                    self.tree,
                    self.evaluator,
                    self.tree.kgi.metric,
                    period,
                    target,
                    self.window,
                    min(self.as_of, period.start - timedelta(days=1)),
                )
            )
        return self._plans[(period, scenario)]
