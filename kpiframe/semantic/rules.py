"""Stage 4, validate: rules over the resolved project, each returning the problems it finds.

A rule reads and never changes what it checks; the pipeline runs them all and reports every problem
at once, with its file and line. KPI trees, targets and benchmarks are checked by `kpiframe.kpi`'s
own rules in the same stage (see kpiframe.pipeline).
"""

from __future__ import annotations

from collections.abc import Callable

from kpiframe.errors import Problems
from kpiframe.load.config import project_document
from kpiframe.load.dag import dependency_order
from kpiframe.load.loaded import Located, ProjectFiles
from kpiframe.load.specs import DatasetSpec, MetricSpec
from kpiframe.semantic.layer import SemanticLayer, filter_reads, metric_inputs
from kpiframe.sql.conversion import event_column
from kpiframe.sql.expressions import ExpressionRejected, column_names, parse_expression
from kpiframe.sql.time_spine import PERIOD
from kpiframe.suggest import unknown

Rule = Callable[[ProjectFiles, SemanticLayer], Problems]


def datasets_read_known_models(files: ProjectFiles, layer: SemanticLayer) -> Problems:
    found = Problems()
    for located in files.datasets.values():
        model = located.spec.model
        if model not in files.models:
            message, hint = unknown("model", model, files.models)
            found.error("KF104", message, located.at("model"), hint)
    return found


def dimensions_are_not_named_period_start(files: ProjectFiles, layer: SemanticLayer) -> Problems:
    """Every answer by period starts with its column period_start: a dimension of that name (billing and
    subscription exports have one) would be a second column of the same name, its values lost (KF113)."""
    found = Problems()
    for located in files.datasets.values():
        for index, dim in enumerate(located.spec.dimensions):
            if dim.name.lower() == PERIOD:
                found.error(
                    "KF113",
                    f"dimension '{dim.name}' of dataset '{located.spec.name}': every answer by period has a "
                    f"column {PERIOD}, which a dimension cannot be named",
                    located.at("dimensions", index, "name"),
                    hint=f"rename it, keeping its column: {{name: {located.spec.name}_{PERIOD}, "
                    f"expr: {dim.expr or dim.name}}}",
                )
    return found


def partitions_are_times(files: ProjectFiles, layer: SemanticLayer) -> Problems:
    """`partition: true` marks the one time dimension a dataset's rows are partitioned by (a row per key and
    day), which a join to another partitioned dataset equates: on a categorical dimension (KF114), or on a
    second dimension of the dataset (KF115), it is refused rather than joined on in a way no one meant."""
    found = Problems()
    for located in files.datasets.values():
        spec = located.spec
        first: str | None = None
        for index, dim in enumerate(spec.dimensions):
            if not dim.partition:
                continue
            if dim.type != "time":
                found.error(
                    "KF114",
                    f"dimension '{dim.name}' of dataset '{spec.name}' is a partition but not a time: a "
                    "partition is the day (or other time) the dataset's rows are partitioned by",
                    located.at("dimensions", index, "partition"),
                    hint=f"add type: time to '{dim.name}' if it is one, or remove partition: true",
                )
            elif first is not None:
                found.error(
                    "KF115",
                    f"dataset '{spec.name}' declares a second partition, '{dim.name}' (the first is "
                    f"'{first}'): a dataset has one partition, which joins to other partitioned datasets equate",
                    located.at("dimensions", index, "partition"),
                    hint=f"keep partition: true on one time dimension of '{spec.name}'",
                )
            else:
                first = dim.name
    return found


def validity_windows_are_times(files: ProjectFiles, layer: SemanticLayer) -> Problems:
    """A versioned dataset's window is one time dimension with `validity: start` and at most one with
    `validity: end`: on a categorical dimension (KF116), a second start or end, or an end without a start
    (KF117), it is refused rather than joined on a window no one meant."""
    found = Problems()
    for located in files.datasets.values():
        found += _window_problems(located)
    return found


