"""The volume guard: a load that empties or shrinks a table never replaces good published tables.

The shop project plus raw.items (10 items, one a day from 2026-01-01) published per day as
metrics.items_daily, so a drop of N items is a drop of N rows there. Counts are checked against SQL
written here, never against kpiframe's own numbers.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner, Result

from kpiframe.cli import main
from kpiframe.errors import ProjectInvalid
from kpiframe.project import Project
from tests.conftest import SHOP_PROJECT, SHOP_ROWS, write_files

SOURCES = """
    sources:
      - name: raw
        schema: raw
        tables:
          - name: orders
            columns: [order_id, customer_id, {name: ordered_at, type: TIMESTAMP},
                      {name: amount, type: "DECIMAL(10,2)"}, status]
          - {name: customers, columns: [customer_id, region]}
          - name: items
            columns: [item_id, {name: sold_at, type: TIMESTAMP}]
"""
ITEMS = """
    datasets:
      - name: items
        model: stg_items
        time: sold_at
        entities: [{name: item, type: primary, expr: item_id}]
        measures: [{name: item_count, agg: count, expr: item_id}]
    metrics:
      - {name: items, measure: item_count}
    tables:
      - name: items_daily
        grain: day
        metrics: [items]
"""
ITEM_ROWS = """
    create table raw.items (item_id varchar, sold_at timestamp);
    insert into raw.items select 'i' || n, timestamp '2026-01-01 12:00' + to_days(cast(n as integer))
    from range(10) t(n);
