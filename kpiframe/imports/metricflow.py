"""`kpiframe import metricflow`: a dbt Semantic Layer project read into kpiframe project files.

plan_import() reads the dbt project and plans every file (nothing is written); write_import() writes
them. The same dbt project always plans the same bytes, so re-importing after a change to the dbt
project gives a reviewable git diff. Files the import did not generate are never overwritten (KF062).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from kpiframe.errors import KpiframeError
from kpiframe.imports.metricflow_metrics import import_metrics
from kpiframe.imports.metricflow_models import import_models
from kpiframe.imports.metricflow_plan import KINDS, MARKER, ImportPlan
from kpiframe.imports.metricflow_read import DbtProject, Note, read_dbt_project
from kpiframe.imports.metricflow_semantic import import_semantic_models
from kpiframe.imports.metricflow_tables import import_saved_queries
from kpiframe.imports.metricflow_time_spine import TimeSpine, calendar_lines, import_time_spine

STATUS_NEW, STATUS_CHANGED, STATUS_SAME = "new", "changed", "unchanged"


@dataclass
class ImportResult:
    """What an import would write (path -> text), how each file compares with the output folder, the
    notes about what changed or was not imported, and generated files no longer produced."""

    dbt_root: Path
    output: Path
    files: dict[str, str]
    contents: dict[str, str]  # path -> "2 datasets, 5 metrics"
    status: dict[str, str]
    notes: list[Note]
    conflicts: list[str] = field(default_factory=list)  # existing files the import did not generate
    stale: list[str] = field(default_factory=list)  # generated earlier, not any more

    def unmapped(self) -> list[Note]:
        return [n for n in self.notes if n.kind == "unmapped"]

    def changed(self) -> list[Note]:
        return [n for n in self.notes if n.kind == "changed"]


def plan_import(dbt_root: Path, output: Path) -> ImportResult:
    """Read the dbt project at `dbt_root` and plan the kpiframe files for the folder `output`."""
    project = read_dbt_project(dbt_root)
    plan = ImportPlan()
    notes = project.notes
    import_models(project, plan, notes)
    measures = import_semantic_models(project, plan, notes)
    import_metrics(project, plan, notes, measures)
    import_saved_queries(project, plan, notes)
    spine = import_time_spine(project, plan, notes)
    if not (output / "kpi_project.yml").exists():
        plan.text_files["kpi_project.yml"] = _project_file(project, _joins_time_spine(plan), spine)
    elif spine is not None:  # the import never rewrites kpi_project.yml: say what to add there
        grains = ", ".join(f"{name}: {column}" for name, column in spine.grains.items())
        notes.items.append(
            Note(
                "changed",
                spine.path,
                spine.line,
                f"time spine '{spine.model}'",
                f"kpi_project.yml exists: add calendar: time_spine: {{model: {spine.model}, day: {spine.day}, "
                f"custom_grains: {{{grains}}}}} to it",
            )
        )
    files = plan.rendered()
    contents = {path: _contents(plan, path) for path in files}
    result = ImportResult(dbt_root, output, files, contents, {}, notes.of_kind("changed") + notes.of_kind("unmapped"))
    _compare(result)
    return result


def write_import(result: ImportResult) -> list[str]:
    """Write the planned files that differ from the output folder; returns their paths."""
    if result.conflicts:
        raise KpiframeError(
            f"the import would overwrite files it did not generate: {', '.join(result.conflicts)}",
            code="KF062",
            hint="move them away, or import into another folder with --output",
        )
    written = []
    for path, text in result.files.items():
        if result.status[path] == STATUS_SAME:
            continue
        target = result.output / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _compare(result: ImportResult) -> None:
    for path, text in result.files.items():
        target = result.output / path
        if not target.exists():
            result.status[path] = STATUS_NEW
            continue
        old = target.read_text(encoding="utf-8", errors="replace")
        result.status[path] = STATUS_SAME if old == text else STATUS_CHANGED
        if old != text and MARKER not in "".join(old.splitlines(keepends=True)[:2]):
            result.conflicts.append(path)
    for folder in ("models", "metrics", "macros"):
        for existing in sorted((result.output / folder).rglob("*")) if (result.output / folder).is_dir() else []:
            rel = existing.relative_to(result.output).as_posix()
            if existing.is_file() and rel not in result.files and _generated(existing):
                result.stale.append(rel)


def _generated(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            return MARKER in handle.readline() + handle.readline()
    except OSError:
        return False


def _contents(plan: ImportPlan, path: str) -> str:
    out = plan.yaml_files.get(path)
    if out is None:
        return "model SQL" if path.endswith(".sql") and path.startswith("models/") else path.rsplit("/", 1)[-1]
    counts = [(len(out.lists.get(kind, [])), kind) for kind in KINDS]
    return ", ".join(f"{n} {kind if n != 1 else kind.rstrip('s')}" for n, kind in counts if n)


def _joins_time_spine(plan: ImportPlan) -> bool:
    return any(
        item.get("join_to_timespine") for out in plan.yaml_files.values() for item in out.lists.get("metrics", [])
    )


def _project_file(project: DbtProject, joins_time_spine: bool = False, spine: TimeSpine | None = None) -> str:
    """kpi_project.yml for an output folder without one: the dbt project's name and scalar vars, the time
    spine's model and custom grains when the dbt project declares one, and where a metric has
    `join_to_timespine: true`, the first and last day of the `calendar: time_spine:` it needs, to fill in."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", project.name)
    name = name if re.match(r"[A-Za-z_]", name) else f"p_{name}"
    lines = [
        f"# {MARKER} from {project.name}.",
        f"name: {name}",
        "warehouse:",
        "  type: duckdb",
        "  path: warehouse.duckdb",
        "query:",
        "  without_time: all  # as MetricFlow: a request without metric_time answers totals over the range",
        "  cumulative_past_data: true  # as MetricFlow: a cumulative series runs on while its window holds rows",
    ]
    if spine is not None:
        lines += calendar_lines(spine)
    elif joins_time_spine:  # the time spine is a table of the warehouse: its first and last day are not known here
        lines += [
            "# join_to_timespine: true answers every period of the time spine: set its first and last day",
            "# calendar:",
            "#   time_spine: {start: 2000-01-01, end: 2030-12-31}",
        ]
    scalars = {k: v for k, v in project.vars.items() if isinstance(v, (str, int, float, bool)) or v is None}
    if scalars:
        lines.append("vars:")
        lines += [f"  {key}: {_scalar(value)}" for key, value in sorted(scalars.items())]
    return "\n".join(lines) + "\n"


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def render_summary(result: ImportResult, written: list[str] | None = None) -> str:
    """The plan (or what was written) as a table, then what changed in translation and what was not imported."""
    lines = [f"import of {result.dbt_root} into {result.output}", ""]
    width = max((len(p) for p in result.files), default=4)
    lines.append(f"{'file'.ljust(width)}  {'status'.ljust(9)}  contents")
    for path in result.files:
        lines.append(f"{path.ljust(width)}  {result.status[path].ljust(9)}  {result.contents[path]}")
    for title, notes in (("changed in translation", result.changed()), ("not imported", result.unmapped())):
        lines += ["", f"{title} ({len(notes)}):"] + [f"  {note.render()}" for note in notes]
    if result.stale:
        lines += ["", "generated by an earlier import, no longer produced (delete them if you agree):"]
        lines += [f"  {path}" for path in result.stale]
    if result.conflicts:
        lines += ["", "would overwrite files the import did not generate (KF062 with --write):"]
        lines += [f"  {path}" for path in result.conflicts]
    lines.append("")
    if written is None:
        lines.append("nothing written: run again with --write to write the new and changed files")
    else:
        lines.append(f"wrote {len(written)} files")
    return "\n".join(lines)
