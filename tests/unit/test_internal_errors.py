"""Inputs that used to end in error[KF999] (an internal error) are located errors with a hint.

Each test runs the CLI as a user does and checks the code, the place and that no traceback or
KF999 is printed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
from click.testing import CliRunner

from kpiframe.cli import main
from kpiframe.project import Project
from tests.conftest import SHOP_PROJECT


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def assert_no_crash(output: str) -> None:
    assert "Traceback" not in output and "KF999" not in output, output


def position(text: str, needle: str) -> str:
    """'line:column' (1-based) of the first `needle` in `text`, found by hand, not by kpiframe."""
    before = text[: text.index(needle)]
    return f"{before.count(chr(10)) + 1}:{len(before) - (before.rfind(chr(10)) + 1) + 1}"


def shop_yaml(old: str, new: str) -> str:
    assert old in SHOP_PROJECT["metrics/shop.yml"]
    return SHOP_PROJECT["metrics/shop.yml"].replace(old, new)


# --- file names and encodings ---------------------------------------------------------------------------
def test_a_model_file_name_that_is_not_an_identifier_is_named_with_a_rename_hint(make_project):
    root = make_project({"models/stg-orders2.sql": "select 1 as x"}, rows=False)
    code, out = run("compile", "--project-dir", str(root))
    assert code == 1
    assert "models/stg-orders2.sql: error[KF022]: model file name 'stg-orders2.sql' is not a valid model name" in out
    assert "hint: rename it to stg_orders2.sql" in out
    assert_no_crash(out)


def test_a_model_file_name_starting_with_a_digit_gets_a_leading_underscore(make_project):
    root = make_project({"models/2024 orders.sql": "select 1 as x"}, rows=False)
    code, out = run("compile", "--project-dir", str(root))
    assert code == 1 and "hint: rename it to _2024_orders.sql" in out
    assert_no_crash(out)


def write_bytes(root: Path, relative: str, data: bytes) -> None:
    (root / relative).write_bytes(data)


def test_a_macro_that_is_not_utf8_is_named_with_line_and_column(make_project):
    root = make_project(rows=False)
    # line 2, column 7 is the Latin-1 é (0xe9) of "-- café"
    write_bytes(root, "macros/money.sql", b"{% macro cents(col) %}({{ col }} * 100){% endmacro %}\n-- caf\xe9\n")
    code, out = run("compile", "--project-dir", str(root))
    assert code == 1
    assert ("macros/money.sql: error[KF002]: file is not valid UTF-8: byte 0xe9 at line 2, column 7 (offset 60)") in out
    assert "hint: save the file as UTF-8" in out
    assert_no_crash(out)


def test_a_model_and_a_yaml_file_that_are_not_utf8_give_the_line_of_the_bad_byte(make_project):
    root = make_project(rows=False)
    sql = b"select *\nfrom {{ source('raw', 'customers') }} -- \xff\n"
    write_bytes(root, "models/stg_customers.sql", sql)
    yaml_text = SHOP_PROJECT["metrics/shop.yml"]
    write_bytes(
        root,
        "metrics/shop.yml",
        textwrap.dedent(yaml_text)
        .lstrip()
        .replace("order_count, agg: count", "order_count, agg: count, description: Stra\xdfe")
        .encode("latin-1"),
    )
    code, out = run("compile", "--project-dir", str(root))
    assert code == 1
    offset = sql.index(b"\xff")
    column = offset - sql.index(b"\n")  # the bad byte's 1-based column on line 2
    assert column == 42
    assert (
        f"models/stg_customers.sql: error[KF002]: file is not valid UTF-8: byte 0xff at line 2, column {column} "
        f"(offset {offset})"
    ) in out
    yaml_line = (
        textwrap.dedent(yaml_text)
        .lstrip()
        .splitlines()
        .index("      - {name: order_count, agg: count, expr: order_id}")
        + 1
    )
    assert f"metrics/shop.yml: error[KF002]: file is not valid UTF-8: byte 0xdf at line {yaml_line}, column " in out
    assert_no_crash(out)


# --- expressions with an unclosed quote -----------------------------------------------------------------
def test_an_unclosed_quote_in_where_is_a_located_expression_error(make_project):
    root = make_project(rows=False)
    code, out = run("query", "--project-dir", str(root), "--metric", "orders", "--where", "status = 'paid", "--explain")
    assert code == 1
    assert (
        "error[KF120]: --where: cannot read expression \"status = 'paid\": the string opened by ' at "
        "character 10 is never closed"
    ) in out
    assert_no_crash(out)


def test_an_unclosed_quote_in_a_metric_filter_points_at_the_yaml_value(make_project):
    text = shop_yaml("filter: \"status = 'paid'\"", 'filter: "status = \'paid"')
    root = make_project({"metrics/shop.yml": text}, rows=False)
    code, out = run("compile", "--project-dir", str(root))
    assert code == 1
    where = position(textwrap.dedent(text).lstrip(), '"status = \'paid"')
    assert f'metrics/shop.yml:{where}: error[KF120]: filter: cannot read expression "status = \'paid"' in out
    assert_no_crash(out)


def test_an_unclosed_quote_in_a_measure_expr_points_at_the_yaml_value(make_project):
    text = shop_yaml("agg: sum, expr: amount}", 'agg: sum, expr: "amount + \'x"}')
    root = make_project({"metrics/shop.yml": text}, rows=False)
    code, out = run("compile", "--project-dir", str(root))
    assert code == 1
    where = position(textwrap.dedent(text).lstrip(), '"amount + \'x"')
    assert f'metrics/shop.yml:{where}: error[KF120]: expr: cannot read expression "amount + \'x"' in out
    assert "the string opened by ' at character 10 is never closed" in out
    assert_no_crash(out)


def test_an_escaped_quote_is_not_taken_for_the_unclosed_one(make_project):
    root = make_project(rows=False)
    where = "status = 'it''s' or status = 'x"
    code, out = run("query", "--project-dir", str(root), "--metric", "orders", "--where", where, "--explain")
    assert where.rindex("'") + 1 == 30  # the last quote opens the string that is never closed
    assert code == 1 and "the string opened by ' at character 30 is never closed" in out
    assert_no_crash(out)


# --- cumulative windows -----------------------------------------------------------------------------
def test_empty_negative_and_absurd_windows_are_refused_at_compile_time(make_project):
    for window, says in [
        ("0 days", "window '0 days' is empty"),
        ("-3 days", "window '-3 days' must be a positive count and a unit"),
        ("100000 years", "window '100000 years' is longer than 100 years"),
        ("40000 days", "window '40000 days' is longer than 100 years (at most 36,525 days)"),
        ("3 fortnights", "window '3 fortnights' must be a positive count and a unit"),
    ]:
        text = shop_yaml("window: 3 days", f"window: {window}")
        root = make_project({"metrics/shop.yml": text}, rows=False)
        code, out = run("compile", "--project-dir", str(root))
        assert code == 1, window
        where = position(textwrap.dedent(text).lstrip(), window)
        assert f"metrics/shop.yml:{where}: error[KF014]: metrics.8.window: {says}" in out, out
        assert_no_crash(out)


def test_the_longest_allowed_window_still_answers(make_project):
    """100 years reaches back before every row: each day's value is the running total so far."""
    text = shop_yaml("window: 3 days", "window: 100 years")
    root = make_project({"metrics/shop.yml": text})
    Project.load(root).build()
    code, out = run(
        "query", "--project-dir", str(root), "--metric", "revenue_3d", "--grain", "month", "--format", "csv"
    )
    assert code == 0, out
    # by hand: paid and refunded orders count, 'test' (o8) does not; running totals per month
    # Jan 100+50+30 = 180, Feb +70+20 = 270, Mar +10 = 280, Apr +40 = 320
    lines = out.strip().splitlines()
    assert lines[0] == "period_start,revenue_3d,period_complete"  # April has one day of data
    assert lines[1:] == [
        "2026-01-01,180.0,True",
        "2026-02-01,270.0,True",
        "2026-03-01,280.0,True",
        "2026-04-01,320.0,False",
    ]


