"""What the README and docs/ci.md promise, run as a user runs it (the CLI through click's CliRunner, or a
real terminal): each test failed when the docs were followed literally."""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from kpiframe.cli import main
from kpiframe.engine.options import resolve_warehouse
from kpiframe.load.config import load_config
from kpiframe.load.specs import MetricSpec
from tests.conftest import REPO_ROOT, SHOP_PROJECT
from tests.kpi.conftest import write as write_funnel


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def hand(root: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(root / "shop.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


# --- "--warehouse: a DuckDB file or a PostgreSQL DSN" --------------------------------------------------------

# port 1 on loopback refuses at once: reaching it proves the PostgreSQL engine was chosen
DSNS = ["postgresql://kpi@127.0.0.1:1/nope", "postgres://127.0.0.1:1/nope", "host=127.0.0.1 port=1 dbname=nope"]


@pytest.mark.parametrize("dsn", DSNS)
def test_a_dsn_on_a_duckdb_project_goes_to_postgresql(make_project, dsn):
    root = make_project()
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    code, _, err = run("build", "--project-dir", str(root), "--warehouse", dsn)
    assert code == 1 and "error[KF502]: cannot connect to PostgreSQL" in err
    # before: a DuckDB file (or folder) named after the DSN appeared in the project
    assert sorted(p.relative_to(root) for p in root.rglob("*") if "target" not in p.parts) == [
        p for p in before if "target" not in p.parts
    ]


def test_the_dsn_in_the_environment_variable_too(make_project, monkeypatch):
    root = make_project()
    monkeypatch.setenv("KPIFRAME_WAREHOUSE", DSNS[2])
    code, _, err = run("query", "--project-dir", str(root), "--metric", "orders")
    assert code == 1 and "error[KF502]: cannot connect to PostgreSQL" in err


def test_a_duckdb_file_on_a_postgres_project_is_a_duckdb_file(make_project, tmp_path, monkeypatch):
    monkeypatch.delenv("KPIFRAME_WAREHOUSE", raising=False)
    root = make_project({"kpi_project.yml": f"name: shop\nwarehouse: {{type: postgres, dsn: '{DSNS[2]}'}}\n"})
    config = load_config(root)
    assert resolve_warehouse(config, root, None).dsn == DSNS[2]
    snapshot = resolve_warehouse(config, root, "shop.duckdb")
    assert (snapshot.type, snapshot.path) == ("duckdb", str(root / "shop.duckdb"))
    args = ["--project-dir", str(root), "--warehouse", "shop.duckdb"]
    code, _, err = run("build", *args)
    assert code == 0, err
    code, out, err = run("query", *args, "--metric", "orders", "--grain", "year", "--format", "json")
    assert code == 0, err
    [(orders,)] = hand(root, "select count(*) from raw.orders where status <> 'test'")
    assert json.loads(out) == [{"period_start": "2026-01-01", "orders": orders, "period_complete": False}]


# --- "--format table|json|csv" and "--project-dir" ------------------------------------------------------------


def test_lint_takes_table_json_and_csv(tmp_path):
    root = write_funnel(tmp_path / "funnel", {"metrics/targets.yml": "targets: []\n"})  # every target missing
    args = ["lint", "--project-dir", str(root), "--warehouse", str(tmp_path / "none.duckdb")]
    code, out, _ = run(*args, "--format", "json")
    assert code == 0
    findings = json.loads(out)["findings"]
    assert findings and {f["code"] for f in findings} >= {"KF821"}
    code, out, err = run(*args, "--format", "csv")
    assert code == 0 and "static lints only" in err
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["code", "severity", "location", "message", "hint"]
    assert rows[1:] == [
        [f["code"], f["severity"], f["location"] or "", f["message"], f["hint"] or ""] for f in findings
    ]
    code, out, _ = run(*args, "--format", "table")
    assert code == 0 and out.strip().endswith(f"0 error(s), {len(findings)} warning(s) (data lints skipped)")


def test_schema_takes_project_dir(tmp_path):
    code, out, err = run("schema", "--project-dir", str(tmp_path))
    assert code == 0, err
    written = sorted(p.name for p in (tmp_path / "schemas").iterdir())
    assert written == sorted(p.name for p in (REPO_ROOT / "schemas").glob("*.schema.json"))
    code, out, _ = run("schema", "--project-dir", str(tmp_path), "--check")
    assert code == 0 and "up to date" in out


def test_every_command_takes_what_the_readme_says():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert "Every command takes `--format table|json|csv`" not in readme
    commands = {name: command for name, command in main.commands.items() if name != "docs"}
    docs = main.commands["docs"]
    commands |= {f"docs {name}": command for name, command in docs.commands.items()}  # type: ignore[attr-defined]
    for name, command in commands.items():
        options = {opt for param in command.params for opt in getattr(param, "opts", [])}
        assert ("--project-dir" in options) == (name != "init"), name
        assert ("--warehouse" in options) == (name not in ("init", "schema", "import", "docs serve")), name
    for name in ("status", "plan-targets", "explain", "lint"):
        [fmt] = [p for p in main.commands[name].params if p.name == "fmt"]
        assert list(fmt.type.choices) == ["table", "json", "csv"], name  # type: ignore[attr-defined]


# --- metric types ----------------------------------------------------------------------------------------------


def test_metric_types_in_the_readme_are_the_loaders():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    line = next(text for text in readme.splitlines() if "Metric types:" in text)
    assert "filtered (a simple metric with a `filter:`; there is no `type: filtered`)" in line
    loader_types = set(MetricSpec.model_fields["type"].annotation.__args__)  # type: ignore[union-attr]
    assert loader_types == {"simple", "ratio", "derived", "cumulative", "conversion"}


def test_a_filtered_metric_is_a_simple_metric_with_filter(make_project):
    root = make_project()  # paid_orders: {measure: order_count, filter: "status = 'paid'"}
    assert run("build", "--project-dir", str(root))[0] == 0
    code, out, _ = run("query", "--project-dir", str(root), "--metric", "paid_orders", "--format", "csv")
    expected = hand(
        root,
        """select strftime(date_trunc('month', ordered_at), '%Y-%m-%d'), count(*)::varchar
                             from raw.orders where status = 'paid' group by 1 order by 1""",
    )
    assert code == 0 and [row[:2] for row in csv.reader(io.StringIO(out))][1:] == [list(row) for row in expected]
    shop = SHOP_PROJECT["metrics/shop.yml"].replace(
        "{name: paid_orders, measure", "{name: paid_orders, type: filtered, measure"
    )
    code, _, err = run("compile", "--project-dir", str(make_project({"metrics/shop.yml": shop}, rows=False)))
    assert code == 1 and "error[KF014]" in err and "'simple', 'ratio', 'derived', 'cumulative' or 'conversion'" in err


# --- format: on a metric -----------------------------------------------------------------------------------------

FORMATTED = SHOP_PROJECT["metrics/shop.yml"].replace(
    "- {name: orders, measure: order_count}",
    "- {name: orders, measure: order_count}\n"
    '          - {name: revenue_milli, type: derived, expr: revenue * 1000, format: "#,##0"}\n'
    '          - {name: revenue_eur, measure: revenue_sum, format: "€#,##0.0"}',
)


def test_a_metric_format_is_applied_to_tables_and_markdown(make_project):
    root = make_project({"metrics/shop.yml": FORMATTED})
    assert run("build", "--project-dir", str(root))[0] == 0
    sums = hand(
        root,
        """select sum(amount) from raw.orders where status <> 'test'
                         group by date_trunc('quarter', ordered_at) order by 1 desc""",
    )
    query = [
        "query",
        "--project-dir",
        str(root),
        "--metric",
        "revenue_milli",
        "--metric",
        "revenue_eur",
        "--grain",
        "quarter",
    ]
    code, table, _ = run(*query)
    assert code == 0
    code, markdown, _ = run(*query, "--format", "markdown")
    assert code == 0
    for (total,) in sums:  # Q1 is 280.00: "280,000" and "€280.0", not "280,000.00" and "280.00"
        assert f" {float(total) * 1000:,.0f} " in table and f" €{float(total):,.1f} " in table
        assert f"| {float(total) * 1000:,.0f} | €{float(total):,.1f} |" in markdown
    code, out, _ = run(*query, "--format", "csv")
    assert code == 0 and "€" not in out and "280000" in out.replace(".0", "")  # machines get raw numbers


def test_a_format_kpiframe_cannot_apply_is_an_error(make_project):
    root = make_project({"metrics/shop.yml": FORMATTED.replace('format: "#,##0"}', 'format: "0 bananas 0"}')})
    code, _, err = run("query", "--project-dir", str(root), "--metric", "orders")
    assert code == 1 and "error[KF430]: metric 'revenue_milli' has format '0 bananas 0'" in err
    assert err.startswith("metrics/shop.yml:")


# --- pre-commit `rev:` -------------------------------------------------------------------------------------------


def test_pre_commit_revs_name_something_that_exists():
    tags = set(
        subprocess.run(
            ["git", "tag", "--list"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
    )
    revs = [
        (path, found)
        for path in ("docs/ci.md", ".pre-commit-hooks.yaml", "README.md")
        for found in re.findall(r"^[\s#]*rev:\s*(\S+)", (REPO_ROOT / path).read_text(encoding="utf-8"), re.MULTILINE)
    ]
    assert revs
    for path, rev in revs:  # a <placeholder> the user fills in, or a tag of this repository
        assert rev.startswith("<") or rev in tags, f"{path}: rev {rev} is not a tag"


# --- table width -------------------------------------------------------------------------------------------------

LONG = "a description long enough that a 200-column table had to wrap it " * 4


def test_tables_follow_columns_and_do_not_wrap_when_piped(make_project, monkeypatch):
    root = make_project(
        {
            "metrics/shop.yml": SHOP_PROJECT["metrics/shop.yml"].replace(
                "- {name: orders, measure: order_count}",
                f"- {{name: orders, measure: order_count, description: {LONG}}}",
            )
        },
        rows=False,
    )
    monkeypatch.delenv("COLUMNS", raising=False)
    code, out, _ = run("list", "--project-dir", str(root))
    assert code == 0 and any(LONG.strip() in line for line in out.splitlines())  # one line per row
    code, out, _ = run("list", "--project-dir", str(root), env={"COLUMNS": "60"})
    assert code == 0 and max(len(line) for line in out.splitlines()) <= 60 and "orders" in out


def test_tables_fit_a_real_terminal(make_project):
    root = make_project(rows=False)
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 50, 0, 0))  # 40 rows, 50 columns
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    child = subprocess.Popen(
        [sys.executable, "-m", "kpiframe.cli.main_entry", "list", "--project-dir", str(root)],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed with the child
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    assert child.wait() == 0
    lines = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", output.decode()).replace("\r", "").splitlines()
    assert max(len(line) for line in lines) <= 50 and any("orders" in line for line in lines)
