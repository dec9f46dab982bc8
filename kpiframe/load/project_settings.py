"""kpi_project.yml's settings: the warehouse, schemas, calendar and time spine, the volume guard, queries.

No `from __future__ import annotations` (see kpiframe.load.specs).
"""

import re
from datetime import date
from typing import Annotated, Literal

from kpiframe.load.spec_model import NOT_IN_SCHEMA, Spec, check_field, check_record, field
from kpiframe.load.spec_terms import NAME_PATTERN, RESERVED_GRAIN_NAMES, Grain


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
    # a cumulative metric's series runs on past the last data for as long as its window holds rows (to the
    # time spine's last day for one over all time), as MetricFlow's does (`kpiframe import metricflow`
    # writes it); unset, a series ends with the last period with data
    cumulative_past_data: bool = False


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
