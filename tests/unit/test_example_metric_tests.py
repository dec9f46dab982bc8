"""The example project's own metric tests (metrics/tests/*.yml, written by hand from the spec) pass."""

from __future__ import annotations

from pathlib import Path

from kpiframe.project import Project
from kpiframe.quality.metric_tests import run_metric_tests

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_METRICS = [
    "ad_spend",
    "impressions",
    "clicks",
    "ctr",
    "cpc",
    "sessions",
    "session_cvr",
    "leads",
    "mqls",
    "lead_to_mql_rate",
    "sqls",
    "opportunities",
    "pipeline",
    "won_deals",
    "bookings",
    "win_rate",
    "avg_deal_size",
    "cost_per_lead",
    "cost_per_mql",
    "email_open_rate",
    "email_click_rate",
    "email_ctor",
    "webinar_attendance_rate",
    "paid_roas",
]


def test_every_example_metric_has_a_passing_metric_test() -> None:
    project = Project.load(REPO)
    results = run_metric_tests(project.graph, project.layer)
    failures = [f"{r.test}[{r.case}]: {r.error or 'rows differ'}" for r in results if not r.passed]
    assert not failures
    covered = {
        m for located in project.graph.metric_tests.values() for case in located.spec.expect for m in case.metrics
    }
    assert set(EXAMPLE_METRICS) <= covered
