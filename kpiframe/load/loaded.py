"""Load every project file, resolve names, order models as a DAG; problems are collected, not raised."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from kpiframe.errors import Diagnostic, ProjectInvalid, Severity, SourceLocation, relative
from kpiframe.load.config import load_config, validate_spec
from kpiframe.load.files import YamlDocument, discover, parse_yaml_cached, read_text
from kpiframe.load.specs import (
    FILE_KINDS,
    ModelSpec,
    ProjectFileOutline,
    ProjectSpec,
    SourceSpec,
    TableSpec,
)
from kpiframe.load.templating import REF_PREFIX, SOURCE_PREFIX, TemplateFailure, Templater, read_macros
from kpiframe.suggest import unknown


@dataclass
class Source:
    name: str
    table: str
    schema: str
    columns: list[str]
    location: SourceLocation
    types: dict[str, str] = field(default_factory=dict)  # declared column -> type, where declared


@dataclass
class Model:
    name: str
    path: str
    text: str
    spec: ModelSpec
    location: SourceLocation
    tree: exp.Query | None = None
    refs: list[str] = field(default_factory=list)
    sources: list[tuple[str, str]] = field(default_factory=list)
    generated: bool = False  # built from a definition or funnel, not from a SQL file

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]


@dataclass
class Located:
    """A spec plus where it was written."""

    spec: Any  # DatasetSpec | MetricSpec | TableSpec | MetricTestSpec | DefinitionSpec | FunnelSpec
    location: SourceLocation
    doc: YamlDocument
    key_path: tuple[str | int, ...]

    def at(self, *key: str | int) -> SourceLocation:
        return self.doc.locate((*self.key_path, *key))


@dataclass
class ExpectationItems:
    items: list[Any]
    doc: YamlDocument
    key_path: tuple[str | int, ...]

    def locate(self, path: tuple[str | int, ...]) -> SourceLocation:
        return self.doc.locate((*self.key_path, *path))


@dataclass
class KpiItem:
    """A raw YAML item of trees:, targets: or benchmarks:, parsed later by kpiframe.kpi."""

    data: Any
    doc: YamlDocument
    key_path: tuple[str | int, ...]

    def locate(self, path: tuple[str | int, ...] = ()) -> SourceLocation:
        return self.doc.locate((*self.key_path, *path))


@dataclass
class ProjectGraph:
    root: Path
    config: ProjectSpec
    sources: dict[tuple[str, str], Source] = field(default_factory=dict)
    models: dict[str, Model] = field(default_factory=dict)
    datasets: dict[str, Located] = field(default_factory=dict)
    metrics: dict[str, Located] = field(default_factory=dict)
    tables: dict[str, Located] = field(default_factory=dict)
    metric_tests: dict[str, Located] = field(default_factory=dict)
    definitions: dict[str, Located] = field(default_factory=dict)
    funnels: dict[str, Located] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    # model YAML is read before the SQL files: specs wait here, by name, with their location
    model_specs: dict[str, tuple[ModelSpec, SourceLocation]] = field(default_factory=dict)
    # ("source"|"model"|"table", name) -> the raw YAML items under `expectations:` and where they are
    expectation_items: dict[tuple[str, str], ExpectationItems] = field(default_factory=dict)
    expectations: dict[tuple[str, str], list[Any]] = field(default_factory=dict)  # parsed kpiframe.quality
    kpi_items: dict[str, list[KpiItem]] = field(default_factory=dict)  # "trees"|"targets"|"benchmarks"
    layer: Any = None  # the SemanticLayer validation resolved, reused by the stages after it
    table_queries: dict[str, exp.Query] = field(default_factory=dict)  # published table -> its compiled SELECT
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def error(
        self,
        code: str,
        message: str,
        location: SourceLocation | None,
        hint: str | None = None,
        severity: Severity = Severity.ERROR,
    ) -> None:
        self.diagnostics.append(Diagnostic(code, message, location, hint, severity))

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.diagnostics)


def load_graph(root: Path) -> ProjectGraph:
    """Read and resolve the project under `root`; raises ProjectInvalid with every error found."""
    root = root.resolve()
    graph = ProjectGraph(root=root, config=load_config(root))
    # a macro file that is not UTF-8 (or too big) is a diagnostic at the file, and is left out
    macro_files = [p for p in discover(root, "macros", (".sql",)) if read_text(p, root, graph.diagnostics) is not None]
    templater = Templater(read_macros(root, macro_files), dict(graph.config.vars))
    graph.diagnostics.extend(templater.macro_problems)
    for path in discover(root, "models", (".yml", ".yaml")) + discover(root, "metrics", (".yml", ".yaml")):
        _collect_yaml(graph, path)
    for path in discover(root, "models", (".sql",)):
        _collect_model(graph, path)
    if not graph.models and not graph.metrics and not graph.diagnostics:
        graph.error(
            "KF020",
            "the project is empty: no models/*.sql and no metrics in metrics/*.yml",
            SourceLocation("kpi_project.yml"),
            hint="see docs/project-format.md to add a first model",
        )
    from kpiframe.semantic.definitions import expand_definitions
    from kpiframe.semantic.funnels import expand_funnels

    expand_definitions(graph)
    expand_funnels(graph)
    for model in graph.models.values():
        if not model.generated:
            _render_model(graph, model, templater)
    graph.order = _topological_order(graph)
    from kpiframe.semantic.layer import validate_semantics  # semantic checks need the resolved models

    validate_semantics(graph)
    from kpiframe.build.expectations import parse_project_expectations

    graph.expectations = parse_project_expectations(graph)
    if graph.has_errors:
        raise ProjectInvalid(graph.diagnostics)
    return graph


def _collect_yaml(graph: ProjectGraph, path: Path) -> None:
    rel = relative(path, graph.root)
    text = read_text(path, graph.root, graph.diagnostics)
    cache = graph.root / "target" / "partial_parse"
    doc = parse_yaml_cached(text, rel, graph.diagnostics, cache) if text is not None else None
    if doc is None or doc.data is None:
        return
    if not isinstance(doc.data, dict):
        graph.error(
            "KF011",
            "a project YAML file must be a mapping of lists (models:, metrics:, ...)",
            SourceLocation(rel, 1, 1),
        )
        return
    # the file's outline first (known keys, lists), then each item alone, so that one bad item
    # does not hide the problems of its neighbours
    outline = {key: [None] * len(value) if isinstance(value, list) else value for key, value in doc.data.items()}
    if validate_spec(ProjectFileOutline, outline, doc, (), graph.diagnostics) is None:
        return
    for key in ("trees", "targets", "benchmarks"):
        for index, raw in enumerate(doc.data.get(key) or []):
            graph.kpi_items.setdefault(key, []).append(KpiItem(raw, doc, (key, index)))
    for key, spec_class in FILE_KINDS.items():
        for index, raw in enumerate(doc.data.get(key) or []):
            item = validate_spec(spec_class, raw, doc, (key, index), graph.diagnostics)
            if item is not None:
                _register(graph, key, item, doc, (key, index))


def _register(graph: ProjectGraph, key: str, item: object, doc: YamlDocument, key_path: tuple[str | int, ...]) -> None:
    location = doc.locate(key_path)
    _keep_expectations(graph, item, doc, key_path)
    if isinstance(item, SourceSpec):
        _add_source(graph, item, location)
    elif isinstance(item, ModelSpec):
        _declare(graph, "model", item.name, location, graph.model_specs, item)
    else:
        registry = {
            "datasets": graph.datasets,
            "metrics": graph.metrics,
            "tables": graph.tables,
            "metric_tests": graph.metric_tests,
            "definitions": graph.definitions,
            "funnels": graph.funnels,
        }[key]
        located = Located(item, location, doc, key_path)
        kind = key.removesuffix("s").replace("_", " ")
        _declare(graph, kind, item.name, location, registry, located)  # type: ignore[attr-defined]


def _keep_expectations(graph: ProjectGraph, item: object, doc: YamlDocument, key_path: tuple[str | int, ...]) -> None:
    if isinstance(item, SourceSpec):
        for index, source_table in enumerate(item.tables):
            if source_table.expectations:
                graph.expectation_items[("source", f"{item.schema_}.{source_table.name}")] = ExpectationItems(
                    source_table.expectations, doc, (*key_path, "tables", index, "expectations")
                )
    elif isinstance(item, (ModelSpec, TableSpec)) and item.expectations:
        kind = "model" if isinstance(item, ModelSpec) else "table"
        graph.expectation_items[(kind, item.name)] = ExpectationItems(
            item.expectations, doc, (*key_path, "expectations")
        )


def _declare(
    graph: ProjectGraph, kind: str, name: str, location: SourceLocation, registry: dict[str, Any], value: object
) -> None:
    if name in registry:
        previous = registry[name]
        where = getattr(previous, "location", None) or (previous[1] if isinstance(previous, tuple) else None)
        graph.error(
            "KF021", f"duplicate {kind} name '{name}'", location, hint=f"first defined at {where}" if where else None
        )
        return
    registry[name] = (value, location) if kind == "model" else value


def _add_source(graph: ProjectGraph, spec: SourceSpec, location: SourceLocation) -> None:
    for table in spec.tables:
        key = (spec.name, table.name)
        columns = [c if isinstance(c, str) else c.name for c in table.columns]
        types = {c.name: c.type for c in table.columns if not isinstance(c, str) and c.type}
        if key in graph.sources:
            graph.error("KF021", f"duplicate source table '{spec.name}.{table.name}'", location)
            continue
        graph.sources[key] = Source(spec.name, table.name, spec.schema_, columns, location, types)


def _collect_model(graph: ProjectGraph, path: Path) -> None:
    rel = relative(path, graph.root)
    text = read_text(path, graph.root, graph.diagnostics)
    if text is None:
        return
    name = path.stem
    if not name.isidentifier() or not name.isascii():  # the file name is the table name and ref() name
        fixed = "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in name)
        graph.error(
            "KF022",
            f"model file name '{path.name}' is not a valid model name",
            SourceLocation(rel),
            hint=f"rename it to {'_' if fixed[:1].isdigit() else ''}{fixed}.sql (letters, digits and _, "
            "not starting with a digit)",
        )
        return
    if name in graph.models:
        graph.error(
            "KF021",
            f"duplicate model name '{name}'",
            SourceLocation(rel, 1, 1),
            hint=f"also defined in {graph.models[name].path}",
        )
        return
    declared = graph.model_specs.get(name)
    spec = declared[0] if declared else ModelSpec(name=name)
    graph.models[name] = Model(name, rel, text, spec, SourceLocation(rel, 1, 1))


def _render_model(graph: ProjectGraph, model: Model, templater: Templater) -> None:
    """Render Jinja, parse the SQL, and swap ref/source placeholders for real tables in the tree."""
    try:
        rendered = templater.render(model.text, model.path)
    except TemplateFailure as failure:
        graph.diagnostics.append(failure.diagnostic)
        return
    model.refs, model.sources = list(dict.fromkeys(rendered.refs)), list(dict.fromkeys(rendered.sources))
    try:
        statements = [s for s in sqlglot.parse(rendered.sql, read="duckdb") if s is not None]
    except ParseError as exc:
        error = exc.errors[0] if exc.errors else {}
        graph.error(
            "KF310",
            f"cannot parse model SQL: {error.get('description', exc)}",
            SourceLocation(model.path, error.get("line", 1) or 1, error.get("col", 1) or 1),
        )
        return
    except TokenError:  # the tokenizer stops before parsing, mostly at a quote that is never closed
        graph.error(
            "KF310",
            "cannot read model SQL: a quote or a $$ string is never closed, or a character cannot start a SQL token",
            SourceLocation(model.path, 1, 1),
        )
        return
    if not statements:  # an empty file, or only comments: nothing to locate beyond the file itself
        graph.error(
            "KF311",
            "a model must be exactly one SELECT statement; this file has none",
            SourceLocation(model.path, 1, 1),
            hint="write the model's SELECT, or delete the file",
        )
        return
    write = next((node for s in statements if (node := s.find(*_WRITES)) is not None), None)
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        location, note = _statement_location(model, rendered.sql, statements, write or statements[-1])
        also = f"; it also runs {_write_name(write)}" if write is not None else ""
        graph.error(
            "KF311",
            f"a model must be exactly one SELECT statement{also}{note}",
            location,
            hint="remove other statements; kpiframe creates the table or view itself",
        )
        return
    if write is not None:
        location, note = _statement_location(model, rendered.sql, statements, write)
        graph.error(
            "KF312",
            f"a model may only read: it contains {_write_name(write)}{note}",
            location,
            hint="a model is one SELECT (CTEs allowed) and kpiframe writes its table; "
            "no INSERT/UPDATE/DELETE/DDL/session statements, not even inside a CTE",
        )
        return
    model.tree = statements[0]
    for name in model.refs:
        if name not in graph.models:
            message, hint = unknown("model", name, graph.models)
            graph.error("KF104", message, _ref_location(model, name), hint)
    for source_name, table in model.sources:
        if (source_name, table) not in graph.sources:
            message, hint = unknown("source", f"{source_name}.{table}", [f"{s}.{t}" for s, t in graph.sources])
            graph.error("KF105", message, _ref_location(model, table), hint)


# Statements a model may not contain anywhere in its tree: a CTE such as
# `with gone as (delete from t returning id) select ...` is one SELECT on the outside, and DuckDB
# runs the DELETE. The check is on the parsed tree, before any dialect, so it holds on every engine;
# exp.Command is what sqlglot makes of statements it does not know (CALL, LOAD, VACUUM, FORCE CHECKPOINT).
# `find` looks at a statement itself and every node under it: CTEs, subqueries, set operations.
_WRITES: tuple[type[exp.Expr], ...] = (
    exp.Insert,
    exp.Delete,
    exp.Update,
    exp.Merge,
    exp.Copy,
    exp.Export,
    exp.LoadData,
    exp.MultitableInserts,
    exp.ConditionalInsert,
    exp.Into,
    exp.Create,
    exp.Drop,
    exp.Alter,
    exp.TruncateTable,
    exp.Undrop,
    exp.SwapTable,
    exp.Comment,
    exp.Attach,
    exp.Detach,
    exp.Install,
    exp.Grant,
    exp.Revoke,
    exp.Analyze,
    exp.Refresh,
    exp.Cache,
    exp.Uncache,
    exp.Command,
    exp.Pragma,
    exp.Set,
    exp.Use,
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
    exp.Execute,
    exp.ExecuteSql,
    exp.Declare,
    exp.Kill,
    exp.ConnectTo,
    exp.Disconnect,
    exp.AlterSession,
    exp.Put,
    exp.Get,
    exp.Lock,
    exp.Block,
    exp.IfBlock,
    exp.WhileBlock,
    exp.LoopBlock,
    exp.RepeatBlock,
    exp.StoredProcedure,
    exp.Return,
    exp.Leave,
    exp.Iterate,
)
_WRITE_NAMES: dict[type[exp.Expr], str] = {
    exp.TruncateTable: "TRUNCATE",
    exp.Into: "SELECT ... INTO",
    exp.Lock: "FOR UPDATE/SHARE",
    exp.Transaction: "BEGIN",
    exp.MultitableInserts: "INSERT ALL",
    exp.ConditionalInsert: "INSERT",
}


def _write_name(node: exp.Expr) -> str:
    if isinstance(node, exp.Command):  # the statement's first word, as sqlglot kept it
        return str(node.this).upper()
    return _WRITE_NAMES.get(type(node)) or node.key.upper()


def _statement_location(
    model: Model, sql: str, statements: list[exp.Expr], node: exp.Expr
) -> tuple[SourceLocation, str]:
    """The first line sqlglot recorded under `node` (else the line its statement starts on), and a
    note when that line is of the SQL after Jinja rather than of the file (Jinja added or removed lines)."""
    lines = [n.meta["line"] for n in node.walk() if "line" in n.meta]
    if not lines:  # e.g. exp.Command keeps its text as one unpositioned literal
        starts = _statement_starts(sql)
        index = next((i for i, s in enumerate(statements) if s is node.root()), 0)
        lines = [starts[index] if index < len(starts) else 1]
    line = min(lines)
    note = "" if sql.count("\n") == model.text.count("\n") else f" (line {line} of the SQL after Jinja)"
    return SourceLocation(model.path, line, 1), note


def _statement_starts(sql: str) -> list[int]:
    """The line each non-empty statement of `sql` starts on."""
    try:
        tokens = sqlglot.tokenize(sql, read="duckdb")
    except sqlglot.errors.TokenError:
        return []
    starts, after_semicolon = [], True
    for token in tokens:
        if token.token_type is TokenType.SEMICOLON:
            after_semicolon = True
        elif after_semicolon:
            starts.append(token.line)
            after_semicolon = False
    return starts


def _ref_location(model: Model, name: str) -> SourceLocation:
    for number, line in enumerate(model.text.splitlines(), start=1):
        column = line.find(f"'{name}'") if f"'{name}'" in line else line.find(f'"{name}"')
        if column >= 0:
            return SourceLocation(model.path, number, column + 2)
    return model.location


def placeholder_table(graph: ProjectGraph, table: exp.Table) -> exp.Table | None:
    """The real table behind a ref()/source() placeholder, or None for an ordinary table name."""
    name = table.name
    if name.startswith(REF_PREFIX):
        return exp.table_(name.removeprefix(REF_PREFIX), db=graph.config.schemas.models, quoted=True)
    if name.startswith(SOURCE_PREFIX):
        length, _, rest = name.removeprefix(SOURCE_PREFIX).partition("_")
        source_name, table_name = rest[: int(length)], rest[int(length) :]
        source = graph.sources[(source_name, table_name)]
        return exp.table_(source.table, db=source.schema, quoted=True)
    return None


def _topological_order(graph: ProjectGraph) -> list[str]:
    """Models in dependency order; a cycle is reported with its path."""
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, stack: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "active":
            cycle = stack[stack.index(name) :] + [name]
            graph.error(
                "KF106",
                f"dependency cycle: {' -> '.join(cycle)}",
                graph.models[name].location,
                hint="a model cannot depend on itself through ref()",
            )
            return
        state[name] = "active"
        for dep in graph.models[name].refs:
            if dep in graph.models:
                visit(dep, [*stack, name])
        state[name] = "done"
        order.append(name)

    for name in sorted(graph.models):
        visit(name, [])
    return order
