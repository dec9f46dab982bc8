"""plan-targets: the KGI target walked down the formulas with trailing rates and the MQL lag.

History used (as of 2026-03-31, for 2026-Q2, window 3 months = Jan..Mar 2026):
  pipeline per opportunity = (20,000 + 25,000 + 33,000) / (20 + 25 + 22) = 78,000 / 67
  MQL-to-opportunity, MQLs one month earlier = (20 + 25 + 22) / (46 + 44 + 40) = 67 / 130
  lead-to-MQL = (44 + 40 + 44) / (256 + 232 + 256) = 128 / 744
"""

from __future__ import annotations

from datetime import date

import pytest

from kpiframe.kpi.algebra import parse_formula
from kpiframe.kpi.periods import parse_period
from kpiframe.kpi.planning import solve
from kpiframe.kpi.session import KpiSession


def test_solve_for_one_child():
    # 2 * x + 3 = 11 -> x = 4 (linear: exact)
    assert solve(parse_formula("2 * x + y"), "x", {"y": 3.0}, 11.0) == pytest.approx(4.0)
    # 100 / x = 4 -> x = 25 (the unknown divides: secant)
    assert solve(parse_formula("a / x"), "x", {"a": 100.0}, 4.0, start=10.0) == pytest.approx(25.0)
    assert solve(parse_formula("0 * x"), "x", {}, 4.0) is None


def _plan(funnel, target: float = 60000):
    session = KpiSession(funnel(), as_of=date(2026, 3, 31), window=3)
    return session.plan(parse_period("2026-Q2"), target)


def test_required_values_with_assumptions_and_lag(funnel):
    plan = _plan(funnel)
    totals = {r.metric: r for r in plan.rows if r.grain == "window"}
    assert plan.history.label == "2026-Q1"  # Jan..Mar, shown as the quarter it is
    assert totals["avg_opportunity_amount"].required == pytest.approx(78000 / 67)
    assert totals["mql_to_opportunity_rate"].required == pytest.approx(67 / 130)
    assert totals["lead_to_mql_rate"].required == pytest.approx(128 / 744)
    # opportunities = 60,000 / (78,000 / 67) = 51.54 in Q2
    assert totals["opportunities"].required == pytest.approx(60000 * 67 / 78000)
    assert totals["opportunities"].period == "2026-Q2"
    # MQLs one month earlier (Mar..May) = 51.54 / (67 / 130) = 60,000 x 130 / 78,000 = 100
    assert totals["mqls"].required == pytest.approx(100)
    assert totals["mqls"].period == "2026-03..2026-05"
    # leads = 100 / (128 / 744) = 581.25, same months as the MQLs
    assert totals["leads"].required == pytest.approx(581.25)
    assert totals["cost_per_mql"].role == "not linked" and totals["cost_per_mql"].required is None


def test_monthly_split_follows_days_without_a_year_of_history(funnel):
    plan = _plan(funnel)
    months = {(r.metric, r.period): r.required for r in plan.rows if r.grain == "month"}
    # April 30 / 91 days of 60,000 = 19,780.22; May 31 / 91 = 20,439.56
    assert months[("pipeline", "2026-04")] == pytest.approx(60000 * 30 / 91)
    assert months[("pipeline", "2026-05")] == pytest.approx(60000 * 31 / 91)
    # MQLs of March feed April: 19,780.22 x 67 / 78,000 / (67 / 130) = 19,780.22 x 130 / 78,000 = 32.97
    assert months[("mqls", "2026-03")] == pytest.approx(60000 * 30 / 91 * 130 / 78000)
    assert months[("leads", "2026-03")] == pytest.approx(60000 * 30 / 91 * 130 / 78000 * 744 / 128)
    assert ("mqls", "2026-06") not in months  # June's MQLs feed July, outside the plan


def test_target_defaults_to_the_files_and_write_creates_a_reviewable_file(funnel, tmp_path):
    session = KpiSession(funnel(), as_of=date(2026, 3, 31))
    plan = session.plan(parse_period("2026-Q1"), None)
    assert plan.target == 90000  # from metrics/targets.yml
    from kpiframe.kpi.plan_file import render_plan, rounded

    assert rounded(32.2, "count") == 33 and rounded(1234.56, "currency") == 1235
    assert rounded(0.123456, "percent") == 0.1235
    text = render_plan(plan, session.tree, session.project.units(), "plan", date(2026, 4, 1))
    assert "  - metric: pipeline\n    scenario: plan\n    since: 2026-04-01\n" in text
    assert "      2026-Q1: 90000\n" in text