def _window_problems(located: Located[DatasetSpec]) -> Problems:
    found = Problems()
    spec = located.spec
    seen: dict[str, int] = {}  # 'start' / 'end' -> the index of its first time dimension
    for index, dim in enumerate(spec.dimensions):
        if dim.validity is None:
            continue
        where = located.at("dimensions", index, "validity")
        if dim.type != "time":
            found.error(
                "KF116",
                f"dimension '{dim.name}' of dataset '{spec.name}' is the {dim.validity} of a validity window but "
                "not a time: a version is valid from one time to another",
                where,
                hint=f"add type: time to '{dim.name}' if it is one, or remove validity: {dim.validity}",
            )
        elif dim.validity in seen:
            first = spec.dimensions[seen[dim.validity]].name
            found.error(
                "KF117",
                f"dataset '{spec.name}' declares a second validity {dim.validity}, '{dim.name}' (the first is "
                f"'{first}'): a validity window has one start and at most one end",
                where,
                hint=f"keep validity: {dim.validity} on one time dimension of '{spec.name}'",
            )
        else:
            seen[dim.validity] = index
    if "end" in seen and "start" not in seen:
        found.error(
            "KF117",
            f"dataset '{spec.name}' declares a validity end, '{spec.dimensions[seen['end']].name}', without a "
            "start: a validity window has one start and at most one end",
            located.at("dimensions", seen["end"], "validity"),
            hint="mark the time dimension the versions are valid from with validity: start",
        )
    return found


def metrics_are_well_formed(files: ProjectFiles, layer: SemanticLayer) -> Problems:
    """Measures, inputs and expressions of each metric exist and parse; filters only on simple metrics."""
    found = Problems()
    for located in files.metrics.values():
        spec = located.spec
        if spec.filter is not None and spec.type != "simple":
            found.error(
                "KF202",
                f"a {spec.type} metric cannot take a filter: it would be ignored",
                located.at("filter"),
                hint="a conversion metric filters its events with base_filter: and conversion_filter:"
                if spec.type == "conversion"
                else "put the filter on the simple metrics it is computed from",
            )
        if spec.type == "simple" and spec.measure not in layer.measures:
            message, hint = unknown("measure", spec.measure or "", layer.measures)
            found.error("KF201", message, located.at("measure"), hint)
        found += _unknown_inputs(files, located)
        found += _expressions(files, located)
        if spec.type == "conversion":
            found += _conversion_parts(layer, located)
        found += _over_non_additive(files, layer, located)
    return found


def _over_non_additive(files: ProjectFiles, layer: SemanticLayer, located: Located[MetricSpec]) -> Problems:
    """A measure with `non_additive:` answers one value per period (its last or first time's rows): a running
    sum of those, or a conversion pairing its rows one by one, would add what must not be added (KF204)."""
    found = Problems()
    spec = located.spec
    if spec.type == "cumulative" and (spec.metric or "") in files.metrics:
        base = files.metrics[spec.metric or ""].spec
        named = [("metric", base.measure if base.type == "simple" else None)]
        does = f"accumulates '{spec.metric}', whose measure"
    elif spec.type == "conversion":
        named = [("base_measure", spec.base_measure), ("conversion_measure", spec.conversion_measure)]
        does = "pairs the rows of measure"
    else:
        return found
    for key, measure_name in named:
        measure = layer.measures.get(measure_name or "")
        if measure is not None and measure.non_additive is not None:
            found.error(
                "KF204",
                f"{spec.type} metric '{spec.name}' {does} '{measure.name}' is non_additive: it answers one value "
                "per period (its last or first time's), which cannot be added up across periods or paired row by row",
                located.at(key),
                hint=f"query a simple metric over '{measure.name}' at the grain you need: each period answers its "
                "own last (or first) value",
            )
    return found
    for key, measure_name in named:
        measure = layer.measures.get(measure_name or "")
        if measure is not None and measure.non_additive is not None:
            found.error(
                "KF204",
                f"a {spec.type} metric cannot read measure '{measure.name}': it is non_additive (one value per "
                "period, its last or first time's), so it cannot be accumulated or paired row by row",
                located.at(key),
                hint=f"query the simple metric over '{measure.name}' at the grain you need: each period already "
                "answers its own last (or first) value",
            )
    return found


def _conversion_parts(layer: SemanticLayer, located: Located[MetricSpec]) -> Problems:
    """A conversion metric's measures exist, and its entity and constant properties are on their datasets."""
    found = Problems()
    spec = located.spec
    datasets: dict[str, str] = {}
    for measure_key in ("base_measure", "conversion_measure"):
        measure = getattr(spec, measure_key) or ""
        if measure not in layer.measures:
            message, hint = unknown("measure", measure, layer.measures)
            found.error("KF201", message, located.at(measure_key), hint)
        else:
            datasets[measure_key] = layer.measures[measure].dataset
    if len(datasets) < 2:
        return found
    base, conversion = datasets["base_measure"], datasets["conversion_measure"]
    named: list[tuple[tuple[str | int, ...], str, str]] = [
        (("entity",), base, spec.entity or ""),
        (("entity",), conversion, spec.entity or ""),
    ]
    for index, pair in enumerate(spec.constant_properties):
        named.append((("constant_properties", index, "base_property"), base, pair.base_property))
        named.append((("constant_properties", index, "conversion_property"), conversion, pair.conversion_property))
    for key, dataset, name in named:
        if event_column(layer, dataset, name) is None:
            known = [*layer.datasets[dataset].entities, *layer.datasets[dataset].dimensions]
            found.error(
                "KF203",
                f"'{name}' is neither an entity nor a dimension of dataset '{dataset}'",
                located.at(*key),
                hint=f"{dataset} has {', '.join(known) or 'none'}",
            )
    return found


