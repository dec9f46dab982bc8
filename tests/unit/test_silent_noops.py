"""Commands that used to succeed doing nothing now say so: a misspelt selector, tag or scenario is an
error with a did-you-mean, and a valid selection that matches nothing says "nothing to build" (exit 0)."""

from __future__ import annotations

import csv
import io
import json
import shutil

import duckdb
from click.testing import CliRunner

from kpiframe.cli import main
from kpiframe.project import Project
from tests.conftest import SHOP_METRIC_TEST, SHOP_PROJECT


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output and "KF999" not in result.output, result.output
    return result.exit_code, result.output


def run_count(root) -> int:
    """Builds recorded in the warehouse, read with plain SQL."""
    con = duckdb.connect(str(root / "shop.duckdb"), read_only=True)
    try:
        return con.execute("select count(*) from kpiframe.runs").fetchone()[0]
    finally:
        con.close()


# shop.yml with tags: `core` on orders (in shop_monthly), `rolling` on revenue_3d (in no table), and a
# model tag `finance` on stg_orders
TAGGED = {
    "metrics/shop.yml": SHOP_PROJECT["metrics/shop.yml"]
    .replace("- {name: orders, measure: order_count}", "- {name: orders, measure: order_count, tags: [core]}")
    .replace("window: 3 days}", "window: 3 days, tags: [rolling]}"),
    "models/models.yml": """
        models:
          - {name: stg_orders, tags: [finance]}
    """,
}


# --- kpiframe test --select -------------------------------------------------------------------------
def test_test_select_with_a_typo_is_an_error_with_a_suggestion(make_project):
    root = str(make_project({"metrics/tests.yml": SHOP_METRIC_TEST}, rows=False))
    code, out = run("test", "--project-dir", root, "--select", "revenue_by_regin", "--metrics-only")
    assert code == 1
    assert "error[KF704]: unknown metric test 'revenue_by_regin' (did you mean 'revenue_by_region'?)" in out
    assert "0 passed" not in out


def test_test_select_far_from_any_name_lists_the_tests(make_project):
    root = str(make_project({"metrics/tests.yml": SHOP_METRIC_TEST}, rows=False))
    code, out = run("test", "--project-dir", root, "--select", "typo", "--metrics-only")
    assert code == 1
    assert "error[KF704]: unknown metric test 'typo'" in out and "known metric tests: revenue_by_region" in out


def test_test_select_of_an_existing_test_runs_it(make_project):
    root = str(make_project({"metrics/tests.yml": SHOP_METRIC_TEST}, rows=False))
    code, out = run("test", "--project-dir", root, "--select", "revenue_by_region", "--metrics-only")
    assert code == 0, out
    assert "1 passed, 0 failed" in out


# --- kpiframe build --select ------------------------------------------------------------------------
def test_an_unknown_tag_is_an_error_with_a_suggestion(make_project):
    root = make_project(TAGGED)
    code, out = run("build", "--project-dir", str(root), "--select", "tag:finanse")
    assert code == 1
    assert "error[KF455]: unknown tag 'finanse' (did you mean 'finance'?)" in out
    code, out = run("build", "--project-dir", str(root), "--select", "tag:unknown")
    assert code == 1
    assert "error[KF455]: unknown tag 'unknown'" in out and "known tags: core, finance, rolling" in out


def test_an_unknown_tag_in_a_project_without_tags_is_an_error(make_project):
    code, out = run("build", "--project-dir", str(make_project()), "--select", "tag:unknown")
    assert code == 1 and "error[KF455]: unknown tag 'unknown'" in out and "known tags: none" in out


def test_known_tags_select_models_and_tables(make_project):
    root = make_project(TAGGED)
    code, out = run("build", "--project-dir", str(root), "--select", "+tag:finance", "--select", "+tag:core")
    assert code == 0, out
    con = duckdb.connect(str(root / "shop.duckdb"), read_only=True)
    try:
        (rows,) = con.execute("select rows_per_table from kpiframe.runs").fetchone()
    finally:
        con.close()
    # tag:finance is stg_orders; +tag:core is shop_monthly and everything upstream of it
    assert sorted(json.loads(rows)) == ["analytics.stg_customers", "analytics.stg_orders", "metrics.shop_monthly"]


