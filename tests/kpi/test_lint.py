"""KPI design lints: static ones on the files, data ones on hand-made monthly series."""

from __future__ import annotations

from datetime import date
from statistics import correlation

from kpiframe.errors import Severity
from kpiframe.kpi.data import Evaluator, Store
from kpiframe.kpi.lint import Linter
from kpiframe.kpi.model import load_kpi
from kpiframe.kpi.session import KpiSession
from kpiframe.kpi.targets import TargetResolver
from tests.kpi.conftest import FILES

SMALL_TREE = """
    trees:
      - name: small
        kgi: {metric: pipeline, owner: revops, direction: higher, timing: lagging, cadence: monthly, grain: quarter}
        ksfs:
          - name: volume
            kpis:
              - {metric: leads, owner: mops, direction: higher, timing: leading, cadence: weekly, grain: month}
              - {metric: opportunities, owner: sdr, direction: higher, timing: leading, cadence: weekly,
                 grain: month}
"""


def _codes(report) -> list[str]:
    return [d.code for d in report.diagnostics]


def test_the_fixture_tree_is_clean(funnel):
    report, reason = KpiSession(funnel(), as_of=date(2026, 3, 15)).lint()
    assert reason is None and report.data_checked
    assert report.diagnostics == []


def test_missing_metadata_targets_and_kpi_outside_trees(funnel):
    tree = FILES["metrics/tree.yml"].replace(
        "- {metric: mqls, owner: mops, direction: higher, timing: leading, cadence: weekly, grain: month}",
        "- {metric: mqls}",
    )
    targets = FILES["metrics/targets.yml"].replace(
        "- {metric: mqls, values: {2026-03: 50}}", "- {metric: ad_spend, values: {2026-03: 3000}}"
    )
    report, _ = KpiSession(
        funnel({"metrics/tree.yml": tree, "metrics/targets.yml": targets}), as_of=date(2026, 3, 15)
    ).lint()
    messages = [d.render() for d in report.diagnostics]
    for code, text in (
        ("KF820", "KPI 'mqls' of tree 'funnel' has no owner"),
        ("KF822", "has no direction"),
        ("KF823", "has no grain"),
        ("KF824", "has no cadence"),
        ("KF831", "has no timing"),
        ("KF821", "KPI 'mqls' of tree 'funnel' has no plan target for the current period 2026-03"),
        ("KF826", "KPI 'ad_spend' has targets or a kpi tag but is in no tree"),
    ):
        assert any(f"warning[{code}]" in m and text in m for m in messages), (code, messages)
    assert all(d.severity is Severity.WARNING for d in report.diagnostics)


def test_kpi_count_and_unpaired_volumes_raised_to_errors(funnel):
    project = funnel(
        {
            "metrics/tree.yml": SMALL_TREE,
            "metrics/targets.yml": "targets: []\n",
            "kpi_project.yml": "name: funnel\nkpi: {lint_errors: [kpi_count, KF827]}\n",
        }
    )
    report, _ = KpiSession(project, as_of=date(2026, 3, 15)).lint()
    found = {(d.code, d.severity) for d in report.diagnostics}
    assert ("KF825", Severity.ERROR) in found  # 2 KPIs under the KGI
    unpaired = [d.message for d in report.diagnostics if d.code == "KF827"]
    assert unpaired == [
        "volume KPI 'leads' has no paired quality KPI in tree 'small'",
        "volume KPI 'opportunities' has no paired quality KPI in tree 'small'",
    ]
    assert report.errors == 3  # KF825 and the two KF827 are raised to errors
    assert ("KF821", Severity.WARNING) in found  # no targets at all: still a warning


def test_a_formula_that_does_not_reproduce_its_metric(funnel):
    tree = FILES["metrics/tree.yml"].replace(
        "{metric: pipeline, expr: opportunities * avg_opportunity_amount}",
        "{metric: pipeline, expr: opportunities * 1000}",
    )
    report, _ = KpiSession(funnel({"metrics/tree.yml": tree}), as_of=date(2026, 3, 31)).lint()
    mismatch = [d.message for d in report.diagnostics if d.code == "KF830"]
    # Dec 10 x 1,000 = 10,000, Jan 20,000, Feb 25,000 match; March 22 x 1,000 = 22,000 vs 33,000: -33.3 %
    assert mismatch == [
        "formula pipeline = opportunities * 1000 does not reproduce pipeline in 1 of 4 months "
        "(tolerance 1.0%): 2026-03 -33.3%"
    ]


def _monthly(values: list[float]) -> dict[date, float]:
    """One value per month from January 2025, written on the month's first day."""
    return {date(2025 + i // 12, i % 12 + 1, 1): v for i, v in enumerate(values)}


def test_vanity_metric_and_unachievable_target_on_history(funnel):
    model = load_kpi(funnel())
    pipeline = [10.0 * (t + 1) for t in range(14)]  # Jan 2025 .. Feb 2026: 10, 20, ..., 140
    leads = [10.0 * (t + 2) for t in range(14)]  # 20 .. 150: leads of month t = pipeline of month t + 1
    opportunities = [5.0, 1.0, 5.0, 2.0] + [5.0, 1.0] * 5  # alternating: nothing to do with pipeline
    store = Store(
        {
            "pipeline": _monthly(pipeline),
            "leads": _monthly(leads),
            "opportunities": _monthly(opportunities),
            "mqls": {},
            "ad_spend": {},
        },
        last=date(2026, 3, 15),
    )
    evaluator = Evaluator(model.algebra, store)
    resolver = TargetResolver(model.targets, model.algebra, lambda _d: evaluator, model.benchmarks, store.last)
    report = Linter(model, store.last, evaluator, resolver).run([model.tree()])
    vanity = [d.message for d in report.diagnostics if d.code == "KF828"]
    # the best lag for opportunities, by the statistics module: r of opportunities(t - lag) with pipeline(t)
    best = max((correlation(opportunities[: 14 - lag], pipeline[lag:]), lag) for lag in range(4))
    assert vanity == [
        f"KPI 'opportunities' moves weakly with KGI 'pipeline': best r = {best[0]:+.2f} at a lag of "
        f"{best[1]} month(s) over {14 - best[1]} months (threshold 0.30); a possible vanity metric"
    ]
    unachievable = [d.message for d in report.diagnostics if d.code == "KF829"]
    # March target 260 over the Dec..Feb baseline (130 + 140 + 150) / 3 = 140: +86 %; the best month ever was
    # April 2025: 50 over (20 + 30 + 40) / 3 = 30, +67 %
    assert unachievable == [
        "target 260 of 'leads' for 2026-03 asks +86% over its trailing 3-month baseline 140; "
        "the best in history was +67% (2025-04)"
    ]
