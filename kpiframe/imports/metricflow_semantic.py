"""MetricFlow semantic models as kpiframe datasets: entities, dimensions, measures.

A semantic model is a dataset over a model: `model: ref('x')` is the kpiframe model `x` (copied from
the dbt SQL, see metricflow_models.py); a seed or a MetricFlow `node_relation:` becomes a source read by
a one-line model. `defaults.agg_time_dimension` is the dataset's `time:`, a measure's own
`agg_time_dimension` its `time:`. A measure with `create_metric: true` also gets a simple metric. A time
dimension with `is_partition: true` is the dataset's `partition: true`: a join between two partitioned
datasets equates their partitions, as MetricFlow joins two partitioned semantic models. A slowly changing
dimension's `validity_params: {is_start: true}` / `{is_end: true}` is the dataset's `validity: start` / `end`,
and its `natural` entity (the key of each version) a primary one: a join to it keeps the version valid on
the joining row's day, as MetricFlow's join to an SCD semantic model does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kpiframe.imports.metricflow_filters import TOO_FINE
from kpiframe.imports.metricflow_models import passthrough_model
from kpiframe.imports.metricflow_plan import ImportPlan, Item, ordered
from kpiframe.imports.metricflow_read import DbtProject, Notes, Raw
from kpiframe.sql.calendar import SUBDAY_GRAINS

REF = re.compile(r"""^\s*ref\(\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*(?:,\s*v(?:ersion)?\s*=\s*[^)]*)?\)\s*$""")
AGGREGATIONS = {
    "sum": "sum",
    "count": "count",
    "count_distinct": "count_distinct",
    "average": "average",
    "avg": "average",
    "min": "min",
    "max": "max",
    "median": "median",
    "percentile": "percentile",
}
ENTITY_TYPES = ("primary", "unique", "foreign")
DATASET_KEYS = ("name", "description", "model", "primary_entity", "time", "entities", "dimensions", "measures")
SEMANTIC_MODEL_KEYS = {"name", "description", "model", "node_relation", "defaults", "primary_entity"}
SEMANTIC_MODEL_KEYS |= {"entities", "dimensions", "measures", "label", "config"}


@dataclass(frozen=True)
class MeasureInfo:
    """What the metric importer needs of an imported measure."""

    name: str
    dataset: str
    agg: str
    time: str  # the qualified name of its time dimension: metric_time in a filter of its metrics
    non_additive: bool = False  # a semi-additive measure (non_additive_dimension): no running sum of it
    # its time dimension's time_granularity when coarser than a day: the grain of `metric_time` without one
    # for a metric over it that sets no time_granularity (MetricFlow's default: the finest the data has)
    grain: str | None = None


def metrics_path(rel: str, model_paths: tuple[str, ...]) -> str:
    """`models/marts/orders.yml` -> `metrics/marts/orders.yml` (a dbt model path is left out)."""
    parts = rel.split("/")
    if len(parts) > 1 and parts[0] in model_paths:
        parts = parts[1:]
    stem = "/".join(parts).rsplit(".", 1)[0]
    return f"metrics/{stem}.yml"


def import_semantic_models(project: DbtProject, plan: ImportPlan, notes: Notes) -> dict[str, MeasureInfo]:
    """Plan a dataset per semantic model; returns the measures that were imported, by name."""
    measures: dict[str, MeasureInfo] = {}
    partitions: list[tuple[Raw, str, str]] = []  # (dimension, its name, semantic model) of each partition
    for raw in project.of("semantic_model"):
        name = raw.text("name") or ""
        subject = f"semantic model '{name}'"
        model = _model_of(project, plan, raw, subject, notes)
        if model is None:
            continue
        dataset, qualifier = _dataset(raw, name, model, notes)
        partition = _partition(raw)
        if partition is not None:
            partitions.append((partition, partition.text("name") or "", name))
        out = metrics_path(raw.path, project.model_paths)
        for measure_raw in raw.children("measures"):
            spec = _measure(measure_raw, name, notes, _names(raw))
            if spec is None:
                continue
            time = str(spec.get("time") or dataset.get("time") or "")
            if not time:
                notes.unmapped(
                    measure_raw, None, f"measure '{spec['name']}'", "has no agg_time_dimension; not imported"
                )
                continue
            semi = "non_additive" in spec
            grain = _coarse_grain(raw, time)
            info = MeasureInfo(str(spec["name"]), name, str(spec["agg"]), f"{qualifier}__{time}", semi, grain)
            measures[info.name] = info
            dataset.setdefault("measures", [])
            measure_list = dataset["measures"]
            assert isinstance(measure_list, list)
            measure_list.append(spec)
            if measure_raw.get("create_metric") is True:
                # MetricFlow's metric of the measure answers NULL where a period or group has no rows
                metric = {"name": spec["name"], "type": "simple", "measure": spec["name"], "fill_nulls_with": None}
                if grain:
                    metric["grain"] = grain
                plan.add(out, "metrics", metric, raw.path)
        for key in raw.key_names():
            if key not in SEMANTIC_MODEL_KEYS:
                notes.unmapped(raw, key, subject, f"'{key}:' has no counterpart in kpiframe; not imported")
        for key in ("label", "config"):
            if raw.get(key) is not None:
                notes.changed(raw, key, subject, f"'{key}:' dropped (kpiframe datasets have none)")
        plan.add(out, "datasets", ordered(dataset, DATASET_KEYS), raw.path)
    _partition_names(partitions, notes)
    return measures


def _partition(raw: Raw) -> Raw | None:
    """The semantic model's partition: its first time dimension with `is_partition: true`."""
    for dimension in raw.children("dimensions"):
        params = dimension.child("type_params")
        if params is not None and params.get("validity_params") is not None:
            continue
        is_time = (dimension.text("type") or "").lower() == "time"
        if dimension.get("is_partition") is True and is_time and (dimension.text("name") or "") != "period_start":
            return dimension
    return None


