"""MetricFlow's request syntax, translated where a metric request is built (Project.request).

So that a saved `mf query` works unchanged, a request may name what MetricFlow names:
- `--metrics a,b`: metric names separated by commas;
- group-by names `metric_time__extract_dow`, `booking__ds__extract_month` (MetricFlow's date_part): the
  part of the day across all periods, a column of its own (kpiframe.sql.date_parts), at grain `all`
  unless a grain is asked too;
- group-by names `metric_time`, `metric_time__month`: the grain (the period column, period_start); no
  time at all: MetricFlow's totals over all time, kpiframe's grain `all`, when the caller passes
  `without_time=ALL_TIME` (kpiframe's own default is a monthly series);
  `booking__ds__month` where `booking__ds` is the metrics' own time: the same; `listing__user__country`
  (a path of entities): the dimension `user__country`, since kpiframe's joins need no path;
- two grains (`metric_time__week` and `metric_time__quarter`): the finer is the period, the coarser a
  column `metric_time__quarter` labelling each row by the quarter of its days (kpiframe.sql.time_grains);
- `--where` with `{{ Dimension('lead__channel') }}`, `{{ TimeDimension('metric_time', 'day') }}`,
  `{{ TimeDimension('metric_time', date_part_name='month') }}` (the date part `metric_time__extract_month`)
  and `{{ Entity('lead') }}`, translated by the importer's filter translation (metricflow_filters).

No metric (`mf query --group-by listing__country`): a query of the dimensions' values, whose names are
looked up among every dataset's dimensions; `metric_time` there has no metric to take its time from, and
is the periods of kpi_project.yml's `calendar: time_spine:` when the project sets one (else KF415).

kpiframe's own names pass through untouched: a name is translated only when it is not already a
dimension of the metrics asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kpiframe.errors import QueryError
from kpiframe.imports.metricflow_filters import (
    GRAINS,
    TOO_FINE,
    Untranslatable,
    has_template,
    translate_filter,
)
from kpiframe.semantic.layer import Dimension, Measure, SemanticLayer, metric_datasets, reached_metrics
from kpiframe.sql.calendar import ALL_TIME
from kpiframe.sql.custom_grains import custom_grains, refuse, split_custom_grain
from kpiframe.sql.date_parts import (
    METRIC_TIME,
    date_part_name,
    grain_name,
    is_date_part,
    require_part,
    require_time,
    split_date_part,
)
from kpiframe.sql.time_grains import label_name, time_grain_columns
from kpiframe.suggest import unknown

TIME_GRAINS = (*GRAINS, "fiscal_quarter", "fiscal_year")  # MetricFlow's grains and kpiframe's own
FINENESS = {"day": 0, "week": 1, "month": 2, "quarter": 3, "fiscal_quarter": 3, "year": 4, "fiscal_year": 4}
FINENESS.update({"hour": -1, "minute": -2, "second": -3, "millisecond": -4})


@dataclass(frozen=True)
class Translated:
    metrics: tuple[str, ...]
    dimensions: tuple[str, ...]
    grain: str
    where: str | None


def translate_request(
    layer: SemanticLayer,
    metrics: Iterable[str],
    dimensions: Iterable[str],
    grain: str | None,
    where: str | None,
    *,
    without_time: str | None = None,
) -> Translated:
    """The request in kpiframe's terms; `grain` None means: the group-by's grain, else `without_time`,
    else the metrics' default grain (their `grain:`, when every one declares the same), else month.

    `without_time` is the grain of a request that names no time at all: MetricFlow answers such a
    request over all time (no metric_time column), which is kpiframe's grain `all` (ALL_TIME); kpiframe's
    own default, for a time series, stays the metrics' grain or month unless a caller asks for that."""
    names = tuple(_split_commas(metrics))
    if any(name not in layer.files.metrics for name in names):  # the query reports the unknown metric first
        return Translated(names, tuple(_split_commas(dimensions)), grain or "month", where)
    scope = _Scope(layer, names)
    kept: list[str] = []
    grains: dict[str, str] = {}  # grain -> the name that asked for it
    if grain is not None:
        grains[grain] = f"--grain {grain}"
    for name in _split_commas(dimensions):
        found = scope.group_by(name)
        if isinstance(found, _Grain):
            grains.setdefault(found.grain, name)
        else:
            kept.append(found)
    if len(grains) > 1:  # the finest is the period, the others label each row (kpiframe.sql.time_grains);
        # over all time (--grain all) each is a label
        finest = ALL_TIME if ALL_TIME in grains else min(grains, key=FINENESS.__getitem__)
        kept += [label_name(grain) for grain in grains if grain != finest]
        grains = {finest: grains[finest]}
    if not names:  # a query of dimension values: no metric time, so no period unless one is asked (KF415)
        return Translated(names, tuple(dict.fromkeys(kept)), next(iter(grains), ALL_TIME), scope.where(where))
    custom = custom_grains(layer.files.config)
    periods = time_grain_columns(layer, names, kept)
    if any(is_date_part(name) or split_custom_grain(name, custom) or name in periods for name in kept) and not grains:
        # the part (or custom grain) replaces the period
        return Translated(names, tuple(dict.fromkeys(kept)), ALL_TIME, scope.where(where))
    chosen = next(iter(grains), without_time or default_grain(layer, names))
    return Translated(names, tuple(dict.fromkeys(kept)), chosen, scope.where(where))


