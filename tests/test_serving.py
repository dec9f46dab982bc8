"""Readers and builds on DuckDB never block each other: separate processes, a real build in between.

A reader holding one connection through a whole build keeps the build it opened; readers opening a new
connection every 100 ms see complete old or complete new data, never a mix, and never an error; the
build succeeds although readers hold the serving snapshot the whole time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from kpiframe.build.serving import publish_snapshot
from kpiframe.engine.duckdb import DuckDBWarehouse
from kpiframe.errors import WarehouseError
from kpiframe.load.specs import WarehouseSpec
from tests.conftest import copy_example

pytestmark = pytest.mark.slow

KPIFRAME = [sys.executable, "-m", "kpiframe.cli.main_entry"]
# two published tables read in one statement: a mix of two builds would pair an old sum with a new one
PAIR = (
    "select (select sum(leads) from metrics.marketing_monthly), "
    "(select sum(sqls) from metrics.sales_weekly), "
    "(select count(*) from kpiframe.runs where status = 'success')"
)

READER = """
import duckdb, json, pathlib, sys, time
path, stop, mode = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3]
held = duckdb.connect(path, read_only=True) if mode == "hold" else None
while not stop.exists():
    try:
        con = held or duckdb.connect(path, read_only=True)
        print(json.dumps({"row": list(con.execute(sys.argv[4]).fetchone())}), flush=True)
        if held is None:
            con.close()
    except Exception as exc:
        print(json.dumps({"error": str(exc)}), flush=True)
    time.sleep(0.1)
"""


def kpiframe(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KPIFRAME, *args], cwd=root, capture_output=True, text=True, timeout=600)


@pytest.fixture
def example(tmp_path: Path) -> Path:
    copy_example(tmp_path)
    assert kpiframe(tmp_path, "demo", "--scale", "0.2", "--seed", "1").returncode == 0
    built = kpiframe(tmp_path, "build")
    assert built.returncode == 0, built.stderr
    return tmp_path


def pair_by_hand(database: Path) -> tuple[int, ...]:
    con = duckdb.connect(str(database), read_only=True)
    try:
        row = con.execute(PAIR).fetchone()
        assert row is not None
        return tuple(row)
    finally:
        con.close()


def rows(output: str) -> list[dict[str, list[int] | str]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_readers_keep_reading_complete_builds_while_a_build_runs(example: Path) -> None:
    warehouse = example / "warehouse.duckdb"
    current = example / "warehouse.duckdb.serving" / "current.duckdb"
    assert current.is_symlink() and current.exists()
    old = pair_by_hand(warehouse)
    stop = example / "stop"
    readers = {
        mode: subprocess.Popen(
            [sys.executable, "-c", READER, str(current), str(stop), mode, PAIR],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for mode in ("hold", "poll")
    }
    time.sleep(1.5)  # both readers are in before the data changes
    reloaded = kpiframe(example, "demo", "--scale", "0.3", "--seed", "2")
    assert reloaded.returncode == 0, reloaded.stderr  # the demo writes raw.* beside the readers too
    built = kpiframe(example, "build")
    time.sleep(1.0)  # new connections after the build
    stop.touch()
    outputs = {mode: reader.communicate(timeout=60) for mode, reader in readers.items()}
    assert built.returncode == 0, built.stderr
    new = pair_by_hand(warehouse)
    assert new != old and new[2] == old[2] + 1  # different data, one more successful run
    held = rows(outputs["hold"][0])
    polled = rows(outputs["poll"][0])
    assert held and polled and not outputs["hold"][1] and not outputs["poll"][1]
    assert [r for r in held + polled if "error" in r] == []
    # the held connection keeps the build it opened, all the way through
    assert {tuple(r["row"]) for r in held} == {old}
    # new connections see old, then new: complete builds in order, never a mix and never back
    seen = [tuple(r["row"]) for r in polled]
    assert set(seen) == {old, new}
    assert seen == sorted(seen, key=lambda pair: pair == new)
    assert pair_by_hand(current) == new


def test_a_query_during_a_build_answers_from_the_last_build(example: Path) -> None:
    """`kpiframe query` reads the serving snapshot: during a build it answers instead of failing on the lock."""
    before = kpiframe(example, "query", "--metric", "leads", "--grain", "year", "--format", "json")
    assert before.returncode == 0, before.stderr
    assert kpiframe(example, "demo", "--scale", "0.3", "--seed", "3").returncode == 0
    # hold the warehouse file itself open for writing, as a build does for its whole length
    writer = duckdb.connect(str(example / "warehouse.duckdb"))
    try:
        during = kpiframe(example, "query", "--metric", "leads", "--grain", "year", "--format", "json")
    finally:
        writer.close()
    assert during.returncode == 0, during.stderr
    assert json.loads(during.stdout) == json.loads(before.stdout)  # the last build's numbers, not raw's new ones


def test_old_snapshots_are_removed_and_a_failed_copy_leaves_the_current_one(example: Path) -> None:
    folder = example / "warehouse.duckdb.serving"
    for _ in range(3):
        assert kpiframe(example, "build").returncode == 0
    snapshots = sorted(p.name for p in folder.glob("*.duckdb") if not p.is_symlink())
    assert len(snapshots) == 2 and os.readlink(folder / "current.duckdb") in snapshots
    current_before = os.readlink(folder / "current.duckdb")
    # a snapshot that cannot be written (here its file name is taken by a folder) is KF540, and readers
    # keep the previous snapshot
    (folder / "blocked.duckdb.partial").mkdir()
    warehouse = DuckDBWarehouse(WarehouseSpec(path=str(example / "warehouse.duckdb")))
    try:
        with pytest.raises(WarehouseError) as failed:
            publish_snapshot(warehouse, str(example / "warehouse.duckdb"), "blocked")
    finally:
        warehouse.close()
    assert failed.value.diagnostic.code == "KF540" and "blocked" in failed.value.render()
    assert os.readlink(folder / "current.duckdb") == current_before
    assert not (folder / "blocked.duckdb").exists()
