"""A standard grain of a time dimension other than the request's metric time, as a per-row column.

`listing__ds__month` (MetricFlow's `TimeDimension('listing__ds', 'month')`), where listing__ds is not the
time the metrics aggregate by (a joined dataset's time, or a second time of the metric's own dataset), is
per row the start of the period holding that row's time, in the project's calendar
(Calendar.period_start: weeks start on `calendar.week_start`, fiscal grains on `fiscal_year_start_month`);
a NULL time gives NULL. It is a column of the scans like a date part (kpiframe.sql.date_parts): without a
grain the request is answered over the whole range, and what reads earlier periods (a cumulative metric,
--compare, an offset other than whole days at grain `all`) is refused (KF428).

`metric_time__<grain>` stays the request's grain, and so does `<own time>__<grain>` of the metrics' own time
(kpiframe.imports.metricflow_request).
"""

from __future__ import annotations

from collections.abc import Iterable

from kpiframe.errors import QueryError
from kpiframe.semantic.layer import SemanticLayer, metric_datasets
from kpiframe.sql.calendar import PERIOD_GRAINS
from kpiframe.sql.date_parts import METRIC_TIME, grain_name


def split_time_grain(name: str) -> tuple[str, str] | None:
    """`listing__ds__month` as ('listing__ds', 'month'); None for another name and for metric_time's grains
    (the request's grain). Whether the base is a time dimension is the caller's to check."""
    base, mark, grain = name.rpartition("__")
    if not mark or not base or grain not in PERIOD_GRAINS or base == METRIC_TIME:
        return None
    return base, grain


def not_a_time_grain(name: str, what: str = "") -> QueryError:
    """KF428: the period of a dimension that is not a time (`what`: where it was written)."""
    base, grain = split_time_grain(name) or (name, "")
    return QueryError(
        f"{what + ': ' if what else ''}'{name}': '{base}' is not a time dimension, so it has no {grain}",
        code="KF428",
        hint=f"ask for the period of a time: metric_time__{grain}",
    )


def time_grain_columns(layer: SemanticLayer, metrics: Iterable[str], names: Iterable[str]) -> list[str]:
    """The names that are a period of a time dimension of the metrics' datasets (qualified or short name),
    not a dimension themselves."""
    dims: set[str] = set()
    times: set[str] = set()
    for dataset in metric_datasets(layer, metrics):
        for dim in layer.dimensions_of(dataset).values():
            dims.update((dim.qualified, dim.name))
            if dim.is_time:
                times.update((dim.qualified, dim.name))
    return [n for n in names if n not in dims and (found := split_time_grain(n)) is not None and found[0] in times]


# --- a second grain of metric time -------------------------------------------------------------------------
# `metric_time__quarter` among the dimensions of a request by week is a label of each row: the quarter
# holding the row's day. MetricFlow groups by both grains of each day, so a week that straddles two quarters
# has a row in each; the spine lists the (week, quarter) pairs of the range's days (kpiframe.sql.time_spine).


def label_grain(name: str) -> str | None:
    """The grain of `metric_time__<grain>` (a standard grain), a label beside the request's period; None for
    another name."""
    base, mark, grain = name.rpartition("__")
    return grain if mark and base == METRIC_TIME and grain in PERIOD_GRAINS else None


def label_grains(names: Iterable[str]) -> dict[str, str]:
    """The labels of metric time among `names`, each with its grain."""
    return {name: grain for name in names if (grain := label_grain(name)) is not None}


def label_name(grain: str) -> str:
    return grain_name(METRIC_TIME, grain)