def _unknown_inputs(files: ProjectFiles, located: Located[MetricSpec]) -> Problems:
    found = Problems()
    spec = located.spec
    named = [("numerator", spec.numerator), ("denominator", spec.denominator), ("metric", spec.metric)]
    for field_name, value in named:
        if value is not None and value not in files.metrics:
            message, hint = unknown("metric", value, files.metrics)
            found.error("KF104", message, located.at(field_name), hint)
    for index, item in enumerate(spec.inputs):
        if item.metric not in files.metrics:
            message, hint = unknown("metric", item.metric, files.metrics)
            found.error("KF104", message, located.at("inputs", index, "metric"), hint)
    return found


def _expressions(files: ProjectFiles, located: Located[MetricSpec]) -> Problems:
    found = Problems()
    spec = located.spec
    keys = [("filter", spec.filter), ("expr", spec.expr)]
    keys += [("base_filter", spec.base_filter), ("conversion_filter", spec.conversion_filter)]
    for key, text in keys:
        if text is None:
            continue
        try:
            tree = parse_expression(text)
        except ExpressionRejected as exc:
            found.error("KF120", f"{key}: {exc}", located.at(key))
            continue
        if spec.type == "derived" and key == "expr":
            aliases = {i.alias or i.metric for i in spec.inputs}
            for name in column_names(tree):
                if name not in aliases and name not in files.metrics:
                    message, hint = unknown("metric", name, files.metrics)
                    found.error("KF104", message, located.at("expr"), hint)
    return found


def metrics_have_no_cycle(files: ProjectFiles, layer: SemanticLayer) -> Problems:
    found = Problems()
    inputs = {
        name: [*metric_inputs(located.spec), *filter_reads(located.spec, files.metrics)]
        for name, located in files.metrics.items()
    }
    _, cycle = dependency_order(inputs)
    if cycle:
        found.error("KF107", f"metric cycle: {' -> '.join(cycle)}", files.metrics[cycle[0]].location)
    return found


def time_spine_is_set_where_joined(files: ProjectFiles, layer: SemanticLayer) -> Problems:
    """`join_to_timespine: true` answers every period of kpi_project.yml's `calendar: time_spine:`; without
    one it would change nothing (the periods from the first to the last with data), so say so (KF205)."""
    found = Problems()
    spine = files.config.calendar.time_spine
    if spine is not None and spine.start is not None:
        return found
    for located in files.metrics.values():
        if located.spec.join_to_timespine:
            found.warn(
                "KF205",
                f"metric '{located.spec.name}' has join_to_timespine: true, but kpi_project.yml sets no "
                "calendar: time_spine: {start, end}: it answers the periods from the first to the last with data",
                located.at("join_to_timespine"),
                hint="add calendar: {time_spine: {start: 2000-01-01, end: 2030-12-31}} to kpi_project.yml, the "
                "first and last day of your time spine",
            )
    return found


def time_spine_model_is_a_model(files: ProjectFiles, layer: SemanticLayer) -> Problems:
    """`calendar: time_spine: model:` is the model custom grains read (kpiframe.sql.custom_grains): it must
    be a model of the project (KF206), found when the query joins it otherwise."""
    found = Problems()
    spine = files.config.calendar.time_spine
    if spine is None or spine.model is None or spine.model in files.models:
        return found
    message, hint = unknown("model", spine.model, files.models)
    found.error(
        "KF206",
        f"calendar: time_spine: {message}: custom grains are columns of that model",
        project_document(files.root).locate(("calendar", "time_spine", "model")),
        hint,
    )
    return found


RULES: tuple[Rule, ...] = (
    datasets_read_known_models,
    dimensions_are_not_named_period_start,
    partitions_are_times,
    validity_windows_are_times,
    metrics_are_well_formed,
    metrics_have_no_cycle,
    time_spine_is_set_where_joined,
    time_spine_model_is_a_model,
)


def check_rules(files: ProjectFiles, layer: SemanticLayer, rules: tuple[Rule, ...] = RULES) -> Problems:
    found = Problems()
    for rule in rules:
        found += rule(files, layer)
    return found
