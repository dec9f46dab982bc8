"""Building only what changed: selection by name, tag, +upstream, downstream+ and state:modified+."""

from __future__ import annotations

import shutil

import duckdb
import pytest
from click.testing import CliRunner

from kpiframe.cli import main
from kpiframe.errors import KpiframeError
from kpiframe.project import Project


def built_names(root) -> list[str]:
    con = duckdb.connect(str(root / "shop.duckdb"), read_only=True)
    try:
        row = con.execute("select selection, rows_per_table from kpiframe.runs order by started_at desc limit 1")
        selection, rows = row.fetchone()
    finally:
        con.close()
    return sorted(name.split(".")[1] for name in __import__("json").loads(rows))


def test_upstream_and_downstream_selectors(make_project):
    root = make_project()
    Project.load(root).build(select=["+order_cents"])
    assert built_names(root) == ["order_cents", "stg_orders"]
    Project.load(root).build(select=["stg_customers+"])
    assert built_names(root) == ["shop_monthly", "stg_customers"]


def test_selection_that_needs_an_unbuilt_upstream_is_refused(make_project):
    root = make_project()
    with pytest.raises(KpiframeError) as caught:
        Project.load(root).build(select=["order_cents"])
    assert caught.value.diagnostic.code == "KF454" and "stg_orders" in caught.value.render()


def test_state_modified_builds_only_changed_nodes_and_their_downstream(make_project, tmp_path):
    root = make_project()
    runner = CliRunner()
    assert runner.invoke(main, ["build", "--project-dir", str(root)]).exit_code == 0
    state = tmp_path / "prod_manifest.json"
    shutil.copy(root / "target" / "manifest.json", state)

    result = runner.invoke(main, ["build", "--project-dir", str(root), "-s", "state:modified+", "--state", str(state)])
    assert result.exit_code == 0, result.output
    assert "nothing to build: 'state:modified+' matches no node" in result.output
    # nothing changed, so no build ran: the last run is still the full build
    assert built_names(root) == ["order_cents", "shop_monthly", "stg_customers", "stg_orders"]

    model = root / "models" / "stg_orders.sql"
    model.write_text(model.read_text() + " and amount > 0")
    result = runner.invoke(main, ["build", "--project-dir", str(root), "-s", "state:modified+", "--state", str(state)])
    assert result.exit_code == 0, result.output
    assert built_names(root) == ["order_cents", "shop_monthly", "stg_orders"]


def test_a_metric_change_selects_the_tables_that_show_it(make_project, tmp_path):
    root = make_project()
    Project.load(root).build()
    state = tmp_path / "state.json"
    shutil.copy(root / "target" / "manifest.json", state)
    metrics = root / "metrics" / "shop.yml"
    metrics.write_text(metrics.read_text().replace("expr: revenue / orders", "expr: revenue / paid_orders"))
    Project.load(root).build(select=["state:modified"], state=state)
    assert built_names(root) == ["shop_monthly"]


def test_unknown_selector_suggests(make_project):
    with pytest.raises(KpiframeError) as caught:
        Project.load(make_project()).build(select=["stg_order"])
    assert "did you mean 'stg_orders'" in caught.value.render()
