"""The shape of every project file: parsed YAML is a `*Spec` (kpiframe.load.spec_model).

An unknown key is an error at its line instead of a silently ignored field, and `model_json_schema()`
gives editors a schema for free.
"""

# No `from __future__ import annotations` here: a field's annotation is then a type already, not text to
# evaluate when its check is first compiled.

import math
import re
from datetime import date
from typing import Annotated, Literal, get_args

from kpiframe.load.spec_model import NOT_IN_SCHEMA, Spec, StrictBool, check_field, check_record, field

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
Name = str  # validated by field(pattern=...) where declared

Aggregation = Literal["sum", "count", "count_distinct", "average", "min", "max", "median", "percentile"]
ZERO_WHEN_EMPTY = ("sum", "count", "count_distinct")  # what kpiframe answers 0 for over no rows, by default
Grain = Literal["day", "week", "month", "quarter", "year", "fiscal_quarter", "fiscal_year"]
# a metric's default grain may also be finer than a day (its periods are then instants)
PeriodGrain = Literal[Grain, "hour", "minute", "second", "millisecond"]
# what a custom grain may not be named: kpiframe's grains, `all` (no period), MetricFlow's sub-day grains
RESERVED_GRAIN_NAMES = (*get_args(PeriodGrain), "all", "microsecond")

# A cumulative window is a positive count of one unit. It is checked when the YAML is read, so that
# '0 days', '-3 days' or '100000 years' stop the compile at their line instead of the first query
# (where a zero window reaches back a negative span and a huge one overflows the date arithmetic).
_WINDOW = re.compile(r"^\s*(\d+)\s+([A-Za-z]+?)s?\s*$")
MAX_WINDOW = {"day": 36_525, "week": 5_218, "month": 1_200, "quarter": 400, "year": 100}  # 100 years each
# ...and finer than a day, for metrics read at a sub-day grain ('3 hours'); not a conversion's window
SUBDAY_WINDOW = {"hour": 876_600, "minute": 52_596_000, "second": 3_155_760_000, "millisecond": 3_155_760_000_000}
MAX_WINDOW.update(SUBDAY_WINDOW)


def check_window(text: str) -> str:
    """'7 days', '3 months', '1 year': a count from 1 up to 100 years' worth, and a calendar unit."""
    match = _WINDOW.match(text)
    unit = match[2].lower() if match else ""
    if not match or unit not in MAX_WINDOW:
        raise ValueError(
            f"window '{text}' must be a positive count and a unit (day, week, month, quarter, "
            "year, or hour, minute, second, millisecond), like '7 days' or '3 months'"
        )
    count = int(match[1])
    if count < 1:
        raise ValueError(f"window '{text}' is empty: it must cover at least 1 {unit}, like '7 days'")
    if count > MAX_WINDOW[unit]:
        raise ValueError(
            f"window '{text}' is longer than 100 years (at most {MAX_WINDOW[unit]:,} {unit}s); "
            "a window longer than the data's history adds nothing"
        )
    return text


# An input offset: `previous` (one period), `year` (the same period a year earlier), a window ('5 days',
# '2 weeks', '1 month': the value that many days or months before the period), or 'start of <grain>'
# (the value of the first period of the <grain> the period lies in).
OFFSET_KEYWORDS = ("previous", "year")
OFFSET_TO_GRAINS = (*get_args(Grain), *SUBDAY_WINDOW)  # 'start of <grain>'
_START_OF = re.compile(r"^\s*start\s+of\s+([a-z_]+)\s*$")


def check_offset(text: str) -> str:
    if text in OFFSET_KEYWORDS:
        return text
    start = _START_OF.match(text)
    if start:
        if start[1] not in OFFSET_TO_GRAINS:
            raise ValueError(f"offset '{text}': 'start of' takes one of {', '.join(OFFSET_TO_GRAINS)}")
        return f"start of {start[1]}"
    try:
        return check_window(text)
    except ValueError as exc:
        raise ValueError(
            f"offset '{text}' must be previous, year, a count and a unit ('5 days', '2 weeks', '1 month') or "
            f"'start of month' ({exc})"
        ) from None


# --- kpi_project.yml -------------------------------------------------------------------------------------
class WarehouseSpec(Spec):
    type: Literal["duckdb", "postgres", "spark"] = "duckdb"
    path: str = "warehouse.duckdb"
    dsn: str | None = None  # postgres: a libpq connection string, e.g. "host=127.0.0.1 port=5432 dbname=kpi"
    memory_limit: str | None = None
    threads: int | None = None
    # spark (docs/spark.md): the master URL (local[2], spark://host:7077, yarn) or a Spark Connect URL
    # (sc://host:15002); the folder of the tables and of the embedded metastore (local); any Spark settings
    master: str = "local[2]"
    warehouse_dir: str = "spark-warehouse"
    conf: dict[str, str] = {}
    # the session time zone: set from `calendar: time_zone:` (kpiframe.engine.options), not written here
    time_zone: Annotated[str, NOT_IN_SCHEMA] = "UTC"