def _partition_names(partitions: list[tuple[Raw, str, str]], notes: Notes) -> None:
    """MetricFlow equates only partitions of the same name; kpiframe the partitions of any two joined datasets."""
    names = sorted({name for _, name, _ in partitions})
    if len(names) < 2:
        return
    for raw, name, model in partitions:
        others = ", ".join(f"'{n}'" for n in names if n != name)
        notes.changed(
            raw,
            "is_partition",
            f"dimension '{name}' of semantic model '{model}'",
            f"partition '{name}': kpiframe's joins equate it with the partition of any other partitioned dataset "
            f"(here also {others}), MetricFlow's only with a partition of the same name",
        )


def _coarse_grain(raw: Raw, time: str) -> str | None:
    """The time_granularity of the semantic model's time dimension `time` when it is week to year."""
    for dimension in raw.children("dimensions"):
        params = dimension.child("type_params")
        if dimension.text("name") == time and params is not None:
            grain = (params.text("time_granularity") or "day").lower()
            return grain if grain in ("week", "month", "quarter", "year") else None
    return None


def _model_of(project: DbtProject, plan: ImportPlan, raw: Raw, subject: str, notes: Notes) -> str | None:
    """The kpiframe model the dataset reads: a dbt model, or a generated one over a seed or table."""
    relation = raw.child("node_relation")
    if relation is not None:
        schema = relation.text("schema_name") or ""
        table = relation.text("alias") or ""
        return passthrough_model(plan, raw.path, table, schema.lstrip("$") or "raw", notes, relation)
    text = raw.text("model") or ""
    found = REF.match(text)
    if found is None:
        notes.unmapped(raw, "model", subject, f"model {text!r} is not ref('name'); not imported")
        return None
    model = found.group(1)
    if model in project.models:
        return model
    if model in project.seeds:
        return passthrough_model(plan, raw.path, model, "seeds", notes, raw)
    notes.unmapped(raw, "model", subject, f"ref('{model}') names no model or seed of the dbt project; not imported")
    return None


def _window(raw: Raw) -> dict[int, str]:
    """The semantic model's validity window: its first time dimension with `validity_params: {is_start:
    true}` and, with it, the first with `{is_end: true}`, as {id of the dimension's data: 'start' | 'end'}."""
    found: dict[str, int] = {}
    for dimension in raw.children("dimensions"):
        role = _validity_role(dimension)
        if role is not None and role not in found and (dimension.text("type") or "").lower() == "time":
            found[role] = id(dimension.data)
    return {data: role for role, data in found.items()} if "start" in found else {}


def _validity_role(dimension: Raw) -> str | None:
    """'start' or 'end' for a dimension whose validity_params says exactly one of them, else None."""
    params = dimension.child("type_params")
    validity = params.child("validity_params") if params is not None else None
    if validity is None:
        return None
    start, end = validity.get("is_start") is True, validity.get("is_end") is True
    return None if start == end else "start" if start else "end"


def _dataset(raw: Raw, name: str, model: str, notes: Notes) -> tuple[Item, str]:
    window, partition = _window(raw), _partition(raw)
    entities = [e for e in (_entity(e, name, notes, bool(window)) for e in raw.children("entities")) if e]
    primary = raw.text("primary_entity") or next((str(e["name"]) for e in entities if e["type"] == "primary"), None)
    defaults = raw.child("defaults")
    dataset: Item = {
        "name": name,
        "description": raw.text("description"),
        "model": model,
        "primary_entity": primary,
        "time": defaults.text("agg_time_dimension") if defaults else None,
        "entities": entities,
        "dimensions": [
            d for d in (_dimension(d, name, notes, partition, window) for d in raw.children("dimensions")) if d
        ],
    }
    return dataset, primary or name


