"""One object that wires the KPI stages for a command: model, data, targets, and each computation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from functools import cached_property

from kpiframe.errors import KpiframeError, WarehouseError
from kpiframe.kpi.data import Evaluator, Store, equals_filter, stores_by_filter
from kpiframe.kpi.explain import ExplainRequest, Explanation, explain
from kpiframe.kpi.lint import LintReport, lint
from kpiframe.kpi.model import KpiModel, load_kpi
from kpiframe.kpi.pacing import project
from kpiframe.kpi.periods import Period
from kpiframe.kpi.planning import Deriver, Plan, plan_targets
from kpiframe.kpi.status import StatusRow, StatusRun, compute_status, wanted_metrics
from kpiframe.kpi.targets import Dimension, TargetResolver
from kpiframe.kpi.trees import Tree
from kpiframe.project import Project


class KpiSession:
    """A project's KPI model, read once, and its data fetched once, as of one day."""

    def __init__(
        self,
        project: Project,
        tree: str | None = None,
        as_of: date | None = None,
        scenario: str = "plan",
        window: int | None = None,
    ) -> None:
        self.project = project
        self.model: KpiModel = load_kpi(project)
        self.tree_name = tree
        self.requested_as_of = as_of
        self.scenario = scenario
        self.window = window or self.model.settings.plan_window

    @cached_property
    def tree(self) -> Tree:
        return self.model.tree(self.tree_name)

    def choose_tree_for(self, metric: str, name: str | None) -> None:
        """For explain: the named tree, else the only tree with a formula for `metric`."""
        self.tree_name = self.model.tree_with_formula(metric, name).name
        self.__dict__.pop("tree", None)
        self.__dict__.pop("stores", None)

    def _data_trees(self) -> list[Tree]:
        if self.tree_name is not None or len(self.model.trees) == 1:
            return [self.tree]
        return list(self.model.trees.values())

    @cached_property
    def stores(self) -> dict[str | None, Store]:
        """Daily leaf series up to --as-of; without --as-of, up to the last day with data (before today)."""
        last = self.requested_as_of or date.today() - timedelta(days=1)
        wanted: dict[str | None, list[str]] = {None: sorted(self.model.targets.metrics() | set(self.model.benchmarks))}
        for tree in self._data_trees():
            for where, metrics in wanted_metrics(self.model, tree).items():
                wanted[where] = list(dict.fromkeys([*wanted.get(where, []), *metrics]))
        stores = stores_by_filter(self.project, self.model.algebra, wanted, last)
        if self.requested_as_of is None:
            seen = [d for s in stores.values() for values in s.series.values() for d, v in values.items() if v]
            last = min(last, max(seen)) if seen else last
            stores = {where: store.until(last) for where, store in stores.items()}
        return stores

    @property
    def as_of(self) -> date:
        return self.stores[None].last

    def evaluator(self, dimension: Dimension | None = None) -> Evaluator:
        where = equals_filter(*dimension) if dimension else None
        if where not in self.stores:
            raise KpiframeError(f"no data fetched for {where}", code="KF843")
        return Evaluator(self.model.algebra, self.stores[where])

    def resolver(self, scenario: str | None = None) -> TargetResolver:
        resolver = TargetResolver(
            self.model.targets, self.model.algebra, self.evaluator, self.model.benchmarks, self.as_of
        )
        resolver.derive = self._deriver(resolver)
        return resolver

    def _deriver(self, resolver: TargetResolver) -> Callable[[str, Period, str], float | None]:
        """Derived targets through the tree whose formulas have the metric as a child."""
        derivers: dict[str, Deriver] = {}

        def derive(metric: str, period: Period, scenario: str) -> float | None:
            tree = next((t for t in self._data_trees() if any(metric in f.children for f in t.formulas.values())), None)
            if tree is None:
                return None
            if tree.name not in derivers:
                derivers[tree.name] = Deriver(
                    tree,
                    self.evaluator(),
                    tree.kgi.grain or "quarter",
                    self.window,
                    self.as_of,
                    self._kgi_target(resolver, tree),
                )
            return derivers[tree.name].derive(metric, period, scenario)

        return derive

    def _kgi_target(self, resolver: TargetResolver, tree: Tree) -> Callable[[Period, str], float | None]:
        def kgi_target(period: Period, scenario: str) -> float | None:
            entry = self.model.targets.find(tree.kgi.metric, period, scenario, as_of=self.as_of)
            if entry is not None and entry.source.derived:
                return None  # a KGI derived from itself would never end
            target = resolver.target(tree.kgi.metric, period, scenario)
            return target.value if target else None

        return kgi_target

    def status(self) -> list[StatusRow]:
        self.model.targets.require_scenario(self.scenario)
        run = StatusRun(self.model, self.tree, self.stores, self.as_of, self.scenario)
        run.derive = self._deriver(run.resolver())
        return compute_status(run)

    def plan(self, period: Period, target: float | None, metric: str | None = None) -> Plan:
        metric = metric or self.tree.kgi.metric
        if target is None:
            found = self.resolver().target(metric, period, self.scenario)
            if found is None or found.value is None:
                raise KpiframeError(
                    f"no {self.scenario} target of '{metric}' for {period.label}",
                    code="KF852",
                    hint="pass --target VALUE",
                )
            target = found.value
        return plan_targets(self.tree, self.evaluator(), metric, period, target, self.window, self.as_of)

    def explain(
        self, metric: str, period: Period, vs: str, method: str = "shapley", depth: int | None = None
    ) -> Explanation:
        self.model.targets.require_scenario(self.scenario)
        resolver = self.resolver()

        def target_of(name: str, at: Period) -> float | None:
            found = resolver.target(name, at, self.scenario)
            return found.value if found else None

        def projected(at: Period) -> Evaluator:
            store = self.stores[None]
            return self.evaluator().with_store(project(store, store.leaves, at.end, self.model.settings.pacing))

        request = ExplainRequest(
            self.tree,
            self.evaluator(),
            metric,
            period,
            vs,
            self.as_of,
            method,
            depth,
            self.window,
            target_of,
            projected,
        )
        return explain(request)

    def lint(self, all_trees: bool = True) -> tuple[LintReport, str | None]:
        """Static lints always; data lints when the warehouse answers (else the reason it did not)."""
        trees = list(self.model.trees.values()) if all_trees else [self.tree]
        try:
            evaluator, resolver, reason = self.evaluator(), self.resolver(), None
        except WarehouseError as exc:
            evaluator, resolver, reason = None, None, exc.diagnostic.message
        as_of = self.as_of if evaluator is not None else self.requested_as_of or date.today() - timedelta(days=1)
        return lint(self.model, trees, as_of, evaluator, resolver), reason