# --- --period ---------------------------------------------------------------------------------------
TREE = """
    trees:
      - name: shop
        kgi: {metric: revenue, grain: quarter}
        formulas:
          - {metric: revenue, expr: orders * aov}
"""


def test_a_period_with_month_13_lists_the_accepted_formats(make_project):
    root = make_project({"metrics/tree.yml": TREE})
    for period, says in [("2026-13", "'2026-13' has no month 13"), ("2026-Q5", "'2026-Q5' is not a period")]:
        code, out = run("explain", "revenue", "--project-dir", str(root), "--period", period)
        assert code == 1, out
        assert f"error[KF855]: --period: {says}" in out
        assert "hint: use 2026-10 (a month, 01-12), 2026-Q3 (a quarter, Q1-Q4) or 2026 (a year)" in out
        assert_no_crash(out)


# --- diff against a commit without the project -----------------------------------------------------
def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_diff_with_a_commit_that_has_no_project_names_the_commit(make_project):
    root = make_project(rows=False)
    git(root, "init", "-q")
    (root / "notes.txt").write_text("before the project\n")
    git(root, "add", "notes.txt")
    git(root, "commit", "-qm", "notes only")
    empty = git(root, "rev-parse", "HEAD")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "the project")
    code, out = run("diff", "--project-dir", str(root), "--base", empty)
    assert code == 1
    assert f"error[KF954]: there is no kpi_project.yml at '{empty}'" in out
    assert_no_crash(out)


