"""The site's charts as plotly.js figures ({data, layout}): built here from SiteData, drawn in the page
by assets/site.js with the plotly.min.js the site carries. Trace names are stable, the tests read them."""

from __future__ import annotations

from typing import Any

from kpiframe.docsite.model import ExpectationResult, FunnelView, TrendSeries

Figure = dict[str, Any]
COLOURS = {"actual": "#2563eb", "target": "#16a34a", "projection": "#f59e0b", "failed": "#dc2626"}


def _layout(title: str, y_title: str = "", percent: bool = False) -> dict[str, Any]:
    return {
        "title": {"text": title, "font": {"size": 14}},
        "margin": {"l": 60, "r": 20, "t": 40, "b": 40},
        "height": 320,
        "legend": {"orientation": "h", "y": -0.2},
        "yaxis": {"title": {"text": y_title}, "tickformat": ".1%" if percent else ",", "rangemode": "tozero"},
        "xaxis": {"type": "date"},
    }


def trend_chart(trend: TrendSeries) -> Figure:
    """Actual per period, the target line, and the in-progress period's projection to its end."""
    percent = trend["unit"] == "percent"
    complete = [(x, y) for x, y in trend["points"] if x != trend["in_progress"]]
    data: list[dict[str, Any]] = [
        {
            "name": "actual",
            "type": "scatter",
            "mode": "lines+markers",
            "x": [x for x, _ in trend["points"]],
            "y": [y for _, y in trend["points"]],
            "line": {"color": COLOURS["actual"]},
        }
    ]
    if trend["targets"]:
        data.append(
            {
                "name": "target",
                "type": "scatter",
                "mode": "lines",
                "line": {"color": COLOURS["target"], "dash": "dash", "shape": "hv"},
                "x": [x for x, _ in trend["targets"]],
                "y": [y for _, y in trend["targets"]],
            }
        )
    if trend["in_progress"] and trend["projection"] is not None:
        start = complete[-1:] if complete else []
        data.append(
            {
                "name": "projection",
                "type": "scatter",
                "mode": "lines+markers",
                "line": {"color": COLOURS["projection"], "dash": "dot"},
                "x": [x for x, _ in start] + [trend["in_progress"]],
                "y": [y for _, y in start] + [trend["projection"]],
            }
        )
    return {"data": data, "layout": _layout(f"{trend['metric']} per {trend['grain']}", percent=percent)}


def funnel_chart(funnel: FunnelView) -> Figure | None:
    """Entities per stage for the newest cohorts whose window has closed (up to three), as grouped bars."""
    closed = [c for c in funnel["cohorts"] if c["window_closed"]] or funnel["cohorts"]
    shown = closed[-3:]
    if not shown:
        return None
    data = [
        {
            "name": f"cohort {cohort['cohort_start']}",
            "type": "bar",
            "x": [s["stage"] for s in cohort["stages"]],
            "y": [s["entities"] for s in cohort["stages"]],
            "text": [_conversion_label(s["conversion_from_previous"]) for s in cohort["stages"]],
            "textposition": "outside",
        }
        for cohort in shown
    ]
    layout = _layout(f"{funnel['name']}: entities per stage", "entities")
    layout["xaxis"] = {"type": "category"}
    layout["barmode"] = "group"
    return {"data": data, "layout": layout}


def _conversion_label(conversion: float | None) -> str:
    return "" if conversion is None else f"{100 * conversion:.1f} %"


def quality_chart(results: list[ExpectationResult]) -> Figure | None:
    """Passed and failed expectations per run, oldest first: is data quality getting better?"""
    if not results:
        return None
    runs: dict[str, list[int]] = {}
    checked: dict[str, str] = {}
    for result in results:
        counts = runs.setdefault(result["run_id"], [0, 0])
        counts[0 if result["success"] else 1] += 1
        checked.setdefault(result["run_id"], result["checked_at"])
    x = [checked[run] for run in runs]
    data = [
        {"name": "passed", "type": "bar", "x": x, "y": [c[0] for c in runs.values()], "marker": {"color": "#16a34a"}},
        {
            "name": "failed",
            "type": "bar",
            "x": x,
            "y": [c[1] for c in runs.values()],
            "marker": {"color": COLOURS["failed"]},
        },
    ]
    layout = _layout("Expectations per run", "expectations")
    layout["barmode"] = "stack"
    layout["xaxis"] = {"type": "category", "title": {"text": "run started"}}
    return {"data": data, "layout": layout}