def default_grain(layer: SemanticLayer, metrics: Sequence[str]) -> str:
    """The grain of a request that names none: the metrics' `grain:` when they all declare the same."""
    declared = {layer.metric(name).grain for name in metrics}
    only = declared.pop() if len(declared) == 1 else None
    return only or "month"


def _split_commas(values: Iterable[str]) -> list[str]:
    """`a,b` as `a`, `b` (MetricFlow's `--metrics a,b`, `--group-by a,b`)."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


@dataclass(frozen=True)
class _Grain:
    grain: str


class _Scope:
    """What the metrics asked for can be grouped and filtered by."""

    def __init__(self, layer: SemanticLayer, metrics: Sequence[str]) -> None:
        self.layer = layer
        self.metrics = metrics
        # no metric (a query of dimension values): every dataset's dimensions
        self.datasets = sorted(metric_datasets(layer, metrics) if metrics else layer.datasets)
        self.dimensions: dict[str, Dimension] = {}
        for dataset in self.datasets:
            for qualified, dim in layer.dimensions_of(dataset).items():
                self.dimensions.setdefault(qualified, dim)
        self.short_names = {dim.name for dim in self.dimensions.values()}

    def group_by(self, name: str) -> str | _Grain:
        """A kpiframe dimension name, or the grain a time group-by asks for."""
        if name in self.dimensions or name in self.short_names:
            return name  # kpiframe's own name (or one MetricFlow shares)
        parts = name.split("__")
        spine = self.layer.files.config.calendar.time_spine
        if parts[0] == METRIC_TIME and not self.metrics and (spine is None or spine.start is None):
            raise QueryError(  # with a time spine, its periods (kpiframe.sql.metric_query)
                f"'{name}' without a metric: metric_time is the time of the metrics asked for",
                code="KF415",
                hint="add --metric NAME, group by a time dimension of a dataset, or set calendar: time_spine: "
                "{start, end} in kpi_project.yml to list its periods",
            )
        custom = split_custom_grain(name, custom_grains(self.layer.files.config))
        if custom is not None:
            return self._custom_grain(name, *custom)
        if split_date_part(name) is not None:
            return self._date_part(name)
        if parts[0] == METRIC_TIME and len(parts) <= 2:
            return _Grain(self._grain(parts[1], name) if len(parts) == 2 else self.metric_time_grain())
        if len(parts) >= 3 and parts[-1].lower() in (*TIME_GRAINS, *TOO_FINE):
            return self._time_dimension("__".join(parts[-3:-1]), self._grain(parts[-1], name), name)
        return self._entity_path(parts) or name  # else left to the query, which names what is unknown

    def _entity_path(self, parts: list[str]) -> str | None:
        """A MetricFlow name by its path of entities: `user__company_name` is company_name reached through
        the entity user, `account_id__customer_id__customer_name` through two joins; kpiframe names a
        dimension by its dataset's primary entity (company__company_name) and needs no path."""
        *path, last = parts
        through = [d.qualified for d in self.dimensions.values() if d.name == last and self._reached(d, path)]
        if len(set(through)) == 1:
            return through[0]
        if len(parts) > 2 and "__".join(parts[-2:]) in self.dimensions:
            return "__".join(parts[-2:])  # the last entity's dimension, however it is reached
        return None

    def _reached(self, dim: Dimension, path: list[str]) -> bool:
        """Whether MetricFlow's path of entities names `dim`: the entities of its joins, or for an entity of
        the dataset itself its dataset's own primary entity (`view__listing`: listing of the views)."""
        if dim.is_entity:
            return not dim.path and path == [self.layer.datasets[dim.dataset].qualifier]
        return [step.entity for step in dim.path] == path

    def _custom_grain(self, name: str, base: str, grain: str) -> str:
        """`metric_time__alien_day`, `listing__ds__alien_day` (a custom grain of a time dimension, reached
        through a path of entities or not): the group-by as kpiframe names it (kpiframe.sql.custom_grains)."""
        if base == METRIC_TIME:
            if not self.metrics:
                raise refuse(
                    name,
                    "without a metric, kpiframe does not list the time spine's custom grain values",
                    "add --metric NAME, or group by a custom grain of a dataset's time dimension",
                )
            return name
        dim = self._base_dimension(base)
        if dim is None:
            return name  # left to the query, which names what is unknown and suggests
        if not dim.is_time:
            raise refuse(name, f"'{base}' is not a time dimension", f"ask for the custom grain of a time: {grain}")
        return grain_name(dim.qualified, grain)

    def _base_dimension(self, base: str) -> Dimension | None:
        """The dimension a custom grain or a date part is of: `booking__ds`, `listing__booking__ds` (a path of
        entities: kpiframe's joins need none) or the short `ds` of the metrics' own datasets."""
        qualified = base if base in self.dimensions else "__".join(base.split("__")[-2:])
        return self.dimensions.get(qualified) or next(
            (d for d in self.dimensions.values() if d.name == base and not d.path), None
        )

    def _date_part(self, name: str) -> str:
        """`metric_time__extract_dow`, `booking__ds__extract_month` (a time dimension's part): the group-by,
        its time named as kpiframe names it (kpiframe.sql.date_parts)."""
        base, part = require_part(name)
        if base == METRIC_TIME:
            return date_part_name(METRIC_TIME, part)
        if not self.metrics:
            raise QueryError(
                f"'{name}' without a metric: a date part groups the rows of the metrics asked for",
                code="KF428",
                hint="add --metric NAME, or group by the time dimension itself",
            )
        dim = self._base_dimension(base)
        if dim is None:
            return name  # left to the query, which names what is unknown and suggests
        require_time(name, dim.is_time)  # here, before the query compiles
        return date_part_name(dim.qualified, part)

    def metric_time_grain(self) -> str:
        """MetricFlow's `metric_time` without a grain: the metrics' default grain (their `grain:`), day for a
        metric without one (its time dimension's own grain); when they differ, the coarsest, the finest
        grain every metric's data has (a monthly metric has no days to answer by)."""
        grains = [self.layer.metric(name).grain or "day" for name in self.metrics]
        return max(grains, key=lambda grain: FINENESS.get(grain, 0), default="day")  # no metric: the spine's days

    def _grain(self, grain: str, asked: str) -> str:
        grain = grain.lower()
        if grain in TOO_FINE:
            raise QueryError(
                f"'{asked}': grain '{grain}' is finer than a millisecond",
                code="KF413",
                hint="kpiframe's finest grain is millisecond: metric_time__millisecond",
            )
        if grain not in TIME_GRAINS:
            raise QueryError(
                f"'{asked}': unknown grain '{grain}'", code="KF402", hint=f"use one of {', '.join(TIME_GRAINS)}"
            )
        return grain

    def _time_dimension(self, qualified: str, grain: str, asked: str) -> _Grain | str:
        """`booking__ds__month` is the period at month when booking__ds is the metrics' time; of another
        time dimension (`listing__ds__month`), the column of each row's period (kpiframe.sql.time_grains)."""
        if qualified == self.metric_time():
            return _Grain(grain)
        if qualified in self.dimensions and self.dimensions[qualified].is_time:
            return grain_name(qualified, grain)  # without a metric: the values of the periods
        raise QueryError(
            f"'{asked}': '{qualified}' is not a time dimension of the metrics asked for, so it has no {grain}",
            code="KF413",
            hint=f"ask for metric_time__{grain}"
            + (f" (the time of these metrics is {self.metric_time()})" if self.metric_time() else ""),
        )

    def measures(self) -> list[Measure]:
        found: list[Measure] = []
        for spec in reached_metrics(self.layer, self.metrics):
            measure = self.layer.measures.get(spec.measure or "") if spec.type == "simple" else None
            found += [measure] if measure else []
        return found

    def metric_time(self) -> str | None:
        """The one time dimension every measure of the metrics aggregates by (MetricFlow's metric_time)."""
        names = set()
        for measure in self.measures():
            dim = self.layer.datasets[measure.dataset].dimensions.get(measure.time_name)
            names.add(dim.qualified if dim else None)
        return names.pop() if len(names) == 1 else None

    def filter_metric_time(self) -> str:
        """metric_time in a filter: the metrics' one time, which a query filter can name if it is a dimension."""
        found = self.metric_time()
        if found:
            return found
        times = sorted({f"{m.dataset}.{m.time_name}" for m in self.measures()})
        if len(times) == 1:
            dataset, time = times[0].split(".", 1)
            raise Untranslatable(
                f"metric_time is '{time}' of dataset '{dataset}', which is not a declared dimension "
                f"(declare it: {{name: {time}, type: time}})"
            )
        raise Untranslatable(f"metric_time: the metrics asked for aggregate by different times ({', '.join(times)})")

    def where(self, text: str | None) -> str | None:
        if not text or not has_template(text):
            return text
        translation = translate_filter(
            text,
            self.filter_metric_time,
            self.entity,
            date_parts=True,
            custom_grains=tuple(custom_grains(self.layer.files.config)),
            metric=self.metric,
        )
        if translation.text is None:
            raise QueryError(
                f"--where: {'; '.join(translation.reasons)}",
                code="KF413",
                hint="write the filter over dimensions, as `lead__channel = 'x'` (docs/migrating-from-metricflow.md)",
            )
        return translation.text

    def metric(self, name: str, group_by: str) -> str:
        """`Metric('x', group_by=['listing'])`: x must be a metric of the project; the group-by is named as
        a request of x would name it (`view__listing`, MetricFlow's local entity with its prefix: `listing`)."""
        if name not in self.layer.files.metrics:
            message, hint = unknown("metric", name, self.layer.files.metrics)
            raise Untranslatable(f"Metric('{name}'): {message}" + (f" ({hint})" if hint else ""))
        found = _Scope(self.layer, [name]).group_by(group_by)
        if isinstance(found, _Grain):
            raise Untranslatable(f"Metric('{name}', group_by=['{group_by}']): a metric is taken per an entity")
        return found

    def entity(self, name: str) -> str:
        """`Entity('lead')`, `Entity('listing__user')`: the entity's key, a dimension named by its path."""
        dim = self.dimensions.get(name)
        if dim is not None and dim.is_entity:
            return name
        raise Untranslatable(
            f"Entity('{name}'): no dataset of the metrics asked for has entity '{name.split('__')[-1]}'"
            + (" through that path of entities" if "__" in name else "")
        )
