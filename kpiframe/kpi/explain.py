"""`kpiframe explain`: a KGI's change or gap split into its drivers' contributions through the formulas.

The formulas are composed down to the drivers (pipeline = leads × lead_to_mql_rate × mql_to_opp_rate ×
avg_opportunity_amount, with lags), and the difference f(actual drivers) - f(baseline drivers) is split
by Shapley values (exact for any formula: the average marginal effect over every order of changing the
drivers) or, for products, by the log-mean (LMDI) split. Whatever the formulas do not reproduce is one
more row, so the contributions always add up to the change.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import combinations
from math import factorial

from kpiframe.errors import KpiframeError
from kpiframe.kpi.algebra import MetricAlgebra, evaluate, exponents, refs
from kpiframe.kpi.data import Evaluator
from kpiframe.kpi.periods import Comparison, Period, PeriodError, Window, compare, parse_period, period_of
from kpiframe.kpi.trees import Tree

RESIDUAL = "(not explained by the formulas)"


@dataclass(frozen=True)
class Part:
    """A term of the composed formula: a metric read `shift` months before the explained period."""

    metric: str
    shift: int
    lags: tuple[tuple[str, int], ...]  # the lags of the formula it is a child of (they apply inside a rate)
    path: tuple[str, ...]
    children: tuple[Part, ...] = ()

    @property
    def key(self) -> str:
        return "/".join(self.path)

    @property
    def label(self) -> str:
        return self.metric + (f" ({self.shift} mo. earlier)" if self.shift else "")

    def drivers(self) -> list[Part]:
        return [d for c in self.children for d in c.drivers()] if self.children else [self]


@dataclass
class Contribution:
    driver: str
    metric: str
    path: str
    baseline: float | None
    actual: float | None
    contribution: float
    share: float | None
    # the days the driver is read over: the KGI's windows moved back by the driver's lag; the KGI's own
    # windows on the row of what the formulas do not explain. No baseline window against a target.
    baseline_window: Window | None = None
    actual_window: Window | None = None
    # metrics inside the driver that its formula's lags read earlier than its windows (the MQLs under
    # mql_to_opportunity_rate when opportunities = mqls × mql_to_opportunity_rate with lag {mqls: 1})
    inner_lags: dict[str, int] = field(default_factory=dict)


@dataclass
class Explanation:
    metric: str
    period: str
    vs: str
    baseline_period: str
    baseline: float | None
    actual: float | None
    change: float | None
    method: str
    rule: str  # whole periods | like for like | target
    baseline_rule: str  # 'baseline: whole January 2026 (period finished as of 2026-03-31)'
    baseline_window: Window | None  # None when the baseline is a target
    actual_window: Window
    as_of: date
    contributions: list[Contribution] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def compose(
    tree: Tree,
    metric: str,
    depth: int | None = None,
    shift: int = 0,
    lags: tuple[tuple[str, int], ...] = (),
    path: tuple[str, ...] = (),
) -> Part:
    """The formula tree under `metric`, expanded `depth` levels (None: down to the drivers)."""
    path = (*path, metric)
    formula = tree.formulas.get(metric)
    if formula is None or depth == 0:
        return Part(metric, shift, lags, path)
    inner = tuple(sorted(formula.lags.items()))
    children = tuple(
        compose(tree, child, None if depth is None else depth - 1, shift + formula.lags.get(child, 0), inner, path)
        for child in formula.children
    )
    return Part(metric, shift, lags, path, children)


def driver_values(root: Part, evaluator: Evaluator, window: Window) -> dict[str, float | None]:
    """Each driver's value over the window, read with its shift and its formula's lags."""
    values: dict[str, float | None] = {}
    for driver in root.drivers():
        lags = dict(driver.lags)
        # a driver that is itself lagged is shifted by the Evaluator; the others by the parents' lags
        base = window.shift_months(-(driver.shift - lags.get(driver.metric, 0)))
        values[driver.key] = evaluator.value(driver.metric, base, lags)
    return values


def driver_window(driver: Part, window: Window) -> Window:
    """The days `driver_values` reads the driver over: the same two shifts the Evaluator makes."""
    own = dict(driver.lags).get(driver.metric, 0)
    base = window.shift_months(-(driver.shift - own))
    return base.shift_months(-own) if own else base


def composed(tree: Tree, root: Part) -> Callable[[dict[str, float | None]], float | None]:
    """f(driver values) -> the root's value through the formulas."""

    def value(part: Part, values: dict[str, float | None]) -> float | None:
        if not part.children:
            return values[part.key]
        by_metric = {c.metric: c for c in part.children}
        return evaluate(tree.formulas[part.metric].expr, lambda name: value(by_metric[name], values))

    return lambda values: value(root, values)


