"""Hostile project files (issue 11): models that write, YAML alias bombs, templates that never end.

Each is refused with a located KF error. The inputs that would eat the machine if a check
regressed run in a child process capped by RLIMIT_AS and a timeout, so that a regression fails
the test instead of swapping the machine to death.
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from kpiframe.cli import main
from kpiframe.errors import ProjectInvalid
from kpiframe.load.files import MAX_ALIAS_VALUES, parse_yaml
from kpiframe.load.templating import TemplateFailure, Templater
from kpiframe.project import Project

MEMORY_CAP = 1536 * 1024 * 1024  # a compile of the shop project peaks far below this
TIMEOUT = 180  # seconds; only a safety net against a hung child, never an assertion on speed


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def compile_capped(root: Path) -> tuple[int, str]:
    """`kpiframe compile` in a child process with a memory cap; (exit code, stdout and stderr)."""
    command = [sys.executable, "-c", "from kpiframe.cli import main; main()", "compile", "--project-dir", str(root)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, preexec_fn=_cap_memory)
    except subprocess.TimeoutExpired:
        pytest.fail(f"kpiframe compile did not finish within {TIMEOUT}s")
    return done.returncode, done.stdout + done.stderr


def problems(root: Path) -> str:
    with pytest.raises(ProjectInvalid) as caught:
        Project.load(root)
    return "\n".join(d.render() for d in caught.value.diagnostics)


def count_orders(root: Path) -> int:
    con = duckdb.connect(str(root / "shop.duckdb"), read_only=True)
    try:
        return int(con.execute("select count(*) from raw.orders").fetchone()[0])  # type: ignore[index]
    finally:
        con.close()


# --- 1. models cannot write -------------------------------------------------------------------


def test_a_cte_that_deletes_is_refused_and_the_table_keeps_its_rows(make_project):
    root = make_project(
        {
            "models/evil_cte.sql": "with gone as (delete from raw.orders returning order_id)\n"
            "select count(*) as n from gone"
        }
    )
    result = CliRunner().invoke(main, ["build", "--project-dir", str(root), "--select", "evil_cte"])
    assert result.exit_code == 1
    assert "models/evil_cte.sql:1:1: error[KF312]: a model may only read: it contains DELETE" in result.stderr
    assert count_orders(root) == 8  # SHOP_ROWS inserts o1..o8


@pytest.mark.parametrize(
    ("sql", "line", "statement"),
    [
        (
            "with added as (\n  insert into raw.orders values ('x', 'c1', now(), 1, 'paid') returning order_id)\n"
            "select * from added",
            2,
            "INSERT",
        ),
        (
            "with a as (select 1 as x),\nb as (update raw.orders set status = 'paid' returning order_id)\n"
            "select * from a, b",
            2,
            "UPDATE",
        ),
        (
            "select * from {{ ref('stg_orders') }}\nwhere order_id in (\n"
            "  with d as (delete from raw.customers returning "
            "customer_id) select * from d)",
            3,
            "DELETE",
        ),
        ("select *\ninto raw.copy_of_orders\nfrom {{ ref('stg_orders') }}", 2, "SELECT ... INTO"),
        ("select * from {{ ref('stg_orders') }}\nfor update", 1, "FOR UPDATE/SHARE"),
    ],
)
def test_a_write_anywhere_in_the_tree_is_refused_at_its_line(make_project, sql, line, statement):
    root = make_project({"models/evil.sql": sql}, rows=False)
    found = problems(root)
    assert f"models/evil.sql:{line}:1: error[KF312]: a model may only read: it contains {statement}" in found
    assert "not even inside a CTE" in found


@pytest.mark.parametrize(
    ("sql", "statement"),
    [
        ("select 1 as x;\nattach 'other.duckdb' as other", "ATTACH"),
        ("select 1 as x;\ninstall httpfs", "INSTALL"),
        ("select 1 as x;\nload httpfs", "LOAD"),  # sqlglot keeps it as a generic exp.Command
        ("select 1 as x;\ncall pragma_version()", "CALL"),
        ("select 1 as x;\npragma threads=1", "PRAGMA"),
        ("select 1 as x;\nset threads = 1", "SET"),
        ("select 1 as x;\ncopy raw.orders to 'orders.csv'", "COPY"),
        ("select 1 as x;\ndrop table raw.orders", "DROP"),
        ("select 1 as x;\ncreate table raw.t (a int)", "CREATE"),
        ("select 1 as x;\nbegin transaction", "BEGIN"),
    ],
)
def test_a_second_statement_is_refused_and_named(make_project, sql, statement):
    root = make_project({"models/two.sql": sql}, rows=False)
    assert (
        f"models/two.sql:2:1: error[KF311]: a model must be exactly one SELECT statement; it also runs {statement}"
    ) in problems(root)


def test_a_template_that_renders_two_statements_is_refused(make_project):
    root = make_project(
        {
            "macros/sneaky.sql": "{% macro tidy() %}; delete from raw.orders{% endmacro %}",
            "models/rendered.sql": "select * from {{ ref('stg_orders') }}\n{{ tidy() }}",
            "models/semicolon.sql": "select 1 as x {{ ';' }}\ntruncate raw.orders",
        },
        rows=False,
    )
    found = problems(root)
    assert (
        "models/rendered.sql:2:1: error[KF311]: a model must be exactly one SELECT statement; "
        "it also runs DELETE" in found
    )
    assert (
        "models/semicolon.sql:2:1: error[KF311]: a model must be exactly one SELECT statement; "
        "it also runs TRUNCATE" in found
    )


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "snowflake", "bigquery"])
def test_the_refusal_holds_whatever_the_dialect(make_project, dialect):
    root = make_project(
        {
            "models/evil_cte.sql": "with gone as (delete from raw.orders returning order_id) "
            "select count(*) as n from gone"
        },
        rows=False,
    )
    result = CliRunner().invoke(main, ["compile", "--project-dir", str(root), "--dialect", dialect])
    assert result.exit_code == 1
    assert "error[KF312]" in result.stderr
    assert not (root / "target" / "compiled" / dialect / "models" / "evil_cte.sql").exists()


def test_reading_models_with_ctes_unions_and_subqueries_still_compile(make_project):
    root = make_project(
        {
            "models/reader.sql": """
        with paid as (select * from {{ ref('stg_orders') }} where status = 'paid'),
             big as (select order_id from paid where amount > (select avg(amount) from paid))
        select order_id, 'big' as kind from big
        union all
        select order_id, 'other' as kind from paid where order_id not in (select order_id from big)
    """
        }
    )
    project = Project.load(root)
    assert "reader" in project.graph.models
    con = duckdb.connect(str(root / "shop.duckdb"), read_only=True)
    # paid orders: o1 100, o3 30, o5 20, o6 10, o7 40 -> average 40; only o1 is above it
    rows = con.execute("""
        with paid as (select * from raw.orders where status = 'paid')
        select count(*) filter (where amount > 40), count(*) from paid
    """).fetchone()
    con.close()
    assert rows == (1, 5)


# --- 3. YAML: aliases are bounded -------------------------------------------------------------


def test_a_file_over_the_size_limit_is_refused(make_project):
    root = make_project({"models/huge.sql": "select 1 as x\n" + "-- padding\n" * 500_000}, rows=False)
    assert "models/huge.sql: error[KF002]: file is larger than 5 MB (5,500,014 bytes)" in problems(root)


def billion_laughs() -> str:
    """Nine anchors, each a list of nine aliases of the one before: 9**9 strings from a few lines."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    names = "abcdefghi"
    for before, name in zip(names, names[1:], strict=False):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{before}"] * 9) + "]")
    return "\n".join([*lines, "metrics: *i", ""])


