"""Unit tests for metrics: given a few rows per raw table, expect these values (in-memory DuckDB).

Neither dbt nor MetricFlow has them. Each test builds the project's models on its own rows in a
fresh in-memory database, isolated from the warehouse, then runs metric requests and compares the
complete answer with the rows written in the test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlglot import exp

from kpiframe.build.plan import compile_nodes
from kpiframe.build.run import create_statement
from kpiframe.engine.duckdb import DuckDBWarehouse
from kpiframe.errors import KpiframeError, SourceLocation
from kpiframe.load.loaded import LoadedProject, Source
from kpiframe.load.specs import MetricTestSpec, WarehouseSpec
from kpiframe.semantic.layer import SemanticLayer
from kpiframe.sql.expressions import create_schema, literal
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


def run_metric_tests(graph: LoadedProject, layer: SemanticLayer, select: str | None = None) -> list[CaseResult]:
    results = []
    for name, located in graph.metric_tests.items():
        if select and select != name:
            continue
        spec = located.spec
        assert isinstance(spec, MetricTestSpec)
        results += _run_one(graph, layer, spec, located.location)
    return results


def _run_one(
    graph: LoadedProject, layer: SemanticLayer, spec: MetricTestSpec, location: SourceLocation
) -> list[CaseResult]:
    warehouse = DuckDBWarehouse(WarehouseSpec(path=":memory:"))
    try:
        try:
            _load_given(warehouse, graph, spec)
            for node in compile_nodes(graph, layer):
                if node.kind == "model":
                    warehouse.execute(create_schema(node.schema))
                    try:
                        warehouse.execute(create_statement(node))
                    except KpiframeError as exc:
                        raise KpiframeError(
                            f"model '{node.name}' failed on the given rows: {exc.diagnostic.message}", code="KF703"
                        ) from None
        except KpiframeError as exc:
            return [CaseResult(spec.name, 0, location, error=exc.diagnostic.message)]
        return [_run_case(warehouse, layer, spec, index, location) for index in range(len(spec.expect))]
    finally:
        warehouse.close()


def _load_given(warehouse: DuckDBWarehouse, graph: LoadedProject, spec: MetricTestSpec) -> None:
    """Create every source table the models read (empty unless the test gives rows), then insert rows."""
    given = dict(spec.given)
    for source in graph.sources.values():
        key = f"{source.schema}.{source.table}"
        rows = given.pop(key, None) or given.pop(f"{source.name}.{source.table}", None) or []
        _create_source(warehouse, source, rows)
    if given:
        raise KpiframeError(
            f"metric test '{spec.name}' gives rows for unknown table(s) {', '.join(given)}",
            code="KF701",
            hint="name raw tables as schema.table, e.g. raw.leads",
        )


def _create_source(warehouse: DuckDBWarehouse, source: Source, rows: list[dict[str, Any]]) -> None:
    columns = list(source.columns) or sorted({k for row in rows for k in row})
    unknown = sorted({k for row in rows for k in row} - set(columns))
    if unknown:
        raise KpiframeError(
            f"rows for {source.schema}.{source.table} name unknown column(s) {', '.join(unknown)}", code="KF702"
        )
    warehouse.execute(create_schema(source.schema))
    table = exp.table_(source.table, db=source.schema, quoted=True)
    definition = exp.Schema(
        this=table,
        expressions=[
            exp.ColumnDef(
                this=exp.to_identifier(c, quoted=True),
                kind=exp.DataType.build(source.types.get(c, "VARCHAR"), dialect="duckdb"),
            )
            for c in columns
        ],
    )
    warehouse.execute(exp.Create(this=definition, kind="TABLE", exists=True))
    for row in rows:
        values = [
            exp.Cast(this=literal(row.get(c)), to=exp.DataType.build(source.types.get(c, "VARCHAR"), dialect="duckdb"))
            for c in columns
        ]
        warehouse.execute(exp.Insert(this=table, expression=exp.Values(expressions=[exp.Tuple(expressions=values)])))


def _run_case(
    warehouse: DuckDBWarehouse, layer: SemanticLayer, spec: MetricTestSpec, index: int, location: SourceLocation
) -> CaseResult:
    case = spec.expect[index]
    result = CaseResult(spec.name, index, location)
    try:
        request = MetricRequest(tuple(case.metrics), tuple(case.dimensions), case.grain, where=case.where)
        answer = warehouse.query(compile_request(layer, request))
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
