"""Unit tests for metrics: given a few rows per raw table, expect these values.

Neither dbt nor MetricFlow has them. Each test builds the project's models on its own rows in a
fresh scratch space, isolated from the warehouse's tables (an in-memory DuckDB; on Spark, temporary
views of the session), then runs metric requests and compares the complete answer with the rows
written in the test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlglot import exp

from kpiframe.build.plan import CompiledNode, compile_nodes
from kpiframe.engine import Scratch, adapter_class, open_scratch
from kpiframe.errors import KpiframeError, SourceLocation
from kpiframe.load.dag import reachable
from kpiframe.load.loaded import LoadedProject, Source
from kpiframe.load.specs import MetricTestSpec, WarehouseSpec
from kpiframe.semantic.layer import SemanticLayer
from kpiframe.sql.expressions import literal, relocate
from kpiframe.sql.metric_query import MetricRequest, compile_request


@dataclass
class CaseResult:
    test: str
    case: int
    location: SourceLocation
    columns: list[str] = field(default_factory=list)
    expected: list[tuple[Any, ...]] = field(default_factory=list)
    actual: list[tuple[Any, ...]] = field(default_factory=list)
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and same_rows(self.expected, self.actual)


def run_metric_tests(
    graph: LoadedProject, layer: SemanticLayer, select: str | None = None, warehouse: WarehouseSpec | None = None
) -> list[CaseResult]:
    """Run the metric tests (all, or the one named `select`). Each runs in a scratch space of its own: of
    `warehouse`'s engine when its adapter `runs_metric_tests` (Spark: temporary views of the session),
    else an empty in-memory DuckDB. Neither reads nor writes the warehouse's tables."""
    results = []
    models = [node for node in compile_nodes(graph, layer) if node.kind == "model"]  # in build order
    for name, located in graph.metric_tests.items():
        if select and select != name:
            continue
        spec = located.spec
        assert isinstance(spec, MetricTestSpec)
        results += _run_one(graph, layer, models, spec, located.location, warehouse)
    return results


def _open_scratch(warehouse: WarehouseSpec | None, time_zone: str) -> Scratch:
    if warehouse is not None and adapter_class(warehouse.type).runs_metric_tests:
        return open_scratch(warehouse)
    # the default engine, in memory, its days in the project's time zone as the warehouse's are
    return open_scratch(WarehouseSpec(path=":memory:", time_zone=time_zone))


def _run_one(
    graph: LoadedProject,
    layer: SemanticLayer,
    models: list[CompiledNode],
    spec: MetricTestSpec,
    location: SourceLocation,
    warehouse: WarehouseSpec | None,
) -> list[CaseResult]:
    requests: list[exp.Query | KpiframeError] = []
    for case in spec.expect:
        try:
            requests.append(
                compile_request(
                    layer, MetricRequest(tuple(case.metrics), tuple(case.dimensions), case.grain, where=case.where)
                )
            )
        except KpiframeError as exc:
            requests.append(exc)
    scratch = _open_scratch(warehouse, graph.config.calendar.time_zone)
    try:
        try:
            places = _load_given(scratch, graph, spec)
            # only the models the cases read, and what those read: as a build of the metrics' tables
            # would need; an unrelated model is the build's and `kpiframe compile`'s to check
            needed = _upstream(models, [tree for tree in requests if isinstance(tree, exp.Query)])
            for node in models:
                if (node.schema, node.name) in needed:
                    places[(node.schema, node.name)] = _create_model(scratch, node, places)
        except KpiframeError as exc:
            return [CaseResult(spec.name, 0, location, error=exc.diagnostic.message)]
        return [_run_case(scratch, places, request, spec, index, location) for index, request in enumerate(requests)]
    finally:
        scratch.close()


def _upstream(models: list[CompiledNode], trees: list[exp.Query]) -> set[tuple[str, str]]:
    """The (schema, name) of every model `trees` read, directly or through other models."""
    keys = {(node.schema, node.name) for node in models}

    def read_by(tree: exp.Query) -> set[tuple[str, str]]:
        return {(t.db, t.name) for t in tree.find_all(exp.Table) if not t.catalog and (t.db, t.name) in keys}

    edges = {(node.schema, node.name): read_by(node.query) for node in models}
    return reachable(set().union(*(read_by(tree) for tree in trees)), edges)


Places = dict[tuple[str, str], exp.Table]  # (schema, name) as the project names a table -> where it lives


def _create_model(scratch: Scratch, node: CompiledNode, places: Places) -> exp.Table:
    place = scratch.place(node.schema, node.name)
    try:
        scratch.create(place, _relocated(node.query, places), view=node.materialized == "view")
    except KpiframeError as exc:
        raise KpiframeError(
            f"model '{node.name}' failed on the given rows: {exc.diagnostic.message}", code="KF703"
        ) from None
    return place


