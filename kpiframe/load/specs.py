"""The shape of every project file: parsed YAML is a `*Spec` (kpiframe.load.spec_model).

An unknown key is an error at its line instead of a silently ignored field, and `model_json_schema()`
gives editors a schema for free.
"""

# No `from __future__ import annotations` here: a field's annotation is then a type already, not text to
# evaluate when its check is first compiled.

import math
from datetime import date
from typing import Annotated, Literal

from kpiframe.load.project_settings import CalendarSpec as CalendarSpec
from kpiframe.load.project_settings import GuardSeverity as GuardSeverity
from kpiframe.load.project_settings import ProjectSpec as ProjectSpec
from kpiframe.load.project_settings import QuerySpec as QuerySpec
from kpiframe.load.project_settings import SchemasSpec as SchemasSpec
from kpiframe.load.project_settings import TimeSpineSpec as TimeSpineSpec
from kpiframe.load.project_settings import VolumeGuardSpec as VolumeGuardSpec
from kpiframe.load.project_settings import VolumeSpec as VolumeSpec
from kpiframe.load.project_settings import WarehouseSpec as WarehouseSpec
from kpiframe.load.spec_model import Spec, StrictBool, check_field, check_record, field
from kpiframe.load.spec_terms import MAX_WINDOW as MAX_WINDOW
from kpiframe.load.spec_terms import NAME_PATTERN as NAME_PATTERN
from kpiframe.load.spec_terms import OFFSET_KEYWORDS as OFFSET_KEYWORDS
from kpiframe.load.spec_terms import OFFSET_TO_GRAINS as OFFSET_TO_GRAINS
from kpiframe.load.spec_terms import RESERVED_GRAIN_NAMES as RESERVED_GRAIN_NAMES
from kpiframe.load.spec_terms import SUBDAY_WINDOW as SUBDAY_WINDOW
from kpiframe.load.spec_terms import Grain as Grain
from kpiframe.load.spec_terms import Name as Name
from kpiframe.load.spec_terms import PeriodGrain as PeriodGrain
from kpiframe.load.spec_terms import check_offset as check_offset
from kpiframe.load.spec_terms import check_window as check_window

Aggregation = Literal["sum", "count", "count_distinct", "average", "min", "max", "median", "percentile"]
ZERO_WHEN_EMPTY = ("sum", "count", "count_distinct")  # what kpiframe answers 0 for over no rows, by default


# --- models/*.yml ----------------------------------------------------------------------------------------
class ColumnSpec(Spec):
    name: str
    description: str | None = None
    type: str | None = None


class SourceTableSpec(Spec):
    name: str = field(pattern=NAME_PATTERN)
    description: str | None = None
    columns: list[str | ColumnSpec] = []
    expectations: list[object] = []  # checked by kpiframe.quality, which knows every expectation's shape
    volume: VolumeSpec | None = None


class SourceSpec(Spec):
    name: str = field(pattern=NAME_PATTERN)
    schema_: str = field(alias="schema", pattern=NAME_PATTERN)
    description: str | None = None
    tables: list[SourceTableSpec]


class ModelSpec(Spec):
    name: str = field(pattern=NAME_PATTERN)
    description: str | None = None
    materialized: Literal["table", "view"] = "table"
    tags: list[str] = []
    columns: list[ColumnSpec] = []
    expectations: list[object] = []


# --- metrics/*.yml ---------------------------------------------------------------------------------------
class EntitySpec(Spec):
    name: str = field(pattern=NAME_PATTERN)
    type: Literal["primary", "unique", "foreign"]
    expr: str | None = None


class DimensionSpec(Spec):
    name: str = field(pattern=NAME_PATTERN)
    type: Literal["categorical", "time"] = "categorical"
    expr: str | None = None
    description: str | None = None
    # a time the dataset's rows are partitioned by (a row per key and day): a many-to-one join between two
    # datasets that both declare one also equates the two partitions (checked in kpiframe.semantic.rules)
    partition: StrictBool = False
    # the start or end of the validity window of a versioned dataset (a row per key and period, as an
    # account's owner history): a join to it also keeps the version valid at the joining row's time
    # (checked in kpiframe.semantic.rules)
    validity: Literal["start", "end"] | None = None