def _entity(raw: Raw, model: str, notes: Notes, versioned: bool = False) -> Item | None:
    name = raw.text("name") or ""
    kind = (raw.text("type") or "").lower()
    subject = f"entity '{name}' of semantic model '{model}'"
    if kind == "natural" and versioned:  # the key of each version: one row per key at any time
        notes.changed(
            raw,
            "type",
            subject,
            "natural entity of a slowly changing dimension imported as primary: kpiframe's dataset is versioned "
            "(its validity window), one row per key in each version",
        )
        kind = "primary"
    if kind not in ENTITY_TYPES:
        notes.unmapped(raw, "type", subject, f"entity type '{kind}' has no counterpart in kpiframe; not imported")
        return None
    _dropped(raw, subject, notes, {"name", "type", "expr"})
    return ordered({"name": name, "type": kind, "expr": raw.text("expr")}, ("name", "type", "expr"))


def _dimension(
    raw: Raw, model: str, notes: Notes, partition: Raw | None = None, window: dict[int, str] | None = None
) -> Item | None:
    name = raw.text("name") or ""
    kind = (raw.text("type") or "categorical").lower()
    subject = f"dimension '{name}' of semantic model '{model}'"
    params = raw.child("type_params")
    if name.lower() == "period_start":  # kpiframe refuses it (KF113): every answer by period has that column
        notes.unmapped(
            raw,
            "name",
            subject,
            "a dimension cannot be named period_start in kpiframe (every answer by period has that column); "
            "not imported: rename it in MetricFlow (keeping its expr) and import again",
        )
        return None
    validity = (window or {}).get(id(raw.data))
    if params is not None and params.get("validity_params") is not None and validity is None:
        notes.unmapped(params, "validity_params", subject, _validity_dropped(raw, window or {}))
    if kind == "time" and params is not None:
        grain = (params.text("time_granularity") or "day").lower()
        if grain in TOO_FINE:
            notes.changed(params, "time_granularity", subject, f"{grain} granularity: kpiframe's finest is millisecond")
        elif grain != "day" and grain not in SUBDAY_GRAINS:  # sub-day: a time kpiframe truncates to any grain
            notes.changed(
                params, "time_granularity", subject, f"granularity '{grain}' not kept: query it at {grain} or coarser"
            )
    is_partition = partition is not None and raw.data is partition.data
    if raw.get("is_partition") is True and not is_partition:
        # kpiframe's partition is one time dimension per dataset (KF114, KF115): this one is not a partition
        why = "a second partition of the semantic model" if kind == "time" else "not a time dimension"
        notes.unmapped(
            raw,
            "is_partition",
            subject,
            f"'is_partition:' not imported ({why}: a kpiframe dataset has one partition, a time): a join to "
            f"'{model}' does not equate '{name}', as MetricFlow does with a partition of the same name",
        )
    _dropped(raw, subject, notes, {"name", "type", "expr", "description", "type_params", "is_partition"})
    item: Item = {"name": name, "type": "time" if kind == "time" else None}
    item |= {"expr": raw.text("expr"), "description": raw.text("description")}
    item["partition"] = True if is_partition else None
    item["validity"] = validity
    return ordered(item, ("name", "type", "expr", "description", "partition", "validity"))


def _validity_dropped(raw: Raw, window: dict[int, str]) -> str:
    """Why a dimension's validity_params is not its dataset's `validity:` (the dimension itself is kept)."""
    role = _validity_role(raw)
    if role is None:
        why = "it says neither or both of is_start and is_end"
    elif (raw.text("type") or "").lower() != "time":
        why = "not a time dimension"
    elif not window:
        why = "the semantic model has no is_start"
    else:
        why = f"a second is_{role} of the semantic model"
    return f"'validity_params:' not imported ({why}: a kpiframe validity window has one start, at most one end)"


def _names(raw: Raw) -> tuple[set[str], set[str]]:
    """The semantic model's time dimensions and its entities and other dimensions, by name."""
    dims = raw.children("dimensions")
    times = {d.text("name") or "" for d in dims if (d.text("type") or "").lower() == "time"}
    others = {e.text("name") or "" for e in raw.children("entities")} | {d.text("name") or "" for d in dims}
    return times, others - times