class SchemasSpec(Spec):
    models: str = field(default="analytics", pattern=NAME_PATTERN)
    metrics: str = field(default="metrics", pattern=NAME_PATTERN)


class TimeSpineSpec(Spec):
    """`calendar: time_spine:`: the first and last day of the project's time spine. A request that reads a
    metric with `join_to_timespine: true` answers every period holding a day of it (MetricFlow's rule).

    `model`: a model of the project with one row per day (its column `day`), whose other columns are the
    project's custom grains (`custom_grains: {name: column}`, MetricFlow's custom granularities): a request
    may group or filter by `<time>__<name>`, the spine's value on each row's day (kpiframe.sql.custom_grains).
    The names are checked here, the model by kpiframe.semantic.rules (KF206)."""

    # both or neither: without them (a time spine of custom grains alone), join_to_timespine is as unset
    start: date | None = None
    end: date | None = None
    model: str | None = field(default=None, pattern=NAME_PATTERN)
    day: str = field(default="day", pattern=NAME_PATTERN)
    custom_grains: dict[str, str] = {}

    @check_field("custom_grains")
    def _grain_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name, column in value.items():
            for text in (name, column):
                if not re.fullmatch(NAME_PATTERN, text):
                    raise ValueError(f"custom grain '{name}': '{text}' is not a plain name (letters, digits, _)")
            if name.lower() in RESERVED_GRAIN_NAMES or name.lower().startswith("extract_"):
                raise ValueError(
                    f"custom grain '{name}' has the name of a grain or date part kpiframe has already: "
                    "name it after your calendar (alien_day, retail_week)"
                )
        return value

    @check_record
    def _ordered(self) -> "TimeSpineSpec":
        if (self.start is None) != (self.end is None):
            missing = "end" if self.end is None else "start"
            raise ValueError(f"missing required key '{missing}': time_spine takes its first and last day together")
        if self.start is None and self.model is None:
            raise ValueError("time_spine needs its first and last day (start, end), or a model of custom grains")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"time_spine ends ({self.end}) before it starts ({self.start})")
        if self.start is not None and self.end is not None and self.end.year - self.start.year > 200:
            raise ValueError("time_spine spans more than 200 years: every period of it is a row of the answer")
        if self.custom_grains and self.model is None:
            raise ValueError("custom_grains are columns of the time spine's model: set model (one row per day)")
        return self


class CalendarSpec(Spec):
    week_start: Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] = "monday"
    fiscal_year_start_month: int = field(default=1, ge=1, le=12)
    # The zone in which a TIMESTAMP WITH TIME ZONE falls on a day (and so a week, month...): every warehouse
    # session is set to it. Without it, DuckDB and PostgreSQL use the machine's or server's zone, and the
    # same rows give other monthly numbers on a laptop in California than in CI.
    time_zone: str = "UTC"
    # the days a metric with `join_to_timespine: true` answers every period of (see TimeSpineSpec)
    time_spine: TimeSpineSpec | None = None

    @check_field("time_zone")
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo

        try:
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*", value):
                raise ValueError
            ZoneInfo(value)
        except (ValueError, OSError, KeyError):
            raise ValueError(
                f"unknown time zone '{value}': use an IANA name such as UTC, Europe/Berlin or America/New_York"
            ) from None
        return value


GuardSeverity = Literal["error", "warn", "off"]


class VolumeGuardSpec(Spec):
    """kpi_project.yml `volume_guard:`: how far a source or published table may shrink from one
    successful build to the next (a fraction of its rows), and what a bigger drop is."""

    max_drop: float = field(default=0.5, ge=0, le=1)
    sources: GuardSeverity = "warn"
    tables: GuardSeverity = "error"


class VolumeSpec(Spec):
    """`volume:` on one source table or published table: overrides `volume_guard` for it."""

    max_drop: float | None = field(default=None, ge=0, le=1)
    severity: GuardSeverity | None = None


class QuerySpec(Spec):
    # the grain of a request that names neither a grain nor a time (no --grain, no metric_time__<grain>):
    # unset, the metrics' `grain:` else month; `all`, totals over the range, as MetricFlow answers such a
    # request (`kpiframe import metricflow` writes it)
    without_time: Literal["all"] | Grain | None = None


class ProjectSpec(Spec):
    name: str = field(pattern=NAME_PATTERN)
    version: str | int | None = None
    warehouse: WarehouseSpec = field(default_factory=WarehouseSpec)
    schemas: SchemasSpec = field(default_factory=SchemasSpec)
    calendar: CalendarSpec = field(default_factory=CalendarSpec)
    vars: dict[str, str | int | float | bool | None] = {}
    kpi: dict[str, object] = {}  # settings of kpiframe.kpi (status thresholds, ...), checked there
    volume_guard: VolumeGuardSpec = field(default_factory=VolumeGuardSpec)
    query: QuerySpec = field(default_factory=QuerySpec)

    @check_field("warehouse")
    def _time_zone_in_calendar(cls, warehouse: WarehouseSpec) -> WarehouseSpec:
        if "time_zone" in warehouse.model_fields_set:
            raise ValueError("time_zone is set under calendar: (calendar: {time_zone: ...}); move it there")
        return warehouse


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