class NonAdditiveSpec(Spec):
    """`non_additive:` on a measure that must not be added up over time, like an account balance: in each
    period a metric over it aggregates only the rows at the last (or first) value of `dimension` there,
    that value taken over all the period's rows or, with `per`, for each value of those entities."""

    dimension: str | None = field(default=None, pattern=NAME_PATTERN)  # a time dimension; unset: the measure's time
    choose: Literal["last", "first"] = "last"
    per: list[Annotated[str, field(pattern=NAME_PATTERN)]] = []  # entities (or dimensions) of the dataset


class MeasureSpec(Spec):
    name: str = field(pattern=NAME_PATTERN)
    agg: Aggregation
    expr: str | None = None
    # agg: percentile: which one (0.9: the value 90% of the rows are at or below), interpolated between two
    # rows' values unless `discrete` (then a value of a row)
    percentile: float | None = field(default=None, gt=0, le=1)
    discrete: StrictBool = False
    time: str | None = None
    description: str | None = None
    non_additive: NonAdditiveSpec | None = None


class DatasetSpec(Spec):
    name: str = field(pattern=NAME_PATTERN)
    model: str = field(pattern=NAME_PATTERN)
    description: str | None = None
    primary_entity: str | None = field(default=None, pattern=NAME_PATTERN)
    time: str | None = None
    entities: list[EntitySpec] = []
    dimensions: list[DimensionSpec] = []
    measures: list[MeasureSpec] = []

    @property
    def partition_dimension(self) -> DimensionSpec | None:
        """The time dimension with `partition: true` that the rows are partitioned by (the first: a second
        is KF115, one that is not a time KF114), or None."""
        return next((d for d in self.dimensions if d.partition and d.type == "time"), None)

    @property
    def validity_window(self) -> tuple[DimensionSpec, DimensionSpec | None] | None:
        """The time dimensions with `validity: start` and `validity: end` (None: open-ended) of a versioned
        dataset, the first of each, or None without a start (KF116, KF117 report the misplaced ones)."""
        start = next((d for d in self.dimensions if d.validity == "start" and d.type == "time"), None)
        end = next((d for d in self.dimensions if d.validity == "end" and d.type == "time"), None)
        return (start, end) if start is not None else None


class MetricInputSpec(Spec):
    metric: str = field(pattern=NAME_PATTERN)
    alias: str | None = field(default=None, pattern=NAME_PATTERN)
    offset: str | None = None  # see check_offset

    @check_field("offset")
    def _offset_form(cls, value: str | None) -> str | None:
        return None if value is None else check_offset(value)


class ConstantPropertySpec(Spec):
    """A conversion counts only when the base event and the conversion share this value (a session)."""

    base_property: str = field(pattern=NAME_PATTERN)  # an entity or dimension of the base measure's dataset
    conversion_property: str = field(pattern=NAME_PATTERN)  # ... of the conversion measure's dataset


CONVERSION_FIELDS = (
    "base_measure",
    "conversion_measure",
    "entity",
    "calculation",
    "constant_properties",
    "base_filter",
    "conversion_filter",
)