def shapley(
    f: Callable[[dict[str, float | None]], float | None],
    keys: Sequence[str],
    baseline: dict[str, float | None],
    actual: dict[str, float | None],
) -> dict[str, float] | None:
    """Shapley split of f(actual) - f(baseline); exact by construction. None when a mix is undefined."""
    n = len(keys)
    cache: dict[frozenset[str], float | None] = {}

    def at(changed: frozenset[str]) -> float | None:
        if changed not in cache:
            cache[changed] = f({k: actual[k] if k in changed else baseline[k] for k in keys})
        return cache[changed]

    result = {}
    for key in keys:
        others = [k for k in keys if k != key]
        total = 0.0
        for size in range(n):
            weight = factorial(size) * factorial(n - size - 1) / factorial(n)
            for subset in combinations(others, size):
                with_key, without = at(frozenset((*subset, key))), at(frozenset(subset))
                if with_key is None or without is None:
                    return None
                total += weight * (with_key - without)
        result[key] = total
    return result


def log_split(
    powers: dict[str, int],
    baseline: dict[str, float | None],
    actual: dict[str, float | None],
    before: float,
    after: float,
) -> dict[str, float] | None:
    """LMDI split of a product's change: L(after, before) × power × ln(actual / baseline) per driver.

    Exact when the product of the drivers is the metric; needs every value positive.
    """
    values = [*baseline.values(), *actual.values(), before, after]
    if any(v is None or v <= 0 for v in values):
        return None
    mean = after if math.isclose(after, before) else (after - before) / (math.log(after) - math.log(before))
    return {k: mean * p * math.log((actual[k] or 1.0) / (baseline[k] or 1.0)) for k, p in powers.items()}


def monomial_powers(tree: Tree, root: Part) -> dict[str, int] | None:
    """Each driver's power when every formula on the way is a pure product/quotient, else None."""
    if not root.children:
        return {root.key: 1}
    powers = exponents(tree.formulas[root.metric].expr)
    if powers is None:
        return None
    result: dict[str, int] = {}
    for child in root.children:
        below = monomial_powers(tree, child)
        if below is None:
            return None
        for key, power in below.items():
            result[key] = result.get(key, 0) + power * powers.get(child.metric, 0)
    return result


def decompose(
    tree: Tree,
    root: Part,
    baseline: dict[str, float | None],
    actual: dict[str, float | None],
    totals: tuple[float | None, float | None],
    method: str,
    notes: list[str],
) -> list[Contribution]:
    """Contributions of every driver plus, when needed, the part the formulas do not reproduce."""
    keys = [d.key for d in root.drivers()]
    f = composed(tree, root)
    before, after = f(baseline), f(actual)
    split: dict[str, float] | None = None
    if method == "log" and before is not None and after is not None:
        powers = monomial_powers(tree, root)
        split = log_split(powers, baseline, actual, before, after) if powers else None
        if split is None:
            notes.append("log split needs a product of positive drivers; used Shapley values instead")
    if split is None:
        split = shapley(f, keys, baseline, actual)
    change = (totals[1] - totals[0]) if totals[0] is not None and totals[1] is not None else None
    if split is None or before is None or after is None:
        notes.append("a driver is undefined (a rate over zero) in one of the periods: no split possible")
        return [] if change is None else [Contribution(RESIDUAL, "", "", None, None, change, 1.0 if change else None)]
    change = after - before if change is None else change
    labels = {d.key: d for d in root.drivers()}
    rows = [
        Contribution(
            labels[k].label,
            labels[k].metric,
            k,
            baseline[k],
            actual[k],
            split[k],
            split[k] / change if change else None,
        )
        for k in keys
    ]
    residual = change - sum(split.values())
    if abs(residual) > 1e-9 * max(1.0, abs(change)):
        rows.append(Contribution(RESIDUAL, "", "", None, None, residual, residual / change if change else None))
        notes.append("the formulas do not reproduce the metric exactly; the difference is its own row")
    return rows


