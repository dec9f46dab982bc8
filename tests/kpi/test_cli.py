"""The KPI commands as a user runs them: formats, exit codes, publishing and writing a plan."""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import date
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from kpiframe.cli import main
from kpiframe.kpi.model import load_kpi
from kpiframe.kpi.periods import parse_period
from kpiframe.project import Project
from tests.kpi.conftest import FILES


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def project_args(funnel):
    """--project-dir and --warehouse of the funnel project over a private copy of its warehouse."""

    def make(changes: dict[str, str | None] | None = None) -> list[str]:
        project = funnel(changes, writable=True)
        return ["--project-dir", str(project.root), "--warehouse", project.warehouse_spec.path]

    return make


def test_status_json_csv_and_table(project_args):
    args = project_args()
    code, out, err = run("status", *args, "--as-of", "2026-03-15", "--format", "json")
    assert code == 0, err
    leads = next(row for row in json.loads(out) if row["node"] == "leads")
    # 120 to date of 260; projected 120 + 12 weekdays x 10 + 4 weekend days x 4 = 256
    assert {k: leads[k] for k in ("metric", "period", "actual", "target", "projection", "status")} == {
        "metric": "leads",
        "period": "2026-03",
        "actual": 120.0,
        "target": 260.0,
        "projection": 256.0,
        "status": "on track",
    }
    assert leads["attainment"] == pytest.approx(120 / 260)
    code, out, _ = run("status", *args, "--as-of", "2026-03-15", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0]["metric"] == "pipeline" and rows[0]["actual"] == "67500.0"
    code, out, _ = run("status", *args, "--as-of", "2026-03-15")
    assert code == 0 and "120 / 260" in out and "day 15 of 31" in out and "256 (98 %)" in out


def test_status_publish_replaces_its_snapshot(project_args):
    args = project_args()
    for _ in range(2):
        code, _, err = run("status", *args, "--as-of", "2026-03-15", "--publish", "--format", "json")
        assert code == 0, err
        assert "published 9 rows to metrics.kpi_status" in err
    con = duckdb.connect(args[3], read_only=True)
    rows = con.execute(
        "select node, actual, target, status, owner, as_of::varchar from metrics.kpi_status "
        "where metric = 'leads' order by node"
    ).fetchall()
    count = con.execute("select count(*) from metrics.kpi_status").fetchone()
    con.close()
    assert rows == [
        ("leads", 120.0, 260.0, "on track", "mops", "2026-03-15"),
        ("leads (paid_search)", 70.0, 150.0, "on track", "mops", "2026-03-15"),
    ]
    assert count == (9,)  # 1 KGI + 5 KPIs + 1 channel row + 2 drivers, once although published twice


def test_plan_targets_json_and_write(project_args):
    args = project_args()
    code, out, err = run(
        "plan-targets", *args, "--as-of", "2026-03-31", "--period", "2026-Q2", "--target", "60000", "--format", "json"
    )
    assert code == 0, err
    totals = {r["metric"]: r for r in json.loads(out) if r["grain"] == "window"}
    assert totals["mqls"]["period"] == "2026-03..2026-05"
    assert totals["mqls"]["required"] == pytest.approx(100)  # 60,000 x 130 / 78,000 (see test_planning)
    code, _, err = run(
        "plan-targets", *args, "--as-of", "2026-03-31", "--period", "2026-Q2", "--target", "60000", "--write"
    )
    assert code == 0, err
    written = Path(args[1]) / "metrics" / "targets_2026_q2.yml"
    text = written.read_text(encoding="utf-8")
    assert "2026-Q2: 60000" in text and "metric: leads" in text
    # the project still loads, and the written plan is a new version of the plan, in force from today
    book = load_kpi(Project.load(args[1])).targets
    march_leads = book.find("leads", parse_period("2026-03"), as_of=date.today())
    assert march_leads is not None and march_leads.since == date.today()
    assert march_leads.source.value == math.ceil(60000 * 30 / 91 * 130 / 78000 * 744 / 128)  # 191.6 -> 192
    code, _, err = run("plan-targets", *args, "--period", "2026-Q2", "--target", "60000", "--write")
    assert code == 1 and "KF853" in err and "already exists" in err


def test_explain_json_adds_up_and_publishes(project_args):
    args = project_args()
    code, out, err = run(
        "explain",
        "pipeline",
        *args,
        "--period",
        "2026-03",
        "--vs",
        "previous",
        "--as-of",
        "2026-03-31",
        "--format",
        "json",
        "--depth",
        "1",
        "--publish",
    )
    assert code == 0, err
    data = json.loads(out)
    assert {k: data[k] for k in ("metric", "period", "baseline", "actual", "change")} == {
        "metric": "pipeline",
        "period": "2026-03",
        "baseline": 25000.0,
        "actual": 33000.0,
        "change": 8000.0,
    }
    assert [(c["driver"], round(c["contribution"], 6)) for c in data["contributions"]] == [
        ("opportunities", -3750.0),
        ("avg_opportunity_amount", 11750.0),
    ]
    con = duckdb.connect(args[3], read_only=True)
    published = con.execute("select driver, contribution, total_change from metrics.kpi_explain order by driver")
    assert published.fetchall() == [("avg_opportunity_amount", 11750.0, 8000.0), ("opportunities", -3750.0, 8000.0)]
    con.close()
    code, out, _ = run("explain", "pipeline", *args, "--period", "2026-03", "--as-of", "2026-03-31")
    assert code == 0 and "total" in out


def test_explain_of_a_metric_without_formula_is_a_user_error(project_args):
    code, _, err = run("explain", "leads", *project_args(), "--period", "2026-03")
    assert code == 1 and "error[KF850]: 'leads' has no formula" in err


def test_lint_exit_codes_and_static_mode(project_args, tmp_path):
    args = project_args()
    code, out, _ = run("lint", *args, "--as-of", "2026-03-15")
    assert code == 0 and out.strip().endswith("0 error(s), 0 warning(s)")
    code, out, _ = run("lint", args[0], args[1], "--warehouse", str(tmp_path / "missing.duckdb"))
    assert code == 0 and "static lints only" in out and "(data lints skipped)" in out
    raised = project_args(
        {
            "kpi_project.yml": "name: funnel\nkpi: {lint_errors: [missing_target]}\n",
            "metrics/targets.yml": "targets: []\n",
        }
    )
    code, out, _ = run("lint", *raised, "--as-of", "2026-03-15", "--format", "json")
    assert code == 1
    findings = json.loads(out)["findings"]
    assert {f["code"] for f in findings if f["severity"] == "error"} == {"KF821"}


def test_several_trees_need_tree(project_args):
    second = FILES["metrics/tree.yml"].replace("name: funnel", "name: other").replace("benchmarks:", "benchmarks_:")
    second = second.split("benchmarks_:")[0]
    args = project_args({"metrics/other.yml": second})
    code, _, err = run("status", *args, "--as-of", "2026-03-15")
    assert code == 1 and "error[KF842]: the project has 2 trees: other, funnel" in err and "--tree" in err
    code, _, err = run("status", *args, "--as-of", "2026-03-15", "--tree", "othr")
    assert code == 1 and "unknown tree 'othr' (did you mean 'other'?)" in err
    code, _, _ = run("status", *args, "--as-of", "2026-03-15", "--tree", "other", "--format", "json")
    assert code == 0
