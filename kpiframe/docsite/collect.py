"""Gather what the docs site shows into SiteData (model.py), from the project and, once built, the warehouse.

The catalog, the lineage and the definitions' versions come from the project files alone, so a project
that was never built still gets them. The rest comes from the warehouse's serving snapshot (the last
build, read-only): collect_snapshot.py reads kpiframe's own tables (what was built, runs, expectation
results, definition members), collect_data.py asks the facades for the KPI trees, trends and funnels.
A warehouse that is missing, unreadable or holds no build of the project leaves the data pages empty,
with `built=False` and the reason, never an exception.

The catalog must stay fast on big projects (bench_compile's 1,000 metrics: about 1.5 s of CPU, nearly all
of it compiling and printing 1,000 queries): each metric's monthly query is compiled once and rendered
without the defensive copy `Expression.sql()` makes first, the dimensions are worked out once per set of
datasets, and the grains are compiled only for the metrics a grain can refuse (those with a cumulative
metric among their inputs; the others accept every grain).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from io import StringIO

from ruamel.yaml import YAML
from sqlglot.dialects.dialect import Dialect

from kpiframe.build.catalog import formula_text
from kpiframe.docsite.collect_data import DataCollector
from kpiframe.docsite.collect_snapshot import open_warehouse
from kpiframe.docsite.model import (
    Approval,
    DefinitionVersion,
    DefinitionView,
    Lineage,
    LineageNode,
    MetricEntry,
    SiteData,
)
from kpiframe.errors import KpiframeError, SourceLocation
from kpiframe.kpi.periods import Period, period_option
from kpiframe.listing import accepted_dimensions, accepted_grains
from kpiframe.load.loaded import LoadedProject
from kpiframe.load.names import NodeKey, funnel_model, funnel_table
from kpiframe.load.specs import DefinitionVersionSpec, MeasureSpec, MetricSpec
from kpiframe.project import Project
from kpiframe.semantic.layer import SemanticLayer, metric_datasets, metric_inputs
from kpiframe.sql.calendar import PERIOD_GRAINS
from kpiframe.sql.metric_query import MetricRequest, compile_request

Progress = Callable[[str], None]
CATALOG_GRAIN = "month"  # the grain of the SQL each metric's page shows


def collect_site(project: Project, period: str | None = None, progress: Progress | None = None) -> SiteData:
    """Everything the site shows. `period` (2026-Q4, 2026-10, 2026) is the one the KPI trees show; by
    default the period `kpiframe status` shows. Warehouse problems never raise: they leave the data pages
    empty (`built=False`, `not_built_reason`) or are listed in `problems`."""
    tell = progress or (lambda step: None)
    asked = _period(period)
    graph = project.graph
    tell(f"catalog of {len(graph.metrics)} metrics")
    metrics = metric_entries(project.layer, graph)
    tell("lineage")
    site = SiteData(
        project=graph.config.name,
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        built=False,
        not_built_reason=None,
        metrics=metrics,
        lineage=lineage(graph),
        trees=[],
        trends=[],
        funnels=[],
        definitions=definition_views(graph),
        runs=[],
        expectations=[],
        problems=[],
    )
    tell("warehouse")
    state = open_warehouse(project)
    site["built"], site["not_built_reason"] = state.built, state.reason
    DataCollector(project, state, site, tell).collect(asked, {m["name"]: m["grains"] for m in metrics})
    return site


def _period(text: str | None) -> Period | None:
    return None if text is None else period_option(text)


# --- the metric catalog ----------------------------------------------------------------------------------
def metric_entries(layer: SemanticLayer, graph: LoadedProject) -> list[MetricEntry]:
    """One entry per metric, in the order the project declares them."""
    catalog = _Catalog(layer, graph)
    return [catalog.entry(name) for name in graph.metrics]


class _Catalog:
    """What each entry needs, worked out once for the whole catalog."""

    def __init__(self, layer: SemanticLayer, graph: LoadedProject) -> None:
        self.layer, self.graph = layer, graph
        self.measures: dict[str, tuple[MeasureSpec, str]] = {
            m.name: (m, name) for name, located in graph.datasets.items() for m in located.spec.measures
        }
        self.directions = tree_directions(graph)
        schema = graph.config.schemas.metrics
        self.tables: dict[str, list[str]] = {}
        for table, located in graph.tables.items():
            for metric in dict.fromkeys(located.spec.metrics):
                self.tables.setdefault(metric, []).append(f"{schema}.{table}")
        self.dimensions: dict[frozenset[str], list[str]] = {}  # per set of datasets the metric aggregates
        self.cumulative: dict[str, bool] = {}
        self.dialect = Dialect.get_or_raise("duckdb")

    def entry(self, name: str) -> MetricEntry:
        located = self.graph.metrics[name]
        spec: MetricSpec = located.spec
        measure = self.layer.measures.get(spec.measure or "") if spec.type == "simple" else None
        grains, sql = self.grains_and_sql(name)
        return MetricEntry(
            name=name,
            label=spec.label or name,
            description=spec.description or "",
            owner=spec.owner,
            unit=spec.unit,
            direction=self.directions.get(name) or spec.direction,
            timing=spec.timing,
            type=spec.type,
            formula=formula_text(spec, self.measures, self.layer.metric(spec.metric) if spec.metric else None),
            dataset=measure.dataset if measure else None,
            inputs=[] if spec.type == "simple" else metric_inputs(spec),
            dimensions=self.dimensions_of(name),
            grains=grains,
            sql=sql,
            tables=sorted(self.tables.get(name, [])),
            file=where(located.location) or "",
        )

    def dimensions_of(self, name: str) -> list[str]:
        """What `query --by` accepts for the metric alone: the same for every metric over the same datasets."""
        key = frozenset(metric_datasets(self.layer, [name]))
        if key not in self.dimensions:
            self.dimensions[key] = [d.qualified for d in accepted_dimensions(self.layer, [name])]
        return self.dimensions[key]

    def grains_and_sql(self, name: str) -> tuple[list[str], str]:
        """The grains a query of the metric accepts, and the SQL of its monthly query (or of its finest
        grain, said in a comment, when it refuses month). Only a cumulative window refuses a grain (KF421),
        so the other metrics accept every grain their monthly query compiles at."""
        grains = accepted_grains(self.layer, [name]) if self._has_cumulative(name) else list(PERIOD_GRAINS)
        grain = CATALOG_GRAIN if CATALOG_GRAIN in grains else (grains[0] if grains else CATALOG_GRAIN)
        try:
            tree = compile_request(self.layer, MetricRequest((name,), (), grain))
        except KpiframeError as exc:  # loading compiled the tables only: a metric of none may still refuse
            return [], f"-- kpiframe query --metric {name} fails: {exc.diagnostic.message}"
        if grain != CATALOG_GRAIN:  # said first: on the WITH (a query of a metric always has one)
            (tree.args.get("with_") or tree).add_comments(
                [f" at {grain} grain: {name} cannot be asked for per {CATALOG_GRAIN} "]
            )
        # the tree is this entry's own: rendering it without the defensive copy of .sql() halves the cost
        return grains, self.dialect.generate(tree, copy=False, pretty=True)

    def _has_cumulative(self, name: str) -> bool:
        if name not in self.cumulative:
            self.cumulative[name] = False  # a cycle cannot load; this only guards the recursion
            spec = self.graph.metrics[name].spec if name in self.graph.metrics else None
            self.cumulative[name] = spec is not None and (
                spec.type == "cumulative" or any(self._has_cumulative(i) for i in metric_inputs(spec))
            )
        return self.cumulative[name]


def tree_directions(graph: LoadedProject) -> dict[str, str]:
    """Metric -> the direction of its node in the first KPI tree holding it (as the warehouse catalog says)."""
    found: dict[str, str] = {}
    for tree in graph.kpi.trees.values() if graph.kpi is not None else ():
        for metric, node in tree.nodes.items():
            if node.direction and metric not in found:
                found[metric] = node.direction
    return found


def where(location: SourceLocation | None) -> str | None:
    if location is None or not location.path:
        return None
    return f"{location.path}:{location.line}" if location.line else location.path


# --- lineage ---------------------------------------------------------------------------------------------
def lineage(graph: LoadedProject) -> Lineage:
    """source -> model -> dataset -> metric -> published table, from the refs and specs as loaded."""
    layer = graph.semantic
    nodes: dict[str, LineageNode] = {}
    edges: dict[tuple[str, str], None] = {}

    def node(kind: str, name: str, location: SourceLocation | None) -> str:
        key = str(NodeKey(kind, name))
        nodes.setdefault(key, LineageNode(id=key, kind=kind, name=name, file=where(location)))
        return key

    def edge(up: str, down: str) -> None:
        edges[(up, down)] = None

    sources = {key: node("source", f"{s.schema}.{s.table}", s.location) for key, s in graph.sources.items()}
    for name in graph.order:
        model = graph.models[name]
        here = node("model", name, model.location)
        for ref in model.refs:
            edge(str(NodeKey("model", ref)), here)
        for source in model.sources:
            if source in sources:
                edge(sources[source], here)
    for name, dataset in graph.datasets.items():
        edge(str(NodeKey("model", dataset.spec.model)), node("dataset", name, dataset.location))
    for name, metric in graph.metrics.items():
        here = node("metric", name, metric.location)
        spec = metric.spec
        measure = layer.measures.get(spec.measure or "") if spec.type == "simple" else None
        for upstream in [NodeKey("dataset", measure.dataset)] if measure else []:
            edge(str(upstream), here)
        for name_in in metric_inputs(spec) if spec.type != "simple" else []:
            edge(str(NodeKey("metric", name_in)), here)
    schema = graph.config.schemas.metrics
    for name, table in graph.tables.items():
        here = node("table", f"{schema}.{name}", table.location)
        for metric_name in table.spec.metrics:
            edge(str(NodeKey("metric", metric_name)), here)
    for funnel in graph.funnels.values():
        for dims in [(), *[(d,) for d in funnel.spec.dimensions]]:
            here = node("table", f"{schema}.{funnel_table(funnel.spec.name, dims)}", funnel.location)
            edge(str(NodeKey("model", funnel_model(funnel.spec.name))), here)
    known = set(nodes)  # an edge to something the project does not declare would point nowhere on the page
    return Lineage(nodes=list(nodes.values()), edges=[e for e in edges if e[0] in known and e[1] in known])


# --- definitions -----------------------------------------------------------------------------------------
def definition_views(graph: LoadedProject) -> list[DefinitionView]:
    """Each definition's versions; the movements between them are added from the warehouse, once built."""
    views = []
    for name, located in graph.definitions.items():
        spec = located.spec
        views.append(
            DefinitionView(
                name=name,
                description=spec.description or "",
                entity=spec.entity,
                owners=list(spec.owners),
                versions=[_version(v, spec.current) for v in spec.versions],
                movements=[],
            )
        )
    return views


def _version(version: DefinitionVersionSpec, current: int) -> DefinitionVersion:
    return DefinitionVersion(
        version=version.version,
        effective=version.effective.isoformat(),
        change_note=version.change_note,
        approvals=[Approval(team=a.team, by=a.by, on=a.on.isoformat()) for a in version.approvals],
        rule=rule_yaml(version),
        current=version.version == current,
    )


def rule_yaml(version: DefinitionVersionSpec) -> str:
    """The rule (and SLA) of a version as YAML, as the definitions file writes it: what the lock fingerprints."""
    meaning: dict[str, object] = {"rule": _plain(version.rule.model_dump(mode="json", exclude_none=True))}
    if version.sla is not None:
        meaning["sla"] = _plain(version.sla.model_dump(mode="json", exclude_none=True))
    yaml = YAML()  # keys in the order the spec declares them, lists indented as in the project's files
    yaml.default_flow_style = False
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096  # a long fit condition stays on its line
    text = StringIO()
    yaml.dump(meaning, text)
    return text.getvalue()


def _plain(value: object) -> object:
    """Whole floats as ints (points: 5, not 5.0), as people wrote them."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value
