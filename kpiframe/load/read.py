"""Stage 1, read: every project file, parsed and checked against its spec; nothing resolved yet.

Problems are collected, not raised, so that one run reports every bad file at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kpiframe.errors import Diagnostic, Severity, SourceLocation, relative
from kpiframe.load.config import load_config, validate_spec
from kpiframe.load.files import YamlDocument, YamlValue, discover, parse_cache, parse_yaml_cached, read_text
from kpiframe.load.loaded import ExpectationItems, KeyPath, KpiItem, Located, Model, ProjectFiles, Source
from kpiframe.load.spec_model import Spec
from kpiframe.load.specs import FILE_KINDS, ModelSpec, ProjectFileOutline, SourceSpec, TableSpec
from kpiframe.load.templating import Templater, read_macros

# the YAML lists holding named objects of the semantic layer, by the kind named in messages
_NAMED_KINDS = {
    "datasets": "dataset",
    "metrics": "metric",
    "tables": "table",
    "metric_tests": "metric test",
    "definitions": "definition",
    "funnels": "funnel",
}


def read_project(root: Path) -> tuple[ProjectFiles, list[Diagnostic]]:
    """Read kpi_project.yml, macros, every YAML file and every model's SQL under `root`."""
    root = root.resolve()
    reader = _Reader(root)
    config = load_config(root, parse_cache(root))
    # a macro file that is not UTF-8 (or too big) is a diagnostic at the file, and is left out
    macro_files = [p for p in discover(root, "macros", (".sql",)) if read_text(p, root, reader.problems) is not None]
    templater = Templater(read_macros(root, macro_files), dict(config.vars))
    reader.problems.extend(templater.macro_problems)
    for path in discover(root, "models", (".yml", ".yaml")) + discover(root, "metrics", (".yml", ".yaml")):
        reader.read_yaml(path)
    for path in discover(root, "models", (".sql",)):
        reader.read_model(path)
    if not reader.models and not reader.named["metrics"] and not reader.problems:
        reader.error(
            "KF020",
            "the project is empty: no models/*.sql and no metrics in metrics/*.yml",
            SourceLocation("kpi_project.yml"),
            hint="see docs/project-format.md to add a first model",
        )
    files = ProjectFiles(
        root=root,
        config=config,
        templater=templater,
        sources=reader.sources,
        models=reader.models,
        datasets=reader.named["datasets"],  # type: ignore[arg-type]  # _Reader keeps each list's own spec class
        metrics=reader.named["metrics"],  # type: ignore[arg-type]
        tables=reader.named["tables"],  # type: ignore[arg-type]
        metric_tests=reader.named["metric_tests"],  # type: ignore[arg-type]
        definitions=reader.named["definitions"],  # type: ignore[arg-type]
        funnels=reader.named["funnels"],  # type: ignore[arg-type]
        expectation_items=reader.expectation_items,
        kpi_items={key: tuple(items) for key, items in reader.kpi_items.items()},
    )
    return files, reader.problems


