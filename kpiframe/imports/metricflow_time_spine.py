"""MetricFlow's time spine and its custom granularities, read into kpi_project.yml's `calendar: time_spine:`.

A dbt project declares its time spine on a model (`models: [{name: time_spine_daily, time_spine:
{standard_granularity_column: date_day, custom_granularities: [{name: fiscal_quarter, column_name: fq}]}}]`);
MetricFlow's own manifests declare it in `project_configuration: {time_spines: [{node_relation: {...},
primary_column: {name: ds}, custom_granularities: [{name: alien_day}]}]}`. Either becomes `model:`, `day:`
and `custom_grains: {name: column}` (kpiframe.sql.custom_grains); a custom granularity's column defaults to
its name. The first and last day of the spine are not known here (it is a table): the import leaves them
for the user to set (join_to_timespine reads them). Only the day-grain spine carries custom grains in
kpiframe: another spine, or a granularity whose name kpiframe cannot take, is reported as not imported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kpiframe.imports.metricflow_models import passthrough_model
from kpiframe.imports.metricflow_plan import ImportPlan
from kpiframe.imports.metricflow_read import DbtProject, Notes, Raw
from kpiframe.load.specs import NAME_PATTERN, RESERVED_GRAIN_NAMES


@dataclass(frozen=True)
class TimeSpine:
    model: str
    day: str
    grains: dict[str, str] = field(default_factory=dict)  # custom grain -> column of the model
    path: str = ""  # where the dbt project declares it
    line: int = 0


def import_time_spine(project: DbtProject, plan: ImportPlan, notes: Notes) -> TimeSpine | None:
    """The time spine of the dbt project (the first declared at day grain), or None."""
    found: list[tuple[TimeSpine, Raw]] = []
    for raw in project.of("model"):
        spine = raw.child("time_spine")
        if spine is not None:
            name = raw.text("name") or ""
            day = spine.text("standard_granularity_column") or ""
            found += _spine(name, day, spine, f"time spine of model '{name}'", notes)
    for config in project.of("project_configuration"):
        for spine in config.children("time_spines"):
            relation = spine.child("node_relation")
            primary = spine.child("primary_column")
            table = (relation.text("alias") or "") if relation is not None else ""
            subject = f"time spine '{table}'"
            if primary is not None and (primary.text("time_granularity") or "day").lower() != "day":
                notes.unmapped(primary, "time_granularity", subject, "kpiframe's time spine has one row per day")
                continue
            if relation is None or not table:
                notes.unmapped(spine, None, subject, "names no table (node_relation: alias:); not imported")
                continue
            schema = (relation.text("schema_name") or "raw").lstrip("$")
            model = passthrough_model(plan, spine.path, table, schema, notes, relation)
            found += _spine(model, (primary.text("name") if primary else None) or "", spine, subject, notes)
    for extra, raw in found[1:]:
        notes.unmapped(raw, None, f"time spine '{extra.model}'", "kpiframe reads one time spine; not imported")
    return found[0][0] if found else None


def _spine(model: str, day: str, raw: Raw, subject: str, notes: Notes) -> list[tuple[TimeSpine, Raw]]:
    if not re.fullmatch(NAME_PATTERN, model) or not re.fullmatch(NAME_PATTERN, day):
        notes.unmapped(raw, None, subject, "names no model or day column kpiframe can read; not imported")
        return []
    grains: dict[str, str] = {}
    for item in raw.children("custom_granularities"):
        name = item.text("name") or ""
        column = item.text("column_name") or name
        if not re.fullmatch(NAME_PATTERN, name) or not re.fullmatch(NAME_PATTERN, column):
            notes.unmapped(item, "name", subject, f"custom granularity '{name}' is not a plain name; not imported")
        elif name.lower() in RESERVED_GRAIN_NAMES or name.lower().startswith("extract_"):
            notes.unmapped(item, "name", subject, f"custom granularity '{name}' has a name kpiframe reserves")
        else:
            grains[name] = column
    return [(TimeSpine(model, day, grains, raw.path, raw.line), raw)]


def calendar_lines(spine: TimeSpine) -> list[str]:
    """kpi_project.yml's `calendar:` block for the time spine (its first and last day left to set)."""
    grains = ", ".join(f"{name}: {column}" for name, column in spine.grains.items())
    return [
        "calendar:",
        "  time_spine:",
        "    # join_to_timespine answers every period of the time spine: set its first and last day",
        "    # start: 2000-01-01",
        "    # end: 2030-12-31",
        f"    model: {spine.model}",
        f"    day: {spine.day}",
        f"    custom_grains: {{{grains}}}",
    ]
