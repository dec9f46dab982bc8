"""`kpiframe init`: a new project compiles and passes its test at once, then builds on a user's own CSV."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

pytestmark = pytest.mark.slow

KPIFRAME = [sys.executable, "-m", "kpiframe.cli.main_entry"]
ORDERS_CSV = """order_id,ordered_at,channel,amount
a1,2026-03-02 09:15:00,web,120.50
a2,2026-03-02 17:40:00,store,80.00
a3,2026-03-31 23:59:59,web,19.50
,2026-03-15 12:00:00,web,500.00
a4,2026-04-01 00:00:00,web,60.00
a5,1900-01-01 00:00:00,store,7.00
"""


def kpiframe(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KPIFRAME, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_a_new_project_compiles_and_passes_its_test_at_once(tmp_path: Path) -> None:
    made = kpiframe(tmp_path, "init", "my-metrics")
    assert made.returncode == 0, made.stderr
    root = tmp_path / "my-metrics"
    assert "name: my_metrics" in (root / "kpi_project.yml").read_text()
    compiled = kpiframe(root, "compile")
    assert compiled.returncode == 0, compiled.stderr
    assert "compiled 1 models, 3 metrics, 1 tables" in compiled.stdout
    tested = kpiframe(root, "test", "--metrics-only")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "1 passed, 0 failed" in tested.stdout


def test_it_builds_and_answers_on_the_users_own_csv(tmp_path: Path) -> None:
    assert kpiframe(tmp_path, "init", "shop").returncode == 0
    root = tmp_path / "shop"
    (root / "orders.csv").write_text(ORDERS_CSV)
    # the README's load step, as written there
    load = (
        "import duckdb; duckdb.connect('warehouse.duckdb').execute(\n"
        "  \"create schema raw; create table raw.orders as select * from read_csv('orders.csv')\")"
    )
    loaded = subprocess.run([sys.executable, "-c", load], cwd=root, capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert load.replace("\\", "") in readme.replace('\\"', '"')
    built = kpiframe(root, "build")
    assert built.returncode == 0, built.stderr
    # a placeholder date is reported and left out, so answers start at the first real month, not in 1900
    assert "WARN  source raw.orders: dates_between(ordered_at) [warn]" in built.stdout, built.stdout
    answered = kpiframe(root, "query", "--metric", "revenue", "--metric", "orders", "--format", "json")
    assert answered.returncode == 0, answered.stderr
    rows = {r["period_start"]: (r["orders"], float(r["revenue"])) for r in json.loads(answered.stdout)}
    hand = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    try:
        expected = hand.execute(
            "select strftime(date_trunc('month', ordered_at), '%Y-%m-%d'), count(*), sum(amount)::double "
            "from raw.orders where order_id is not null and ordered_at >= '2000-01-01' group by 1"
        ).fetchall()
    finally:
        hand.close()
    assert rows == {month: (count, total) for month, count, total in expected}
    assert rows["2026-03-01"] == (3, 220.0)  # the row without an id is not an order
    assert min(rows) == "2026-03-01"


def test_it_never_writes_over_a_project(tmp_path: Path) -> None:
    assert kpiframe(tmp_path, "init", "p").returncode == 0
    config = tmp_path / "p" / "kpi_project.yml"
    config.write_text(config.read_text() + "# mine\n")
    again = kpiframe(tmp_path, "init", "p")
    assert again.returncode == 1
    assert "error[KF023]" in again.stderr and "Traceback" not in again.stderr
    assert config.read_text().endswith("# mine\n")
    (tmp_path / "q" / "models").mkdir(parents=True)
    (tmp_path / "q" / "models" / "stg_orders.sql").write_text("select 1 as mine")
    clash = kpiframe(tmp_path, "init", "q")
    assert clash.returncode == 1 and "models/stg_orders.sql" in clash.stderr
    assert (tmp_path / "q" / "models" / "stg_orders.sql").read_text() == "select 1 as mine"
    assert not (tmp_path / "q" / "kpi_project.yml").exists()


def test_what_a_build_writes_is_kept_out_of_git(tmp_path: Path) -> None:
    """target/, the warehouse and its snapshots are generated: git ignores them, the project files it keeps;
    a folder's own .gitignore is left as it is."""
    assert kpiframe(tmp_path, "init", "shop").returncode == 0
    root = tmp_path / "shop"
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    for generated in ("target/query_cache/k.json", "warehouse.duckdb", "warehouse.duckdb.serving/current.duckdb"):
        (root / generated).parent.mkdir(parents=True, exist_ok=True)
        (root / generated).write_text("x")
    listed = subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard"], cwd=root, capture_output=True, text=True, check=True
    ).stdout.split()
    assert sorted(listed) == sorted(
        [
            ".gitignore",
            "kpi_project.yml",
            "models/sources.yml",
            "models/stg_orders.sql",
            "metrics/orders.yml",
            "metrics/tests/orders_tests.yml",
        ]
    )
    (tmp_path / "own").mkdir()
    (tmp_path / "own" / ".gitignore").write_text("mine\n")
    assert kpiframe(tmp_path / "own", "init", ".").returncode == 0
    assert (tmp_path / "own" / ".gitignore").read_text() == "mine\n"
