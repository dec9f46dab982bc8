"""KPI results as tables: for people (values in their unit, one line per node) and for machines (raw values)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Any

from kpiframe.engine import QueryResult
from kpiframe.kpi.explain import Contribution, Explanation
from kpiframe.kpi.periods import Window
from kpiframe.kpi.planning import Plan
from kpiframe.kpi.status import StatusRow

STATUS_FIELDS = (
    "tree",
    "node",
    "role",
    "ksf",
    "metric",
    "dimension",
    "period",
    "grain",
    "as_of",
    "day",
    "days",
    "actual",
    "target",
    "attainment",
    "gap",
    "projection",
    "projected_attainment",
    "status",
    "owner",
    "direction",
    "timing",
    "cadence",
    "unit",
    "benchmark",
    "benchmark_verdict",
    "scenario",
    "target_source",
)


def show(value: float | None, unit: str | None) -> str:
    """A value as people read it: 10.3 %, 1,085, 2,400,000."""
    if value is None:
        return "—"
    if unit == "percent":
        return f"{value * 100:.1f} %"
    if unit in ("count", "currency") or abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f} %"


def status_machine(rows: list[StatusRow]) -> QueryResult:
    return QueryResult(list(STATUS_FIELDS), [tuple(asdict(r)[f] for f in STATUS_FIELDS) for r in rows])


def status_people(rows: list[StatusRow]) -> QueryResult:
    """`leads  520 / 800  65 %  day 15 of 30  1,085 (136 %)  on track`, one row per node."""
    columns = [
        "node",
        "ksf",
        "period",
        "actual / target",
        "attained",
        "progress",
        "projected",
        "status",
        "owner",
        "benchmark",
    ]
    table = []
    for r in rows:
        marker = {"kgi": "KGI ", "kpi": "  ", "driver": "  · ", "benchmark": "◦ "}.get(r.role, "")
        projected = show(r.projection, r.unit) + (
            f" ({percent(r.projected_attainment)})" if r.projected_attainment is not None else ""
        )
        bench = f"{r.benchmark} ({r.benchmark_verdict})" if r.benchmark and r.benchmark_verdict else r.benchmark
        table.append(
            (
                marker + r.node,
                r.ksf or "",
                r.period,
                f"{show(r.actual, r.unit)} / {show(r.target, r.unit)}",
                percent(r.attainment),
                f"day {r.day} of {r.days}",
                projected,
                r.status,
                r.owner or "—",
                bench or "",
            )
        )
    return QueryResult(columns, table)


def plan_machine(plan: Plan) -> QueryResult:
    columns = ["metric", "role", "period", "grain", "required", "basis"]
    return QueryResult(columns, [(r.metric, r.role, r.period, r.grain, r.required, r.basis) for r in plan.rows])


def plan_people(plan: Plan, units: dict[str, str]) -> tuple[QueryResult, QueryResult]:
    """The node totals with their basis, and the same values month by month."""
    totals = [
        (r.metric, r.role, r.period, show(r.required, units.get(r.metric)), r.basis)
        for r in plan.rows
        if r.grain == "window"
    ]
    months = sorted({r.period for r in plan.rows if r.grain == "month"})
    by_month = []
    for metric in dict.fromkeys(r.metric for r in plan.rows if r.grain == "month"):
        values = {r.period: r.required for r in plan.rows if r.metric == metric and r.grain == "month"}
        by_month.append((metric, *[show(values[m], units.get(metric)) if m in values else "" for m in months]))
    return (
        QueryResult(["node", "role", "period", "required", "basis"], totals),
        QueryResult(["node", *months], by_month),
    )


def explain_machine(explanation: Explanation) -> dict[str, Any]:
    """metric, period, vs, baseline, actual, change, method, rule, baseline_rule, baseline_window,
    actual_window, as_of, contributions [{driver, contribution, baseline_window, actual_window, ...}], notes."""
    return asdict(explanation)


EXPLAIN_ROW_FIELDS = [
    "metric",
    "period",
    "vs",
    "baseline_period",
    "rule",
    "baseline_rule",
    "driver",
    "driver_metric",
    "path",
    "baseline_value",
    "actual_value",
    "contribution",
    "share",
    "baseline_start",
    "baseline_end",
    "actual_start",
    "actual_end",
]


def explain_rows(explanation: Explanation) -> QueryResult:
    """One row per contribution; the start/end columns are the days that row's values were read over."""
    e = explanation
    return QueryResult(
        EXPLAIN_ROW_FIELDS,
        [
            (
                e.metric,
                e.period,
                e.vs,
                e.baseline_period,
                e.rule,
                e.baseline_rule,
                c.driver,
                c.metric,
                c.path,
                c.baseline,
                c.actual,
                c.contribution,
                c.share,
                *_ends(c.baseline_window),
                *_ends(c.actual_window),
            )
            for c in e.contributions
        ],
    )


def _ends(window: Window | None) -> tuple[date | None, date | None]:
    return (None, None) if window is None else (window.start, window.end)


def explain_people(explanation: Explanation, units: dict[str, str]) -> tuple[str, QueryResult, list[str]]:
    """The headline, the table of contributions, and the lines under it: the baseline rule, then the notes."""
    unit = units.get(explanation.metric)
    head = (
        f"{explanation.metric} {explanation.period} vs {explanation.baseline_period}: "
        f"{show(explanation.baseline, unit)} → {show(explanation.actual, unit)} "
        f"(change {show(explanation.change, unit)}; {explanation.method} split)"
    )
    # a lag reads a driver over other days than the metric; only then are its days worth a column
    shifted = any(c.actual_window != explanation.actual_window for c in explanation.contributions)
    rows = []
    for c in explanation.contributions:
        moved = (c.actual / c.baseline - 1) if c.actual is not None and c.baseline else None
        row = (
            c.driver,
            show(c.baseline, units.get(c.metric)),
            show(c.actual, units.get(c.metric)),
            "—" if moved is None else f"{moved * 100:+.1f} %",
            show(c.contribution, unit),
            percent(c.share),
        )
        rows.append((*row, _days_read(c)) if shifted else row)
    total = (
        "total",
        "",
        "",
        "",
        show(sum(c.contribution for c in explanation.contributions), unit),
        percent(1.0) if explanation.contributions else "—",
    )
    rows.append((*total, "") if shifted else total)
    columns = ["driver", "baseline", "actual", "moved", "contribution", "share"] + (["days read"] if shifted else [])
    lines = [explanation.baseline_rule, *(f"note: {note}" for note in explanation.notes)]
    return head, QueryResult(columns, rows), lines


def _days_read(row: Contribution) -> str:
    """'December 2025 → January 2026': the driver's baseline days, then its actual days; then what a lag
    reads earlier inside it ('; mqls 1 mo. earlier')."""
    actual = row.actual_window.description if row.actual_window else ""
    days = f"{row.baseline_window.description} → {actual}" if row.baseline_window else actual
    return "; ".join([days, *(f"{name} {months} mo. earlier" for name, months in row.inner_lags.items())])
