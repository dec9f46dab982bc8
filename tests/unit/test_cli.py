"""The CLI as a user runs it: exit codes, compiler-style messages, output formats."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

from click.testing import CliRunner

from kpiframe.cli import main


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_build_then_query_in_every_format(make_project):
    root = str(make_project())
    code, out, err = run("build", "--project-dir", root)
    assert code == 0, err
    assert "metrics.shop_monthly" in out and "[1/4]" in err
    code, out, _ = run(
        "query",
        "--project-dir",
        root,
        "--metric",
        "orders",
        "--metric",
        "revenue",
        "--grain",
        "quarter",
        "--format",
        "csv",
    )
    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    # the last order (not a test one) is of 2026-04-01: Q2 and 2026 have not ended on the last day with data
    assert rows == [
        ["period_start", "orders", "revenue", "period_complete"],
        ["2026-01-01", "6", "280.0", "True"],
        ["2026-04-01", "1", "40.0", "False"],
    ]
    code, out, _ = run("query", "--project-dir", root, "--metric", "orders", "--grain", "year", "--format", "json")
    assert json.loads(out) == [{"period_start": "2026-01-01", "orders": 7, "period_complete": False}]
    code, out, _ = run("query", "--project-dir", root, "--metric", "orders", "--grain", "year")
    assert "period_start" in out and "2026-01-01" in out


def test_warehouse_option_and_environment_variable(make_project, tmp_path, monkeypatch):
    root = str(make_project())
    other = tmp_path / "elsewhere.duckdb"
    code, _, err = run("build", "--project-dir", root, "--warehouse", str(other))
    assert code == 1 and "KF510" in err  # the other file has no raw tables yet
    monkeypatch.setenv("KPIFRAME_WAREHOUSE", str(other))
    code, _, err = run("query", "--project-dir", root, "--metric", "orders")
    assert code == 1 and "error[KF503]" in err and "elsewhere" not in err


def test_user_error_exits_1_without_traceback(make_project):
    root = str(make_project())
    code, _, err = run("query", "--project-dir", root, "--metric", "revenu", "--explain")
    assert code == 1
    assert "error[KF104]: unknown metric 'revenu' (did you mean 'revenue'?)" in err
    assert "Traceback" not in err


def test_usage_error_exits_2(make_project):
    code, _, _ = run("query", "--project-dir", str(make_project()), "--grain", "fortnight", "--metric", "x")
    assert code == 2


def test_explain_prints_sql_for_a_dialect(make_project):
    code, out, _ = run(
        "query", "--project-dir", str(make_project()), "--metric", "aov", "--explain", "--dialect", "postgres"
    )
    assert code == 0 and "NULLIF" in out and "DATE_TRUNC" in out


def test_compile_writes_target_and_manifest(make_project):
    root = make_project()
    code, out, err = run("compile", "--project-dir", str(root), "--dialect", "snowflake")
    assert code == 0, err
    manifest = json.loads((root / "target" / "manifest.json").read_text())
    node = manifest["nodes"]["table.shop_monthly"]
    assert node["depends_on"] == ["stg_customers", "stg_orders"] and len(node["hash"]) == 64
    assert (root / "target" / "compiled" / "snowflake" / "models" / "order_cents.sql").exists()
    assert manifest["nodes"]["model.order_cents"]["depends_on"] == ["stg_orders"]


def test_list_shows_every_object(make_project):
    code, out, _ = run("list", "--project-dir", str(make_project()), "--format", "csv")
    assert code == 0
    kinds = {row[0] for row in csv.reader(io.StringIO(out))}
    assert kinds == {"kind", "model", "dataset", "metric", "table"}


def test_help_and_compile_do_not_import_great_expectations(make_project):
    root = make_project()
    script = (
        "import sys; from click.testing import CliRunner; from kpiframe.cli import main; "
        f"r = CliRunner().invoke(main, ['compile', '--project-dir', {str(root)!r}]); "
        "assert r.exit_code == 0, r.output; "
        "print('great_expectations' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
