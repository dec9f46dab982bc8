"""`kpiframe query` keeps the SQL it ran and replays it for the same request on the same files
(kpiframe/cli/query_cache.py): the answers must be the full path's, checked against SQL written by hand,
and any change to what decided the SQL must take the full path again. Each command runs in its own
process, as a user runs it, and reports whether it loaded the project."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from kpiframe.cli import query_cache
from kpiframe.project import Project

# Runs the CLI in a fresh interpreter; tells on stderr whether the project was loaded (the full path) or
# the cached SQL was replayed.
RUNNER = """
import sys
from kpiframe.cli.main import main
try:
    main(sys.argv[1:], prog_name="kpiframe")
finally:
    print("PATH=" + ("full" if "kpiframe.project" in sys.modules else "replay"), file=sys.stderr)
"""

LEADS_BY_MONTH = """
    select cast(date_trunc('month', created_at) as date) as m, count(lead_id)
    from analytics.stg_leads where created_at is not null {where} group by m order by m
"""


@pytest.fixture
def project(built_example: Path, tmp_path: Path) -> Path:
    """A copy of the built example (the cache writes under target/, and some tests edit files)."""
    root = tmp_path / "project"
    shutil.copytree(built_example, root)
    shutil.rmtree(root / "target" / "query_cache", ignore_errors=True)
    return root


def kpiframe(root: Path, *args: str, env: dict[str, str] | None = None) -> tuple[str, str, str]:
    """(stdout, stderr without the path line, 'full' or 'replay') of `kpiframe query ... --project-dir root`."""
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, "query", *args, "--project-dir", str(root)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    lines = done.stderr.splitlines()
    path = lines[-1].removeprefix("PATH=")
    return done.stdout, "\n".join(lines[:-1]), path


def leads_json(root: Path, *args: str, env: dict[str, str] | None = None) -> tuple[dict[str, int], str]:
    out, err, path = kpiframe(root, "--metric", "leads", "--grain", "month", "--format", "json", *args, env=env)
    assert not err, err
    return {row["period_start"]: row["leads"] for row in json.loads(out)}, path


def by_hand(root: Path, where: str = "", warehouse: Path | None = None) -> dict[str, int]:
    con = duckdb.connect(str(warehouse or root / "warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute(LEADS_BY_MONTH.format(where=where)).fetchall()
    finally:
        con.close()
    return {month.isoformat(): count for month, count in rows}


def test_the_second_identical_request_replays_the_sql_and_answers_the_same(project: Path) -> None:
    first, first_path = leads_json(project)
    second, second_path = leads_json(project)
    assert (first_path, second_path) == ("full", "replay")
    assert first == second == by_hand(project)
    assert len(list(query_cache.cache_dir(project).glob("*.json"))) == 1


@pytest.mark.parametrize(
    "args",
    [
        ("--metric", "leads,lead_to_mql_rate", "--by", "lead__channel", "--grain", "quarter"),
        ("--metric", "leads", "--compare", "previous", "--format", "csv"),
        ("--metric", "cost_per_lead", "--grain", "month", "--decimals", "1", "--format", "markdown"),
        ("--metric", "leads", "--grain", "all", "--start", "2025-01-01", "--end", "2025-06-30"),
        ("--by", "lead__channel"),  # the dimension's distinct values: no period, no last day
        ("--metric", "leads", "--where", "lead__country = 'DE'", "--order", "-leads", "--limit", "3"),
    ],
)
def test_a_replayed_answer_prints_what_the_full_path_prints(project: Path, args: tuple[str, ...]) -> None:
    full_out, full_err, full_path = kpiframe(project, *args, "--no-cache")
    stored_out, _, stored_path = kpiframe(project, *args)  # takes the full path too, and keeps the SQL
    replayed_out, replayed_err, replayed_path = kpiframe(project, *args)
    assert (full_path, stored_path, replayed_path) == ("full", "full", "replay")
    assert full_out == stored_out == replayed_out
    assert full_err == replayed_err == ""


def test_no_cache_neither_reads_nor_writes_the_cache(project: Path) -> None:
    assert leads_json(project, "--no-cache")[1] == "full"
    assert not query_cache.cache_dir(project).exists()


def test_a_changed_metric_file_takes_the_full_path_with_the_new_definition(project: Path) -> None:
    leads_json(project)
    marketing = project / "metrics" / "marketing.yml"
    text = marketing.read_text()
    old = "{name: leads, measure: lead_count,"
    assert old in text
    marketing.write_text(text.replace(old, "{name: leads, measure: lead_count, filter: \"country = 'DE'\","))
    answer, path = leads_json(project)
    assert path == "full"
    months_with_leads = {month: count for month, count in answer.items() if count}  # the spine adds zeros
    assert months_with_leads == by_hand(project, where="and country = 'DE'")
    assert answer != by_hand(project)
    assert leads_json(project) == (answer, "replay")  # the new SQL is kept in turn


def test_a_new_build_is_read_by_the_replayed_sql(project: Path) -> None:
    before, _ = leads_json(project)
    with duckdb.connect(str(project / "warehouse.duckdb")) as con:  # the CRM export lost its German leads
        con.execute("delete from raw.leads where country = 'DE'")
    Project.load(project).build()
    after, path = leads_json(project)
    assert path == "replay"  # the files did not change: the data is read anew
    assert after == by_hand(project) != before


def test_another_warehouse_in_the_environment_is_another_key(project: Path, tmp_path: Path) -> None:
    leads_json(project)
    other = tmp_path / "other.duckdb"
    shutil.copy(project / "warehouse.duckdb", other)
    with duckdb.connect(str(other)) as con:
        con.execute("delete from analytics.stg_leads where country = 'DE'")
    answer, path = leads_json(project, env={"KPIFRAME_WAREHOUSE": str(other)})
    assert path == "full"
    assert answer == by_hand(project, warehouse=other) != by_hand(project)


def test_a_missing_warehouse_after_caching_gives_the_full_paths_error(project: Path) -> None:
    leads_json(project)
    shutil.rmtree(project / "warehouse.duckdb.serving")
    (project / "warehouse.duckdb").unlink()
    out, err, path = kpiframe(project, "--metric", "leads")
    assert path == "full"
    assert "KF501" in err and out == ""


@pytest.mark.parametrize(
    "damage",
    [
        lambda entry: "{ not json",
        lambda entry: json.dumps({**entry, "statements": "select 1"}),
        lambda entry: json.dumps(
            {**entry, "recipe": {**entry["recipe"], "config": {"allow_unsigned_extensions": True}}}
        ),
        lambda entry: json.dumps({**entry, "recipe": {**entry["recipe"], "engine": "postgres"}}),
    ],
    ids=["not-json", "wrong-shape", "foreign-config", "other-engine"],
)
def test_a_damaged_entry_is_ignored_and_rewritten(project: Path, damage) -> None:  # type: ignore[no-untyped-def]
    expected, _ = leads_json(project)
    (entry_file,) = query_cache.cache_dir(project).glob("*.json")
    entry_file.write_text(damage(json.loads(entry_file.read_text())))
    assert leads_json(project) == (expected, "full")
    assert leads_json(project) == (expected, "replay")


def test_a_project_whose_cache_cannot_be_written_answers_without_it(project: Path) -> None:
    query_cache.cache_dir(project).parent.mkdir(parents=True, exist_ok=True)
    query_cache.cache_dir(project).write_text("not a folder")  # as a read-only target/ would: no entry kept
    assert leads_json(project) == (by_hand(project), "full")
    assert leads_json(project) == (by_hand(project), "full")


def test_the_key_covers_every_file_a_load_and_query_open(project: Path) -> None:
    """The loader's reads, recorded by an audit hook, must all be among the files the key hashes: a file
    read but not hashed would let a changed project replay stale SQL."""
    opened: list[str] = []
    recording = [True]

    def hook(event: str, args: tuple[object, ...]) -> None:
        if recording[0] and event == "open" and isinstance(args[0], str | Path):
            opened.append(str(args[0]))

    sys.addaudithook(hook)  # a hook cannot be removed: it stops recording when this test ends
    try:
        loaded = Project.load(project)
        loaded.replayable_query(metrics=["leads"], dimensions=["lead__channel"], grain="month")
    finally:
        recording[0] = False
    reads = {Path(p).resolve() for p in opened}
    root = project.resolve()
    ours = {p for p in reads if p.is_relative_to(root) and p.is_file()}
    built = ("target", "warehouse.duckdb", "warehouse.duckdb.serving")  # what kpiframe writes, not reads
    generated = {p for p in ours if p.relative_to(root).parts[0] in built}
    hashed = {p.resolve() for p in query_cache.project_files(root)}
    assert ours - generated, "the hook saw no project file: it recorded nothing"
    assert ours - generated <= hashed, sorted(map(str, ours - generated - hashed))


def test_the_key_changes_with_kpiframes_code_the_environment_and_the_request(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = tmp_path / "code"
    (code / "sql").mkdir(parents=True)
    (code / "sql" / "writer.py").write_text("x = 1\n")
    monkeypatch.setattr(query_cache, "_PACKAGE", code)
    request = {"metrics": ["leads"], "grain": "month"}
    key = query_cache.request_key(project, None, request)
    assert key == query_cache.request_key(project, None, dict(request))
    (code / "sql" / "writer.py").write_text("x = 22\n")  # an edited kpiframe writes other SQL
    edited = query_cache.request_key(project, None, request)
    assert edited != key
    monkeypatch.setenv("KPIFRAME_WAREHOUSE", "postgresql://localhost/other")
    assert query_cache.request_key(project, None, request) != edited
    monkeypatch.delenv("KPIFRAME_WAREHOUSE")
    assert query_cache.request_key(project, None, request) == edited
    assert query_cache.request_key(project, None, {**request, "grain": "week"}) != edited
    assert query_cache.request_key(project, "other.duckdb", request) != edited
    (project / "macros" / "new_macro.sql").write_text("{% macro m() %}1{% endmacro %}")
    assert query_cache.request_key(project, None, request) != edited


def test_what_a_replayed_answer_imports_needs_neither_sqlglot_nor_pydantic() -> None:
    """The point of the replay: a fresh process answers without the compiler's imports."""
    modules = "kpiframe.cli.main, kpiframe.cli.query_cache, kpiframe.cli.output, kpiframe.engine.replay"
    code = f"import sys, {modules}; print(sorted(m for m in ('sqlglot', 'pydantic', 'jinja2') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
