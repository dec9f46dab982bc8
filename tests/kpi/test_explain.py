"""explain: contributions through the formulas add up exactly to the change.

Months of the fixture: Jan leads 256 / MQLs 44 / opps 20 / pipeline 20,000; Feb 232 / 40 / 25 / 25,000;
Mar 256 / 44 / 22 / 33,000 (pipeline per opportunity: Feb 1,000, Mar 1,500).
"""

from __future__ import annotations

import math
from datetime import date

import pytest

from kpiframe.kpi.explain import RESIDUAL, shapley
from kpiframe.kpi.periods import Window, parse_period
from kpiframe.kpi.session import KpiSession
from tests.kpi.conftest import FILES


def _explain(project, period: str, vs: str, as_of: date = date(2026, 3, 31), **options):
    return KpiSession(project, as_of=as_of).explain("pipeline", parse_period(period), vs, **options)


def _by_driver(explanation) -> dict[str, float]:
    return {c.driver: c.contribution for c in explanation.contributions}


def test_shapley_of_a_product_by_hand():
    # f = a * b * c from (1, 1, 1) to (2, 3, 1): total 6 - 1 = 5.
    # a's marginal: 1 when it moves before b (2*1 - 1*1), 3 after b (2*3 - 1*3): half the orders each -> 2
    # b's marginal: 2 before a (1*3 - 1), 4 after a (2*3 - 2*1) -> 3; c does not move -> 0
    f = lambda v: v["a"] * v["b"] * v["c"]  # noqa: E731
    split = shapley(f, ["a", "b", "c"], {"a": 1, "b": 1, "c": 1}, {"a": 2, "b": 3, "c": 1})
    assert split == pytest.approx({"a": 2.0, "b": 3.0, "c": 0.0})


def test_one_level_shapley_vs_previous(funnel):
    explanation = _explain(funnel(), "2026-03", "previous", depth=1)
    assert (explanation.baseline, explanation.actual, explanation.change) == (25000, 33000, 8000)
    # data counted up to March 31: March is finished and compared with the whole of February
    assert explanation.rule == "whole periods"
    assert explanation.baseline_window == Window(date(2026, 2, 1), date(2026, 2, 28))
    # opportunities 25 -> 22 at 1,000 and at 1,500: (-3,000 + -4,500) / 2 = -3,750
    # per opportunity 1,000 -> 1,500 at 25 and at 22 opportunities: (12,500 + 11,000) / 2 = 11,750
    assert _by_driver(explanation) == pytest.approx({"opportunities": -3750, "avg_opportunity_amount": 11750})


def test_log_split_of_a_product(funnel):
    explanation = _explain(funnel(), "2026-03", "previous", depth=1, method="log")
    mean = 8000 / math.log(33000 / 25000)  # the log mean of 33,000 and 25,000
    assert _by_driver(explanation) == pytest.approx(
        {"opportunities": mean * math.log(22 / 25), "avg_opportunity_amount": mean * math.log(1500 / 1000)}
    )
    assert sum(_by_driver(explanation).values()) == pytest.approx(8000)


def test_full_depth_reads_the_funnel_with_its_lag(funnel):
    explanation = _explain(funnel(), "2026-03", "previous")
    drivers = {c.driver: (c.baseline, c.actual) for c in explanation.contributions}
    # pipeline(m) = leads(m-1) x lead_to_mql(m-1) x [opps(m) / MQLs(m-1)] x per_opportunity(m)
    assert drivers["leads (1 mo. earlier)"] == (256, 232)  # Jan, Feb
    assert drivers["lead_to_mql_rate (1 mo. earlier)"] == pytest.approx((44 / 256, 40 / 232))
    assert drivers["mql_to_opportunity_rate"] == pytest.approx((25 / 44, 22 / 40))
    assert drivers["avg_opportunity_amount"] == pytest.approx((1000, 1500))
    assert RESIDUAL not in drivers  # the formulas are exact
    assert sum(c.contribution for c in explanation.contributions) == pytest.approx(8000, abs=1e-6)


def test_gap_to_target_uses_the_derived_plan(funnel):
    explanation = _explain(funnel(), "2026-Q1", "target", depth=1)
    # target 90,000; the plan holds pipeline per opportunity at its Oct..Dec 2025 value 10,000 / 10 = 1,000,
    # so it needs 90 opportunities. Actual: 67 opportunities at 78,000 / 67.
    per_opp = 78000 / 67
    assert explanation.change == -12000
    assert (explanation.rule, explanation.baseline_window) == ("target", None)
    assert explanation.baseline_rule == (
        "baseline: the pipeline target for whole Q1 2026 (period finished as of 2026-03-31)"
    )
    assert _by_driver(explanation) == pytest.approx(
        {
            "opportunities": ((67 - 90) * 1000 + (67 - 90) * per_opp) / 2,
            "avg_opportunity_amount": ((per_opp - 1000) * 90 + (per_opp - 1000) * 67) / 2,
        }
    )


def test_a_period_in_progress_is_compared_like_for_like(funnel):
    explanation = _explain(funnel(), "2026-03", "previous", as_of=date(2026, 3, 15), depth=1)
    # Mar 1..15: 15 opportunities, 22,500; Feb 1..15: 15 opportunities, 15,000
    assert explanation.baseline_period == "2026-02-01..2026-02-15"
    assert (explanation.baseline, explanation.actual) == (15000, 22500)
    assert _by_driver(explanation) == pytest.approx({"opportunities": 0, "avg_opportunity_amount": 7500})
    # the rule is stated with the explanation, not left to a note
    assert explanation.rule == "like for like"
    assert explanation.baseline_rule == (
        "baseline: 1-15 Feb 2026, the same 15 days as 1-15 Mar 2026 (period in progress as of 2026-03-15)"
    )
    assert explanation.actual_window == Window(date(2026, 3, 1), date(2026, 3, 15))
    assert [c.actual_window for c in explanation.contributions] == [explanation.actual_window] * 2


def test_what_a_formula_does_not_reproduce_is_its_own_row(funnel):
    tree = FILES["metrics/tree.yml"].replace(
        "{metric: pipeline, expr: opportunities * avg_opportunity_amount}",
        "{metric: pipeline, expr: opportunities * 1000}",
    )
    explanation = _explain(funnel({"metrics/tree.yml": tree}), "2026-03", "previous", depth=1)
    # opportunities 25 -> 22 at a fixed 1,000: -3,000; the change is 8,000: 11,000 is not explained
    assert _by_driver(explanation) == pytest.approx({"opportunities": -3000, RESIDUAL: 11000})


def test_no_history_leaves_the_change_unexplained_but_still_adding_up(funnel):
    explanation = _explain(funnel(), "2026-03", "year", depth=1)
    assert explanation.baseline == 0 and explanation.change == 33000  # no data in March 2025
    assert _by_driver(explanation) == {RESIDUAL: 33000}
