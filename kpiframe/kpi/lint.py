"""`kpiframe lint`: KPI design checks. Static ones read the files; data ones need the warehouse.

Every finding is a warning unless the project raises its code or name to an error under
`kpi: {lint_errors: [...]}`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from statistics import mean

from kpiframe.errors import Diagnostic, Severity, SourceLocation
from kpiframe.kpi.algebra import Expr, Op, evaluate, refs
from kpiframe.kpi.data import Evaluator
from kpiframe.kpi.model import LINT_NAMES, KpiModel
from kpiframe.kpi.periods import Period, Window, period_of
from kpiframe.kpi.targets import TargetResolver, trailing_window
from kpiframe.kpi.trees import Formula, Tree

MIN_PAIRS = 6  # months of overlap below which a correlation says nothing


@dataclass
class LintReport:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    data_checked: bool = False

    @property
    def errors(self) -> int:
        return sum(d.severity is Severity.ERROR for d in self.diagnostics)


class Linter:
    def __init__(
        self, model: KpiModel, as_of: date, evaluator: Evaluator | None, resolver: TargetResolver | None = None
    ) -> None:
        self.model, self.as_of, self.evaluator, self.resolver = model, as_of, evaluator, resolver
        self.report = LintReport(data_checked=evaluator is not None)

    def run(self, trees: list[Tree]) -> LintReport:
        for tree in trees:
            self._static(tree)
            if self.evaluator is not None:
                self._data(tree, self.evaluator)
        self._kpis_in_no_tree()
        if self.evaluator is not None:
            self._achievable(self.evaluator)
        return self.report

    def _add(self, code: str, message: str, location: SourceLocation | None, hint: str | None = None) -> None:
        raised = code in self.model.settings.lint_errors or LINT_NAMES[code] in self.model.settings.lint_errors
        severity = Severity.ERROR if raised else Severity.WARNING
        self.report.diagnostics.append(Diagnostic(code, message, location, hint, severity))

    # --- static ---------------------------------------------------------------------------------------
    def _static(self, tree: Tree) -> None:
        for node in [tree.kgi, *tree.kpis]:
            what = f"{node.role.upper()} '{node.metric}' of tree '{tree.name}'"
            for code, value, key in (
                ("KF820", node.owner, "owner"),
                ("KF822", node.direction, "direction"),
                ("KF823", node.grain, "grain"),
                ("KF824", node.cadence, "cadence"),
                ("KF831", node.timing, "timing"),
            ):
                if value is None:
                    self._add(code, f"{what} has no {key}", node.location, hint=f"set {key}: on the node")
            period = period_of(self.as_of, node.grain or "month")
            if not self._has_target(node.metric, period):
                self._add(
                    "KF821",
                    f"{what} has no plan target for the current period {period.label}",
                    node.location,
                    hint=f"add {period.label} under targets: for {node.metric}",
                )
        count = len(tree.kpis)
        if not 3 <= count <= 7:
            self._add(
                "KF825",
                f"tree '{tree.name}' has {count} KPI(s) under its KGI '{tree.kgi.metric}'",
                tree.location,
                hint="3 to 7 KPIs keep a tree readable and each KPI meaningful",
            )
        self._unpaired(tree)

    def _has_target(self, metric: str, period: Period) -> bool:
        book = self.model.targets
        if book.find(metric, period, as_of=self.as_of):
            return True
        return (
            period.grain != "month"
            and self.model.algebra.is_additive(metric)
            and all(book.find(metric, m, as_of=self.as_of) for m in period.months())
        )

    def _unpaired(self, tree: Tree) -> None:
        """A volume (leads) needs a quality KPI that divides by it (lead-to-MQL rate) in the same tree."""
        algebra = self.model.algebra
        divided = {name for metric in tree.nodes for name in _denominators(algebra.definition(metric))}
        for node in [tree.kgi, *tree.kpis]:
            unit = algebra.spec(node.metric).unit
            if algebra.definition(node.metric) is None and unit in (None, "count") and node.metric not in divided:
                self._add(
                    "KF827",
                    f"volume KPI '{node.metric}' has no paired quality KPI in tree '{tree.name}'",
                    node.location,
                    hint=f"add a rate with {node.metric} as its denominator, so that "
                    "volume is not bought with worse quality",
                )

    def _kpis_in_no_tree(self) -> None:
        in_trees = {metric for tree in self.model.trees.values() for metric in tree.nodes}
        tagged = {n for n, located in self.model.project.graph.metrics.items() if "kpi" in located.spec.tags}
        for metric in sorted((self.model.targets.metrics() | tagged) - in_trees):
            entry = next((e for e in self.model.targets.entries if e.metric == metric), None)
            location = entry.location if entry else self.model.project.graph.metrics[metric].location
            self._add(
                "KF826",
                f"KPI '{metric}' has targets or a kpi tag but is in no tree",
                location,
                hint="place it under a KSF of a tree, or drop its targets",
            )

    # --- data -----------------------------------------------------------------------------------------
    def _months(self, evaluator: Evaluator) -> list[Period]:
        """Complete months of history up to --as-of."""
        store = evaluator.store
        month = period_of(store.first, "month")
        month = month if month.start >= store.first else month.shift(1)
        found = []
        while month.end <= min(self.as_of, store.last):
            found.append(month)
            month = month.shift(1)
        return found

    def _data(self, tree: Tree, evaluator: Evaluator) -> None:
        months = self._months(evaluator)
        for formula in tree.formulas.values():
            self._formula(formula, evaluator, months)
        kgi = [evaluator.value(tree.kgi.metric, m.window) for m in months]
        for node in tree.kpis:
            series = [evaluator.value(node.metric, m.window) for m in months]
            sign = -1.0 if (node.direction == "lower") != (tree.kgi.direction == "lower") else 1.0
            best = _best_lag(series, kgi, self.model.settings.max_lag_months, sign)
            if best is None:
                continue
            r, lag, pairs = best
            if r < self.model.settings.vanity_min_correlation:
                self._add(
                    "KF828",
                    f"KPI '{node.metric}' moves weakly with KGI '{tree.kgi.metric}': best r = "
                    f"{r:+.2f} at a lag of {lag} month(s) over {pairs} months (threshold "
                    f"{self.model.settings.vanity_min_correlation:.2f}); a possible vanity metric",
                    node.location,
                    hint="keep it if it explains something the KGI needs; else replace it",
                )

    def _formula(self, formula: Formula, evaluator: Evaluator, months: list[Period]) -> None:
        tolerance = formula.tolerance or self.model.settings.formula_tolerance
        misses, checked = [], 0
        for month in months[max(formula.lags.values(), default=0) :]:
            actual = evaluator.value(formula.metric, month.window)
            fitted = self._fitted(formula, evaluator, month.window)
            if not actual or fitted is None:
                continue
            checked += 1
            error = (fitted - actual) / abs(actual)
            if abs(error) > tolerance:
                misses.append((month.label, error))
        if misses:
            worst = sorted(misses, key=lambda m: -abs(m[1]))[:6]
            shown = ", ".join(f"{label} {error:+.1%}" for label, error in sorted(worst))
            self._add(
                "KF830",
                f"formula {formula.metric} = {formula.text} does not reproduce {formula.metric} in "
                f"{len(misses)} of {checked} months (tolerance {tolerance:.1%}): {shown}",
                formula.location,
                hint="check the formula's metrics and lags against their definitions",
            )

    @staticmethod
    def _fitted(formula: Formula, evaluator: Evaluator, window: Window) -> float | None:
        """The formula over its children's actual values (read with the formula's lags)."""
        return evaluate(formula.expr, lambda child: evaluator.value(child, window, formula.lags))

    def _achievable(self, evaluator: Evaluator) -> None:
        """A target growing over its trailing baseline more than any period of history ever did."""
        if self.resolver is None:
            return
        periods = self.model.settings.baseline_periods
        for entry in self.model.targets.entries:
            if entry.scenario != "plan" or entry.dimension or entry.period.end < self.as_of:
                continue
            target = self.resolver.target(entry.metric, entry.period)
            direction = self.model.algebra.spec(entry.metric).direction
            if target is None or target.value is None or target.entry is not entry:
                continue
            window = trailing_window(entry.period.grain, periods, min(self.as_of, entry.period.start - _DAY))
            base = _per_period(evaluator, entry.metric, window, periods)
            growth = _growth(target.value, base, direction)
            history = self._history_growth(evaluator, entry.metric, entry.period.grain, periods, direction)
            if growth is None or len(history) < 2:
                continue
            best_label, best = max(history, key=lambda h: h[1])
            if growth > max(best, 0.0) + 1e-9:
                self._add(
                    "KF829",
                    f"target {_number(target.value)} of '{entry.metric}' for {entry.period.label} asks "
                    f"{growth:+.0%} over its trailing {periods}-{entry.period.grain} baseline {_number(base)}; "
                    f"the best in history was {best:+.0%} ({best_label})",
                    entry.location,
                    hint="a target beyond anything achieved needs a reason: a plan, a budget, a change",
                )

    def _history_growth(
        self, evaluator: Evaluator, metric: str, grain: str, periods: int, direction: str | None
    ) -> list[tuple[str, float]]:
        found = []
        store = evaluator.store
        current = period_of(store.first, grain).shift(periods + (0 if store.first.day == 1 else 1))
        while current.end <= min(self.as_of, store.last):
            window = trailing_window(grain, periods, current.start - _DAY)
            growth = _growth(
                evaluator.value(metric, current.window), _per_period(evaluator, metric, window, periods), direction
            )
            if growth is not None:
                found.append((current.label, growth))
            current = current.shift(1)
        return found


_DAY = timedelta(days=1)


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.4g}"


def _per_period(evaluator: Evaluator, metric: str, window: Window, periods: int) -> float | None:
    value = evaluator.value(metric, window)
    if value is not None and evaluator.algebra.is_additive(metric):
        value /= periods
    return value


def _growth(value: float | None, base: float | None, direction: str | None) -> float | None:
    """Relative improvement of `value` over `base` (a fall, for lower-is-better metrics)."""
    if value is None or not base or (direction == "lower" and not value):
        return None
    return base / value - 1 if direction == "lower" else value / base - 1


def _denominators(expr: Expr | None) -> list[str]:
    if not isinstance(expr, Op):
        return []
    found = _denominators(expr.left) + _denominators(expr.right)
    return found + (refs(expr.right) if expr.op == "/" else [])


def _best_lag(
    series: list[float | None], kgi: list[float | None], max_lag: int, sign: float
) -> tuple[float, int, int] | None:
    """(sign-adjusted Pearson r, lag in months, pairs) of the lag where the KPI best leads the KGI."""
    best: tuple[float, int, int] | None = None
    for lag in range(max_lag + 1):
        pairs = [
            (series[t - lag], kgi[t])
            for t in range(lag, len(kgi))
            if series[t - lag] is not None and kgi[t] is not None
        ]
        if len(pairs) < MIN_PAIRS:
            continue
        r = pearson([p[0] for p in pairs if p[0] is not None], [p[1] for p in pairs if p[1] is not None])
        if r is not None and (best is None or sign * r > best[0]):
            best = (sign * r, lag, len(pairs))
    return best


def pearson(xs: list[float], ys: list[float]) -> float | None:
    mx, my = mean(xs), mean(ys)
    sx = math.sqrt(sum((x - mx) ** 2 for x in xs))
    sy = math.sqrt(sum((y - my) ** 2 for y in ys))
    if sx == 0 or sy == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / (sx * sy)


def lint(
    model: KpiModel, trees: list[Tree], as_of: date, evaluator: Evaluator | None, resolver: TargetResolver | None
) -> LintReport:
    return Linter(model, as_of, evaluator, resolver).run(trees)