def test_diff_with_a_base_whose_expression_is_unreadable_says_which_file(make_project):
    broken = shop_yaml("filter: \"status = 'paid'\"", 'filter: "status = \'paid"')
    root = make_project({"metrics/shop.yml": broken}, rows=False)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "a filter with an unclosed quote")
    (root / "metrics" / "shop.yml").write_text(textwrap.dedent(SHOP_PROJECT["metrics/shop.yml"]).lstrip())
    code, out = run("diff", "--project-dir", str(root), "--base", "HEAD")
    assert code == 1
    assert "error[KF955]: the project at 'HEAD' does not load" in out
    where = position(textwrap.dedent(broken).lstrip(), '"status = \'paid"')
    assert f"HEAD:metrics/shop.yml:{where}: error[KF120]: filter: cannot read expression" in out
    assert_no_crash(out)


# --- a closed pipe ------------------------------------------------------------------------------------
FUNNEL = """
    funnels:
      - name: order_funnel
        entity: order
        dataset: orders
        window_days: 30
        stages:
          - {name: ordered, time: ordered_at}
          - {name: paid, time: ordered_at, filter: "status = 'paid'"}
"""


def test_funnel_into_head_stops_quietly(make_project):
    """`kpiframe funnel | head -1` through a real pipe: the reader leaves after one line."""
    root = make_project({"metrics/funnel.yml": FUNNEL})
    con = duckdb.connect(str(root / "shop.duckdb"))
    # 2,000 daily cohorts make a table of several hundred kB, far more than a pipe holds (64 kB)
    con.execute(
        "insert into raw.orders select 'g' || i, 'c1', timestamp '2020-01-01' + i * interval 1 day, 1, "
        "'paid' from range(2000) t(i)"
    )
    con.close()
    Project.load(root).build()
    producer = subprocess.Popen(
        [sys.executable, "-m", "kpiframe.cli.main_entry", "funnel", "--project-dir", str(root), "--cohort", "day"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    head = subprocess.Popen(["head", "-1"], stdin=producer.stdout, stdout=subprocess.PIPE)
    assert producer.stdout is not None and producer.stderr is not None
    producer.stdout.close()  # only head reads now: when it exits, the pipe has no reader
    first, _ = head.communicate(timeout=300)
    errors = producer.stderr.read().decode()
    code = producer.wait(timeout=300)
    assert first.decode().startswith("funnel order_funnel, order strict")
    assert errors == ""  # no KF999, no traceback, no "Exception ignored" from the final flush
    assert code == 1  # click's exit for a closed pipe
