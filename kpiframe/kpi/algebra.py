"""Metrics and tree formulas as small arithmetic trees over metric names.

Every KPI computation (actuals to date, projections, formula checks, goal seeking, decomposition) needs a
metric's value over arbitrary day windows, sometimes with some inputs shifted by months. Asking the
warehouse for each would mean hundreds of queries; instead a metric is reduced to arithmetic over *leaf*
metrics (simple metrics, additive over days), whose daily series are fetched once. A ratio over a quarter
is then Σ numerator / Σ denominator, exactly as `kpiframe query` computes it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Union

from sqlglot import exp

from kpiframe.load.loaded import ProjectFiles
from kpiframe.load.specs import MetricSpec
from kpiframe.semantic.layer import SemanticLayer
from kpiframe.sql.expressions import ExpressionRejected, parse_expression

# aggregations whose sum over days equals their value over the period (count_distinct: when each key
# falls on one day, as a session or an event id does)
ADDITIVE_AGGREGATIONS = ("sum", "count", "count_distinct")


@dataclass(frozen=True)
class Ref:
    metric: str


@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Op:
    op: str  # one of + - * /
    left: Expr
    right: Expr


Expr = Union[Ref, Num, Op]  # noqa: UP007 - a runtime alias, kept valid on Python 3.10 too
_OPS: dict[type[exp.Expr], str] = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/"}


def parse_formula(text: str) -> Expr:
    """Parse `opportunities * avg_opportunity_amount`: metric names, numbers, + - * / and parentheses."""
    return _convert(parse_expression(text))


def _convert(node: exp.Expr) -> Expr:
    if isinstance(node, exp.Paren):
        return _convert(node.this)
    if isinstance(node, exp.Column) and not node.table:
        return Ref(node.name)
    if isinstance(node, exp.Literal) and not node.is_string:
        return Num(float(node.this))
    if isinstance(node, exp.Neg):
        return Op("-", Num(0.0), _convert(node.this))
    op = _OPS.get(type(node))
    if op is None:
        raise ExpressionRejected(
            f"'{node.sql()}' is not allowed here: use metric names, numbers, + - * / and parentheses"
        )
    return Op(op, _convert(node.this), _convert(node.expression))


def refs(expr: Expr) -> list[str]:
    """Metric names in order of appearance, each once."""
    if isinstance(expr, Ref):
        return [expr.metric]
    if isinstance(expr, Op):
        return list(dict.fromkeys(refs(expr.left) + refs(expr.right)))
    return []


def evaluate(expr: Expr, lookup: Callable[[str], float | None]) -> float | None:
    """Arithmetic with SQL's NULL rules: a missing input or a division by zero gives None."""
    if isinstance(expr, Num):
        return expr.value
    if isinstance(expr, Ref):
        return lookup(expr.metric)
    left, right = evaluate(expr.left, lookup), evaluate(expr.right, lookup)
    if left is None or right is None:
        return None
    if expr.op == "+":
        return left + right
    if expr.op == "-":
        return left - right
    if expr.op == "*":
        return left * right
    return left / right if right != 0 else None


def substitute(expr: Expr, names: Mapping[str, str]) -> Expr:
    """Rename metric references (a derived metric's input aliases become the metrics they stand for)."""
    if isinstance(expr, Ref):
        return Ref(names.get(expr.metric, expr.metric))
    if isinstance(expr, Op):
        return Op(expr.op, substitute(expr.left, names), substitute(expr.right, names))
    return expr


def exponents(expr: Expr) -> dict[str, int] | None:
    """For a pure product/quotient of metrics, each metric's exponent (+1 or -1); None otherwise.

    A log (LMDI) split of a change is exact only for such monomials.
    """
    if isinstance(expr, Ref):
        return {expr.metric: 1}
    if not isinstance(expr, Op) or expr.op not in "*/":
        return None
    left, right = exponents(expr.left), exponents(expr.right)
    if left is None or right is None:
        return None
    sign = 1 if expr.op == "*" else -1
    merged = dict(left)
    for name, power in right.items():
        merged[name] = merged.get(name, 0) + sign * power
    return merged


class MetricAlgebra:
    """Each metric of the project as arithmetic over leaf (simple, day-additive) metrics."""

    def __init__(self, graph: ProjectFiles, layer: SemanticLayer) -> None:
        self.graph, self.layer = graph, layer
        self._definitions: dict[str, Expr | None] = {}

    def spec(self, name: str) -> MetricSpec:
        return self.layer.metric(name)

    def definition(self, name: str) -> Expr | None:
        """None for a leaf metric; the arithmetic over other metrics for ratios and derived metrics."""
        if name not in self._definitions:
            self._definitions[name] = self._define(self.spec(name))
        return self._definitions[name]

    def _define(self, spec: MetricSpec) -> Expr | None:
        if spec.type == "ratio":
            return Op("/", Ref(spec.numerator or ""), Ref(spec.denominator or ""))
        if spec.type == "derived":
            aliases = {i.alias or i.metric: i.metric for i in spec.inputs}
            return substitute(parse_formula(spec.expr or ""), aliases)
        return None

    def unsupported(self, name: str) -> str | None:
        """Why a metric cannot be a tree node (not additive over days, shifted inputs), or None."""
        spec = self.spec(name)
        if spec.type == "cumulative":
            return f"'{name}' is cumulative; put the metric it accumulates in the tree instead"
        if spec.type == "conversion":  # each conversion is credited to an earlier event: not a sum over days
            return f"'{name}' is a conversion metric, which cannot be summed over days or projected"
        if spec.type == "simple":
            agg = self.layer.measures[spec.measure or ""].agg if spec.measure in self.layer.measures else "sum"
            if agg not in ADDITIVE_AGGREGATIONS:
                return f"'{name}' aggregates with {agg}, which cannot be summed over days or projected"
            measure = self.layer.measures.get(spec.measure or "")
            if measure is not None and measure.non_additive is not None:  # a balance: its last day, not a sum
                return f"'{name}' reads non_additive measure '{measure.name}', which cannot be summed over days"
            return None
        if spec.type == "derived" and any(i.offset for i in spec.inputs):
            return f"'{name}' uses period-shifted inputs; declare the lag on the tree's formula instead"
        try:
            definition = self.definition(name)
        except ExpressionRejected as exc:
            return f"'{name}': {exc}"
        for child in refs(definition) if definition else []:
            reason = self.unsupported(child)
            if reason:
                return reason
        return None

    def leaves(self, name: str) -> list[str]:
        definition = self.definition(name)
        if definition is None:
            return [name]
        found: list[str] = []
        for child in refs(definition):
            found += [leaf for leaf in self.leaves(child) if leaf not in found]
        return found

    def is_additive(self, name: str) -> bool:
        """True for volumes (leads, pipeline): a quarter is the sum of its months. False for rates."""
        definition = self.definition(name)
        if definition is None:
            return True
        return _only_sums(definition) and all(self.is_additive(r) for r in refs(definition))


def _only_sums(expr: Expr) -> bool:
    if isinstance(expr, Op):
        return expr.op in "+-" and _only_sums(expr.left) and _only_sums(expr.right)
    return isinstance(expr, Ref)
