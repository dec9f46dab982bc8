"""`plan-targets --write`: a derived plan as a targets file under metrics/, to be reviewed like code."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

from kpiframe.errors import KpiframeError
from kpiframe.kpi.planning import Plan
from kpiframe.kpi.trees import Tree


def plan_path(root: Path, plan: Plan) -> Path:
    return root / "metrics" / f"targets_{plan.period.label.lower().replace('-', '_')}.yml"


def rounded(value: float, unit: str | None) -> float | int:
    """Counts round up (a plan needs whole leads), money to whole units, rates to 4 decimals."""
    if unit == "count":
        return math.ceil(value - 1e-9)
    if unit == "currency":
        return round(value)
    return round(value, 4 if unit in ("percent", "ratio") else 2)


def render_plan(plan: Plan, tree: Tree, units: dict[str, str], scenario: str, since: date) -> str:
    """YAML text with one entry per node: its monthly values (and the KGI's period value)."""
    reason = (
        f"plan-targets: {plan.metric} {plan.period.label} = {plan.target:,.0f}, rates of the trailing "
        f"{plan.history.label}"
    )
    lines = [
        f"# Targets derived by `kpiframe plan-targets` on {since} from {plan.metric} {plan.period.label} = "
        f"{plan.target:,.0f}.",
        f"# Rates and sizes held at their history over {plan.history.label}. Review before merging: these take",
        f"# effect from {since} (since:) in scenario '{scenario}'.",
        "targets:",
    ]
    for node in tree.nodes.values():
        months = plan.monthly.get(node.metric)
        if not months or any(v is None for v in months.values()):
            continue
        unit = units.get(node.metric)
        values = {m.label: rounded(v, unit) for m, v in sorted(months.items()) if v is not None}
        if node.metric == plan.metric and plan.period.grain != "month":
            values = {plan.period.label: rounded(plan.target, unit), **values}
        basis = next((r.basis for r in plan.rows if r.metric == node.metric), "")
        lines += [
            f"  - metric: {node.metric}",
            f"    scenario: {scenario}",
            f"    since: {since.isoformat()}",
            f"    reason: {json.dumps(reason + '; ' + basis)}",
            "    author: kpiframe plan-targets",
            "    values:",
        ]
        lines += [f"      {label}: {value}" for label, value in values.items()]
    return "\n".join(lines) + "\n"


def write_plan(
    root: Path, plan: Plan, tree: Tree, units: dict[str, str], scenario: str, since: date, force: bool = False
) -> Path:
    path = plan_path(root, plan)
    if path.exists() and not force:
        raise KpiframeError(
            f"{path.relative_to(root)} already exists",
            code="KF853",
            hint="review and remove it, or pass --force to replace it",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_plan(plan, tree, units, scenario, since), encoding="utf-8")
    return path