@dataclass
class ExplainRequest:
    tree: Tree
    evaluator: Evaluator  # over the company store up to as_of
    metric: str
    period: Period
    vs: str  # previous | year | target
    as_of: date
    method: str = "shapley"
    depth: int | None = None
    window: int = 3  # trailing months of rates when the target is split by plan-targets
    target: Callable[[str, Period], float | None] | None = None  # a metric's target in the scenario
    project_to: Callable[[Period], Evaluator] | None = None  # an evaluator with the period projected


def explain(request: ExplainRequest) -> Explanation:
    """The change (vs previous or year) or the gap (vs target) of a metric, split into its drivers."""
    tree, metric, period = request.tree, request.metric, request.period
    if metric not in tree.formulas:
        known = ", ".join(tree.formulas) or "none"
        raise KpiframeError(
            f"'{metric}' has no formula in tree '{tree.name}': nothing to decompose it into",
            code="KF850",
            hint=f"metrics with a formula: {known}",
        )
    root = compose(tree, metric, request.depth)
    notes: list[str] = []
    if request.vs == "target":
        return _versus_target(request, root, notes)
    if request.as_of < period.start:
        raise KpiframeError(
            f"{period.label} has not started: the data counted ends on {request.as_of}",
            code="KF854",
            hint=f"explain {period_of(request.as_of, period.grain).label} or an earlier period, or pass --as-of",
        )
    other = period.shift(-1) if request.vs == "previous" else period.year_ago()
    comparison = compare(period, other, request.as_of)
    ev = request.evaluator
    actual = driver_values(root, ev, comparison.actual)
    baseline = driver_values(root, ev, comparison.baseline)
    # the KGI and its drivers over the same windows, so the contributions add up to this change
    totals = (ev.value(metric, comparison.baseline), ev.value(metric, comparison.actual))
    rows = _located(
        decompose(tree, root, baseline, actual, totals, request.method, notes),
        root,
        ev.algebra,
        comparison.baseline,
        comparison.actual,
    )
    return _explanation(request, comparison.baseline.label, totals, rows, notes, comparison)


def _versus_target(request: ExplainRequest, root: Part, notes: list[str]) -> Explanation:
    period, metric = request.period, request.metric
    target_of = request.target or (lambda _metric, _period: None)
    target = target_of(metric, period)
    if target is None:
        raise KpiframeError(
            f"'{metric}' has no target for {period.label}",
            code="KF851",
            hint="add one under targets:, or compare with --vs previous or --vs year",
        )
    ev = request.evaluator
    if request.as_of < period.end and request.project_to is not None:
        ev = request.project_to(period)
        notes.append(f"{period.label} is in progress: actuals are projected to its end as of {request.as_of}")
    actual = driver_values(root, ev, period.window)
    baseline = _driver_targets(root, period, target_of, request.evaluator.algebra.is_additive)
    if baseline is None:
        baseline = _planned(request, root, target)
        notes.append(
            f"drivers' baselines derived from the {metric} target with the trailing "
            f"{request.window} months' rates (plan-targets)"
        )
    totals = (target, ev.value(metric, period.window))
    rows = _located(
        decompose(request.tree, root, baseline, actual, totals, request.method, notes),
        root,
        ev.algebra,
        None,
        period.window,
    )
    return _explanation(request, f"target {period.label}", totals, rows, notes, None)