class MetricSpec(Spec):
    name: str = field(pattern=NAME_PATTERN)
    type: Literal["simple", "ratio", "derived", "cumulative", "conversion"] = "simple"
    label: str | None = None
    description: str | None = None
    owner: str | None = None
    unit: Literal["count", "currency", "percent", "ratio", "number", "hours"] | None = None
    format: str | None = None
    direction: Literal["higher", "lower"] | None = None
    timing: Literal["leading", "lagging"] | None = None
    tags: list[str] = []
    measure: str | None = None
    filter: str | None = None
    numerator: str | None = None
    denominator: str | None = None
    expr: str | None = None
    inputs: list[MetricInputSpec] = []
    metric: str | None = None
    window: str | None = None
    grain_to_date: PeriodGrain | None = None
    # a cumulative metric at a grain coarser than a day: the value of the period's last day (its running
    # total at the end), of its first day, or the average of its days' (MetricFlow's period_agg)
    period_agg: Literal["last", "first", "average"] = "last"
    # the grain a request of the metric answers at when it names none (no --grain, no metric_time__<grain>)
    grain: PeriodGrain | None = None
    # what a period or dimension value without rows answers: unset (None), 0 for sums and counts and NULL
    # otherwise; a number; or `null`, kept as "null" so that dumps, hashes and diffs tell it from unset
    fill_nulls_with: int | float | Literal["null"] | None = None
    # true: a request reading this metric answers every period of `calendar: time_spine:` (MetricFlow's rule)
    join_to_timespine: StrictBool | None = None
    # conversion: each conversion event is credited to the entity's latest base event at or before it
    # (within `window` if set); the metric is counted at that base event's period and dimensions
    base_measure: str | None = field(default=None, pattern=NAME_PATTERN)
    conversion_measure: str | None = field(default=None, pattern=NAME_PATTERN)
    entity: str | None = field(default=None, pattern=NAME_PATTERN)
    calculation: Literal["conversion_rate", "conversions"] | None = None  # unset: conversion_rate
    constant_properties: list[ConstantPropertySpec] = []
    # conditions over the dimensions of each side's dataset: only the base events `base_filter` keeps count
    # (the rate's denominator too) and are credited; only the conversions `conversion_filter` keeps count
    base_filter: str | None = None
    conversion_filter: str | None = None

    @check_field("fill_nulls_with", before=True)
    def _fill_is_a_number(cls, value: object) -> object:
        if value is None or value == "null":  # written, so not the default (validators skip defaults)
            return "null"
        # `true` would otherwise pass as the number 1, and '0' as 0
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"fill_nulls_with must be a number (like 0) or null, not {value!r}")
        return value

    @check_field("window")
    def _window_size(cls, value: str | None) -> str | None:
        return None if value is None else check_window(value)

    @check_record
    def _fields_match_type(self) -> "MetricSpec":
        needed = {
            "simple": ["measure"],
            "ratio": ["numerator", "denominator"],
            "derived": ["expr"],
            "cumulative": ["metric"],
            "conversion": ["base_measure", "conversion_measure", "entity"],
        }[self.type]
        missing = [f for f in needed if getattr(self, f) is None]
        if missing:
            raise ValueError(f"a {self.type} metric needs {', '.join(repr(m) for m in missing)}")
        if self.type == "cumulative" and (self.window is None) == (self.grain_to_date is None):
            raise ValueError("a cumulative metric needs exactly one of 'window' or 'grain_to_date'")
        if self.type != "cumulative" and "period_agg" in self.model_fields_set:
            raise ValueError("'period_agg' belongs to cumulative metrics: which day of a period they show")
        if self.type not in ("simple", "conversion") and self.fill_nulls_with is not None:
            raise ValueError(
                f"a {self.type} metric cannot take 'fill_nulls_with': set it on the simple metrics it reads"
            )
        if self.type not in ("simple", "conversion") and self.join_to_timespine is not None:
            raise ValueError(
                f"a {self.type} metric cannot take 'join_to_timespine': set it on the simple metrics it reads"
            )
        if self.type != "conversion":
            stray = [f for f in CONVERSION_FIELDS if f in self.model_fields_set]
            if stray:
                raise ValueError(f"{', '.join(repr(f) for f in stray)} belong to conversion metrics only")
        elif self.grain_to_date is not None:
            raise ValueError("a conversion metric takes a 'window', not 'grain_to_date'")
        elif self.window and self.window.split()[-1].lower().rstrip("s") in SUBDAY_WINDOW:
            raise ValueError(f"a conversion metric's window is whole days or longer, not '{self.window}'")
        return self

    def empty_value(self, agg: str) -> int | float | None:
        """What this simple metric over a measure of `agg` answers where no row is aggregated: its
        `fill_nulls_with` when set (`null` is NULL), else 0 for sums and counts and NULL otherwise."""
        if self.fill_nulls_with is None:
            return 0 if agg in ZERO_WHEN_EMPTY else None
        return None if self.fill_nulls_with == "null" else self.fill_nulls_with


class TableSpec(Spec):
    name: str = field(pattern=NAME_PATTERN)
    description: str | None = None
    grain: Grain = "month"
    metrics: list[str]
    dimensions: list[str] = []
    expectations: list[object] = []
    volume: VolumeSpec | None = None


class MetricExpectationSpec(Spec):
    """One metric request of a metric test and the complete set of rows it must return."""

    metrics: list[str]
    dimensions: list[str] = []
    grain: Grain = "month"
    where: str | None = None
    rows: list[dict[str, object]]


