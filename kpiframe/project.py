"""The object that wires the stages: the Python API, and what every CLI command calls."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from kpiframe.build.plan import CompiledNode, compile_nodes, write_target
from kpiframe.build.serving import reader_spec
from kpiframe.engine import QueryResult, Warehouse, adapter_class, connect
from kpiframe.engine.options import resolve_warehouse
from kpiframe.errors import ExpectationsFailed, KpiframeError, QueryError
from kpiframe.load.loaded import LoadedProject, Source
from kpiframe.load.names import funnel_model
from kpiframe.load.specs import WarehouseSpec
from kpiframe.pipeline import load_project
from kpiframe.semantic.layer import SemanticLayer
from kpiframe.sql.answer_shape import check_limit, order_keys, request_range, shaped
from kpiframe.sql.calendar import ALL_TIME
from kpiframe.sql.metric_query import MetricRequest, compile_request
from kpiframe.sql.subday_grains import check_size, is_subday, spine_bounds_query
from kpiframe.sql.time_spine import PERIOD
from kpiframe.suggest import unknown

# What only `build` and `test` use is imported inside them: every command imports this module, and
# query, compile and the KPI commands need none of the build machinery (issue 12, point 8: start-up).
if TYPE_CHECKING:
    from kpiframe.build.run import NodeCheck, Progress
    from kpiframe.build.runs import BuildResult
    from kpiframe.quality.metric_tests import CaseResult


@dataclass
class ReplayableAnswer:
    """A metric query's rows and period coverage, the SQL text that read them, and the engine's recipe to
    run that text again (None: the engine offers no replay)."""

    result: QueryResult
    coverage: dict[date, Any]
    statements: list[str]
    recipe: dict[str, Any] | None
    grain: str
    periods: bool


@dataclass
class Project:
    graph: LoadedProject
    layer: SemanticLayer
    warehouse_spec: WarehouseSpec
    last_expectation_results: list[Any] = field(default_factory=list)
    last_expectation_run: Any = None

    @classmethod
    def load(cls, project_dir: str | Path = ".", warehouse: str | None = None) -> Project:
        """Load and validate a project; raises ProjectInvalid listing every problem found."""
        graph = load_project(Path(project_dir))
        return cls(graph, graph.semantic, resolve_warehouse(graph.config, graph.root, warehouse))

    @property
    def root(self) -> Path:
        return self.graph.root

    def connect(self, read_only: bool = False) -> Warehouse:
        return connect(self.warehouse_spec, read_only=read_only)

    def connect_reader(self) -> Warehouse:
        """A read-only connection to what the last build published: on DuckDB its serving snapshot (see
        kpiframe/build/serving.py), so that reading never waits for a build nor makes one fail."""
        return connect(reader_spec(self.warehouse_spec), read_only=True)

    def nodes(self) -> list[CompiledNode]:
        return compile_nodes(self.graph, self.layer)

    def used_sources(self) -> list[Source]:
        keys = {key for model in self.graph.models.values() for key in model.sources}
        return [self.graph.sources[key] for key in sorted(keys)]

    def compile(self, dialect: str = "duckdb") -> Path:
        return write_target(self.graph, self.layer, self.nodes(), dialect)

    def lock_definitions(self) -> list[str]:
        """Lock the rule of every definition version not locked yet; returns what was locked."""
        from kpiframe.semantic.definitions import write_lock

        return write_lock(self.graph)

    def catalog(
        self,
        kinds: list[str] | tuple[str, ...] = (),
        search: str | None = None,
        owner: str | None = None,
        tag: str | None = None,
    ) -> QueryResult:
        """One row per model (in build order), dataset, metric and published table: kind, name, type, file,
        description. `kinds` keeps some of model, dataset, metric, table; `search` what has the text (any
        case) in its name, label or description; `owner` the metrics of a team; `tag` the models and metrics
        with a tag. An owner or tag nothing carries is an error (KF457, KF455), not an empty list."""
        from kpiframe.listing import CatalogFilter, catalog

        return catalog(self.graph, CatalogFilter(tuple(kinds), search, owner, tag))

    def query_options(self, metrics: list[str] | tuple[str, ...], search: str | None = None) -> QueryResult:
        """What a query of `metrics` (together) accepts: one row per dimension (`by`, full name) and grain,
        from the rules that check a query; the HTTP catalog lists the same. Unknown metric: KF104."""
        from kpiframe.listing import query_options

        return query_options(self.layer, metrics, search)

    def metric_tests(self, select: str | None = None) -> list[CaseResult]:
        """Run the metric tests (all, or the one named) apart from the warehouse's tables: in an in-memory
        DuckDB, or on Spark in temporary views of the warehouse's session (kpiframe.quality.metric_tests)."""
        from kpiframe.quality.metric_tests import run_metric_tests

        if select and select not in self.graph.metric_tests:  # a typo must not pass as "0 passed, 0 failed"
            message, hint = unknown("metric test", select, self.graph.metric_tests)
            raise KpiframeError(message, code="KF704", hint=hint)
        return run_metric_tests(self.graph, self.layer, select, self.warehouse_spec)

    def build(
        self,
        progress: Progress | None = None,
        check: NodeCheck | None = None,
        junit_xml: str | None = None,
        select: list[str] | None = None,
        state: Path | None = None,
        on_checked: Callable[[str], None] | None = None,
        accept_volume_drop: list[str] | tuple[str, ...] = (),
        wait: float | None = None,
        lock_timeout: float | None = None,
        on_notice: Callable[[str], None] | None = None,
    ) -> BuildResult:
        """Build every model and publish every metric table; all or nothing.

        Expectations run on each node right after it is built and on the sources before the swap; a
        failed `error` expectation raises ExpectationsFailed and nothing is published. So does the
        volume guard when a table shrank beyond its allowed drop, unless it is in `accept_volume_drop`.
        `on_checked` gets a line for each checked table.

        One build of a project runs at a time: another one holding the lock is refused (KF530), or
        waited for up to `wait` seconds. The swap waits up to `lock_timeout` seconds for a table lock
        (PostgreSQL; None: build.locks.DEFAULT_LOCK_TIMEOUT). `on_notice` gets a line when the build waits
        or cleans up after a dead one.
        """
        from kpiframe.build.catalog import write_catalog
        from kpiframe.build.expectations import ExpectationRun, store_results, write_results
        from kpiframe.build.locks import DEFAULT_LOCK_TIMEOUT, connect_waiting, take_build_lock
        from kpiframe.build.run import require_sources, run_build
        from kpiframe.build.runs import STAGING_SUFFIX, clean_up_abandoned
        from kpiframe.build.selection import select_nodes
        from kpiframe.build.serving import publish_snapshot
        from kpiframe.quality.volume import VolumeGuard

        every_node = self.nodes()
        nodes = select_nodes(every_node, self.graph, select or [], state)
        run = ExpectationRun(
            self.graph.expectations,
            staged={(n.schema, n.name): n.name + STAGING_SUFFIX for n in nodes},
            notify=on_checked,
        )
        self.last_expectation_results = run.results
        self.last_expectation_run = run
        guard = VolumeGuard.for_build(self.graph, nodes, accept_volume_drop, notify=on_checked)

        def before_swap(warehouse: Warehouse) -> None:
            try:
                run.check_source_data(warehouse, self.graph)
            except ExpectationsFailed:
                # an emptied load often fails source checks too: the guard's message says what happened
                guard.stop_on_errors()
                raise
            finally:  # the guard's verdicts are shown even when an expectation stopped the build
                run.results.extend(guard.results())
            guard.stop_on_errors()

        def check_node(warehouse: Warehouse, node: CompiledNode, physical: str) -> None:
            run.check_node(warehouse, node, physical)
            if check:
                check(warehouse, node, physical)

        notice = on_notice or (lambda line: None)
        warehouse = connect_waiting(self.connect, wait, notice)
        try:  # before anything is written: a refused build must not touch the running build's tables
            take_build_lock(warehouse, self.graph.config.name, wait, notice)
            cleaned = clean_up_abandoned(warehouse, self.graph.config.name, {n.schema for n in every_node})
        except BaseException:
            warehouse.close()
            raise
        if cleaned:
            notice(cleaned)
        run_id = "not-started"
        try:
            require_sources(warehouse, self.used_sources())
            _require_unselected_upstream(warehouse, every_node, nodes)
            # sources are checked once the new tables stand beside the live ones, before the swap: a
            # failed source check still publishes nothing, and a `references` check from a source to a
            # model looks at the model's new version
            result = run_build(
                warehouse,
                nodes,
                project_hash(every_node),
                self.root,
                selection=" ".join(select or []) or "all",
                progress=progress,
                check=check_node,
                before_swap=before_swap,
                after_swap=lambda swapped: write_catalog(swapped, self.graph),  # what each number means
                volume=guard.measure,
                project=self.graph.config.name,
                lock_timeout=DEFAULT_LOCK_TIMEOUT if lock_timeout is None else lock_timeout,
                known_views=frozenset((n.schema, n.name) for n in every_node if n.materialized == "view"),
            )
            write_target(self.graph, self.layer, every_node, "duckdb")
            run_id = result.run_id
            return result
        finally:
            try:
                if run.results or self.graph.expectations:
                    store_results(warehouse, run_id, run.results)
                    write_results(self.root, run_id, run.results, junit_xml)
                if run_id != "not-started" and adapter_class(self.warehouse_spec.type).serves_snapshots(
                    self.warehouse_spec
                ):
                    publish_snapshot(warehouse, self.warehouse_spec.path, run_id)  # readers see this build now
            finally:
                warehouse.close()

    def test(self, junit_xml: str | None = None) -> list[Any]:
        """Run every expectation against the warehouse as it is, building nothing."""
        from kpiframe.build.expectations import ExpectationRun, store_results, write_results
        from kpiframe.quality.contracts import declared

        run = ExpectationRun(self.graph.expectations)
        path = self.warehouse_spec.path
        if adapter_class(self.warehouse_spec.type).is_missing(self.warehouse_spec):
            if not declared(self.graph.expectations):  # only the contract's own checks: no data to check
                return []
            raise KpiframeError(
                f"warehouse file {path} does not exist, so there is nothing to check",
                code="KF501",
                hint="run kpiframe build first, or kpiframe test --metrics-only",
            )
        warehouse = self.connect()
        try:
            for kind, name in sorted(self.graph.expectations):
                schema = {"model": self.graph.config.schemas.models, "table": self.graph.config.schemas.metrics}.get(
                    kind
                )
                source_schema, _, source_table = name.partition(".")
                run.check_table(warehouse, (kind, name), schema or source_schema, name if schema else source_table)
            store_results(warehouse, "test", run.results)
            write_results(self.root, "test", run.results, junit_xml)
        finally:
            warehouse.close()
        return run.results

    def request(
        self,
        metrics: list[str] | tuple[str, ...],
        dimensions: list[str] | tuple[str, ...] = (),
        grain: str | None = None,
        start: date | str | None = None,
        end: date | str | None = None,
        where: str | None = None,
        compare: str | None = None,
        start_time: date | str | None = None,
        end_time: date | str | None = None,
        min_max: bool = False,
    ) -> MetricRequest:
        """The request, with MetricFlow's names and filters translated (grain None: the grain of a
        `metric_time__<grain>` in `dimensions`, else kpi_project.yml's `query.without_time`, else the
        metrics' `grain:`, else month). `start_time`/`end_time` (MetricFlow's time constraint) are instants:
        the periods that hold them bound the answer, where `start`/`end` are period starts."""
        from kpiframe.imports.metricflow_request import translate_request

        without_time = self.graph.config.query.without_time
        asked = translate_request(self.layer, metrics, dimensions, grain, where, without_time=without_time)
        first, last = request_range(asked.grain, self.graph.config.calendar, start, end, start_time, end_time)
        return MetricRequest(asked.metrics, asked.dimensions, asked.grain, first, last, asked.where, compare, min_max)

    def saved_query(self, name: str) -> dict[str, Any]:
        """The request of the published table `name` (a MetricFlow saved query imported as one): its metrics,
        dimensions and grain, as `query` takes them (`kpiframe query --saved-query NAME`)."""
        located = self.graph.tables.get(name)
        if located is None:
            message, hint = unknown("saved query", name, self.graph.tables)
            raise QueryError(message, code="KF426", hint=hint or "a saved query is a published table (tables:)")
        table = located.spec
        return {"metrics": list(table.metrics), "dimensions": list(table.dimensions), "grain": table.grain}

    def answer_query(
        self, order: Sequence[str] = (), limit: int | None = None, **request: Any
    ) -> tuple[MetricRequest, exp.Select]:
        """The request and its SELECT, its rows in the `order` asked (metric, dimension or period names,
        `-name` descending) and at most `limit` of them (kpiframe.sql.answer_shape)."""
        from kpiframe.imports.metricflow_request import translate_request

        asked = self.request(**request)
        tree = compile_request(self.layer, asked)
        if not order and limit is None:
            return asked, tree

        def group_by_column(name: str) -> str | None:
            if name in asked.dimensions:  # a label of metric time (metric_time__quarter) is a column of its own
                return name
            found = translate_request(self.layer, asked.metrics, [name], None, None).dimensions
            return found[0] if found else PERIOD  # a grain of the metrics' time (`booking__ds__day`): the period

        keys = order_keys(order, tree.named_selects, group_by_column)
        return asked, shaped(tree, keys, check_limit(limit))

    def explain(self, dialect: str = "duckdb", **request: Any) -> str:
        _, tree = self.answer_query(**request)
        return tree.sql(dialect=dialect, pretty=True)

    def query(self, **request: Any) -> QueryResult:
        """Answer a metric request from the warehouse: period_start, dimensions, one column per metric; with
        `metrics=[]` and some `dimensions`, the distinct values of the dimensions (sql.dimension_values).
        `order` and `limit` shape the rows (answer_query)."""
        asked, tree = self.answer_query(**request)
        warehouse = self.connect_reader()
        try:
            _check_spine_size(warehouse, tree, asked.grain)
            return warehouse.query(tree)
        finally:
            warehouse.close()

    def query_with_coverage(self, **request: Any) -> tuple[QueryResult, dict[date, Any]]:
        """`query`, and how much of each period of the answer the data covers, as a
        kpiframe.sql.coverage.PeriodCoverage per period start (to tell periods still in progress): the last
        day with data is the latest day of the metrics' time columns, read from the same snapshot."""
        answer = self.replayable_query(**request)
        return answer.result, answer.coverage

    def replayable_query(self, **request: Any) -> ReplayableAnswer:
        """`query_with_coverage`'s answer, with the SQL text it ran and how a later process can run that text
        again without loading the project (kpiframe/cli/query_cache.py)."""
        from kpiframe.sql.coverage import answer_coverage
        from kpiframe.sql.progress import last_day_query

        asked, tree = self.answer_query(**request)
        periods = asked.grain != ALL_TIME  # all time: the rows have no period
        trees = [tree, last_day_query(self.layer, asked.metrics)] if asked.metrics else [tree]
        warehouse = self.connect_reader()
        try:
            _check_spine_size(warehouse, tree, asked.grain)
            answered = [warehouse.query_rendered(each) for each in trees]  # each rendered once
        finally:
            warehouse.close()
        results, statements = [rows for rows, _ in answered], [text for _, text in answered]
        recipe = adapter_class(self.warehouse_spec.type).replay_recipe(self.warehouse_spec)
        answer = ReplayableAnswer(results[0], {}, statements, recipe, asked.grain, periods)
        if asked.metrics:  # a query of dimension values has no period to cover
            answer.coverage = answer_coverage(results[0].rows, asked.grain, periods, results[1].rows[0][0])
        return answer

    def funnel(
        self,
        name: str | None = None,
        grain: str = "month",
        dimensions: tuple[str, ...] = (),
        start: date | None = None,
        end: date | None = None,
        order: str | None = None,
    ) -> tuple[QueryResult, dict[str, Any] | None]:
        """A funnel's rows per cohort and stage, and its bottleneck among cohorts whose window has closed.

        `order` (strict | independent) overrides the funnel's own `order:`."""
        from kpiframe.semantic.definitions import DefinitionProblem
        from kpiframe.semantic.funnels import (
            FunnelRequest,
            find_bottleneck,
            first_open_cohort,
            funnel_query,
            located_funnel,
        )

        located = located_funnel(self.graph, name)
        spec = located.spec
        try:
            tree = funnel_query(self.graph, spec, FunnelRequest(spec.name, grain, tuple(dimensions), start, end, order))
            # the bottleneck compares with history, so it reads every cohort up to the end, not only those shown
            history = funnel_query(self.graph, spec, FunnelRequest(spec.name, grain, (), None, end, order))
        except DefinitionProblem as problem:
            raise QueryError(str(problem), code="KF922", hint=problem.hint) from None
        warehouse = self.connect_reader()
        try:
            result = warehouse.query(tree)
            every_cohort = warehouse.query(history)
            latest = warehouse.query(
                exp.select(exp.Max(this=exp.column("entered_at"))).from_(
                    exp.table_(funnel_model(spec.name), db=self.graph.config.schemas.models, quoted=True)
                )
            )
        finally:
            warehouse.close()
        newest = latest.rows[0][0]
        history_rows = every_cohort.as_dicts()
        cohort_starts = {row["cohort_start"] for row in history_rows}
        mature_before = first_open_cohort(cohort_starts, grain, spec.window_days, newest)
        found = find_bottleneck(history_rows, [s.name for s in spec.stages], mature_before)
        bottleneck = (
            None
            if found is None
            else {
                "cohort_start": found.cohort_start.isoformat(),
                "step": found.stage,
                "conversion": found.conversion,
                "trailing_average": found.trailing,
                "trailing_cohorts": found.cohorts,
                "change_points": 100 * found.drop,
            }
        )
        return result, bottleneck

    def funnel_rules(self, name: str | None = None, order: str | None = None) -> dict[str, Any]:
        """What a funnel's numbers mean: its stages, the order rule, what conversion divides by."""
        from kpiframe.semantic.funnels import describe, located_funnel

        return describe(located_funnel(self.graph, name).spec, order)

    def units(self) -> dict[str, str]:
        """Each metric's unit, also for its comparison columns, so people see 6.9 % rather than 0.069."""
        found = {}
        for name, located in self.graph.metrics.items():
            unit = getattr(located.spec, "unit", None)
            if unit:
                found[name] = unit
                found[f"{name}__previous"] = found[f"{name}__year_ago"] = unit
                found[f"{name}__change"] = "percent"
        return found

    def with_warehouse(self, run: Callable[[Warehouse], object]) -> object:
        warehouse = self.connect()
        try:
            return run(warehouse)
        finally:
            warehouse.close()


