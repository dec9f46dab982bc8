"""`status` on the funnel fixture as of Sunday 2026-03-15; every number is worked out in the comments.

March to date (Mar 1..15): 10 weekdays, 5 weekend days. March remaining (16..31): 12 weekdays, 4 weekend days.
"""

from __future__ import annotations

from datetime import date

import pytest

from kpiframe.kpi.session import KpiSession
from kpiframe.kpi.status import StatusRow
from tests.kpi.conftest import FILES


def _rows(project, as_of: date = date(2026, 3, 15), scenario: str = "plan") -> dict[str, StatusRow]:
    return {r.node: r for r in KpiSession(project, as_of=as_of, scenario=scenario).status()}


def test_volume_kpi_actual_target_attainment_projection_status(funnel):
    leads = _rows(funnel())["leads"]
    assert (leads.period, leads.day, leads.days) == ("2026-03", 15, 31)
    assert leads.actual == 120  # 10 x 10 + 5 x 4
    assert leads.target == 260  # the version since 2026-03-10 ("budget cut") replaced 300
    assert leads.attainment == pytest.approx(120 / 260)
    assert leads.gap == 120 - 260
    assert leads.projection == pytest.approx(256)  # 120 + 12 x 10 + 4 x 4
    assert leads.projected_attainment == pytest.approx(256 / 260)  # 0.985 >= 0.95
    assert leads.status == "on track"
    assert leads.owner == "mops" and leads.cadence == "weekly" and leads.ksf == "More leads"


def test_target_version_in_force_depends_on_as_of(funnel):
    leads = _rows(funnel(), as_of=date(2026, 3, 9))["leads"]
    assert leads.target == 300  # the budget cut took effect on 2026-03-10
    # to date Mar 1..9: weekdays 2-6 and 9 = 6 x 10, weekend 1, 7, 8 = 3 x 4 -> 72
    assert leads.actual == 72


def test_ratio_kpi_projects_numerator_and_denominator_and_baseline_target(funnel):
    rate = _rows(funnel())["lead_to_mql_rate"]
    assert rate.actual == pytest.approx(20 / 120)  # MQLs: 10 weekdays x 2
    assert rate.projection == pytest.approx(44 / 256)  # (20 + 12 x 2) / (120 + 136)
    # baseline: trailing 2 complete months before March, Jan + Feb: (44 + 40) / (256 + 232) = 84 / 488, x 1.1
    assert rate.target == pytest.approx(84 / 488 * 1.1)
    assert rate.projected_attainment == pytest.approx((44 / 256) / (84 / 488 * 1.1))  # 0.908
    assert rate.status == "at risk"  # 0.85 <= 0.908 < 0.95
    assert rate.target_source == "plan: trailing 2 months 2026-01..2026-02 × 1.1"
    assert rate.benchmark == "10 %–20 %" and rate.benchmark_verdict == "within"  # 16.7 % to date


def test_lower_is_better_attainment_is_inverted(funnel):
    cost = _rows(funnel())["cost_per_mql"]
    assert cost.actual == pytest.approx(1500 / 20)  # 15 days x 100 over 20 MQLs = 75
    assert cost.attainment == pytest.approx(70 / 75)
    assert cost.projection == pytest.approx(3100 / 44)  # 31 days x 100 over 44 MQLs = 70.45
    assert cost.projected_attainment == pytest.approx(70 / (3100 / 44))  # 0.9935
    assert cost.status == "on track"


def test_kgi_over_the_quarter_and_the_per_channel_row(funnel):
    rows = _rows(funnel())
    pipeline = rows["pipeline"]
    assert (pipeline.period, pipeline.day, pipeline.days) == ("2026-Q1", 74, 90)
    assert pipeline.actual == 67500  # Jan 20,000 + Feb 25,000 + Mar 1..15 at 1,500
    assert pipeline.attainment == pytest.approx(67500 / 90000)
    paid = rows["leads (paid_search)"]
    assert paid.dimension == "lead__channel=paid_search"
    assert paid.actual == 70  # 10 weekdays x 6 + 5 weekend days x 2
    assert paid.projection == pytest.approx(150)  # 70 + 12 x 6 + 4 x 2
    assert paid.target == 150 and paid.status == "on track"


def test_derived_target_walks_down_from_the_kgi(funnel):
    opportunities = _rows(funnel())["opportunities"]
    # pipeline 2026-Q1 = 90,000 split by days (no year of history: index 1): March 90,000 x 31 / 90 = 31,000;
    # pipeline per opportunity, trailing 3 months before Q1 (Oct..Dec 2025, data from Dec): 10,000 / 10 = 1,000;
    # so March needs 31,000 / 1,000 = 31 opportunities
    assert opportunities.target == pytest.approx(31)
    assert opportunities.actual == 15  # one a day on Mar 1..15


def test_drivers_are_read_with_their_formula_lag(funnel):
    rows = _rows(funnel())
    rate = rows["mql_to_opportunity_rate (mqls 1 mo. earlier)"]
    # opportunities Mar 1..15 (15) over MQLs Feb 1..15 (weekdays 2-6, 9-13: 10 x 2 = 20)
    assert rate.actual == pytest.approx(15 / 20)
    assert rate.status == "no target" and rate.role == "driver"


def test_scenario_falls_back_to_plan_where_it_has_no_target(funnel):
    rows = _rows(funnel(), scenario="stretch")
    assert rows["mqls"].target == 60 and rows["mqls"].target_source == "stretch"
    assert rows["leads"].target == 260 and rows["leads"].target_source == "plan since 2026-03-10"


def test_thresholds_come_from_the_project(funnel):
    project = funnel(
        {
            "kpi_project.yml": """
        name: funnel
        kpi: {status_thresholds: {on_track: 0.99, at_risk: 0.9}}
    """
        }
    )
    rows = _rows(project)
    assert rows["leads"].status == "at risk"  # 0.985 < 0.99
    assert rows["mqls"].status == "off track"  # 44 / 50 = 0.88 < 0.9


def test_quarter_target_from_its_months(funnel):
    project = funnel()
    session = KpiSession(project, as_of=date(2026, 3, 15))
    from kpiframe.kpi.periods import parse_period

    target = session.resolver().target("leads", parse_period("2026-Q1"))
    assert target is not None and target.value == 250 + 250 + 260
    assert session.resolver().target("lead_to_mql_rate", parse_period("2026-Q1")) is None  # rates do not add up


def test_benchmark_targets_from_the_attached_range_and_the_library(funnel):
    targets = (
        FILES["metrics/targets.yml"]
        + """
          - {metric: lead_to_mql_rate, scenario: stretch, values: {2026-03: {point: low}}}
          - {metric: lead_to_mql_rate, scenario: library, values: {2026-03: {benchmark: email_open, point: high}}}
    """
    )
    project = funnel({"metrics/targets.yml": targets})
    # the range attached to lead_to_mql_rate in the fixture is 10 %..20 %: its low end
    assert _rows(project, scenario="stretch")["lead_to_mql_rate"].target == pytest.approx(0.10)
    # the library's email open range is 20 %..25 %: its high end
    row = _rows(project, scenario="library")["lead_to_mql_rate"]
    assert row.target == pytest.approx(0.25) and row.target_source == "library: benchmark email_open (high)"