def _driver_targets(
    root: Part, period: Period, target_of: Callable[[str, Period], float | None], additive: Callable[[str], bool]
) -> dict[str, float | None] | None:
    """Each driver's own target over its (shifted) period, when every driver has one.

    A window shifted off the calendar (a quarter one month earlier) takes its months' targets: summed for
    a volume, averaged for a rate.
    """
    found: dict[str, float | None] = {}
    for driver in root.drivers():
        window = period.window.shift_months(-driver.shift)
        exact = _as_period(window)
        if exact is not None:
            value = target_of(driver.metric, exact)
        else:
            parts = [target_of(driver.metric, month) for month in window.months()]
            numbers = [p for p in parts if p is not None]
            value = (
                None
                if len(numbers) < len(parts) or not numbers
                else sum(numbers)
                if additive(driver.metric)
                else sum(numbers) / len(numbers)
            )
        if value is None:
            return None
        found[driver.key] = value
    return found


def _as_period(window: Window) -> Period | None:
    """The period a window is exactly (a quarter shifted by a month is no period: None)."""
    try:
        return parse_period(window.label)
    except PeriodError:
        return None


def _planned(request: ExplainRequest, root: Part, target: float) -> dict[str, float | None]:
    from kpiframe.kpi.planning import plan_targets

    plan = plan_targets(
        request.tree, request.evaluator, request.metric, request.period, target, request.window, request.as_of
    )
    algebra = request.evaluator.algebra
    values: dict[str, float | None] = {}
    for driver in root.drivers():
        planned = plan.total(driver.metric, algebra.is_additive(driver.metric))
        if planned is None:  # not on the solved chain: it keeps its history
            planned = request.evaluator.value(driver.metric, plan.history, dict(driver.lags))
        values[driver.key] = planned
    return values


def _located(
    rows: list[Contribution], root: Part, algebra: MetricAlgebra, baseline: Window | None, actual: Window
) -> list[Contribution]:
    """Each row with the days it was read over: a driver's moved by its lag, the residual's the KGI's."""
    drivers = {d.key: d for d in root.drivers()}
    for row in rows:
        driver = drivers.get(row.path)
        row.actual_window = actual if driver is None else driver_window(driver, actual)
        if baseline is not None:
            row.baseline_window = baseline if driver is None else driver_window(driver, baseline)
        if driver is not None:
            row.inner_lags = {
                name: months
                for name, months in driver.lags
                if name != driver.metric and _reads(algebra, driver.metric, name)
            }
    return rows


def _reads(algebra: MetricAlgebra, metric: str, name: str) -> bool:
    """Whether `metric`'s definition reaches `name` (a ratio reads its numerator and denominator)."""
    definition = algebra.definition(metric)
    return definition is not None and any(child == name or _reads(algebra, child, name) for child in refs(definition))


def _target_rule(request: ExplainRequest) -> str:
    """'baseline: the pipeline target for whole Q1 2026 (period in progress as of 2026-03-15, ...)'."""
    period = request.period
    state = "finished" if request.as_of >= period.end else "in progress"
    projected = ", actuals projected to its end" if state == "in progress" and request.project_to else ""
    return (
        f"baseline: the {request.metric} target for whole {period.description} "
        f"(period {state} as of {request.as_of}{projected})"
    )


def _explanation(
    request: ExplainRequest,
    baseline_label: str,
    totals: tuple[float | None, float | None],
    rows: list[Contribution],
    notes: list[str],
    comparison: Comparison | None,
) -> Explanation:
    before, after = totals
    change = after - before if before is not None and after is not None else None
    return Explanation(
        request.metric,
        request.period.label,
        request.vs,
        baseline_label,
        before,
        after,
        change,
        request.method,
        *_basis(request, comparison),
        request.as_of,
        rows,
        notes,
    )


def _basis(request: ExplainRequest, comparison: Comparison | None) -> tuple[str, str, Window | None, Window]:
    """The rule, its sentence, and the baseline's and actual's days (no baseline days against a target)."""
    if comparison is None:
        return "target", _target_rule(request), None, request.period.window
    return comparison.rule, comparison.text, comparison.baseline, comparison.actual