class MetricTestSpec(Spec):
    """Given a few rows per raw table, expect these values of these metrics (runs in memory)."""

    name: str = field(pattern=NAME_PATTERN)
    description: str | None = None
    given: dict[str, list[dict[str, object]]]
    expect: list[MetricExpectationSpec]


class ApprovalSpec(Spec):
    team: str
    by: str
    on: date


class EngagementSpec(Spec):
    """Points per activity, counted inside a window that opens when the entity enters."""

    dataset: str = field(pattern=NAME_PATTERN)
    type_column: str
    points: dict[str, float]
    window_days: int = field(gt=0)


class SlaSpec(Spec):
    """The hand-over promise: the other team accepts a qualified entity within `hours`."""

    hours: float = field(gt=0)
    dataset: str = field(pattern=NAME_PATTERN)
    time: str
    filter: str | None = None


class RuleSpec(Spec):
    fit: list[str] = []
    engagement: EngagementSpec
    threshold: float


class DefinitionVersionSpec(Spec):
    version: int = field(ge=1)
    effective: date
    change_note: str | None = None
    approvals: list[ApprovalSpec] = []
    rule: RuleSpec
    sla: SlaSpec | None = None


class DefinitionSpec(Spec):
    """A shared, owned, versioned rule such as the MQL definition."""

    name: str = field(pattern=NAME_PATTERN)
    description: str | None = None
    entity: str = field(pattern=NAME_PATTERN)
    dataset: str = field(pattern=NAME_PATTERN)
    owners: list[str] = field(min_length=1)
    current: int
    versions: list[DefinitionVersionSpec] = field(min_length=1)


class FunnelStageSpec(Spec):
    name: str = field(pattern=NAME_PATTERN)
    dataset: str | None = None
    time: str | None = None
    filter: str | None = None
    definition: str | None = None
    version: int | None = None

    @check_record
    def _one_source(self) -> "FunnelStageSpec":
        if (self.definition is None) == (self.time is None):
            raise ValueError(
                "a stage takes its time either from `time` (with an optional `dataset`) or from a `definition`"
            )
        return self


class FunnelSpec(Spec):
    name: str = field(pattern=NAME_PATTERN)
    description: str | None = None
    entity: str = field(pattern=NAME_PATTERN)
    dataset: str = field(pattern=NAME_PATTERN)
    window_days: int = field(gt=0)
    count_by: Literal["cohort", "period"] = "cohort"
    # strict: a stage counts only after every earlier stage, each at or after the one before;
    # independent: each stage on its own (conversions can exceed 100 %)
    order: Literal["strict", "independent"] = "strict"
    dimensions: list[str] = []
    stages: list[FunnelStageSpec] = field(min_length=2)


class ProjectFileSpec(Spec):
    """Any YAML file under models/ or metrics/: each top-level key is a list of one kind of object."""

    sources: list[SourceSpec] = []
    models: list[ModelSpec] = []
    datasets: list[DatasetSpec] = []
    metrics: list[MetricSpec] = []
    tables: list[TableSpec] = []
    metric_tests: list[MetricTestSpec] = []
    definitions: list[DefinitionSpec] = []
    funnels: list[FunnelSpec] = []
    trees: list[object] = []  # KPI trees, targets and benchmarks: shapes checked by kpiframe.kpi
    targets: list[object] = []
    benchmarks: list[object] = []


class ProjectFileOutline(Spec):
    """The outline of a project YAML file: which lists it may hold (items are checked one by one)."""

    sources: list[None] = []
    models: list[None] = []
    datasets: list[None] = []
    metrics: list[None] = []
    tables: list[None] = []
    metric_tests: list[None] = []
    definitions: list[None] = []
    funnels: list[None] = []
    trees: list[None] = []
    targets: list[None] = []
    benchmarks: list[None] = []


FILE_KINDS: dict[str, type[Spec]] = {
    "sources": SourceSpec,
    "models": ModelSpec,
    "datasets": DatasetSpec,
    "metrics": MetricSpec,
    "tables": TableSpec,
    "metric_tests": MetricTestSpec,
    "definitions": DefinitionSpec,
    "funnels": FunnelSpec,
}
