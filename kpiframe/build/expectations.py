"""Data-quality expectations inside builds and `kpiframe test`: what runs where, and what is kept.

Each model and metric table is checked right after it is built (on its staging table, before
anything downstream reads it); sources are checked after the models, before the swap, so a reference
from a source to a model sees the model's new version. A failed `error` expectation stops the build,
so nothing is published; a failed `warn` is reported and the build goes on. Every result is
kept: target/run_results.json, optional JUnit XML, and the warehouse table kpiframe.expectation_results.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlglot import exp

from kpiframe.build.plan import CompiledNode
from kpiframe.build.runs import ensure_table
from kpiframe.engine import Warehouse
from kpiframe.errors import ExpectationsFailed
from kpiframe.load.loaded import LoadedProject
from kpiframe.quality.contracts import answered_by_type, implied_by_key
from kpiframe.quality.model import Expectation, ExpectationResult
from kpiframe.sql.expressions import literal

RESULTS_TABLE = ("kpiframe", "expectation_results")
RESULT_COLUMNS = {
    "run_id": "VARCHAR",
    "checked_at": "TIMESTAMP",
    "target": "VARCHAR",
    "expectation": "VARCHAR",
    "kind": "VARCHAR",
    "severity": "VARCHAR",
    "success": "BOOLEAN",
    "observed_value": "VARCHAR",
    "element_count": "BIGINT",
    "unexpected_count": "BIGINT",
    "unexpected_percent": "DOUBLE",
    "error": "VARCHAR",
}


@dataclass
class ExpectationRun:
    """Runs expectations as a build goes, collecting every result."""

    expectations: Mapping[tuple[str, str], list[Expectation]]
    results: list[ExpectationResult] = field(default_factory=list)
    # (schema, table) -> staging name of the nodes a build is rebuilding: a reference check must look
    # at the new version of the table it points to, not at yesterday's
    staged: dict[tuple[str, str], str] = field(default_factory=dict)
    seconds: float = 0.0  # time spent checking, reported beside the build's own time
    # told of each checked table ("checked source raw.leads: 4 expectations in 0.1s"): progress for users
    notify: Callable[[str], None] | None = None
    not_run: int = 0  # expectations the warehouse has no runner for (failed results saying so)

    def check_table(self, warehouse: Warehouse, key: tuple[str, str], schema: str, table: str) -> None:
        expectations = self.expectations.get(key)
        if not expectations:
            return
        expectations = self._without_answered(warehouse, schema, table, expectations)
        if not expectations:
            return
        expectations = [self._to_staged(e, schema) for e in expectations]
        started = time.perf_counter()
        # a dataset's key checks are one counting query on every warehouse: a project that declares no
        # check of its own does not wait for Great Expectations to load (~2 s and ~130 MB per build)
        keys = [e for e in expectations if implied_by_key(e)]
        declared = [e for e in expectations if not implied_by_key(e)]
        if keys:
            from kpiframe.quality.pushdown import run_pushed_down

            self.results += run_pushed_down(
                warehouse, schema, table, self._keys_as_stored(warehouse, schema, table, keys)
            )
        if declared and warehouse.great_expectations:
            self.results += self._with_gx(warehouse, schema, table, declared)
        elif declared:  # Spark: the checks as counting SQL, pushed down (kpiframe.quality.pushdown)
            from kpiframe.quality.pushdown import run_pushed_down

            found = run_pushed_down(warehouse, schema, table, declared)
            self.not_run += sum(1 for r in found if r.error and "was not run" in r.error)
            self.results += found
        seconds = time.perf_counter() - started
        self.seconds += seconds
        if self.notify:
            self.notify(f"checked {key[0]} {key[1]}: {len(expectations)} expectation(s) in {seconds:.1f}s")

    def _with_gx(
        self, warehouse: Warehouse, schema: str, table: str, expectations: list[Expectation]
    ) -> list[ExpectationResult]:
        """GX's results, GX loaded only for the checks a count cannot settle (kpiframe.quality.prescreen):
        the checks that pass get the result GX gives a pass from one counting query, the rest go to GX.
        GX's ~140 MB would otherwise sit on top of every later model's DuckDB peak."""
        from kpiframe.quality import run_expectations
        from kpiframe.quality.prescreen import passing_results

        passed = passing_results(warehouse, schema, table, expectations)
        left = [e for e, result in zip(expectations, passed, strict=True) if result is None]
        if not left:
            return [result for result in passed if result is not None]
        if self.notify and "great_expectations" not in sys.modules:
            self.notify("loading Great Expectations (the first check of a run waits for it)")
        connection = warehouse.gx_connection()
        ran = iter(
            run_expectations(connection, warehouse.path, schema, table, left, warehouse.dialect, warehouse.time_zone)
        )
        return [result if result is not None else next(ran) for result in passed]

    def _without_answered(
        self, warehouse: Warehouse, schema: str, table: str, expectations: list[Expectation]
    ) -> list[Expectation]:
        """Pass the contract's checks that the column types answer already (no NaN in a DuckDB DECIMAL)
        without running them: loading Great Expectations for them alone took ~2 s of every build."""
        implied = [e for e in expectations if e.kind == "finite"]
        if not implied:
            return expectations
        types = warehouse.column_types(schema, table)
        left = []
        for expectation in expectations:
            column_type = types.get(str(expectation.kwargs.get("column")))
            if answered_by_type(expectation, column_type, warehouse.decimal_is_finite):
                observed = f"{column_type} cannot hold NaN or Infinity"
                self.results.append(ExpectationResult(expectation, True, observed, None, 0, 0.0))
            else:
                left.append(expectation)
        return left

    def _keys_as_stored(
        self, warehouse: Warehouse, schema: str, table: str, expectations: list[Expectation]
    ) -> list[Expectation]:
        """Key checks name the column as the entity's `expr` spells it, which SQL reads in any case
        (`expr: LEAD_ID` over a column lead_id): the check takes the table's own spelling."""
        spelled = {name.lower(): name for name in warehouse.column_types(schema, table)}
        stored = []
        for expectation in expectations:
            if "column_list" in expectation.kwargs:  # a partitioned dataset's (key, partition)
                columns = [spelled.get(str(c).lower(), str(c)) for c in expectation.kwargs["column_list"]]
                kwargs = {**expectation.kwargs, "column_list": columns}
            else:
                named = str(expectation.kwargs["column"])
                kwargs = {**expectation.kwargs, "column": spelled.get(named.lower(), named)}
            stored.append(dataclasses.replace(expectation, kwargs=kwargs))
        return stored

    def _to_staged(self, expectation: Expectation, schema: str) -> Expectation:
        target = expectation.kwargs.get("to")
        if expectation.kind != "references" or not isinstance(target, dict):
            return expectation
        key = (target.get("schema") or schema, target.get("table"))
        if key not in self.staged:
            return expectation
        moved = {**target, "schema": key[0], "table": self.staged[key]}
        return dataclasses.replace(expectation, kwargs={**expectation.kwargs, "to": moved})

    def check_source_data(self, warehouse: Warehouse, graph: LoadedProject) -> None:
        for (kind, name), _ in sorted(self.expectations.items()):
            if kind == "source":
                schema, _, table = name.partition(".")
                self.check_table(warehouse, (kind, name), schema, table)
        self.stop_on_errors()

    def check_node(self, warehouse: Warehouse, node: CompiledNode, physical_name: str) -> None:
        self.check_table(warehouse, (node.kind, node.name), node.schema, physical_name)
        self.stop_on_errors()

    @property
    def failed_errors(self) -> list[ExpectationResult]:
        return [r for r in self.results if not r.success and r.expectation.severity == "error"]

    def stop_on_errors(self) -> None:
        failed = self.failed_errors
        if failed:
            names = ", ".join(sorted({f"{r.expectation.kind} on {r.expectation.target}" for r in failed})[:5])
            raise ExpectationsFailed(
                f"{len(failed)} expectation(s) of severity error failed: {names}",
                code="KF600",
                hint="nothing was published; see the summary above",
            )


