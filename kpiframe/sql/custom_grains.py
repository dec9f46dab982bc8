"""Custom grains: a request grouped or filtered by a column of the time spine model (`metric_time__alien_day`).

MetricFlow's custom granularities: kpi_project.yml's `calendar: time_spine:` names a model with one row per
day (`model:`, its day column `day:`) and some of its columns as custom grains (`custom_grains: {alien_day:
alien_day}`). A name `<time>__<grain>` (`metric_time__alien_day`, `listing__created_at__alien_day`) is then,
per row, the spine's value of that column on the row's local day: the scan LEFT JOINs the spine model on
CAST(day AS DATE) = CAST(<row time> AS DATE) (kpiframe.sql.metric_scan) and groups by, or filters on, that
column. It is the column's raw value, not a period start; a day missing from the spine gives NULL.

Phase 1 treats a custom grain as a per-row column, like a date part (kpiframe.sql.date_parts): without a
grain the request is answered over the whole range (grain `all`); a derived metric's input offset of whole
days moves each row's day first, which then takes its custom value. A cumulative metric by a custom grain
of metric time takes each value's days from its daily series, by its period_agg (as by a label of metric
time, kpiframe.sql.series_history._from_days). What reads earlier periods by period (a cumulative metric
by another time's custom grain, --compare, an offset of months) is refused (KF432), and a custom grain is
no period grain (`--grain alien_day`, KF432 as well).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlglot import exp

from kpiframe.errors import QueryError
from kpiframe.load.specs import ProjectSpec, TimeSpineSpec
from kpiframe.sql.date_parts import METRIC_TIME
from kpiframe.sql.time_spine import PERIOD


def custom_grains(config: ProjectSpec) -> Mapping[str, str]:
    """The project's custom grains, name -> column of the time spine model (none without a model)."""
    spine = config.calendar.time_spine
    return spine.custom_grains if spine is not None and spine.model else {}


def split_custom_grain(name: str, grains: Mapping[str, str]) -> tuple[str, str] | None:
    """`listing__ds__alien_day` as ('listing__ds', 'alien_day') when alien_day is a custom grain; else None."""
    base, mark, grain = name.rpartition("__")
    if not mark or not base or grain not in grains:
        return None
    return base, grain


def spine_table(config: ProjectSpec) -> exp.Table:
    """The time spine model as a table of the models' schema."""
    spine = config.calendar.time_spine
    assert spine is not None and spine.model is not None, "custom grains come from a time spine model"
    return exp.table_(spine.model, db=config.schemas.models, quoted=True)


def spine_day(spine: TimeSpineSpec, alias: str) -> exp.Expr:
    """The spine's day column as a DATE (a model may store it as a timestamp)."""
    return exp.Cast(this=exp.column(spine.day, table=alias, quoted=True), to=exp.DataType.build("DATE"))


def spine_join(config: ProjectSpec, alias: str, day: exp.Expr) -> exp.Join:
    """LEFT JOIN the time spine model as `alias` on its day = `day` (a DATE expression of the row)."""
    spine = config.calendar.time_spine
    assert spine is not None
    condition = exp.EQ(this=spine_day(spine, alias), expression=day)
    return exp.Join(this=spine_table(config).as_(alias, quoted=True, copy=False), on=condition, side="LEFT")


def grain_value(config: ProjectSpec, alias: str, grain: str) -> exp.Expr:
    """The custom grain's column of the spine joined as `alias`."""
    return exp.column(custom_grains(config)[grain], table=alias, quoted=True)


def metric_time_grains(config: ProjectSpec, names: Iterable[str]) -> dict[str, str]:
    """The custom grains of metric time among `names` (`metric_time__alien_day`), each with its grain: a
    value of each day, which a cumulative metric's daily series takes from the spine (with_custom_grains)."""
    grains = custom_grains(config)
    found = {name: split_custom_grain(name, grains) for name in names}
    return {name: pair[1] for name, pair in found.items() if pair is not None and pair[0] == METRIC_TIME}


def with_custom_grains(config: ProjectSpec, days: str, grains: Mapping[str, str]) -> exp.Select:
    """The rows of the daily series `days` (period_start a day) with the custom grains' values of their day,
    as columns named as asked."""
    values = [grain_value(config, "g", grain).as_(name, quoted=True) for name, grain in grains.items()]
    every = exp.Column(this=exp.Star(), table=exp.to_identifier("d", quoted=True))
    select = exp.select(every, *values)
    day = exp.column(PERIOD, table="d", quoted=True)
    return select.from_(exp.table_(days, quoted=True).as_("d", quoted=True)).join(spine_join(config, "g", day))


def refuse(name: str, why: str, hint: str) -> QueryError:
    """KF432: a custom grain where phase 1 has no answer for it."""
    return QueryError(f"'{name}': {why}", code="KF432", hint=hint)


def not_a_period_grain(grain: str) -> QueryError:
    return refuse(
        grain,
        "a custom grain is a column of the time spine, not a period kpiframe can series by",
        f"group by it as a column: --by metric_time__{grain} (with --grain all, or a standard grain)",
    )
