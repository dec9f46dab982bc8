"""What loading a project produces: the files as read (`ProjectFiles`) and the project once every
stage has run (`LoadedProject`). Both are frozen: each stage returns a new value instead of changing
the one it was given, so no later stage can alter what an earlier one decided."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from sqlglot import exp

from kpiframe.errors import Diagnostic, SourceLocation
from kpiframe.load.files import YamlDocument, YamlValue
from kpiframe.load.spec_model import Spec
from kpiframe.load.specs import (
    DatasetSpec,
    DefinitionSpec,
    FunnelSpec,
    MetricSpec,
    MetricTestSpec,
    ModelSpec,
    ProjectSpec,
    TableSpec,
)
from kpiframe.load.templating import Templater

if TYPE_CHECKING:  # the types later stages fill in; importing them at run time would be a cycle
    from kpiframe.kpi.model import KpiDefinitions
    from kpiframe.quality.model import Expectation
    from kpiframe.semantic.layer import SemanticLayer

KeyPath = tuple[str | int, ...]
SpecT = TypeVar("SpecT", bound=Spec, covariant=True)


@dataclass(frozen=True)
class Source:
    name: str
    table: str
    schema: str
    columns: tuple[str, ...]
    location: SourceLocation
    types: Mapping[str, str] = field(default_factory=dict)  # declared column -> type, where declared


@dataclass(frozen=True)
class Model:
    name: str
    path: str
    text: str
    spec: ModelSpec
    location: SourceLocation
    tree: exp.Query | None = None  # set by the resolve stage (or at once for generated models)
    refs: tuple[str, ...] = ()
    sources: tuple[tuple[str, str], ...] = ()
    generated: bool = False  # built from a definition or funnel, not from a SQL file


@dataclass(frozen=True)
class Located(Generic[SpecT]):
    """A spec plus where it was written."""

    spec: SpecT
    location: SourceLocation
    doc: YamlDocument
    key_path: KeyPath

    def at(self, *key: str | int) -> SourceLocation:
        return self.doc.locate((*self.key_path, *key))


@dataclass(frozen=True)
class ExpectationItems:
    items: tuple[object, ...]  # each checked by kpiframe.quality, which knows every expectation's shape
    doc: YamlDocument
    key_path: KeyPath

    def locate(self, path: KeyPath) -> SourceLocation:
        return self.doc.locate((*self.key_path, *path))


@dataclass(frozen=True)
class KpiItem:
    """A raw YAML item of trees:, targets: or benchmarks:, parsed by kpiframe.kpi."""

    data: YamlValue
    doc: YamlDocument
    key_path: KeyPath

    def locate(self, path: KeyPath = ()) -> SourceLocation:
        return self.doc.locate((*self.key_path, *path))


@dataclass(frozen=True)
class ProjectFiles:
    """The project as its files declare it; the expand stage adds generated models and datasets."""

    root: Path
    config: ProjectSpec
    templater: Templater
    sources: Mapping[tuple[str, str], Source] = field(default_factory=dict)
    models: Mapping[str, Model] = field(default_factory=dict)
    datasets: Mapping[str, Located[DatasetSpec]] = field(default_factory=dict)
    metrics: Mapping[str, Located[MetricSpec]] = field(default_factory=dict)
    tables: Mapping[str, Located[TableSpec]] = field(default_factory=dict)
    metric_tests: Mapping[str, Located[MetricTestSpec]] = field(default_factory=dict)
    definitions: Mapping[str, Located[DefinitionSpec]] = field(default_factory=dict)
    funnels: Mapping[str, Located[FunnelSpec]] = field(default_factory=dict)
    # ("source"|"model"|"table", name) -> the raw YAML items under `expectations:` and where they are
    expectation_items: Mapping[tuple[str, str], ExpectationItems] = field(default_factory=dict)
    kpi_items: Mapping[str, tuple[KpiItem, ...]] = field(default_factory=dict)  # "trees"|"targets"|"benchmarks"


@dataclass(frozen=True)
class LoadedProject(ProjectFiles):
    """Every stage's output together: what compile, build, test, query and the KPI commands read."""

    order: tuple[str, ...] = ()  # models, dependencies first
    layer: SemanticLayer | None = None
    kpi: KpiDefinitions | None = None  # trees, targets, benchmarks and settings, validated
    expectations: Mapping[tuple[str, str], list[Expectation]] = field(default_factory=dict)
    table_queries: Mapping[str, exp.Query] = field(default_factory=dict)  # published table -> its SELECT
    diagnostics: tuple[Diagnostic, ...] = ()  # the warnings loading found (errors raise ProjectInvalid)

    @classmethod
    def of(cls, files: ProjectFiles, **stages: object) -> LoadedProject:
        """The files together with what the later stages made of them."""
        return cls(**{f.name: getattr(files, f.name) for f in fields(ProjectFiles)}, **stages)  # type: ignore[arg-type]

    @property
    def semantic(self) -> SemanticLayer:
        assert self.layer is not None, "a LoadedProject always carries its semantic layer"
        return self.layer
