"""Datasets and metrics resolved by name: what each measure aggregates, which dimensions reach it.

Dimensions are named `<entity>__<dimension>`. A dataset reaches another dataset's dimensions only
through one of its foreign entities that is primary or unique over there: a many-to-one join, which
can never multiply the rows a measure aggregates. When both datasets declare a partition (a time dimension
with `partition: true`: a row per key and day), the join also equates the two partitions, since the key is
one row per partition there; a partitioned dataset reached through an unpartitioned one is equated with the
nearest partitioned dataset before it on the path (the metric's own, two joins back). A versioned dataset
(a validity window: time dimensions with `validity: start` and `validity: end`, a row per key and period)
is one row per key at any time: a join to it also keeps the version whose window holds the joining row's
time (kpiframe.sql.metric_scan builds that condition).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property

from sqlglot import exp

from kpiframe.errors import Problems
from kpiframe.load.loaded import Located, ProjectFiles
from kpiframe.load.specs import DatasetSpec, MetricSpec
from kpiframe.sql.expressions import ExpressionRejected, column_names, parse_expression, shared_expression
from kpiframe.suggest import did_you_mean, unknown

MAX_JOIN_DEPTH = 2


@dataclass(frozen=True)
class JoinStep:
    """LEFT JOIN `dataset` ON <from foreign key> = <dataset's primary key>, and, when both datasets declare a
    partition, AND <from partition> = <dataset's partition>; when `dataset` is versioned, AND the row's time
    falls in its validity window."""

    entity: str
    from_expr: exp.Expr
    dataset: str
    to_expr: exp.Expr
    from_partition: exp.Expr | None = None
    to_partition: exp.Expr | None = None
    to_window: Window | None = None
    # how many joins back the dataset whose partition `from_partition` is lies (0: the one joined from)
    partition_back: int = 0


@dataclass(frozen=True)
class Window:
    """The validity window of a versioned dataset: a version is valid from `start` (included) to `end`
    (excluded; NULL, or no end column: still valid)."""

    start: exp.Expr
    end: exp.Expr | None


@dataclass(frozen=True)
class Dimension:
    qualified: str
    name: str
    dataset: str
    expr: exp.Expr
    is_time: bool
    path: tuple[JoinStep, ...] = ()
    is_entity: bool = False  # an entity's key: `listing`, or through a join `listing__host`


@dataclass(frozen=True)
class NonAdditive:
    """A measure's `non_additive:`, resolved: the expressions (over the dataset's own columns) of the time
    whose last (`choose` last) or first value a period keeps, and of the entities it is chosen per."""

    at: exp.Expr
    choose: str
    per: tuple[exp.Expr, ...] = ()


@dataclass(frozen=True)
class Measure:
    name: str
    dataset: str
    agg: str
    expr: exp.Expr
    time: exp.Expr
    time_name: str
    non_additive: NonAdditive | None = None
    percentile: float | None = None  # agg percentile: which one, and whether a row's value (discrete)
    discrete: bool = False


@dataclass
class Dataset:
    spec: DatasetSpec
    model: str
    qualifier: str
    entities: dict[str, tuple[str, exp.Expr]] = field(default_factory=dict)  # name -> (type, expr)
    dimensions: dict[str, Dimension] = field(default_factory=dict)
    partition: exp.Expr | None = None  # its time dimension with `partition: true` (the first, if several)
    window: Window | None = None  # its validity window, when versioned


class SemanticLayer:
    """Resolved datasets, measures and metrics of a project (stage 3, resolve).

    What cannot be resolved (a measure without a time, an expression that does not parse) is kept in
    `problems`, for the load pipeline to report with everything else."""

    def __init__(self, files: ProjectFiles) -> None:
        self.files = files
        self.problems = Problems()
        self.datasets: dict[str, Dataset] = {}
        self.measures: dict[str, Measure] = {}
        self._dimensions: dict[str, dict[str, Dimension]] = {}  # dimensions_of, per dataset
        for located in files.datasets.values():
            self._add_dataset(located.spec, located)

    def metric(self, name: str) -> MetricSpec:
        return self.files.metrics[name].spec

    def _add_dataset(self, spec: DatasetSpec, located: Located[DatasetSpec]) -> None:
        primary = [e.name for e in spec.entities if e.type == "primary"]
        qualifier = spec.primary_entity or (primary[0] if primary else spec.name)
        dataset = Dataset(spec, spec.model, qualifier)
        for index, entity in enumerate(spec.entities):
            tree = self._parse(entity.expr or entity.name, located, ("entities", index, "expr"))
            dataset.entities[entity.name] = (entity.type, tree)
        for index, dim in enumerate(spec.dimensions):
            tree = self._parse(dim.expr or dim.name, located, ("dimensions", index, "expr"))
            dataset.dimensions[dim.name] = Dimension(
                f"{qualifier}__{dim.name}", dim.name, spec.name, tree, dim.type == "time"
            )
        partition = spec.partition_dimension
        dataset.partition = dataset.dimensions[partition.name].expr if partition else None
        window = spec.validity_window
        if window is not None:
            start, end = window
            ends = dataset.dimensions[end.name].expr if end else None
            dataset.window = Window(dataset.dimensions[start.name].expr, ends)
        self.datasets[spec.name] = dataset
        for index, measure in enumerate(spec.measures):
            self._add_measure(dataset, measure.name, index, located)

    def _add_measure(self, dataset: Dataset, name: str, index: int, located: Located[DatasetSpec]) -> None:
        spec = dataset.spec.measures[index]
        if name in self.measures:
            self.problems.error(
                "KF021",
                f"duplicate measure name '{name}'",
                located.at("measures", index),
                hint=f"also in dataset '{self.measures[name].dataset}'",
            )
            return
        time_name = spec.time or dataset.spec.time
        if time_name is None:
            self.problems.error(
                "KF110",
                f"measure '{name}' has no time column",
                located.at("measures", index),
                hint="set time: on the measure or on the dataset",
            )
            return
        dim = dataset.dimensions.get(time_name)
        time_expr = dim.expr if dim else self._parse(time_name, located, ("measures", index, "time"))
        expr = self._parse(spec.expr or name, located, ("measures", index, "expr"))
        non_additive = self._non_additive(dataset, index, time_name, time_expr, located)
        if (spec.agg == "percentile") != (spec.percentile is not None):
            self.problems.error(
                "KF118",
                f"measure '{name}': agg: percentile and percentile: go together",
                located.at("measures", index, "percentile" if spec.percentile is not None else "agg"),
                hint="agg: percentile with percentile: 0.9 (the 90th); for the middle value, agg: median",
            )
            return
        self.measures[name] = Measure(
            name, dataset.spec.name, spec.agg, expr, time_expr, time_name, non_additive, spec.percentile, spec.discrete
        )

    def _non_additive(
        self, dataset: Dataset, index: int, time_name: str, time_expr: exp.Expr, located: Located[DatasetSpec]
    ) -> NonAdditive | None:
        """The measure's `non_additive:`: its `dimension` a time dimension of the dataset (or the measure's own
        time column), each of `per` an entity or a dimension of the dataset (KF111, KF112 otherwise)."""
        spec = dataset.spec.measures[index].non_additive
        if spec is None:
            return None
        key = ("measures", index, "non_additive")
        name = spec.dimension or time_name
        times = [d.name for d in dataset.dimensions.values() if d.is_time]
        dim = dataset.dimensions.get(name)
        at = dim.expr if dim is not None and dim.is_time else time_expr if name == time_name else None
        if at is None:
            kind = "a categorical dimension" if dim is not None else "not a dimension"
            choices = ", ".join(times) or "none declared: add one with type: time"
            hint = f"name a time dimension ({choices}) or leave dimension out to use the measure's time '{time_name}'"
            close = did_you_mean(name, times)
            self.problems.error(
                "KF111",
                f"non_additive dimension '{name}' is {kind} of dataset '{dataset.spec.name}': it must be a "
                "time, whose last (or first) value each period keeps the rows of",
                located.at(*key, "dimension"),
                hint=f"{close} Or {hint}" if close else hint,
            )
            return None
        per: list[exp.Expr] = []
        for position, entity in enumerate(spec.per):
            if entity in dataset.entities:
                per.append(dataset.entities[entity][1])
            elif entity in dataset.dimensions:
                per.append(dataset.dimensions[entity].expr)
            else:
                known = [*dataset.entities, *dataset.dimensions]
                self.problems.error(
                    "KF112",
                    f"non_additive per: '{entity}' is neither an entity nor a dimension of dataset "
                    f"'{dataset.spec.name}'",
                    located.at(*key, "per", position),
                    hint=did_you_mean(entity, known)
                    or f"'{dataset.spec.name}' has {', '.join(known) or 'no entity or dimension'}",
                )
        return NonAdditive(at, spec.choose, tuple(per))

    def _parse(self, text: str, located: Located[DatasetSpec], key: tuple[str | int, ...]) -> exp.Expr:
        try:
            return parse_expression(text)
        except ExpressionRejected as exc:  # unclosed quotes included: reported at the YAML value
            self.problems.error("KF120", f"{key[-1]}: {exc}", located.at(*key))
            return exp.Null()

    @cached_property
    def _datasets_by_key_entity(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for name, dataset in self.datasets.items():
            for entity, (kind, _) in dataset.entities.items():
                if kind in ("primary", "unique"):
                    found.setdefault(entity, []).append(name)
        return found

    def dimensions_of(self, dataset_name: str) -> dict[str, Dimension]:
        """Every dimension a row of `dataset_name` can be grouped by, keyed by qualified name (computed once
        per dataset: every scan, filter check and listing asks; the caller reads it, never changes it)."""
        found = self._dimensions.get(dataset_name)
        if found is None:
            found = self._dimensions[dataset_name] = self._reachable(dataset_name, (), dataset_name)
        return found

    def _reachable(self, dataset_name: str, path: tuple[JoinStep, ...], origin: str) -> dict[str, Dimension]:
        dataset = self.datasets[dataset_name]
        result = {
            d.qualified: Dimension(d.qualified, d.name, d.dataset, d.expr, d.is_time, path)
            for d in dataset.dimensions.values()
        }
        for entity, (_, key) in dataset.entities.items():
            # an entity groups by its key, named by its path of joins (MetricFlow's `listing`, `listing__host`)
            qualified = "__".join((*(step.entity for step in path), entity))
            if entity != (path[-1].entity if path else None):
                result.setdefault(qualified, Dimension(qualified, entity, dataset_name, key, False, path, True))
        if len(path) >= MAX_JOIN_DEPTH:
            return result
        for entity, (kind, from_expr) in dataset.entities.items():
            for target in self._datasets_by_key_entity.get(entity, []):
                if kind != "foreign" and (target in (origin, *(s.dataset for s in path)) or _came_by(path, entity)):
                    continue  # a foreign key joins many-to-one; a primary or unique one one-to-one, once, and
                    # not by the key just joined on (the dataset it reaches is reached directly)
                to_expr = self.datasets[target].entities[entity][1]
                back, upstream = self._partition_upstream(origin, path)
                partitions = (upstream, self.datasets[target].partition)
                if partitions[0] is None or partitions[1] is None:  # no partition on one side: the key alone
                    partitions = (None, None)
                window = self.datasets[target].window
                step = JoinStep(entity, from_expr, target, to_expr, *partitions, window, back)
                for qualified, dim in self._reachable(target, (*path, step), origin).items():
                    # the fewest joins win: `user__state` of a view with its own `user` key is its viewer's
                    # state, not (through its listing's `user`) its host's; a tie keeps the first declared
                    if qualified not in result or len(dim.path) < len(result[qualified].path):
                        result[qualified] = dim
        return result

    def _partition_upstream(self, origin: str, path: tuple[JoinStep, ...]) -> tuple[int, exp.Expr | None]:
        """The partition of the nearest partitioned dataset of the path so far (the last one joined, else one
        before it) and how many joins back it lies: a partitioned dataset reached through an unpartitioned
        one (bookings -> listings -> users by day) is equated with the bookings' day, not joined on every
        day of the user (MetricFlow's rule too)."""
        datasets = [origin, *(step.dataset for step in path)]
        for back, name in enumerate(reversed(datasets)):
            if self.datasets[name].partition is not None:
                return back, self.datasets[name].partition
        return 0, None

    def named(self, dataset_name: str, name: str) -> list[Dimension]:
        """The dimensions a short name (`channel`) can mean from `dataset_name`: its own before joined ones,
        a dimension's before an entity's key."""
        named = [d for d in self.dimensions_of(dataset_name).values() if d.name == name]
        named = [d for d in named if not d.is_entity] or named
        return [d for d in named if not d.path] or named

    def why_unreachable(self, dataset_name: str, qualified: str) -> str:
        """Explain why a dimension cannot group a dataset: unknown, or only through a fan-out join."""
        owners = [d for d in self.datasets.values() if any(dim.qualified == qualified for dim in d.dimensions.values())]
        if not owners:
            every = {q for ds in self.datasets for q in self.dimensions_of(ds)}
            message, hint = unknown("dimension", qualified, every)
            return message + (f"; {hint}" if hint else "")
        owner = owners[0]
        here = self.datasets[dataset_name]
        shared = set(here.entities) & set(owner.entities)
        if shared and any(owner.entities[e][0] == "foreign" for e in shared):
            return (
                f"dimension '{qualified}' belongs to dataset '{owner.spec.name}', which has many rows per "
                f"'{sorted(shared)[0]}': joining it to '{dataset_name}' would multiply rows and inflate "
                "the numbers, so kpiframe refuses it"
            )
        return (
            f"dimension '{qualified}' (dataset '{owner.spec.name}') does not apply to dataset "
            f"'{dataset_name}': no many-to-one entity join connects them"
        )


def _came_by(path: tuple[JoinStep, ...], entity: str) -> bool:
    return bool(path) and path[-1].entity == entity


def metric_inputs(spec: MetricSpec) -> list[str]:
    """The metrics a metric is computed from, in the order they appear."""
    if spec.type == "ratio":
        return [spec.numerator or "", spec.denominator or ""]
    if spec.type == "cumulative":
        return [spec.metric or ""]
    if spec.type == "derived":
        aliases = {i.alias or i.metric: i.metric for i in spec.inputs}
        try:
            names = column_names(parse_expression(spec.expr or ""))
        except ExpressionRejected:
            return list(aliases.values())
        return list(dict.fromkeys(aliases.get(n, n) for n in names))
    return []


def filter_reads(spec: MetricSpec, metric_names: Collection[str]) -> list[str]:
    """The metrics a metric's filters read per entity (`customer__revenue > 100`, kpiframe.sql.metric_filters):
    it depends on them as on its inputs, though it scans none of their rows."""
    found: list[str] = []
    for text in (spec.filter, spec.base_filter, spec.conversion_filter):
        try:
            names = column_names(shared_expression(text)) if text else []
        except ExpressionRejected:
            continue  # reported where the filter is checked
        found += [split[1] for n in names if (split := metric_per_entity(n, metric_names))]
    return list(dict.fromkeys(found))


def metric_per_entity(name: str, metric_names: Collection[str]) -> tuple[str, str] | None:
    """`listing__bookings` as (group-by, metric): ('listing', 'bookings') when its last part is a metric."""
    group_by, separator, metric = name.rpartition("__")
    if not separator or not group_by or metric not in metric_names:
        return None
    return group_by, metric


def reached_metrics(layer: SemanticLayer, metrics: Iterable[str]) -> Iterator[MetricSpec]:
    """Each metric the metrics read, themselves included, once: through ratios, derivations, windows and
    offsets (the one walk over metric inputs; a name the project lacks is skipped, reported at load)."""
    seen: set[str] = set()
    pending = list(metrics)
    while pending:
        name = pending.pop()
        if name in seen or name not in layer.files.metrics:
            continue
        seen.add(name)
        spec = layer.metric(name)
        yield spec
        pending += metric_inputs(spec)


def reached_measures(layer: SemanticLayer, metrics: Iterable[str]) -> Iterator[tuple[MetricSpec, Measure]]:
    """Each simple (or conversion) metric the metrics read, through ratios, derivations, windows and offsets, with its
    measure: the walk that tells which datasets, measures and filters a request scans."""
    for spec in reached_metrics(layer, metrics):
        names = [spec.measure] if spec.type == "simple" else []
        if spec.type == "conversion":  # the base measure first: its dataset's dimensions group the metric
            names = [spec.base_measure, spec.conversion_measure]
        for measure_name in names:
            measure = layer.measures.get(measure_name or "")
            if measure is not None:
                yield spec, measure


def metric_datasets(layer: SemanticLayer, metrics: Iterable[str]) -> set[str]:
    """The datasets whose measures the metrics aggregate, through ratios, derivations and windows."""
    return {measure.dataset for _, measure in reached_measures(layer, metrics)}
