"""`kpiframe diff`: two states of a project compared as definitions, with their impact on the numbers.

    report = diff_project(".", base="main")          # the working tree against main
    report.breaking                                    # the changes that break readers of published tables

Modules: states (a project at a git ref), sqldiff (SQL compared as trees), changes (objects, fields,
what reads what), breaking (downstream and breaking), sandbox (both versions built in memory beside a
read-only warehouse), impact (values per period), report (JSON and Markdown/terminal blocks).
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from kpiframe.build.serving import reader_spec
from kpiframe.diff.breaking import assess, meaning_flow
from kpiframe.diff.changes import Snapshot, compare, edges, fold_generated, merge, snapshots
from kpiframe.diff.impact import Comparison, ImpactRunner, Window
from kpiframe.diff.model import DiffReport, ObjectChange, StateInfo
from kpiframe.diff.sandbox import Columns, Sandbox
from kpiframe.diff.sqldiff import same_sql
from kpiframe.diff.states import ProjectState, default_base, load_working_tree, repository_prefix, state_at
from kpiframe.engine import adapter_class
from kpiframe.engine.options import resolve_warehouse
from kpiframe.errors import KpiframeError
from kpiframe.load.config import load_config
from kpiframe.load.names import NodeKey, version_model
from kpiframe.load.specs import WarehouseSpec

__all__ = ["DiffReport", "Window", "compare_states", "diff_project"]


def diff_project(
    project_dir: str | Path = ".",
    base: str | None = None,
    head: str | None = None,
    warehouse: str | None = None,
    window: Window | None = None,
    impact: bool = True,
) -> DiffReport:
    """Compare the project at git ref `base` (default: merge base with main) with `head` (default: working tree)."""
    root = Path(project_dir).resolve()
    repository_prefix(root)  # a clear error outside a git repository, before anything else
    spec = resolve_warehouse(load_config(root), root, warehouse)
    with ExitStack() as stack:
        ref, name = (base, base) if base else default_base(root)
        before = stack.enter_context(state_at(root, ref, name=name))
        after = stack.enter_context(state_at(root, head)) if head else load_working_tree(root, warehouse)
        return compare_states(before, after, spec if impact else None, window or Window(), impact)


def compare_states(
    base: ProjectState, head: ProjectState, warehouse: WarehouseSpec | None, window: Window, impact: bool = True
) -> DiffReport:
    report = DiffReport(
        StateInfo(base.label, base.ref, base.commit),
        StateInfo(head.label, head.ref, head.commit),
        window.grain,
        window.periods,
    )
    before, after = snapshots(base), snapshots(head)
    sandbox = _sandbox(warehouse, report, impact)
    try:
        columns = _probe(sandbox, base, head, before, after)
        found = compare(before, after, columns)
        graph = merge(edges(base), edges(head))
        report.changes = assess(fold_generated(found, before, after), found, graph, before, after)
        if sandbox.attached and window.periods > 0:
            seeds, origins = meaning_flow(found, graph)
            runner = ImpactRunner(sandbox, sandbox.version("base", base), sandbox.version("head", head), window)
            affected = {*seeds, *origins}
            report.series = runner.run(
                _metrics_to_run(found, affected, before, after), _comparisons(base, head, found, affected)
            )
            _attach_series(report)
    finally:
        sandbox.close()
    return report


def _sandbox(warehouse: WarehouseSpec | None, report: DiffReport, impact: bool) -> Sandbox:
    if warehouse is None:
        if impact:
            report.notes.append("value impact skipped: no warehouse")
        return Sandbox(None)
    adapter = adapter_class(warehouse.type)
    unavailable = adapter.scratch_unavailable(warehouse)  # no scratch space beside it, or no file yet
    if unavailable:
        report.notes.append(f"value impact skipped: {unavailable}")
        return Sandbox(None)
    try:  # the serving snapshot, once a build made one: a diff never waits for a running build
        return Sandbox(reader_spec(warehouse))
    except KpiframeError as exc:
        where = adapter.describe_location(warehouse)
        report.notes.append(f"value impact skipped: cannot open {where} read-only: {exc.diagnostic.message}")
        return Sandbox(None)


def _probe(
    sandbox: Sandbox,
    base: ProjectState,
    head: ProjectState,
    before: dict[NodeKey, Snapshot],
    after: dict[NodeKey, Snapshot],
) -> tuple[dict[NodeKey, Columns | None], dict[NodeKey, Columns | None]]:
    """Columns and types of published tables and of changed models, in each version (views only)."""
    wanted = {key for key in before.keys() & after.keys() if key.kind == "table"}
    wanted |= {
        key
        for key in before.keys() & after.keys()
        if key.kind == "model" and not same_sql(before[key].query, after[key].query)
    }
    versions = sandbox.version("probe_base", base), sandbox.version("probe_head", head)
    found: tuple[dict[NodeKey, Columns | None], dict[NodeKey, Columns | None]] = ({}, {})
    for index, version in enumerate(versions):
        sandbox.build(version, version.state.project.graph.models, views=True, other=versions[1 - index])
        for node in version.state.nodes:
            key = NodeKey(node.kind, node.name)
            if key in wanted:
                found[index][key] = sandbox.columns(version, node)
    return found


def _metrics_to_run(
    found: dict[NodeKey, ObjectChange],
    affected: set[NodeKey],
    before: dict[NodeKey, Snapshot],
    after: dict[NodeKey, Snapshot],
) -> list[str]:
    keys = [k for k in dict.fromkeys([*after, *before]) if k.kind == "metric"]
    return [k.name for k in keys if k in affected or (k in found and found[k].status in ("added", "removed"))]


def _comparisons(
    base: ProjectState, head: ProjectState, found: dict[NodeKey, ObjectChange], affected: set[NodeKey]
) -> list[Comparison]:
    """Each definition version added or changed, against its base; the current version against the base's
    current one when it is new, or when anything upstream of it changed."""
    pairs: list[Comparison] = []
    for name, located in head.project.graph.definitions.items():
        was = base.project.graph.definitions.get(name)
        if was is None:
            continue
        known = {v.version for v in was.spec.versions}
        for version in located.spec.versions:
            number = version.version
            model = found.get(NodeKey("model", version_model(name, number)))
            if number not in known:
                pairs.append(Comparison(name, was.spec.current, number))
            elif model is not None and model.meaning_changed:
                pairs.append(Comparison(name, number, number))
        current = Comparison(name, was.spec.current, located.spec.current)
        moved = current.old != current.new or NodeKey("model", version_model(name, current.new)) in affected
        if moved and current not in pairs and current.new in known | {v.version for v in located.spec.versions}:
            pairs.append(current)
    return pairs


def _attach_series(report: DiffReport) -> None:
    for change in report.changes:
        if change.kind == "metric" and change.name in report.series:
            change.series = [change.name]
        elif change.kind == "definition":
            change.series = [
                s.name
                for s in report.series.values()
                if s.kind == "definition" and s.name.split(" ", 1)[0] == change.name
            ]
        elif change.meaning_changed or change.status == "affected":
            downstream = [NodeKey.parse(k) for k in change.downstream]
            change.series = [k.name for k in downstream if k.kind == "metric" and k.name in report.series]