def test_a_yaml_alias_bomb_is_refused_at_the_file(make_project):
    text = billion_laughs()
    assert len(text.encode()) < 500
    root = make_project({"metrics/bomb.yml": text}, rows=False)
    code, output = compile_capped(root)
    assert code == 1
    assert f"error[KF003]: malformed YAML: aliases (*name) expand to more than {MAX_ALIAS_VALUES:,} values" in output
    assert "metrics/bomb.yml:" in output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: &a [1, *a]\n", "an alias refers to a node that contains it"),
        ("a: &a {b: *a}\n", "an alias refers to a node that contains it"),
        ("? [a, b]\n: 1\n", "a key must be a plain value, not a list or mapping"),
    ],
)
def test_cyclic_aliases_and_complex_keys_are_refused(text, message):
    found: list = []
    assert parse_yaml(text, "metrics/x.yml", found) is None
    assert [d.code for d in found] == ["KF003"] and message in found[0].message


def test_ordinary_anchors_still_work_with_positions():
    text = "defaults: &d {agg: sum, expr: amount}\nmeasures:\n  - *d\n  - {name: n, agg: count}\n  - *d\n"
    found: list = []
    doc = parse_yaml(text, "metrics/x.yml", found)
    assert found == [] and doc is not None
    assert doc.data["measures"] == [
        {"agg": "sum", "expr": "amount"},
        {"name": "n", "agg": "count"},
        {"agg": "sum", "expr": "amount"},
    ]
    assert doc.locate(("measures", 1)).line == 4
    assert doc.locate(("measures", 2)).line == 1  # an alias is where its anchor is: the node is shared


# --- 3. Jinja: every template ends, in bounded memory, with a located error -------------------