def _relocated(tree: exp.Query, places: Places) -> exp.Query:
    """`tree` reading each table where the scratch space put it. Unchanged where every table is where it
    was named (DuckDB)."""
    moved = {key: place for key, place in places.items() if (place.db, place.name) != key}
    return relocate(tree, moved) if moved else tree


def _load_given(scratch: Scratch, graph: LoadedProject, spec: MetricTestSpec) -> Places:
    """Create every source table the models read (empty unless the test gives rows); where each lives."""
    given = dict(spec.given)
    places: Places = {}
    for source in graph.sources.values():
        if (source.schema, source.table) in places:  # declared twice: created once, as before
            continue
        key = f"{source.schema}.{source.table}"
        rows = given.pop(key, None) or given.pop(f"{source.name}.{source.table}", None) or []
        places[(source.schema, source.table)] = _create_source(scratch, source, rows)
    if given:
        raise KpiframeError(
            f"metric test '{spec.name}' gives rows for unknown table(s) {', '.join(given)}",
            code="KF701",
            hint="name raw tables as schema.table, e.g. raw.leads",
        )
    return places


def _create_source(scratch: Scratch, source: Source, rows: list[dict[str, Any]]) -> exp.Table:
    columns = list(source.columns) or sorted({k for row in rows for k in row})
    unknown = sorted({k for row in rows for k in row} - set(columns))
    if unknown:
        raise KpiframeError(
            f"rows for {source.schema}.{source.table} name unknown column(s) {', '.join(unknown)}", code="KF702"
        )
    types = {c: exp.DataType.build(source.types.get(c, "VARCHAR"), dialect="duckdb") for c in columns}
    place = scratch.place(source.schema, source.table)
    if not rows:
        scratch.create_empty(
            place, [exp.ColumnDef(this=exp.to_identifier(c, quoted=True), kind=types[c].copy()) for c in columns]
        )
        return place
    # one SELECT of typed literals per row: a table on DuckDB, a temporary view on Spark
    selects = [
        exp.select(*[exp.Cast(this=literal(row.get(c)), to=types[c].copy()).as_(c, quoted=True) for c in columns])
        for row in rows
    ]
    query: exp.Query = selects[0]
    for select in selects[1:]:
        query = exp.union(query, select, distinct=False)
    scratch.create(place, query, view=False)
    return place


def _run_case(
    scratch: Scratch,
    places: Places,
    request: exp.Query | KpiframeError,
    spec: MetricTestSpec,
    index: int,
    location: SourceLocation,
) -> CaseResult:
    case = spec.expect[index]
    result = CaseResult(spec.name, index, location)
    try:
        if isinstance(request, KpiframeError):
            raise request
        answer = scratch.query(_relocated(request, places))
    except KpiframeError as exc:
        result.error = exc.diagnostic.message
        return result
    result.columns = answer.columns
    result.actual = answer.rows
    missing = [c for row in case.rows for c in answer.columns if c not in row]
    if missing:
        result.error = f"expected rows must give every column: missing {', '.join(sorted(set(missing)))}"
        return result
    result.expected = [tuple(_as_value(row[c]) for c in answer.columns) for row in case.rows]
    # the time spine gives every period and dimension combination a row; one the case does not list
    # must be empty (each metric 0 or NULL) and is left out, so a case lists the rows that have data
    keys = 1 + len(case.dimensions)
    result.actual = [
        row
        for row in answer.rows
        if not _empty(row[keys:]) or any(_same_row(expected, row) for expected in result.expected)
    ]
    return result


def _empty(values: tuple[Any, ...]) -> bool:
    return all(
        v is None or (isinstance(v, (int, float, Decimal)) and not isinstance(v, bool) and v == 0) for v in values
    )


def _as_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return value
    return value


def same_rows(expected: list[tuple[Any, ...]], actual: list[tuple[Any, ...]]) -> bool:
    """Equal as multisets; numbers equal within a relative 1e-9."""
    if len(expected) != len(actual):
        return False
    remaining = list(actual)
    for row in expected:
        match = next((i for i, other in enumerate(remaining) if _same_row(row, other)), None)
        if match is None:
            return False
        remaining.pop(match)
    return True


def _same_row(left: tuple[Any, ...], right: tuple[Any, ...]) -> bool:
    return all(_same_value(a, b) for a, b in zip(left, right, strict=True))


def _same_value(a: Any, b: Any) -> bool:
    numeric = (int, float, Decimal)
    if isinstance(a, numeric) and isinstance(b, numeric) and not isinstance(a, bool) and not isinstance(b, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


def unmatched(result: CaseResult) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Expected rows with no equal actual row, and actual rows with no equal expected row."""
    actual = list(result.actual)
    missing = []
    for row in result.expected:
        match = next((i for i, other in enumerate(actual) if _same_row(row, other)), None)
        if match is None:
            missing.append(row)
        else:
            actual.pop(match)
    return missing, actual
