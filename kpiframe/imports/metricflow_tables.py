"""MetricFlow saved queries as kpiframe published tables (`tables:`).

A saved query's metrics grouped by `TimeDimension('metric_time', grain)` and dimensions is a table of
that grain, published in the metrics schema under the saved query's name (an `Entity('customer')` in the
group-by is the entity's key); by two grains (`metric_time__week` and `metric_time__quarter`), a table of
the finer with the coarser as a label column `metric_time__quarter`. What a table cannot hold (a `where:`,
no metric_time) leaves the saved query out, reported.
"""

from __future__ import annotations

from kpiframe.imports.metricflow_filters import Untranslatable, group_by_item
from kpiframe.imports.metricflow_plan import ImportPlan, Item, ordered
from kpiframe.imports.metricflow_read import DbtProject, Notes, Raw
from kpiframe.imports.metricflow_request import FINENESS
from kpiframe.imports.metricflow_semantic import metrics_path
from kpiframe.sql.calendar import SUBDAY_GRAINS
from kpiframe.sql.time_grains import label_name

TABLE_KEYS = ("name", "description", "grain", "metrics", "dimensions")


def import_saved_queries(project: DbtProject, plan: ImportPlan, notes: Notes) -> None:
    for raw in project.of("saved_query"):
        table = _table(raw, plan, notes)
        if table is not None:
            plan.add(metrics_path(raw.path, project.model_paths), "tables", ordered(table, TABLE_KEYS), raw.path)


def _table(raw: Raw, plan: ImportPlan, notes: Notes) -> Item | None:
    name = raw.text("name") or ""
    subject = f"saved query '{name}'"
    params = raw.child("query_params") or Raw(raw.path, {}, raw.line)
    if params.get("where") is not None:
        notes.unmapped(params, "where", subject, "a published table has no where:; not imported")
        return None
    grains: list[str] = []
    dimensions: list[str] = []
    for text in _strings(params.get("group_by")):
        try:
            kind, value = group_by_item(text)
        except Untranslatable as exc:
            notes.unmapped(params, "group_by", subject, f"{exc}; not imported")
            return None
        (grains if kind == "grain" else dimensions).append(value)
    if not grains:
        notes.unmapped(params, "group_by", subject, "a published table needs metric_time at a grain; not imported")
        return None
    # of two grains the finer is the table's, the coarser a label column (kpiframe.sql.time_grains)
    grains = sorted(dict.fromkeys(grains), key=FINENESS.__getitem__)
    dimensions += [label_name(grain) for grain in grains[1:]]
    if grains[0] in SUBDAY_GRAINS:
        notes.unmapped(params, "group_by", subject, f"a published table is by day or coarser, not {grains[0]}")
        return None
    metrics = []
    for metric in _strings(params.get("metrics")):
        if metric in plan.metric_names:
            metrics.append(metric)
        else:
            notes.unmapped(params, "metrics", subject, f"metric '{metric}' was not imported; left out of the table")
    if not metrics:
        return None
    for key in ("order_by", "limit"):
        if params.get(key) is not None:
            notes.changed(params, key, subject, f"'{key}:' dropped: a published table holds every row")
    if raw.get("exports") is not None:
        notes.changed(raw, "exports", subject, f"exports replaced by the published table metrics.{name}")
    for key in raw.key_names():
        if key in ("label", "config"):
            notes.changed(raw, key, subject, f"'{key}:' dropped (kpiframe tables have none)")
        elif key not in ("name", "description", "query_params", "exports"):
            notes.unmapped(raw, key, subject, f"'{key}:' has no counterpart in kpiframe; not imported")
    return {
        "name": name,
        "description": raw.text("description"),
        "grain": grains[0],
        "metrics": metrics,
        "dimensions": dimensions,
    }


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []
