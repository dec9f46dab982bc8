"""Tree, target and benchmark YAML problems are KF8xx diagnostics at their line, all reported at once."""

from __future__ import annotations

import pytest

from kpiframe.errors import ProjectInvalid
from kpiframe.kpi.model import load_kpi
from tests.kpi.conftest import FILES


def _problems(funnel, changes: dict[str, str]) -> list[str]:
    with pytest.raises(ProjectInvalid) as caught:
        load_kpi(funnel(changes))
    return [d.render() for d in caught.value.diagnostics]


def _tree(text: str) -> dict[str, str]:
    return {
        "metrics/tree.yml": FILES["metrics/tree.yml"].replace("{metric: mqls, expr: leads * lead_to_mql_rate}", text)
    }


def test_the_fixture_and_its_tree_load(funnel):
    model = load_kpi(funnel())
    tree = model.tree()
    assert tree.kgi.metric == "pipeline"
    assert [n.metric for n in tree.kpis] == ["leads", "lead_to_mql_rate", "mqls", "cost_per_mql", "opportunities"]
    # formula children that are not KPIs become drivers, with the metric's metadata
    assert {n.metric for n in tree.nodes.values() if n.role == "driver"} == {
        "avg_opportunity_amount",
        "mql_to_opportunity_rate",
    }
    assert tree.formulas["opportunities"].lags == {"mqls": 1}
    assert tree.context_lags("mql_to_opportunity_rate") == {"mqls": 1}
    assert tree.context_lags("mqls") == {}


def test_unknown_metric_in_a_tree_gets_did_you_mean_and_line(funnel):
    tree = FILES["metrics/tree.yml"].replace("- {metric: leads, owner", "- {metric: leeds, owner")
    changes = {"metrics/tree.yml": tree}
    problems = _problems(funnel, changes)
    assert any(
        p.startswith("metrics/tree.yml:9:") and "error[KF804]: unknown metric 'leeds' (did you mean 'leads'?)" in p
        for p in problems
    ), problems


def test_misspelt_key_unknown_benchmark_and_bad_period_are_all_reported(funnel):
    changes = {
        "metrics/tree.yml": FILES["metrics/tree.yml"]
        .replace("owner: revops", "owmer: revops")
        .replace("{metric: lead_to_mql_rate, low: 0.1, high: 0.2}", "{metric: lead_to_mql_rate, use: email_opn}"),
        "metrics/targets.yml": FILES["metrics/targets.yml"].replace("2026-Q1: 90000", "2026-13: 90000"),
    }
    text = "\n".join(_problems(funnel, changes))
    assert "error[KF801]: unknown key 'owmer'" in text and "did you mean 'owner'?" in text
    assert "error[KF809]: unknown benchmark 'email_opn' (did you mean 'email_open'?)" in text
    assert "error[KF808]: '2026-13' has no month 13" in text


def test_formula_problems(funnel):
    assert any(
        "KF806" in p and "not allowed" in p for p in _problems(funnel, _tree("{metric: mqls, expr: sum(leads)}"))
    )
    assert any(
        "KF806" in p
        and "'leads' which is not in its expression" in p.replace(",", "")
        or "names 'leads', which is not in its expression" in p
        for p in _problems(funnel, _tree("{metric: mqls, expr: ad_spend / cost_per_mql, lag: {leads: 1}}"))
    )
    cycle = _problems(funnel, _tree("{metric: mqls, expr: opportunities / mql_to_opportunity_rate}"))
    assert any("KF806" in p and "cycle" in p for p in cycle), cycle
    unsupported = _problems(funnel, _tree("{metric: mqls, expr: leads * pipeline_ytd}"))
    assert any("KF807" in p and "cumulative" in p for p in unsupported), unsupported


def test_target_problems(funnel):
    changes = {
        "metrics/targets.yml": FILES["metrics/targets.yml"]
        + """
          - {metric: mqls, values: {2026-03: 55}}
          - {metric: ad_spend, values: {2026-03: derived}}
          - {metric: leads, dimension: {lead__chanel: email}, values: {2026-03: 1}}
          - {metric: mqls, values: {2026-04: {value: 1, derived: true}}}
    """
    }
    text = "\n".join(_problems(funnel, changes))
    assert "error[KF805]: target of 'mqls' for 2026-03 (plan) is set twice" in text
    assert "error[KF811]: target of 'ad_spend' is derived, but no tree formula has it as a child" in text
    assert "error[KF812]: unknown dimension 'lead__chanel' (did you mean 'lead__channel'?)" in text
    assert "give exactly one of value, baseline, benchmark" in text


def test_kpi_settings_are_checked(funnel):
    changes = {
        "kpi_project.yml": """
        name: funnel
        kpi:
          status_thresholds: {on_track: 0.8, at_risk: 0.9}
          lint_errors: [vanity_metrik]
    """
    }
    text = "\n".join(_problems(funnel, changes))
    assert "kpi_project.yml:3:" in text and "error[KF810]" in text and "at_risk must not be above on_track" in text
    assert "unknown lint 'vanity_metrik' (did you mean 'vanity_metric'?)" in text