"""
TABLES = ("items_daily", "shop_monthly")


@pytest.fixture
def shop(tmp_path: Path):
    """Write the project (with any file replaced) and its rows; returns the project folder."""

    def make(changes: dict[str, str] | None = None, folder: str = "shop") -> Path:
        files = {
            **SHOP_PROJECT,
            "models/sources.yml": SOURCES,
            "metrics/items.yml": ITEMS,
            "models/stg_items.sql": "select * from {{ source('raw', 'items') }}",
            **(changes or {}),
        }
        root = write_files(tmp_path / folder, files)
        execute(root, textwrap.dedent(SHOP_ROWS), ITEM_ROWS)
        return root

    return make


def execute(root: Path, *statements: str) -> None:
    con = duckdb.connect(str(root / "shop.duckdb"))
    try:
        for statement in statements:
            con.execute(statement)
    finally:
        con.close()


def hand(root: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(root / "shop.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def published(root: Path) -> dict[str, list[tuple[Any, ...]]]:
    return {name: hand(root, f"select * from metrics.{name} order by all") for name in TABLES}


def last_run(root: Path) -> tuple[str, str, dict[str, Any]]:
    """(run id, status, volume JSON) of the newest build."""
    run_id, status, volume = hand(
        root, "select run_id, status, volume from kpiframe.runs order by started_at desc limit 1"
    )[0]
    return run_id, status, json.loads(volume) if volume else {}


def build(root: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["build", "--project-dir", str(root), *args])


def keep_items(root: Path, kept: int) -> None:
    """Delete all but the first `kept` items (the earliest days)."""
    execute(root, f"delete from raw.items where sold_at >= timestamp '2026-01-01' + to_days({kept})")


def test_emptied_raw_tables_publish_nothing_and_exit_3(shop):
    root = shop()
    first = build(root)
    assert first.exit_code == 0, first.output
    good_run, _, _ = last_run(root)
    before = published(root)
    days = hand(root, "select count(distinct cast(sold_at as date)) from raw.items")[0][0]
    assert len(before["items_daily"]) == days == 10
    months = hand(root, "select count(*) from metrics.shop_monthly")[0][0]
    assert months > 0
    orders = hand(root, "select count(*) from raw.orders")[0][0]
    execute(root, "delete from raw.orders", "delete from raw.customers", "delete from raw.items")

    result = build(root)

    assert result.exit_code == 3, result.output
    assert published(root) == before  # every published row as it was
    assert "error[KF610]: volume guard: 2 table(s) would shrink" in result.stderr
    assert "metrics.items_daily 10 -> 0 rows (-100%)" in result.stderr
    assert f"metrics.shop_monthly {months} -> 0 rows (-100%)" in result.stderr
    assert "metrics/items.yml:" in result.stderr  # where the first failed table is declared
    assert "nothing was published" in result.stderr
    assert "--accept-volume-drop items_daily,shop_monthly" in result.stderr
    assert "volume guard: counted 3 source(s) and 2 table(s)" in result.stderr
    assert "FAIL  table items_daily: volume" in result.output
    assert "WARN  source raw.items: volume [warn]" in result.output  # sources only warn by default
    _, status, volume = last_run(root)
    assert status == "failed"
    assert volume["metrics.items_daily"] == {
        "kind": "table",
        "previous": 10,
        "previous_run": good_run,
        "new": 0,
        "max_drop": 0.5,
        "severity": "error",
        "verdict": "fail",
    }
    assert volume["metrics.shop_monthly"]["previous"] == months
    assert (volume["raw.orders"]["previous"], volume["raw.orders"]["new"]) == (orders, 0)
    assert {volume[key]["verdict"] for key in ("raw.orders", "raw.customers", "raw.items")} == {"warn"}


def test_a_failed_build_never_becomes_the_baseline(shop):
    root = shop()
    assert build(root).exit_code == 0
    good_run, _, _ = last_run(root)
    execute(root, "delete from raw.items")
    assert build(root).exit_code == 3
    assert build(root).exit_code == 3  # compared with the good build again, not with the failed one
    runs = hand(root, "select status from kpiframe.runs order by started_at")
    assert [status for (status,) in runs] == ["success", "failed", "failed"]
    _, _, volume = last_run(root)
    assert (volume["metrics.items_daily"]["previous"], volume["metrics.items_daily"]["previous_run"]) == (10, good_run)


def test_the_first_build_of_a_table_has_no_baseline(shop):
    root = shop()
    assert build(root).exit_code == 0
    _, _, volume = last_run(root)
    assert {entry["verdict"] for entry in volume.values()} == {"no baseline"}
    assert volume["metrics.items_daily"]["new"] == hand(root, "select count(*) from raw.items")[0][0]
    # a table added later is new too, while the others compare with the build before
    more = ITEMS.replace(
        "metrics: [items]\n", "metrics: [items]\n      - {name: items_monthly, grain: month, metrics: [items]}\n"
    )
    (root / "metrics" / "items.yml").write_text(textwrap.dedent(more).lstrip())
    assert build(root).exit_code == 0
    _, _, volume = last_run(root)
    assert volume["metrics.items_monthly"]["verdict"] == "no baseline"
    assert volume["metrics.items_daily"]["verdict"] == "pass"


@pytest.mark.parametrize(("kept", "exit_code", "verdict"), [(4, 3, "fail"), (6, 0, "pass")])
def test_a_drop_beyond_half_fails_by_default(shop, kept, exit_code, verdict):
    root = shop()
    assert build(root).exit_code == 0
    before = published(root)
    keep_items(root, kept)  # 10 -> 4 items is a 60% drop, 10 -> 6 a 40% drop

    result = build(root)

    assert result.exit_code == exit_code, result.output
    _, _, volume = last_run(root)
    assert (volume["metrics.items_daily"]["new"], volume["metrics.items_daily"]["verdict"]) == (kept, verdict)
    after = hand(root, "select count(*) from metrics.items_daily")[0][0]
    assert after == (len(before["items_daily"]) if verdict == "fail" else kept)
    assert (volume["raw.items"]["verdict"] == "warn") is (kept == 4)


def test_a_table_may_allow_a_bigger_drop_but_never_an_empty_load(shop):
    root = shop(
        {
            "metrics/items.yml": ITEMS.replace(
                "metrics: [items]\n", "metrics: [items]\n        volume: {max_drop: 0.9}\n"
            )
        }
    )
    assert build(root).exit_code == 0
    keep_items(root, 2)  # 80% fewer rows: within 90%
    assert build(root).exit_code == 0
    assert hand(root, "select count(*) from metrics.items_daily") == [(2,)]
    _, _, volume = last_run(root)
    assert volume["metrics.items_daily"]["max_drop"] == 0.9 and volume["metrics.items_daily"]["verdict"] == "pass"
    execute(root, "delete from raw.items")
    result = build(root)
    assert result.exit_code == 3  # an emptied table is a failed load whatever the allowed drop
    assert "metrics/items.yml:13:5: error[KF610]" in result.stderr  # at the table's `volume:`
    assert hand(root, "select count(*) from metrics.items_daily") == [(2,)]


def test_sources_only_warn_unless_told_otherwise(shop):
    allowing = {
        "metrics/items.yml": ITEMS.replace("metrics: [items]\n", "metrics: [items]\n        volume: {max_drop: 0.9}\n")
    }
    root = shop(allowing)
    assert build(root).exit_code == 0
    keep_items(root, 3)
    result = build(root)
    assert result.exit_code == 0, result.output
    assert "WARN  source raw.items: volume [warn]" in result.output
    assert "rows: 10 at the last successful build" in result.output and "-> 3 now" in result.output
    _, status, volume = last_run(root)
    assert status == "success" and volume["raw.items"]["verdict"] == "warn"

    # the same drop with the source at severity error stops the build at the source's `volume:`
    strict = shop({**allowing, "models/sources.yml": SOURCES + "            volume: {severity: error}\n"}, "strict")
    assert build(strict).exit_code == 0
    keep_items(strict, 3)
    result = build(strict)
    assert result.exit_code == 3
    assert "models/sources.yml:11:9: error[KF610]" in result.stderr and "raw.items 10 -> 3 rows" in result.stderr


def test_the_project_may_change_the_defaults(shop):
    root = shop(
        {
            "kpi_project.yml": textwrap.dedent(SHOP_PROJECT["kpi_project.yml"])
            + "volume_guard: {max_drop: 0.3, sources: off, tables: warn}\n"
        }
    )
    assert build(root).exit_code == 0
    keep_items(root, 6)  # 40%: beyond 30%, a warning only
    result = build(root)
    assert result.exit_code == 0, result.output
    assert "WARN  table items_daily: volume [warn]" in result.output
    _, _, volume = last_run(root)
    assert volume["metrics.items_daily"]["verdict"] == "warn" and volume["raw.items"]["verdict"] == "off"
    assert hand(root, "select count(*) from metrics.items_daily") == [(6,)]


def test_accept_volume_drop_publishes_the_smaller_tables(shop):
    root = shop()
    assert build(root).exit_code == 0
    execute(root, "delete from raw.orders", "delete from raw.items")
    assert build(root, "--accept-volume-drop", "items_daily").exit_code == 3  # shop_monthly still fails
    assert hand(root, "select count(*) from metrics.items_daily") == [(10,)]

    result = build(root, "--accept-volume-drop", "items_daily,metrics.shop_monthly")

    assert result.exit_code == 0, result.output
    assert hand(root, "select count(*) from metrics.items_daily") == [(0,)]
    assert hand(root, "select count(*) from metrics.shop_monthly") == [(0,)]
    assert "accepted (--accept-volume-drop)" in result.output
    _, status, volume = last_run(root)
    assert status == "success" and volume["metrics.shop_monthly"]["verdict"] == "accepted"
    # the accepted counts are the new baseline
    again = build(root)
    assert again.exit_code == 0, again.output
    assert last_run(root)[2]["metrics.items_daily"]["previous"] == 0


def test_an_unknown_name_to_accept_is_an_error(shop):
    root = shop()
    assert build(root).exit_code == 0
    result = build(root, "--accept-volume-drop", "items_dayly")
    assert result.exit_code == 1
    assert "error[KF611]: --accept-volume-drop items_dayly" in result.stderr
    assert "did you mean 'items_daily'" in result.stderr
    assert hand(root, "select count(*) from kpiframe.runs") == [(1,)]  # refused before building anything


def test_a_selection_guards_only_what_it_builds(shop):
    root = shop()
    assert build(root).exit_code == 0
    months = hand(root, "select count(*) from metrics.shop_monthly")
    execute(root, "delete from raw.orders")  # shop_monthly would be emptied, but is not built

    result = build(root, "--select", "+items_daily")

    assert result.exit_code == 0, result.output
    _, _, volume = last_run(root)
    assert sorted(volume) == ["metrics.items_daily", "raw.items"]
    assert hand(root, "select count(*) from metrics.shop_monthly") == months
    # the full build still compares shop_monthly with its last successful build
    assert build(root).exit_code == 3
    assert last_run(root)[2]["metrics.shop_monthly"]["previous"] == months[0][0]


def test_an_old_run_table_gains_the_volume_column_and_gives_a_baseline(shop):
    root = shop()
    # kpiframe.runs as builds wrote it before the guard: no `volume` column
    execute(
        root,
        "create schema kpiframe",
        """create table kpiframe.runs (run_id varchar, started_at timestamp,
        finished_at timestamp, status varchar, git_commit varchar, project_hash varchar, selection varchar,
        rows_per_table varchar)""",
        """insert into kpiframe.runs values ('old1', '2026-01-01', '2026-01-01',
        'success', null, 'h', 'all', '{"metrics.items_daily": 10}')""",
    )
    keep_items(root, 4)

    result = build(root)

    assert result.exit_code == 3, result.output
    assert "metrics.items_daily 10 -> 4 rows (-60%)" in result.stderr
    columns = [
        name
        for (name,) in hand(
            root,
            "select column_name from information_schema.columns "
            "where table_schema = 'kpiframe' and table_name = 'runs'",
        )
    ]
    assert columns[8] == "volume" and columns[9:] == ["project", "host", "pid"]
    _, _, volume = last_run(root)
    assert volume["metrics.items_daily"]["previous_run"] == "old1"
    assert volume["raw.items"]["verdict"] == "no baseline"  # old records never counted sources


def test_bad_settings_are_located_errors(shop):
    project = textwrap.dedent(SHOP_PROJECT["kpi_project.yml"]) + "volume_guard: {max_drop: 1.5}\n"
    root = shop({"kpi_project.yml": project})
    with pytest.raises(ProjectInvalid) as caught:
        Project.load(root)
    assert "kpi_project.yml:5:" in caught.value.render() and "volume_guard.max_drop" in caught.value.render()
    root = shop(
        {
            "metrics/items.yml": ITEMS.replace(
                "metrics: [items]\n", "metrics: [items]\n        volume: {max_dorp: 0.9}\n"
            )
        },
        "misspelt",
    )
    with pytest.raises(ProjectInvalid) as caught:
        Project.load(root)
    text = caught.value.render()
    assert "metrics/items.yml:13:" in text and "unknown key 'max_dorp'" in text and "max_drop" in text