def write_results(root: Path, run_id: str, results: list[ExpectationResult], junit_path: str | None) -> Path:
    from kpiframe.quality import junit_xml, results_json

    target = root / "target"
    target.mkdir(exist_ok=True)
    path = target / "run_results.json"
    payload = {"run_id": run_id, "generated_at": datetime.now(UTC).isoformat(), "results": results_json(results)}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    if junit_path:
        Path(junit_path).write_text(junit_xml(results, "kpiframe"), encoding="utf-8")
    return path


def store_results(warehouse: Warehouse, run_id: str, results: list[ExpectationResult]) -> None:
    """Append results to kpiframe.expectation_results so BI tools can chart data quality over time."""
    table = ensure_table(warehouse, *RESULTS_TABLE, RESULT_COLUMNS)
    if not results:
        return
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    rows = [
        exp.Tuple(
            expressions=[
                literal(v)
                for v in (
                    run_id,
                    now,
                    r.expectation.target,
                    r.expectation.label,
                    r.expectation.kind,
                    r.expectation.severity,
                    r.success,
                    None if r.observed_value is None else json.dumps(r.observed_value, default=str),
                    r.element_count,
                    r.unexpected_count,
                    r.unexpected_percent,
                    r.error,
                )
            ]
        )
        for r in results
    ]
    columns = exp.Schema(this=table, expressions=[exp.to_identifier(n, quoted=True) for n in RESULT_COLUMNS])
    warehouse.execute(exp.Insert(this=columns, expression=exp.Values(expressions=rows)))
