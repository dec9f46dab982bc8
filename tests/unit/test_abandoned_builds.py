"""A build killed with kill -9 leaves a run marked `running` and its `__kf_new` staging tables; the next
build (which holds the lock, so it knows no other build is live) marks the run abandoned and drops them.

The build to kill is a real `kpiframe build` process, paused at a known step: a wrapper replaces the step
before the swap with one that prints a marker and waits for a line on stdin. The test kills it there, or
lets it go on by writing a line.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb

from kpiframe.project import Project

PAUSED = "KF-PAUSED"
_PAUSE_BEFORE_SWAP = textwrap.dedent(f"""
    import sys
    import kpiframe.build.run as project  # Project.build imports run_build from here when it runs

    build_for_real = project.run_build

    def paused_run_build(*args, **kwargs):
        before_swap = kwargs["before_swap"]

        def pause(warehouse):
            print({PAUSED!r}, flush=True)  # every staging table stands and the run is recorded
            sys.stdin.readline()  # the test goes on by writing a line, or kills the process here
            before_swap(warehouse)

        kwargs["before_swap"] = pause
        return build_for_real(*args, **kwargs)

    project.run_build = paused_run_build
    from kpiframe.cli.main import main

    main(sys.argv[1:])
""")
STAGED = [
    ("analytics", "order_cents__kf_new"),
    ("analytics", "stg_customers__kf_new"),
    ("analytics", "stg_orders__kf_new"),
    ("metrics", "shop_monthly__kf_new"),
]


def paused_build(*args: str) -> subprocess.Popen[str]:
    """`kpiframe build ARGS` in a process of its own, stopped before the swap; returns once it stopped."""
    build = subprocess.Popen(
        [sys.executable, "-c", _PAUSE_BEFORE_SWAP, "build", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert build.stdout is not None
    marker = build.stdout.readline().strip()
    if marker != PAUSED:
        build.kill()
        raise AssertionError(f"the build did not pause: {marker!r} {build.communicate()}")
    return build


def kpiframe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kpiframe.cli.main_entry", *args], capture_output=True, text=True, timeout=600
    )


def rows(root: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(root / "shop.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def staging_tables(root: Path) -> list[tuple]:
    return rows(
        root,
        "select table_schema, table_name from information_schema.tables "
        "where table_name like '%\\_\\_kf\\_new' escape '\\' order by all",
    )


def test_the_next_build_marks_a_killed_build_abandoned_and_drops_its_staging_tables(make_project):
    root = make_project()
    Project.load(root).build()
    build = paused_build("--project-dir", str(root))
    build.send_signal(signal.SIGKILL)
    build.communicate()
    assert build.returncode == -signal.SIGKILL
    # what the kill left behind: a run that says it is running, and staging tables a BI tool can see
    [(killed, pid, host)] = rows(root, "select run_id, pid, host from kpiframe.runs where status = 'running'")
    assert pid == build.pid and host == os.uname().nodename
    assert staging_tables(root) == STAGED

    # a partial build rebuilds only stg_orders: the other leftovers are dropped by the clean-up alone
    done = kpiframe("build", "--project-dir", str(root), "--select", "stg_orders")
    assert done.returncode == 0, done.stderr
    [line] = [line for line in done.stderr.splitlines() if "abandoned" in line]
    assert f"run {killed} (started " in line and f"by pid {build.pid} on {host})" in line
    assert "dropped 4 leftover staging table(s): " in line and "metrics.shop_monthly__kf_new" in line
    assert staging_tables(root) == []
    by_run = dict(rows(root, "select run_id, status from kpiframe.runs"))
    assert by_run[killed] == "abandoned"
    assert rows(root, f"select finished_at is not null from kpiframe.runs where run_id = '{killed}'") == [(True,)]
    assert sorted(by_run.values()) == ["abandoned", "success", "success"]


def test_a_clean_build_says_nothing_and_other_projects_runs_are_left_alone(make_project):
    root = make_project()
    Project.load(root).build()
    con = duckdb.connect(str(root / "shop.duckdb"))
    # a run of another project sharing the file, and one recorded before runs had a project column
    con.execute(
        "insert into kpiframe.runs (run_id, started_at, status, project) values "
        "('other', '2026-01-01', 'running', 'crm'), ('legacy', '2026-01-01', 'running', null)"
    )
    con.close()
    said: list[str] = []
    Project.load(root).build(on_notice=said.append)
    assert said == [
        "cleaned up after a build that did not finish: marked run legacy (started 2026-01-01 00:00:00 UTC) abandoned"
    ]
    statuses = dict(rows(root, "select run_id, status from kpiframe.runs where run_id in ('other', 'legacy')"))
    assert statuses == {"other": "running", "legacy": "abandoned"}
    said.clear()
    Project.load(root).build(on_notice=said.append)
    assert said == []  # nothing left to clean up: no line


def test_wait_retries_while_another_process_holds_the_duckdb_file(make_project):
    root = make_project()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import duckdb, sys
        con = duckdb.connect({str(root / "shop.duckdb")!r})
        print('locked', flush=True)
        sys.stdin.readline()
        con.close()
    """),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline().strip() == "locked"
    build = subprocess.Popen(
        [sys.executable, "-m", "kpiframe.cli.main_entry", "build", "--project-dir", str(root), "--wait", "300"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert build.stderr is not None
    waiting = build.stderr.readline()
    assert waiting.startswith("waiting up to 300s for the warehouse file: ") and f"pid {holder.pid}" in waiting
    holder.communicate("go\n")
    out, err = build.communicate(timeout=600)
    assert build.returncode == 0, err
    assert rows(root, "select status from kpiframe.runs") == [("success",)]
