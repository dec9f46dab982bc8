"""The trees, targets, benchmarks and settings of a project: validated all at once when the project
loads (`read_kpi`, part of the validate stage), then wrapped with the project by `load_kpi`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kpiframe.errors import Diagnostic, KpiframeError, Problems, ProjectInvalid, SourceLocation
from kpiframe.kpi.algebra import MetricAlgebra
from kpiframe.kpi.benchmarks import LIBRARY, Benchmark
from kpiframe.kpi.periods import PeriodError, parse_period
from kpiframe.kpi.specs import BenchmarkSpec, KpiSettings, TargetSpec, TargetValueSpec, TreeSpec
from kpiframe.kpi.targets import TargetBook, TargetEntry
from kpiframe.kpi.trees import Tree, TreeBuilder
from kpiframe.load.config import project_document, validate_spec
from kpiframe.load.loaded import KpiItem, ProjectFiles
from kpiframe.semantic.layer import SemanticLayer
from kpiframe.suggest import unknown

if TYPE_CHECKING:
    from kpiframe.project import Project

# pydantic's generic codes, renumbered so that every KPI-file problem reads as KF8xx
_CODES = {"KF012": "KF801", "KF013": "KF802", "KF014": "KF803"}
LINT_NAMES = {
    "KF820": "missing_owner",
    "KF821": "missing_target",
    "KF822": "missing_direction",
    "KF823": "missing_grain",
    "KF824": "missing_cadence",
    "KF825": "kpi_count",
    "KF826": "kpi_in_no_tree",
    "KF827": "unpaired_volume",
    "KF828": "vanity_metric",
    "KF829": "unachievable_target",
    "KF830": "formula_mismatch",
    "KF831": "missing_timing",
}


@dataclass
class KpiModel:
    project: Project
    algebra: MetricAlgebra
    trees: dict[str, Tree]
    targets: TargetBook
    benchmarks: dict[str, Benchmark]  # metric -> its attached range
    settings: KpiSettings

    def tree(self, name: str | None = None) -> Tree:
        """The tree asked for, or the project's only tree when none is named."""
        if name is not None:
            if name not in self.trees:
                message, hint = unknown("tree", name, self.trees)
                raise KpiframeError(message, code="KF840", hint=hint)
            return self.trees[name]
        if len(self.trees) == 1:
            return next(iter(self.trees.values()))
        if not self.trees:
            raise KpiframeError(
                "the project has no KPI tree", code="KF841", hint="declare one under trees: in a metrics/*.yml file"
            )
        raise KpiframeError(
            f"the project has {len(self.trees)} trees: {', '.join(self.trees)}", code="KF842", hint="pass --tree NAME"
        )

    def tree_with_formula(self, metric: str, name: str | None) -> Tree:
        """For explain: the named tree, else the only tree with a formula for `metric`."""
        if name is not None or len(self.trees) <= 1:
            return self.tree(name)
        found = [t for t in self.trees.values() if metric in t.formulas]
        return found[0] if len(found) == 1 else self.tree(name)


@dataclass(frozen=True)
class KpiDefinitions:
    """Trees, targets, benchmarks and settings as validated when the project loads."""

    algebra: MetricAlgebra
    trees: dict[str, Tree]
    targets: TargetBook
    benchmarks: dict[str, Benchmark]  # metric -> its attached range
    settings: KpiSettings


def read_kpi(files: ProjectFiles, layer: SemanticLayer) -> tuple[KpiDefinitions, Problems]:
    """Validate trees, targets, benchmarks and `kpi:` settings; every problem is returned, none raised."""
    problems = Problems()
    algebra = MetricAlgebra(files, layer)
    settings = _settings(files, problems)
    trees: dict[str, Tree] = {}
    builder = TreeBuilder(algebra, problems)
    for item in files.kpi_items.get("trees", ()):
        spec = _validate(TreeSpec, item, problems)
        if spec is None:
            continue
        if spec.name in trees:
            problems.error(
                "KF805",
                f"duplicate tree name '{spec.name}'",
                item.locate(("name",)),
                hint=f"first defined at {trees[spec.name].location}",
            )
            continue
        trees[spec.name] = builder.build(spec, item)
    benchmarks = _benchmarks(files.kpi_items.get("benchmarks", ()), files.metrics, problems)
    book = TargetBook(_targets(files, layer, algebra, trees, benchmarks, problems))
    return KpiDefinitions(algebra, trees, book, benchmarks, settings), problems


def load_kpi(project: Project) -> KpiModel:
    """The project's KPI model; loading the project has validated it already."""
    kpi = project.graph.kpi
    if kpi is None:  # a project loaded before its KPI files could be read: validate them now
        kpi, problems = read_kpi(project.graph, project.layer)
        if problems.has_errors:
            raise ProjectInvalid(problems)
    return KpiModel(project, kpi.algebra, kpi.trees, kpi.targets, kpi.benchmarks, kpi.settings)


def _validate(spec_class: Any, item: KpiItem, problems: list[Diagnostic], data: Any = None) -> Any:
    found: list[Diagnostic] = []
    spec = validate_spec(spec_class, item.data if data is None else data, item.doc, item.key_path, found)
    problems += [Diagnostic(_CODES.get(d.code, d.code), d.message, d.location, d.hint, d.severity) for d in found]
    return spec


