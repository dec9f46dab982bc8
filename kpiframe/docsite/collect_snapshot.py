"""The serving snapshot's own tables, read in one read-only connection: which of the project's objects a
build made, the run log (kpiframe.runs), expectation results (kpiframe.expectation_results), who qualifies
under each definition version (`<name>_membership`), and each funnel's newest entry.

`open_warehouse` never raises on a warehouse problem: no file, a file that is no warehouse, or one holding
no build of the project gives `built=False` and the reason, which always says to run `kpiframe build`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from kpiframe.build.expectations import RESULTS_TABLE
from kpiframe.build.runs import BASELINE_RESET, META_SCHEMA
from kpiframe.docsite.model import ExpectationResult, RunEntry
from kpiframe.engine import Warehouse, adapter_class
from kpiframe.errors import KpiframeError
from kpiframe.load.names import funnel_model, membership_model

if TYPE_CHECKING:
    from kpiframe.project import Project

RUNS_SHOWN = 50
EXPECTATIONS_SHOWN = 5_000
BUILD_FIRST = "run `kpiframe build` first"


@dataclass
class WarehouseState:
    """What the snapshot holds, read in one connection."""

    built: bool
    reason: str | None = None
    problems: list[str] = field(default_factory=list)
    runs: list[RunEntry] = field(default_factory=list)
    expectations: list[ExpectationResult] = field(default_factory=list)
    members: dict[str, dict[int, set[str]]] = field(default_factory=dict)  # definition -> version -> entity ids
    newest_entry: dict[str, datetime | None] = field(default_factory=dict)  # funnel -> its latest entered_at


def open_warehouse(project: Project) -> WarehouseState:
    """Read the serving snapshot's own tables; `built=False` with the reason when there is no build."""
    try:
        reader = project.connect_reader()
    except KpiframeError as exc:
        return WarehouseState(False, f"{exc.diagnostic.message}: {BUILD_FIRST}")
    try:
        return _read(project, reader)
    except KpiframeError as exc:
        return WarehouseState(False, f"the warehouse could not be read ({exc.diagnostic.message}): {BUILD_FIRST}")
    finally:
        reader.close()


def _read(project: Project, reader: Warehouse) -> WarehouseState:
    graph = project.graph
    schemas = graph.config.schemas
    present = _relations(reader, {schemas.models, schemas.metrics, META_SCHEMA})
    state = WarehouseState(True)
    if (META_SCHEMA, "runs") in present:  # a failed build is worth showing even with nothing built
        state.runs = _runs(reader, graph.config.name)
    if RESULTS_TABLE in present:
        state.expectations = _expectations(reader)
    built = [name for name in graph.models if (schemas.models, name) in present]
    if not built:
        spec = project.warehouse_spec
        where = adapter_class(spec.type).describe_location(spec)
        state.built, state.reason = False, f"{where} holds no build of project {graph.config.name}: {BUILD_FIRST}"
        return state
    missing = [name for name in graph.models if (schemas.models, name) not in present]
    if missing:
        state.problems.append(f"models never built, so what reads them is left out: {', '.join(missing)}")
    for name in graph.definitions:
        if (schemas.models, membership_model(name)) in present:
            state.members[name] = _members(reader, project, name)
    for name in graph.funnels:
        if (schemas.models, funnel_model(name)) in present:
            state.newest_entry[name] = _newest_entry(reader, schemas.models, name)
    return state


def _relations(reader: Warehouse, schemas: set[str]) -> set[tuple[str, str]]:
    query = (
        exp.select(exp.column("table_schema"), exp.column("table_name"))
        .from_(exp.table_("tables", db="information_schema"))
        .where(exp.column("table_schema").isin(*[exp.Literal.string(s) for s in sorted(schemas)]))
    )
    return {(str(schema), str(name)) for schema, name in reader.query(query).rows}


