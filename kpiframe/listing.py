"""What `kpiframe list` shows: the project's objects, filtered, and what a query of some metrics accepts.

The dimensions and grains a query accepts are worked out here once, for `kpiframe list --metric` and for
the HTTP catalog (GET /v1/metrics), from the code that checks a query: a dimension is one that
`SemanticLayer.dimensions_of` reaches from every dataset the metrics aggregate (each scan of a query
resolves `--by` there, KF410 otherwise), and a grain is one at which the request compiles.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kpiframe.engine import QueryResult
from kpiframe.errors import KpiframeError
from kpiframe.load.loaded import LoadedProject
from kpiframe.semantic.layer import Dimension, SemanticLayer, metric_datasets
from kpiframe.sql.calendar import PERIOD_GRAINS
from kpiframe.sql.date_parts import METRIC_TIME, PARTS, date_part_name
from kpiframe.sql.metric_query import MetricRequest, check_date_parts, compile_request
from kpiframe.suggest import unknown

KINDS = ("model", "dataset", "metric", "table")
CATALOG_COLUMNS = ["kind", "name", "type", "file", "description"]
OPTION_COLUMNS = ["kind", "name", "type", "dataset", "description"]


@dataclass(frozen=True)
class CatalogFilter:
    """What `kpiframe list` keeps: some kinds; a text in the name, label or description (any case); the
    metrics of an owner; the models and metrics with a tag. Empty keeps everything."""

    kinds: tuple[str, ...] = ()
    search: str | None = None
    owner: str | None = None
    tag: str | None = None


@dataclass(frozen=True)
class _Entry:
    row: tuple[Any, ...]
    label: str | None = None
    owner: str | None = None
    tags: tuple[str, ...] = ()


def catalog(graph: LoadedProject, kept: CatalogFilter | None = None) -> QueryResult:
    """One row per model (in build order), dataset, metric and published table that `kept` keeps.

    An owner or tag that nothing in the project carries is a typo, not an empty list (KF457, KF455)."""
    kept = kept or CatalogFilter()
    unknown_kind = sorted(set(kept.kinds) - set(KINDS))
    if unknown_kind:  # the CLI's choices stop this; the Python API must not answer an empty list instead
        message, hint = unknown("kind", unknown_kind[0], KINDS)
        raise KpiframeError(message, code="KF457", hint=hint)
    entries = _entries(graph)
    _require_known("owner", kept.owner, {e.owner for e in entries if e.owner}, "KF457")
    _require_known("tag", kept.tag, {t for e in entries for t in e.tags}, "KF455")
    return QueryResult(list(CATALOG_COLUMNS), [e.row for e in entries if _keeps(kept, e)])


def _entries(graph: LoadedProject) -> list[_Entry]:
    entries = []
    row: tuple[Any, ...]
    for name in graph.order:
        model = graph.models[name]
        row = ("model", name, model.spec.materialized, model.path, model.spec.description or "")
        entries.append(_Entry(row, tags=tuple(model.spec.tags)))
    for name, dataset in graph.datasets.items():
        row = ("dataset", name, dataset.spec.model, dataset.location.path, dataset.spec.description or "")
        entries.append(_Entry(row))
    for name, metric in graph.metrics.items():
        spec = metric.spec
        row = ("metric", name, spec.type, metric.location.path, spec.description or "")
        tags = tuple(getattr(spec, "tags", ()))
        entries.append(_Entry(row, getattr(spec, "label", None), getattr(spec, "owner", None), tags))
    for name, table in graph.tables.items():
        qualified = f"{graph.config.schemas.metrics}.{name}"
        entries.append(
            _Entry(("table", qualified, table.spec.grain, table.location.path, table.spec.description or ""))
        )
    return entries


def _keeps(kept: CatalogFilter, entry: _Entry) -> bool:
    kind, name, _, _, description = entry.row
    if kept.kinds and kind not in kept.kinds:
        return False
    if kept.owner and (entry.owner or "").lower() != kept.owner.lower():
        return False
    if kept.tag and kept.tag.lower() not in {t.lower() for t in entry.tags}:
        return False
    return not kept.search or _contains(kept.search, name, entry.label, description)


def _contains(text: str, *fields: str | None) -> bool:
    wanted = text.lower()
    return any(wanted in field.lower() for field in fields if field)


def _require_known(what: str, value: str | None, known: set[str], code: str) -> None:
    if value and value.lower() not in {k.lower() for k in known}:
        message, hint = unknown(what, value, known)
        raise KpiframeError(message, code=code, hint=hint)


# --- what a query of some metrics accepts ---------------------------------------------------------------
def require_metrics(layer: SemanticLayer, metrics: Iterable[str]) -> list[str]:
    names = list(dict.fromkeys(metrics))
    if not names:
        raise KpiframeError("no metric asked for", code="KF401", hint="pass --metric NAME")
    for name in names:
        if name not in layer.files.metrics:
            message, hint = unknown("metric", name, layer.files.metrics)
            raise KpiframeError(message, code="KF104", hint=hint)
    return names


def accepted_dimensions(layer: SemanticLayer, metrics: Iterable[str]) -> list[Dimension]:
    """The dimensions a query of `metrics` (together) can group and filter by, sorted by qualified name:
    those reachable from every dataset the metrics aggregate, as each scan of the query requires."""
    common: dict[str, Dimension] = {}
    for index, dataset in enumerate(sorted(metric_datasets(layer, metrics))):
        reachable = layer.dimensions_of(dataset)
        common = reachable if index == 0 else {q: d for q, d in common.items() if q in reachable}
    return [common[q] for q in sorted(common)]


def accepted_grains(layer: SemanticLayer, metrics: Sequence[str]) -> list[str]:
    """The grains at which a query of `metrics` compiles: all, except that a cumulative metric (or one
    computed from one) refuses a grain coarser than its window (KF421). Compiling is cheap and is the rule."""
    found = []
    for grain in PERIOD_GRAINS:
        try:
            compile_request(layer, MetricRequest(tuple(metrics), grain=grain))
        except KpiframeError:
            continue
        found.append(grain)
    return found


def query_options(layer: SemanticLayer, metrics: Sequence[str], search: str | None = None) -> QueryResult:
    """One row per dimension (`--by`, full name) and grain (`--grain`) a query of `metrics` accepts:
    kind, name, type (categorical or time, for a dimension), dataset (the dimension's), description.
    `search` keeps the rows with that text (any case) in the name or description."""
    names = require_metrics(layer, metrics)
    rows: list[tuple[Any, ...]] = []
    for dim in accepted_dimensions(layer, names):
        if dim.is_entity:
            rows.append(("dimension", dim.qualified, "entity", dim.dataset, f"the key of entity '{dim.name}'"))
            continue
        spec = next(d for d in layer.datasets[dim.dataset].spec.dimensions if d.name == dim.name)
        rows.append(("dimension", dim.qualified, spec.type, dim.dataset, spec.description or ""))
    rows += [("grain", grain, "", "", "") for grain in accepted_grains(layer, names)]
    rows += [("date part", name, "", "", about) for name, about in accepted_date_parts(layer, names)]
    if search:
        rows = [row for row in rows if _contains(search, row[1], row[4])]
    return QueryResult(list(OPTION_COLUMNS), rows)


DATE_PARTS_ABOUT = {
    "year": "the year, all periods of it together",
    "quarter": "quarter of the year, 1 to 4, every year together",
    "month": "month of the year, 1 to 12, every year together",
    "day": "day of the month, 1 to 31",
    "dow": "day of the week, ISO: Monday 1 to Sunday 7",
    "doy": "day of the year, 1 to 366",
}


def accepted_date_parts(layer: SemanticLayer, names: Sequence[str]) -> list[tuple[str, str]]:
    """`metric_time__extract_<part>` and what it groups by, when a query of `names` takes date parts (not a
    cumulative metric nor an offset: kpiframe.sql.metric_query.check_date_parts, KF428)."""
    probe = MetricRequest(tuple(names), (date_part_name(METRIC_TIME, "dow"),), "all")
    try:
        check_date_parts(layer, probe)
    except KpiframeError:
        return []
    return [(date_part_name(METRIC_TIME, part), DATE_PARTS_ABOUT[part]) for part in PARTS]
