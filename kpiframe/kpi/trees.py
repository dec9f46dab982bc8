"""KPI trees resolved: the KGI, its KSFs, the KPIs under them and the formulas that link nodes.

Problems are collected as KF8xx diagnostics at the item's line; `kpiframe.kpi.model.load_kpi` raises
them all at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kpiframe.errors import Diagnostic, SourceLocation
from kpiframe.kpi.algebra import Expr, MetricAlgebra, parse_formula, refs
from kpiframe.kpi.specs import FormulaSpec, NodeSpec, TreeSpec
from kpiframe.load.loaded import KpiItem
from kpiframe.sql.expressions import ExpressionRejected
from kpiframe.suggest import unknown


@dataclass(frozen=True)
class Node:
    """A metric in a tree with its effective metadata (the node's, else the metric's)."""

    metric: str
    role: str  # kgi | kpi | driver
    label: str
    ksf: str | None
    owner: str | None
    direction: str | None
    timing: str | None
    cadence: str | None
    grain: str | None
    location: SourceLocation


@dataclass(frozen=True)
class Formula:
    metric: str
    text: str
    expr: Expr
    lags: dict[str, int]
    tolerance: float | None
    solve_for: str | None
    location: SourceLocation

    @property
    def children(self) -> list[str]:
        return refs(self.expr)


@dataclass(frozen=True)
class Ksf:
    name: str
    label: str
    description: str | None
    owner: str | None
    kpis: tuple[str, ...]
    location: SourceLocation


@dataclass
class Tree:
    name: str
    label: str
    description: str | None
    kgi: Node
    ksfs: list[Ksf]
    nodes: dict[str, Node] = field(default_factory=dict)  # KGI, then KPIs by KSF, then drivers
    formulas: dict[str, Formula] = field(default_factory=dict)
    location: SourceLocation = SourceLocation("")

    @property
    def kpis(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.role == "kpi"]

    def context_lags(self, metric: str) -> dict[str, int]:
        """The lags a node is read with in the tree: a rate under a lagged formula divides by the lagged
        stage (opportunities over MQLs of the month before), while a lagged stage keeps its own period."""
        for formula in self.formulas.values():
            if metric in formula.children:
                return {name: months for name, months in formula.lags.items() if name != metric}
        return {}

    def solve_child(self, formula: Formula) -> str:
        """The child a required parent value is solved for: declared, else the child with a formula of
        its own (the volume further down the funnel), else the first additive-looking child."""
        if formula.solve_for:
            return formula.solve_for
        with_formula = [c for c in formula.children if c in self.formulas]
        return with_formula[0] if with_formula else formula.children[0]


class TreeBuilder:
    """Turns one validated TreeSpec into a Tree, reporting every problem as a diagnostic."""

    def __init__(self, algebra: MetricAlgebra, problems: list[Diagnostic]) -> None:
        self.algebra, self.problems = algebra, problems
        self.metrics = algebra.graph.metrics

    def build(self, spec: TreeSpec, item: KpiItem) -> Tree:
        kgi = self._node(spec.kgi, "kgi", None, item, ("kgi",))
        tree = Tree(spec.name, spec.label or spec.name, spec.description, kgi, [], location=item.locate())
        self._add(tree, kgi, item, ("kgi",))
        for k_index, ksf in enumerate(spec.ksfs):
            names = []
            for n_index, node_spec in enumerate(ksf.kpis):
                at = ("ksfs", k_index, "kpis", n_index)
                node = self._node(node_spec, "kpi", ksf.label or ksf.name, item, at)
                if self._add(tree, node, item, at):
                    names.append(node.metric)
            tree.ksfs.append(
                Ksf(
                    ksf.name,
                    ksf.label or ksf.name,
                    ksf.description,
                    ksf.owner,
                    tuple(names),
                    item.locate(("ksfs", k_index)),
                )
            )
        drivers = {d.metric: (index, d) for index, d in enumerate(spec.drivers)}
        parsed = [
            (self._formula(f, item, ("formulas", index)), ("formulas", index)) for index, f in enumerate(spec.formulas)
        ]
        self._link(tree, [(f, at) for f, at in parsed if f is not None], item, drivers)
        for metric, (index, driver) in drivers.items():
            if metric not in tree.nodes:
                self._add(tree, self._node(driver, "driver", None, item, ("drivers", index)), item, ("drivers", index))
        self._check_cycles(tree)
        return tree

    def _error(self, code: str, message: str, location: SourceLocation, hint: str | None = None) -> None:
        self.problems.append(Diagnostic(code, message, location, hint))

    def _known(self, metric: str, location: SourceLocation) -> bool:
        if metric in self.metrics:
            reason = self.algebra.unsupported(metric)
            if reason:
                self._error(
                    "KF807",
                    f"metric {reason}",
                    location,
                    hint="tree nodes must be sums/counts over days, or ratios and arithmetic of them",
                )
            return reason is None
        message, hint = unknown("metric", metric, self.metrics)
        self._error("KF804", message, location, hint)
        return False

    def _node(self, spec: NodeSpec, role: str, ksf: str | None, item: KpiItem, at: tuple[str | int, ...]) -> Node:
        metric = self.metrics[spec.metric].spec if spec.metric in self.metrics else None
        return Node(
            metric=spec.metric,
            role=role,
            label=spec.label or getattr(metric, "label", None) or spec.metric,
            ksf=ksf,
            owner=spec.owner or getattr(metric, "owner", None),
            direction=spec.direction or getattr(metric, "direction", None),
            timing=spec.timing or getattr(metric, "timing", None),
            cadence=spec.cadence,
            grain=spec.grain,
            location=item.locate(at),
        )

    def _add(self, tree: Tree, node: Node, item: KpiItem, at: tuple[str | int, ...]) -> bool:
        if not self._known(node.metric, item.locate((*at, "metric"))):
            return False
        if node.metric in tree.nodes:
            self._error(
                "KF805",
                f"metric '{node.metric}' appears twice in tree '{tree.name}'",
                node.location,
                hint=f"first at {tree.nodes[node.metric].location}",
            )
            return False
        tree.nodes[node.metric] = node
        return True

    def _formula(self, spec: FormulaSpec, item: KpiItem, at: tuple[str | int, ...]) -> Formula | None:
        try:
            expr = parse_formula(spec.expr)
        except ExpressionRejected as exc:
            self._error("KF806", f"formula of '{spec.metric}': {exc}", item.locate((*at, "expr")))
            return None
        formula = Formula(spec.metric, spec.expr, expr, dict(spec.lag), spec.tolerance, spec.solve_for, item.locate(at))
        children = formula.children
        bad = [name for name in [*spec.lag, *([spec.solve_for] if spec.solve_for else [])] if name not in children]
        for name in bad:
            self._error(
                "KF806",
                f"formula of '{spec.metric}' names '{name}', which is not in its expression",
                item.locate((*at, "lag" if name in spec.lag else "solve_for")),
                hint=f"the expression uses {', '.join(children)}",
            )
        if spec.metric in children:
            self._error("KF806", f"formula of '{spec.metric}' uses '{spec.metric}' itself", formula.location)
            return None
        known = [self._known(name, item.locate((*at, "expr"))) for name in [spec.metric, *children]]
        return formula if all(known) and not bad else None

    def _link(
        self,
        tree: Tree,
        formulas: list[tuple[Formula, tuple[str | int, ...]]],
        item: KpiItem,
        drivers: dict[str, tuple[int, NodeSpec]],
    ) -> None:
        """Register formulas, add their children as driver nodes, then check each parent is a node."""
        for formula, _ in formulas:
            if formula.metric in tree.formulas:
                self._error(
                    "KF805",
                    f"two formulas for '{formula.metric}' in tree '{tree.name}'",
                    formula.location,
                    hint=f"first at {tree.formulas[formula.metric].location}",
                )
                continue
            tree.formulas[formula.metric] = formula
            for child in formula.children:
                if child not in tree.nodes:
                    index, spec = drivers.get(child, (None, NodeSpec(metric=child)))
                    tree.nodes[child] = self._node(
                        spec, "driver", None, item, ("drivers", index) if index is not None else ()
                    )
        for formula, at in formulas:
            if formula.metric not in tree.nodes and formula.metric not in drivers:
                self._error(
                    "KF806",
                    f"formula of '{formula.metric}': the metric is not a node of tree '{tree.name}'",
                    item.locate((*at, "metric")),
                    hint="a formula links a node (the KGI, a KPI or a driver) to its children",
                )
                tree.formulas.pop(formula.metric, None)

    def _check_cycles(self, tree: Tree) -> None:
        state: dict[str, str] = {}

        def visit(metric: str, path: list[str]) -> None:
            if state.get(metric) == "done" or metric not in tree.formulas:
                return
            if state.get(metric) == "active":
                cycle = [*path[path.index(metric) :], metric]
                self._error("KF806", f"formulas form a cycle: {' -> '.join(cycle)}", tree.formulas[metric].location)
                return
            state[metric] = "active"
            for child in tree.formulas[metric].children:
                visit(child, [*path, metric])
            state[metric] = "done"

        for metric in list(tree.formulas):
            visit(metric, [])