def _runs(reader: Warehouse, project: str) -> list[RunEntry]:
    """The project's last runs, newest first; runs logged before runs had a project count as its own."""
    runs = exp.table_("runs", db=META_SCHEMA, quoted=True)
    status = exp.column("status", quoted=True)
    conditions: list[exp.Expr] = [exp.NEQ(this=status, expression=exp.Literal.string(BASELINE_RESET))]
    if "project" in reader.column_types(META_SCHEMA, "runs"):
        owner = exp.column("project", quoted=True)
        conditions.append(
            exp.or_(
                exp.EQ(this=owner, expression=exp.Literal.string(project)),
                exp.Is(this=owner.copy(), expression=exp.Null()),
            )
        )
    columns = ("run_id", "started_at", "finished_at", "status", "rows_per_table")
    query = (
        exp.select(*[exp.column(c, quoted=True) for c in columns])
        .from_(runs)
        .where(exp.and_(*conditions))
        .order_by(exp.Ordered(this=exp.column("started_at", quoted=True), desc=True))
        .limit(RUNS_SHOWN)
    )
    return [
        RunEntry(
            run_id=str(run_id),
            started_at=_iso(started),
            finished_at=_iso(finished) if finished is not None else None,
            status=str(state),
            nodes=_count(rows),
        )
        for run_id, started, finished, state, rows in reader.query(query).rows
    ]


def _count(rows_per_table: object) -> int | None:
    try:
        parsed = json.loads(str(rows_per_table)) if rows_per_table is not None else None
    except ValueError:
        return None
    return len(parsed) if isinstance(parsed, dict) else None


def _expectations(reader: Warehouse) -> list[ExpectationResult]:
    """The newest EXPECTATIONS_SHOWN results, oldest first."""
    columns = ("run_id", "checked_at", "target", "expectation", "severity", "success", "observed_value")
    checked = exp.column("checked_at", quoted=True)
    newest = (
        exp.select(*[exp.column(c, quoted=True) for c in columns])
        .from_(exp.table_(RESULTS_TABLE[1], db=RESULTS_TABLE[0], quoted=True))
        .order_by(exp.Ordered(this=checked, desc=True))
        .limit(EXPECTATIONS_SHOWN)
    )
    order = [exp.column(c, quoted=True) for c in ("checked_at", "run_id", "target", "expectation")]
    query = exp.select(exp.Star()).from_(newest.subquery("newest")).order_by(*order)
    return [
        ExpectationResult(
            run_id=str(run_id),
            checked_at=_iso(at),
            target=str(target),
            expectation=str(expectation),
            severity=str(severity) if severity is not None else None,
            success=bool(success),
            observed=str(observed) if observed is not None else None,
        )
        for run_id, at, target, expectation, severity, success, observed in reader.query(query).rows
    ]


def _members(reader: Warehouse, project: Project, definition: str) -> dict[int, set[str]]:
    """Entity ids per version of a definition, from its `<name>_membership` model: who qualifies, as the
    diff's entity comparison reads them (ids as text, rows with a qualification time)."""
    graph = project.graph
    model = graph.models[membership_model(definition)]
    assert model.tree is not None  # generated models carry their tree
    key = model.tree.named_selects[0]
    qualified = exp.column("qualified_at", quoted=True)
    query = (
        exp.select(exp.column("version", quoted=True), exp.cast(exp.column(key, quoted=True), "VARCHAR"))
        .from_(exp.table_(model.name, db=graph.config.schemas.models, quoted=True))
        .where(exp.Not(this=exp.Is(this=qualified, expression=exp.Null())))
    )
    found: dict[int, set[str]] = {}
    for version, entity in reader.query(query).rows:
        found.setdefault(int(version), set()).add(str(entity))
    return found


def _newest_entry(reader: Warehouse, schema: str, funnel: str) -> datetime | None:
    """The latest entry into a funnel: how far its data goes, as `Project.funnel` judges maturity by."""
    query = exp.select(exp.Max(this=exp.column("entered_at", quoted=True))).from_(
        exp.table_(funnel_model(funnel), db=schema, quoted=True)
    )
    value = reader.query(query).rows[0][0]
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, datetime.min.time()) if isinstance(value, date) else None


def _iso(value: Any) -> str:
    return value.isoformat(sep=" ", timespec="seconds") if isinstance(value, datetime) else str(value)