def _require_unselected_upstream(
    warehouse: Warehouse, every_node: list[CompiledNode], selected: list[CompiledNode]
) -> None:
    """A partial build reads what it does not rebuild from the live tables, which must exist."""
    chosen = {n.name for n in selected}
    by_name = {n.name: n for n in every_node}
    missing = sorted(
        {
            dep
            for n in selected
            for dep in n.depends_on
            if dep in by_name and dep not in chosen and warehouse.object_type(by_name[dep].schema, dep) is None
        }
    )
    if missing:
        raise KpiframeError(
            f"the selection reads {', '.join(missing)}, which has never been built",
            code="KF454",
            hint="add + in front of the selector to build upstream nodes too",
        )


def project_hash(nodes: list[CompiledNode]) -> str:
    """One hash of everything a build runs: equal hashes mean equal SQL."""
    digest = hashlib.sha256()
    for node in nodes:
        digest.update(f"{node.kind}.{node.name}:{node.materialized}:{node.query.sql()}\n".encode())
    return digest.hexdigest()[:16]


def _check_spine_size(warehouse: Warehouse, tree: exp.Select, grain: str) -> None:
    """A day of seconds is 86,400 rows: at a sub-day grain, count the spine's periods before listing them."""
    bounds = spine_bounds_query(tree) if is_subday(grain) else None
    if bounds is None:
        return
    [(first, last)] = warehouse.query(bounds).rows
    if first is not None and last is not None:
        check_size(first, last, grain)