def _non_additive(raw: Raw, subject: str, notes: Notes, names: tuple[set[str], set[str]]) -> Item | None:
    """non_additive_dimension {name, window_choice min|max, window_groupings} as kpiframe's `non_additive:`
    {dimension, choose first|last, per}: in each period (and, with groupings, for each of their values) the
    rows at the first or last value of that time dimension."""
    params = raw.child("non_additive_dimension")
    times, groupable = names
    if params is None:
        notes.unmapped(raw, "non_additive_dimension", subject, "non_additive_dimension is not a mapping; not imported")
        return None
    dimension = params.text("name") or ""
    choice = (params.text("window_choice") or "min").lower()  # MetricFlow's default: the first
    listed = params.get("window_groupings")
    groupings = [str(g) for g in listed] if isinstance(listed, list) else [] if listed is None else [str(listed)]
    problem = None
    if dimension not in times:
        problem = ("name", f"non_additive_dimension '{dimension}' is not a time dimension of the semantic model")
    elif choice not in ("min", "max"):
        problem = ("window_choice", f"window_choice '{choice}': kpiframe keeps the first (min) or last (max)")
    elif any(g not in groupable for g in groupings):
        missing = next(g for g in groupings if g not in groupable)
        problem = ("window_groupings", f"window_groupings '{missing}' is no entity or dimension of the semantic model")
    extra = [key for key in params.key_names() if key not in ("name", "window_choice", "window_groupings")]
    if problem is None and extra:
        problem = (extra[0], f"non_additive_dimension '{extra[0]}:' has no counterpart")
    if problem is not None:
        notes.unmapped(params, problem[0], subject, f"{problem[1]}; not imported")
        return None
    item: Item = {"dimension": dimension, "choose": "last" if choice == "max" else "first", "per": groupings}
    return ordered(item, ("dimension", "choose", "per"))


def _measure(raw: Raw, model: str, notes: Notes, names: tuple[set[str], set[str]]) -> Item | None:
    name = raw.text("name") or ""
    subject = f"measure '{name}' of semantic model '{model}'"
    non_additive = None
    if raw.get("non_additive_dimension") is not None:
        non_additive = _non_additive(raw, subject, notes, names)
        if non_additive is None:
            return None
    agg = (raw.text("agg") or "").lower()
    expr = raw.text("expr")
    percentile: Item = {}
    if agg == "sum_boolean":
        agg, expr = "sum", f"CAST(({expr or name}) AS INTEGER)"
        notes.changed(raw, "agg", subject, "sum_boolean imported as sum of the value cast to an integer")
    elif agg == "percentile":
        agg, percentile = _percentile(raw, subject, notes)
    elif agg not in AGGREGATIONS:
        notes.unmapped(raw, "agg", subject, f"aggregation '{agg}' has no counterpart in kpiframe; not imported")
        return None
    if not agg:
        return None
    if raw.get("agg_params") is not None and agg not in ("median", "percentile"):
        notes.changed(raw, "agg_params", subject, f"agg_params dropped (a {agg} takes none in kpiframe)")
    handled = {"name", "agg", "expr", "description", "agg_time_dimension", "create_metric", "non_additive_dimension"}
    _dropped(raw, subject, notes, handled)
    item: Item = {"name": name, "agg": AGGREGATIONS[agg], "expr": expr, "time": raw.text("agg_time_dimension")}
    item |= {"non_additive": non_additive, "description": raw.text("description")}
    if agg == "percentile":
        item |= percentile
    keys = ("name", "agg", "percentile", "discrete", "expr", "time", "non_additive", "description")
    return ordered(item, keys)


def _percentile(raw: Raw, subject: str, notes: Notes) -> tuple[str, Item]:
    """`agg: percentile` with `agg_params`: a continuous 0.5 is a median; otherwise kpiframe's percentile
    (`discrete: true` for use_discrete_percentile); an approximate one is computed exactly."""
    params = raw.child("agg_params")
    percentile = params.get("percentile") if params else None
    if not isinstance(percentile, int | float) or isinstance(percentile, bool) or not 0 < percentile <= 1:
        notes.unmapped(raw, "agg_params", subject, "a percentile needs agg_params: {percentile: 0 to 1}; not imported")
        return "", {}
    assert params is not None
    discrete = bool(params.get("use_discrete_percentile"))
    if params.get("use_approximate_percentile"):
        notes.changed(raw, "agg_params", subject, "an approximate percentile is computed exactly in kpiframe")
    if percentile == 0.5 and not discrete:
        notes.changed(raw, "agg", subject, "a continuous 0.5 percentile imported as median")
        return "median", {}
    return "percentile", {"percentile": float(percentile), "discrete": True if discrete else None}


def _dropped(raw: Raw, subject: str, notes: Notes, handled: set[str]) -> None:
    """Report keys the import does not carry over: a label is a change, anything else not imported."""
    for key in raw.key_names():
        if key in handled or key == "agg_params":
            continue
        if key in ("label", "config", "meta"):
            notes.changed(raw, key, subject, f"'{key}:' dropped (kpiframe has none here)")
        else:
            notes.unmapped(raw, key, subject, f"'{key}:' has no counterpart in kpiframe; not imported")