def _settings(files: ProjectFiles, problems: list[Diagnostic]) -> KpiSettings:
    raw = files.config.kpi
    doc = project_document(files.root)
    found: list[Diagnostic] = []
    settings = validate_spec(KpiSettings, raw, doc, ("kpi",), found)
    for d in found:
        problems.append(Diagnostic("KF810", f"kpi settings: {d.message}", d.location, d.hint))
    known = set(LINT_NAMES) | set(LINT_NAMES.values())
    names = raw.get("lint_errors") if isinstance(raw, dict) else None
    for index, name in enumerate(names if isinstance(names, list) else []):
        if str(name) not in known:  # checked on the raw list, so a bad threshold does not hide it
            message, hint = unknown("lint", str(name), sorted(known))
            problems.append(Diagnostic("KF810", message, doc.locate(("kpi", "lint_errors", index)), hint))
    return settings or KpiSettings()


def _benchmarks(
    items: Iterable[KpiItem], metrics: Mapping[str, object], problems: list[Diagnostic]
) -> dict[str, Benchmark]:
    attached: dict[str, Benchmark] = {}
    for item in items:
        spec = _validate(BenchmarkSpec, item, problems)
        if spec is None:
            continue
        if spec.metric not in metrics:
            message, hint = unknown("metric", spec.metric, metrics)
            problems.append(Diagnostic("KF804", message, item.locate(("metric",)), hint))
            continue
        if spec.use is not None and spec.use not in LIBRARY:
            message, hint = unknown("benchmark", spec.use, LIBRARY)
            problems.append(Diagnostic("KF809", message, item.locate(("use",)), hint))
            continue
        if spec.metric in attached:
            problems.append(Diagnostic("KF805", f"two benchmarks for metric '{spec.metric}'", item.locate()))
            continue
        attached[spec.metric] = (
            LIBRARY[spec.use]
            if spec.use
            else Benchmark(spec.metric, spec.metric, spec.low, spec.high, spec.source or "project")
        )
    return attached


def _targets(
    files: ProjectFiles,
    layer: SemanticLayer,
    algebra: MetricAlgebra,
    trees: dict[str, Tree],
    benchmarks: dict[str, Benchmark],
    problems: Problems,
) -> list[TargetEntry]:
    graph = files
    entries: list[TargetEntry] = []
    derivable = {child for tree in trees.values() for f in tree.formulas.values() for child in f.children}
    # a tree that failed to build has lost formulas: "no formula derives X" would only repeat its error
    trees_broken = problems.has_errors
    dimensions = {q for name in layer.datasets for q in layer.dimensions_of(name)}
    seen: dict[tuple[Any, ...], SourceLocation] = {}
    for item in graph.kpi_items.get("targets", ()):
        data = dict(item.data) if isinstance(item.data, dict) else item.data
        values = data.get("values") if isinstance(data, dict) else None
        if isinstance(data, dict) and isinstance(values, dict):
            data["values"] = {str(k): v for k, v in values.items()}  # YAML reads 2026 as a number
        spec = _validate(TargetSpec, item, problems, data)
        if spec is None:
            continue
        if spec.metric not in graph.metrics:
            message, hint = unknown("metric", spec.metric, graph.metrics)
            problems.append(Diagnostic("KF804", message, item.locate(("metric",)), hint))
            continue
        reason = algebra.unsupported(spec.metric)
        if reason:
            problems.append(
                Diagnostic(
                    "KF807",
                    f"metric {reason}",
                    item.locate(("metric",)),
                    hint="targets need sums/counts over days, or ratios and arithmetic of them",
                )
            )
            continue
        dimension = next(iter(spec.dimension.items())) if spec.dimension else None
        if dimension and dimension[0] not in dimensions:
            message, hint = unknown("dimension", dimension[0], dimensions)
            problems.append(Diagnostic("KF812", message, item.locate(("dimension",)), hint))
            continue
        for label, raw in spec.values.items():
            at = item.locate(("values", label))
            try:
                period = parse_period(label)
            except PeriodError as exc:
                problems.append(Diagnostic("KF808", str(exc), at, hint="e.g. 2026-11, 2026-Q4 or 2026"))
                continue
            source = _source(raw)
            _check_source(spec.metric, source, benchmarks, None if trees_broken else derivable, at, problems)
            key = (spec.metric, spec.scenario, dimension, period, spec.since)
            if key in seen:
                problems.append(
                    Diagnostic(
                        "KF805",
                        f"target of '{spec.metric}' for {period.label} ({spec.scenario}) is set twice",
                        at,
                        hint=f"also at {seen[key]}; to change a target add an entry with a later since: and a reason:",
                    )
                )
                continue
            seen[key] = at
            entries.append(
                TargetEntry(
                    spec.metric, spec.scenario, dimension, period, source, spec.since, spec.reason, spec.author, at
                )
            )
    return entries


def _source(raw: Any) -> TargetValueSpec:
    if isinstance(raw, TargetValueSpec):
        return raw
    if raw == "derived":
        return TargetValueSpec(derived=True)
    return TargetValueSpec(value=float(raw))


def _check_source(
    metric: str,
    source: TargetValueSpec,
    benchmarks: dict[str, Benchmark],
    derivable: set[str] | None,
    at: SourceLocation,
    problems: list[Diagnostic],
) -> None:
    if source.benchmark is not None and source.benchmark not in LIBRARY:
        message, hint = unknown("benchmark", source.benchmark, LIBRARY)
        problems.append(Diagnostic("KF809", message, at, hint))
    elif source.point is not None and source.benchmark is None and metric not in benchmarks:
        problems.append(
            Diagnostic(
                "KF809",
                f"no benchmark is attached to '{metric}'",
                at,
                hint="name one (benchmark: email_open) or attach one under benchmarks:",
            )
        )
    if source.derived and derivable is not None and metric not in derivable:
        problems.append(
            Diagnostic(
                "KF811",
                f"target of '{metric}' is derived, but no tree formula has it as a child",
                at,
                hint="declare a formula whose expression uses it, or give a value",
            )
        )
