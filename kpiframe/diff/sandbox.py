"""Both versions of a project run side by side without touching the live tables.

The warehouse adapter lends a scratch space (`kpiframe.engine.open_scratch`) that reads the warehouse
and writes nothing to it: on DuckDB an in-memory database with the warehouse file ATTACHed READ_ONLY,
on Spark the session's temporary views. Each version's models are created in a schema of their own
(`kf_base`, `kf_head`; a model identical in both, with identical upstream, once in `kf_shared`; the
scratch space decides where such a name really lives), by rewriting the compiled trees: source tables
point at the warehouse's tables as the scratch space reads them, and model tables at the version's
places.

Without a warehouse the sources are empty tables shaped by their declared contract, and models are
views: enough to learn every model's and published table's columns and types.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlglot import exp

from kpiframe.build.plan import CompiledNode
from kpiframe.diff.sqldiff import canonical
from kpiframe.diff.states import ProjectState
from kpiframe.engine import QueryResult, open_scratch
from kpiframe.errors import KpiframeError
from kpiframe.load.dag import reachable
from kpiframe.load.loaded import Model
from kpiframe.load.specs import WarehouseSpec
from kpiframe.sql.expressions import relocate

SHARED = "kf_shared"
Columns = dict[str, str | None]  # column -> type (None when unknown)


@dataclass
class Version:
    """One state in the sandbox: where each of its sources and models lives there."""

    tag: str  # base | head
    state: ProjectState
    places: dict[tuple[str, str], exp.Table] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # model -> why it could not be created

    @property
    def models_schema(self) -> str:
        return self.state.project.graph.config.schemas.models

    def node(self, name: str, kind: str = "model") -> CompiledNode | None:
        return next((n for n in self.state.nodes if n.name == name and n.kind == kind), None)


class Sandbox:
    """Both versions' models in the warehouse adapter's scratch space, which only reads the warehouse."""

    def __init__(self, warehouse: WarehouseSpec | None) -> None:
        self.scratch = open_scratch(warehouse)
        self.attached = self.scratch.reads_warehouse
        self._built: dict[tuple[str, str], str] = {}  # (schema, model) -> canonical SQL it was built from

    def close(self) -> None:
        self.scratch.close()

    def query(self, statement: exp.Expr) -> QueryResult:
        return self.scratch.query(statement)

    def version(self, tag: str, state: ProjectState) -> Version:
        """Map the version's sources: the warehouse's tables, or empty tables shaped by its contract."""
        version = Version(tag, state)
        for source in state.project.graph.sources.values():
            if self.attached:
                version.places[(source.schema, source.table)] = self.scratch.source(source.schema, source.table)
                continue
            place = self.scratch.place(f"kf_{tag}_sources", f"{source.schema}__{source.table}")
            columns = [
                exp.ColumnDef(this=exp.to_identifier(c, quoted=True), kind=_type(source.types.get(c)))
                for c in source.columns
            ]
            self.scratch.create_empty(place, columns)
            version.places[(source.schema, source.table)] = place
        return version

    def build(self, version: Version, models: Iterable[str], views: bool, other: Version | None = None) -> None:
        """Create `models` (and what they read) for this version; identical ones are shared with `other`."""
        graph = version.state.project.graph
        wanted = _with_upstream(graph.models, models)
        for name in [n for n in graph.order if n in wanted]:
            if (version.models_schema, name) in version.places or name in version.failed:
                continue
            node = version.node(name)
            if node is None:
                continue
            broken = [ref for ref in graph.models[name].refs if ref in version.failed]
            if broken:
                version.failed[name] = f"it reads {broken[0]}, which failed"
                continue
            query = relocate(node.query, version.places)
            shared = other is not None and self.attached and self._shareable(version, other, name)
            schema = (SHARED + ("_views" if views else "")) if shared else f"kf_{version.tag}"
            place = self.scratch.place(schema, name)
            key = (schema, name)
            if self._built.get(key) != canonical(query):
                try:
                    self.scratch.create(place, query, view=views)
                except KpiframeError as exc:
                    version.failed[name] = exc.diagnostic.message
                    continue
                self._built[key] = canonical(query)
            version.places[(version.models_schema, name)] = place

    def _shareable(self, version: Version, other: Version, name: str) -> bool:
        """Built once for both when the compiled SQL and everything upstream of it are the same."""
        mine, theirs = version.state.project.graph.models, other.state.project.graph.models

        def same(current: str) -> bool:
            a, b = version.node(current), other.node(current)
            if a is None or b is None or canonical(a.query) != canonical(b.query):
                return False
            return current in mine and current in theirs and mine[current].refs == theirs[current].refs

        upstream = reachable([name], {m: model.refs for m, model in mine.items()})
        return all(same(current) for current in sorted(upstream))

    def columns(self, version: Version, node: CompiledNode) -> Columns | None:
        """A model's or published table's columns and types in this version; None if it cannot be created."""
        if node.kind == "model":
            place = version.places.get((version.models_schema, node.name))
            if place is None:
                return None
            return dict(self.scratch.column_types(place))
        place = self.scratch.place(f"kf_{version.tag}_tables", node.name)
        try:
            self.scratch.create(place, relocate(node.query, version.places), view=True)
        except KpiframeError:
            return None
        return dict(self.scratch.column_types(place))


def _type(declared: str | None) -> exp.DataType:
    """A declared contract type; VARCHAR when none is declared or DuckDB does not know it."""
    try:
        return exp.DataType.build(declared or "VARCHAR", dialect="duckdb")
    except Exception:  # sqlglot raises ParseError or ValueError for a type it cannot read
        return exp.DataType.build("VARCHAR")


def _with_upstream(models: Mapping[str, Model], names: Iterable[str]) -> set[str]:
    refs = {name: [ref for ref in model.refs if ref in models] for name, model in models.items()}
    return reachable([n for n in names if n in models], refs)


def models_read_by(tree: exp.Expr, models_schema: str) -> set[str]:
    return {t.name for t in tree.find_all(exp.Table) if t.db == models_schema and not t.catalog}