HOSTILE_TEMPLATES = {
    "huge_range": (
        "select\n{{ range(10**9) | length }} as n",
        "models/hostile.sql:2:1: error[KF304]: template exceeds a limit: range() of 1,000,000,000 items",
    ),
    "repeat": (
        "select\n'{{ 'a' * 10**11 }}' as s",
        "models/hostile.sql:2:1: error[KF304]: template exceeds a limit: repeating a string or list",
    ),
    "power": (
        "select\n\n{{ 2 ** (10**9) }} as n",
        "models/hostile.sql:3:1: error[KF304]: template exceeds a limit: 2 ** 1000000000 is too large",
    ),
    "nested_loops": (
        "select\n{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %} as x",
        "models/hostile.sql:2:1: error[KF304]: template exceeds a limit: the template ran more than "
        "1,000,000 loop iterations and calls",
    ),
    "silent_loops": (
        "select 1 as x\n{% for i in range(100000) %}\n{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "error[KF304]: template exceeds a limit: the template ran more than 1,000,000",
    ),
    "doubling": (
        "{% set ns = namespace(s='a') %}\n{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"
        "select 1 as x",
        "models/hostile.sql:2:1: error[KF304]: template exceeds a limit: joining with ~ would make more",
    ),
    "nested_lists": (
        "{% set ns = namespace(l=[1]) %}{% for i in range(64) %}\n{% set ns.l = [ns.l, ns.l] %}"
        "{% endfor %}select '{{ ns.l }}' as x",
        "models/hostile.sql:2:1: error[KF304]: template exceeds a limit: the template built a value",
    ),
    "padding": (
        "select\n'{{ 'x'.center(10**11) }}' as s",
        "models/hostile.sql:2:1: error[KF304]: template exceeds a limit: str.center would make more",
    ),
    "format_width": (
        "select\n'{{ '%0*d' % (10**11, 1) }}' as s",
        "models/hostile.sql:2:1: error[KF304]: template exceeds a limit: a format argument used as a",
    ),
    "filter_width": (
        "select\n'{{ 'x' | indent(10**11, true) }}' as s",
        "models/hostile.sql:2:1: error[KF304]: template exceeds a limit: the indent filter",
    ),
    "output": (
        "{% macro page() %}{% for i in range(100000) %}{{ 'y' * 4000 }}{% endfor %}{% endmacro %}\n"
        "select {{ page() | length }} as n",
        "models/hostile.sql:1:1: error[KF304]: template exceeds a limit: the template output more than",
    ),
    "recursion": (
        "select\n{{ again(1) }} as n",
        "macros/loop.sql:2:1: error[KF304]: template exceeds a limit: calls nested more than 40 deep",
    ),
    "fan_out": (
        "{% macro tree(n) %}{% if n < 30 %}{{ tree(n + 1) }}{{ tree(n + 1) }}{% endif %}{% endmacro %}"
        "select 1 as x\n{{ tree(0) }}",
        "error[KF304]: template exceeds a limit: the template ran more than 1,000,000 loop iterations",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_TEMPLATES))
def test_hostile_templates_end_in_a_located_error(make_project, case):
    template, expected = HOSTILE_TEMPLATES[case]
    root = make_project(
        {"models/hostile.sql": template, "macros/loop.sql": "{% macro again(n) %}\n{{ again(n + 1) }}{% endmacro %}"},
        rows=False,
    )
    code, output = compile_capped(root)
    assert code == 1
    assert expected in output, output
    assert "Traceback" not in output


def render_error(text: str, macros: dict[str, str] | None = None) -> str:
    with pytest.raises(TemplateFailure) as caught:
        Templater(macros or {}, {"known": 1}).render(text, "models/m.sql")
    return caught.value.diagnostic.render()


def test_an_undefined_name_is_reported_on_its_line():
    assert (
        render_error("select\n  a,\n  {{ colour }} as b")
        == "models/m.sql:3:1: error[KF301]: template error: 'colour' is undefined"
    )


def test_an_unknown_var_is_reported_on_its_line():
    assert render_error("select\n\n{{ var('nope') }} as n").startswith(
        "models/m.sql:3:1: error[KF303]: unknown var 'nope'"
    )


def test_a_python_error_in_a_macro_is_reported_in_the_macro_file():
    found = render_error(
        "select\n{{ ratio(1) }} as r", {"macros/math.sql": "{% macro ratio(x) %}\n\n{{ x / 0 }}{% endmacro %}"}
    )
    assert found == "macros/math.sql:3:1: error[KF301]: template error: ZeroDivisionError: division by zero"


def test_ordinary_templates_render_as_before():
    macros = {
        "macros/cols.sql": "{% macro cols(names) -%}{% for c in names %}{{ c }}{{ ', ' if not loop.last }}"
        "{%- endfor %}{%- endmacro %}"
    }
    text = (
        "{% set ns = namespace(total=0) %}{% for i in range(4) %}{% set ns.total = ns.total + i %}{% endfor %}"
        "select {{ cols(['a', 'b']) }}, {{ ns.total }} as t, '{{ 'ab' * 2 }}' as s, {{ 2 ** 10 }} as p, "
        "'{{ '%03d' % 7 }}' as f{% for k, v in {'x': 1}.items() %}, {{ v }} as {{ k ~ '_' }}{% endfor %}"
    )
    sql = Templater(macros, {}).render(text, "models/m.sql").sql
    assert sql == "select a, b, 6 as t, 'abab' as s, 1024 as p, '007' as f, 1 as x_"