@dataclass
class _Reader:
    root: Path
    problems: list[Diagnostic] = field(default_factory=list)
    sources: dict[tuple[str, str], Source] = field(default_factory=dict)
    models: dict[str, Model] = field(default_factory=dict)
    named: dict[str, dict[str, Located[Spec]]] = field(default_factory=lambda: {key: {} for key in _NAMED_KINDS})
    # model YAML is read before the SQL files: specs wait here, by name, with their location
    model_specs: dict[str, tuple[ModelSpec, SourceLocation]] = field(default_factory=dict)
    expectation_items: dict[tuple[str, str], ExpectationItems] = field(default_factory=dict)
    kpi_items: dict[str, list[KpiItem]] = field(default_factory=dict)

    def error(self, code: str, message: str, location: SourceLocation | None, hint: str | None = None) -> None:
        self.problems.append(Diagnostic(code, message, location, hint, Severity.ERROR))

    def read_yaml(self, path: Path) -> None:
        rel = relative(path, self.root)
        text = read_text(path, self.root, self.problems)
        doc = parse_yaml_cached(text, rel, self.problems, parse_cache(self.root)) if text is not None else None
        if doc is None or doc.data is None:
            return
        if not isinstance(doc.data, dict):
            self.error(
                "KF011",
                "a project YAML file must be a mapping of lists (models:, metrics:, ...)",
                SourceLocation(rel, 1, 1),
            )
            return
        # the file's outline first (known keys, lists), then each item alone, so that one bad item
        # does not hide the problems of its neighbours
        outline = {key: [None] * len(value) if isinstance(value, list) else value for key, value in doc.data.items()}
        if validate_spec(ProjectFileOutline, outline, doc, (), self.problems) is None:
            return
        for key in ("trees", "targets", "benchmarks"):
            for index, raw in enumerate(_items(doc, key)):
                self.kpi_items.setdefault(key, []).append(KpiItem(raw, doc, (key, index)))
        for key, spec_class in FILE_KINDS.items():
            for index, raw in enumerate(_items(doc, key)):
                item = validate_spec(spec_class, raw, doc, (key, index), self.problems)
                if item is not None:
                    self._register(key, item, doc, (key, index))

    def _register(self, key: str, item: Spec, doc: YamlDocument, key_path: KeyPath) -> None:
        location = doc.locate(key_path)
        self._keep_expectations(item, doc, key_path)
        if isinstance(item, SourceSpec):
            self._add_source(item, location)
        elif isinstance(item, ModelSpec):
            if self._is_new("model", item.name, location, self.model_specs.get(item.name, (None, None))[1]):
                self.model_specs[item.name] = (item, location)
        else:
            registry = self.named[key]
            name = str(getattr(item, "name"))  # noqa: B009  every named kind has a name; Spec does not say so
            earlier = registry.get(name)
            if self._is_new(_NAMED_KINDS[key], name, location, earlier.location if earlier else None):
                registry[name] = Located(item, location, doc, key_path)

    def _is_new(self, kind: str, name: str, location: SourceLocation, earlier: SourceLocation | None) -> bool:
        if earlier is not None:
            self.error("KF021", f"duplicate {kind} name '{name}'", location, hint=f"first defined at {earlier}")
        return earlier is None

    def _keep_expectations(self, item: Spec, doc: YamlDocument, key_path: KeyPath) -> None:
        if isinstance(item, SourceSpec):
            for index, source_table in enumerate(item.tables):
                if source_table.expectations:
                    self.expectation_items[("source", f"{item.schema_}.{source_table.name}")] = ExpectationItems(
                        tuple(source_table.expectations), doc, (*key_path, "tables", index, "expectations")
                    )
        elif isinstance(item, (ModelSpec, TableSpec)) and item.expectations:
            kind = "model" if isinstance(item, ModelSpec) else "table"
            self.expectation_items[(kind, item.name)] = ExpectationItems(
                tuple(item.expectations), doc, (*key_path, "expectations")
            )

    def _add_source(self, spec: SourceSpec, location: SourceLocation) -> None:
        for table in spec.tables:
            key = (spec.name, table.name)
            columns = tuple(c if isinstance(c, str) else c.name for c in table.columns)
            types = {c.name: c.type for c in table.columns if not isinstance(c, str) and c.type}
            if key in self.sources:
                self.error("KF021", f"duplicate source table '{spec.name}.{table.name}'", location)
                continue
            self.sources[key] = Source(spec.name, table.name, spec.schema_, columns, location, types)

    def read_model(self, path: Path) -> None:
        rel = relative(path, self.root)
        text = read_text(path, self.root, self.problems)
        if text is None:
            return
        name = path.stem
        if not name.isidentifier() or not name.isascii():  # the file name is the table name and ref() name
            fixed = "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in name)
            self.error(
                "KF022",
                f"model file name '{path.name}' is not a valid model name",
                SourceLocation(rel),
                hint=f"rename it to {'_' if fixed[:1].isdigit() else ''}{fixed}.sql (letters, digits and _, "
                "not starting with a digit)",
            )
            return
        if name in self.models:
            self.error(
                "KF021",
                f"duplicate model name '{name}'",
                SourceLocation(rel, 1, 1),
                hint=f"also defined in {self.models[name].path}",
            )
            return
        declared = self.model_specs.get(name)
        spec = declared[0] if declared else ModelSpec(name=name)
        self.models[name] = Model(name, rel, text, spec, SourceLocation(rel, 1, 1))


def _items(doc: YamlDocument, key: str) -> list[YamlValue]:
    assert isinstance(doc.data, dict)
    value = doc.data.get(key)
    return value if isinstance(value, list) else []