def test_a_known_tag_that_selects_nothing_says_nothing_to_build(make_project):
    root = make_project(TAGGED)
    code, out = run("build", "--project-dir", str(root), "--select", "tag:rolling")
    assert code == 0, out
    assert "nothing to build: 'tag:rolling' matches no model and no published table" in out
    con = duckdb.connect(str(root / "shop.duckdb"), read_only=True)
    try:  # nothing ran: not even the run log was created
        found = con.execute("select count(*) from information_schema.tables where table_schema = 'kpiframe'")
        assert found.fetchone()[0] == 0
    finally:
        con.close()


def test_a_metric_in_no_table_says_nothing_to_build(make_project):
    code, out = run("build", "--project-dir", str(make_project()), "--select", "revenue_3d")
    assert code == 0, out
    assert "nothing to build: 'revenue_3d' is a metric that no published table shows" in out


def test_state_modified_without_changes_says_nothing_to_build(make_project, tmp_path):
    root = make_project()
    assert run("build", "--project-dir", str(root))[0] == 0
    state = tmp_path / "prod_manifest.json"
    shutil.copy(root / "target" / "manifest.json", state)
    code, out = run("build", "--project-dir", str(root), "-s", "state:modified+", "--state", str(state))
    assert code == 0, out
    assert f"nothing to build: 'state:modified+' matches no node: none changed since {state}" in out
    assert run_count(root) == 1  # only the first, full build


def test_an_empty_selector_beside_a_matching_one_builds_the_match(make_project):
    root = make_project()
    code, out = run("build", "--project-dir", str(root), "--select", "revenue_3d", "--select", "stg_orders")
    assert code == 0, out
    assert "nothing to build" not in out
    assert run_count(root) == 1


def test_a_typo_beside_a_valid_selector_is_still_an_error(make_project):
    root = make_project()
    code, out = run("build", "--project-dir", str(root), "--select", "stg_orders", "--select", "stg_ordrs")
    assert code == 1 and "error[KF450]: unknown node 'stg_ordrs' (did you mean 'stg_orders'?)" in out


# --- kpiframe status / explain --scenario -----------------------------------------------------------
KPI = """
    trees:
      - name: shop
        kgi: {metric: revenue, grain: quarter}
        formulas:
          - {metric: revenue, expr: orders * aov}
    targets:
      - {metric: revenue, values: {2026-Q1: 300}}
      - {metric: revenue, scenario: stretch, values: {2026-Q1: 400}}
"""


def built_kpi_project(make_project) -> str:
    root = make_project({"metrics/kpi.yml": KPI})
    Project.load(root).build()
    return str(root)


def kgi_row(out: str) -> dict[str, str]:
    return next(r for r in csv.DictReader(io.StringIO(out)) if r["role"] == "kgi")


def test_a_misspelt_scenario_is_an_error_not_plan_under_its_name(make_project):
    root = str(make_project({"metrics/kpi.yml": KPI}))
    code, out = run("status", "--project-dir", root, "--as-of", "2026-03-31", "--scenario", "strech")
    assert code == 1
    assert "error[KF844]: unknown scenario 'strech' (did you mean 'stretch'?)" in out
    assert "hint: scenarios with targets: plan, stretch" in out
    code, out = run(
        "explain",
        "revenue",
        "--project-dir",
        root,
        "--period",
        "2026-Q1",
        "--vs",
        "target",
        "--as-of",
        "2026-03-31",
        "--scenario",
        "typo",
    )
    assert code == 1 and "error[KF844]: unknown scenario 'typo'" in out


def test_known_scenarios_still_read_their_targets(make_project):
    root = built_kpi_project(make_project)
    # Q1 revenue by hand: o1..o6 = 100 + 50 + 30 + 70 + 20 + 10 = 280 (o8 is a test order, o7 is April)
    for scenario, target in (("plan", "300.0"), ("stretch", "400.0")):
        code, out = run(
            "status", "--project-dir", root, "--as-of", "2026-03-31", "--scenario", scenario, "--format", "csv"
        )
        assert code == 0, out
        row = kgi_row(out)
        assert (row["actual"], row["target"], row["scenario"]) == ("280.0", target, scenario)


def test_plan_targets_may_write_a_new_scenario(make_project):
    """plan-targets creates targets, so a scenario that has none yet is what it is for."""
    root = built_kpi_project(make_project)
    code, out = run(
        "plan-targets",
        "--project-dir",
        root,
        "--period",
        "2026-Q2",
        "--target",
        "500",
        "--scenario",
        "brand_new",
        "--as-of",
        "2026-03-31",
        "--format",
        "csv",
    )
    assert code == 0, out
    assert "revenue,target,2026-Q2,window,500.0" in out
