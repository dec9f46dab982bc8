"""The scan of a semi-additive measure (`non_additive:` on the measure, such as an account balance).

Such a measure is not added up over time: in each period it aggregates only the rows at the last (`choose:
last`) or first value of its non-additive time there, taken over all the period's rows, or for each value of
its `per` entities separately (each account's own last day). The requested dimensions do not change which
time is kept, so the groups of a dimension add up to the total. The request's and the metric's filters and
the range's bounds apply first: the last time is the last among the rows the metric reads.

SQL (one CTE per measure and metric filter): the rows of the dataset one by one (DatasetScan.rows, with the
measure's value, the time and the `per` keys), the chosen time beside each as a window aggregate
(MAX / MIN ... OVER (PARTITION BY period, per)), then the measure's aggregate over the rows whose time is the
chosen one, by period and dimensions. Portable as it stands (no QUALIFY): DuckDB, PostgreSQL, Spark.
"""

from __future__ import annotations

from sqlglot import exp

from kpiframe.sql.expressions import col
from kpiframe.sql.metric_scan import DatasetScan, Leaf, measure_aggregate
from kpiframe.sql.time_spine import PERIOD


def _fresh(names: list[str], keys: list[str]) -> list[str]:
    """The working columns' names, each with underscores appended while it is a key's (a requested dimension
    may be called kf_at), compared without case as DuckDB and Spark resolve names."""
    taken = {key.lower() for key in keys}
    found = []
    for name in names:
        while name.lower() in taken:
            name += "_"
        taken.add(name.lower())
        found.append(name)
    return found


def non_additive_select(scan: DatasetScan, leaves: list[Leaf]) -> exp.Select:
    """One aggregate column per leaf (they share a measure and a filter) over the rows at the chosen time."""
    measure = leaves[0].measure
    spec = measure.non_additive
    if spec is None:
        raise AssertionError(f"measure '{measure.name}' is additive")
    # the measure's value row by row, the row's non-additive time, the chosen (last or first) time of its
    # period and `per` values, and those values
    keys = [PERIOD, *scan.shape.dimensions]
    value, at, chosen_at, *per_names = _fresh(
        ["kf_value", "kf_at", "kf_chosen", *(f"kf_per_{i + 1}" for i in range(len(spec.per)))], keys
    )
    per = dict(zip(per_names, spec.per, strict=True))
    columns = {value: measure.expr, at: spec.at, **per}
    rows = scan.rows(measure.dataset, measure.time, columns, leaves[0].filter)
    periodic = scan.shape.grain is not None  # at grain `all` the time is chosen over the whole range
    partition: list[exp.Expr] = [col(PERIOD)] if periodic else []
    partition += [col(name) for name in per]
    pick = exp.Max if spec.choose == "last" else exp.Min
    chosen = exp.Window(this=pick(this=col(at)), partition_by=partition or None)
    ranked = exp.select(exp.Star(), chosen.as_(chosen_at, quoted=True, copy=False)).from_(
        rows.subquery("r", copy=False), copy=False
    )
    group: list[exp.Expr] = [col(PERIOD)] if periodic else []
    group += [col(name) for name in scan.shape.dimensions]
    aggregates = [measure_aggregate(measure, col(value)).as_(leaf.column, quoted=True, copy=False) for leaf in leaves]
    select = exp.select(*group, *aggregates).from_(ranked.subquery("w", copy=False), copy=False)
    # a row without a time (NULL) is never the chosen one
    select = select.where(exp.EQ(this=col(at), expression=col(chosen_at)), copy=False)
    if group:
        select = select.group_by(*[key.copy() for key in group], copy=False)
    return select
