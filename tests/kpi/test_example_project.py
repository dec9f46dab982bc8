"""The example project's tree (metrics/kpi_tree.yml, metrics/targets.yml) on its own demo data."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from kpiframe.demo import generate_demo
from kpiframe.kpi.model import load_kpi
from kpiframe.kpi.periods import Period, parse_period
from kpiframe.kpi.session import KpiSession
from kpiframe.project import Project
from tests.conftest import REPO_ROOT

AS_OF = date(2026, 11, 15)


@pytest.fixture(scope="module")
def demo_project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    warehouse = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    con = duckdb.connect(str(warehouse))
    generate_demo(con, scale=0.3)
    con.close()
    project = Project.load(REPO_ROOT, warehouse=str(warehouse))
    project.build()
    return project


def test_tree_of_the_spec_with_targets_for_every_month_and_quarter():
    model = load_kpi(Project.load(REPO_ROOT, warehouse=str(Path("/nonexistent/unused.duckdb"))))
    tree = model.tree()
    assert tree.kgi.metric == "pipeline" and tree.kgi.grain == "quarter"
    assert [k.label for k in tree.ksfs] == [
        "More qualified leads",
        "Better lead-to-opportunity conversion",
        "Bigger deals",
    ]
    assert sorted(n.metric for n in tree.kpis) == sorted(
        ["leads", "lead_to_mql_rate", "mqls", "opportunities", "avg_deal_size", "cost_per_mql"]
    )
    months = parse_period("2025").months() + parse_period("2026").months()  # the demo data's years
    quarters = [Period("quarter", m.start) for m in months[::3]]
    for node in [tree.kgi, *tree.kpis]:
        assert node.owner and node.direction and node.timing and node.cadence and node.grain, node
        for period in months if node.grain == "month" else quarters:
            assert model.targets.find(node.metric, period) is not None, (node.metric, period.label)
    assert set(model.benchmarks) == {"email_open_rate", "email_click_rate", "webinar_attendance_rate"}


def test_status_plan_and_explain_on_demo_data(demo_project):
    session = KpiSession(demo_project, as_of=AS_OF)
    rows = session.status()
    kgi = rows[0]
    assert (kgi.metric, kgi.period, kgi.target) == ("pipeline", "2026-Q4", 3000000)
    assert kgi.actual and kgi.projection and kgi.projection > kgi.actual
    tree_rows = [r for r in rows if r.role in ("kgi", "kpi")]
    assert all(r.target is not None and r.status in ("on track", "at risk", "off track") for r in tree_rows)
    assert {r.benchmark for r in rows if r.role == "benchmark"} == {"20 %–25 %", "2 %–5 %", "40 %–60 %"}
    plan = session.plan(parse_period("2027-Q1"), 3000000)
    totals = {r.metric: r for r in plan.rows if r.grain == "window"}
    assert totals["leads"].period == "2026-12..2027-02" and (totals["leads"].required or 0) > 0
    explanation = session.explain("pipeline", parse_period("2026-Q3"), "previous")
    assert explanation.change is not None
    assert sum(c.contribution for c in explanation.contributions) == pytest.approx(explanation.change)


def test_lint_of_the_example_has_no_errors(demo_project):
    report, reason = KpiSession(demo_project, as_of=AS_OF).lint()
    assert reason is None and report.data_checked and report.errors == 0
    assert "KF830" not in {d.code for d in report.diagnostics}  # the formulas hold on the data
