"""The metric catalog the HTTP API lists at GET /v1/metrics: what each metric means and how it can be asked for."""

from __future__ import annotations

from typing import Any

from kpiframe.listing import accepted_dimensions, accepted_grains
from kpiframe.project import Project


def metric_catalog(project: Project) -> list[dict[str, Any]]:
    """One entry per metric, in the order the project declares them.

    - `label` falls back to the name; `owner` and the other texts are the metric's own.
    - `direction` is that of the metric's node in the first KPI tree holding it (a node may set its own),
      else the metric's `direction:`; `kpi_trees` names the trees holding it.
    - `dimensions` are the qualified dimensions every dataset the metric aggregates can be grouped by,
      which is what `by` of a query accepts for it alone (a dimension reachable from only some of its
      datasets is refused, KF410).
    - `grains` are the grains a query of the metric alone compiles at: all of them, except that a cumulative
      metric (or one computed from one) cannot be asked for at a grain coarser than its window (KF421).
    """
    directions: dict[str, str] = {}
    holders: dict[str, list[str]] = {}
    kpi = project.graph.kpi
    for tree in kpi.trees.values() if kpi is not None else ():
        for name, node in tree.nodes.items():
            holders.setdefault(name, []).append(tree.name)
            if node.direction and name not in directions:
                directions[name] = node.direction
    entries = []
    for name, located in project.graph.metrics.items():
        spec = located.spec
        entries.append(
            {
                "name": name,
                "label": spec.label or name,
                "type": spec.type,
                "unit": spec.unit,
                "format": spec.format,
                "description": spec.description,
                "owner": spec.owner,
                "direction": directions.get(name, spec.direction),
                "timing": spec.timing,
                "tags": list(spec.tags),
                "kpi_trees": holders.get(name, []),
                "dimensions": groupable_dimensions(project, name),
                "grains": queryable_grains(project, name),
            }
        )
    return entries


def groupable_dimensions(project: Project, metric: str) -> list[str]:
    """Qualified names of the dimensions reachable from every dataset the metric aggregates, sorted."""
    return [dimension.qualified for dimension in accepted_dimensions(project.layer, [metric])]


def queryable_grains(project: Project, metric: str) -> list[str]:
    """The grains at which a query of the metric alone compiles (compiling is cheap and is the rule itself)."""
    return accepted_grains(project.layer, [metric])
