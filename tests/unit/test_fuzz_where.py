"""Generated --where filters and model SQL: a right answer or a KpiframeError, never a traceback or a write.

Filters come from a grammar of allowed pieces (dimensions, literals, operators, allowed functions),
refused pieces (undeclared columns, COLUMNS, table functions, subqueries...) and random text. A
filter built only from allowed pieces is also written by hand over raw.*, and the two answers must
agree. Model SQL mixes reads, writes, data-modifying CTEs and random text; raw.* is counted by hand
after every example and must never change.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpiframe.errors import KpiframeError
from kpiframe.project import Project
from tests.conftest import SHOP_PROJECT, SHOP_ROWS, hand, write_files

ORDERS = "from raw.orders o left join raw.customers c using (customer_id) where o.status <> 'test'"
RAW_STATE = """
    select (select count(*) from raw.orders), (select sum(amount) from raw.orders),
           (select string_agg(order_id || status, ',' order by order_id) from raw.orders),
           (select count(*) from raw.customers), (select string_agg(region, ',' order by customer_id)
                                                  from raw.customers),
           (select string_agg(table_name, ',' order by table_name) from information_schema.tables
            where table_schema = 'raw')"""
RAW_AT_START = (
    8,
    419,
    "o1paid,o2refunded,o3paid,o4refunded,o5paid,o6paid,o7paid,o8test",
    3,
    "emea,amer",
    "customers,orders",
)


class Shop:
    """The built project, with a short repr for hypothesis's reports of a failing example."""

    def __init__(self, project: Project) -> None:
        self.project = project

    def __repr__(self) -> str:
        return "shop"


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Shop:
    root = write_files(tmp_path_factory.mktemp("fuzz_where"), SHOP_PROJECT)
    con = duckdb.connect(str(root / "shop.duckdb"))
    con.execute(textwrap.dedent(SHOP_ROWS))
    con.close()
    project = Project.load(root)
    project.build()
    return Shop(project)


def raw_state(project: Project) -> tuple:
    row = hand(project, RAW_STATE)[0]
    return (row[0], int(row[1]), *row[2:])


# --- the --where grammar: (kpiframe text, hand text or None, has a refused piece, has random text) ---------
Piece = tuple[str, str | None, bool, bool]

ALLOWED: list[Piece] = [
    (kf, hand_text, False, False)
    for kf, hand_text in [
        ("status", "o.status"),
        ("order__status", "o.status"),
        ("region", "c.region"),
        ("customer__region", "c.region"),
        ("customer", "o.customer_id"),  # an entity: its key
        ("'c1'", "'c1'"),
        ("'paid'", "'paid'"),
        ("'emea'", "'emea'"),
        ("'p%'", "'p%'"),
        ("'refunded'", "'refunded'"),
        ("1", "1"),
        ("0", "0"),
        ("null", "null"),
        ("true", "true"),
        ("lower(status)", "lower(o.status)"),
        ("upper(region)", "upper(c.region)"),
        ("length(status)", "length(o.status)"),
        ("coalesce(region, 'none')", "coalesce(c.region, 'none')"),
        ("substr(status, 1, 2)", "substr(o.status, 1, 2)"),
        ("trim(region)", "trim(c.region)"),
    ]
]
REFUSED: list[Piece] = [
    (kf, None, True, False)
    for kf in [
        "amount",
        "order_id",
        "t.amount",
        "*",
        "columns('amount')",
        "columns(*)",
        "read_csv('x.csv')",
        "read_parquet('x.parquet')",
        "glob('*')",
        "current_setting('threads')",
        "getenv('HOME')",
        "count(*)",
        "row_number() over ()",
        "status[1]",
        "[1, 2]",
        "?",
        "pg_read_file('/etc/passwd')",
        "sum(1) over ()",
        "struct_pack(a := 1)",
        "employee_count",
    ]
]
# a refused piece that does not parse as an expression is a KF120 (statement or subquery)
STATEMENTS: list[Piece] = [
    (kf, None, True, False)
    for kf in [
        "(select 1)",
        "exists (select * from raw.orders)",
        "1; delete from raw.orders",
        "status in (select status from raw.orders)",
    ]
]

UNARY = ["not {0}", "({0})", "{0} is null", "{0} is not null", "cast({0} as varchar)", "-{0}", "abs({0})"]
BINARY = [
    "{0} = {1}",
    "{0} <> {1}",
    "{0} < {1}",
    "{0} and {1}",
    "{0} or {1}",
    "{0} like {1}",
    "{0} ilike {1}",
    "{0} + {1}",
    "{0} || {1}",
    "{0} in ({1})",
    "{0} is distinct from {1}",
]
# CASE tests `is null`, which any type answers: `case when status then ...` casts text to boolean per
# row, so whether it fails depends on which rows the engine happens to evaluate, not on the filter
TERNARY = ["{0} between {1} and {2}", "case when {0} is null then {1} else {2} end", "{0} in ({1}, {2})"]


def _combine(template: str, *pieces: Piece) -> Piece:
    """Each operand in parentheses, so that precedence never changes what the grammar meant."""
    kf = template.format(*[f"({p[0]})" for p in pieces])
    hands = [p[1] for p in pieces]
    hand_text = None if any(h is None for h in hands) else template.format(*[f"({h})" for h in hands])
    return kf, hand_text, any(p[2] for p in pieces), any(p[3] for p in pieces)


random_text = st.text(max_size=15).map(lambda text: (text, None, False, True))
atoms = st.one_of(st.sampled_from(ALLOWED), st.sampled_from(REFUSED), st.sampled_from(STATEMENTS), random_text)
filters = st.recursive(
    atoms,
    lambda children: st.one_of(
        st.builds(_combine, st.sampled_from(UNARY), children),
        st.builds(_combine, st.sampled_from(BINARY), children, children),
        st.builds(_combine, st.sampled_from(TERNARY), children, children, children),
    ),
    max_leaves=8,
)
# half the examples only from the grammar's allowed pieces, so many filters run and are checked by hand
allowed_filters = st.recursive(
    st.sampled_from(ALLOWED),
    lambda children: st.one_of(
        st.builds(_combine, st.sampled_from(UNARY), children),
        st.builds(_combine, st.sampled_from(BINARY), children, children),
        st.builds(_combine, st.sampled_from(TERNARY), children, children, children),
    ),
    max_leaves=6,
)


def _answer(project: Project, where: str) -> int | KpiframeError:
    try:
        result = project.query(metrics=["orders"], grain="year", where=where)
    except KpiframeError as exc:
        assert exc.render() and exc.diagnostic.code != "KF999"
        return exc
    return sum(row[-1] for row in result.rows)


def _check_filter(project: Project, piece: Piece) -> None:
    where, hand_where, refused, random = piece
    outcome = _answer(project, where)
    if refused and not random:
        assert isinstance(outcome, KpiframeError), f"{where!r} was answered"
        assert outcome.diagnostic.code in ("KF120", "KF410", "KF412"), outcome.render()
    if hand_where is not None and not isinstance(outcome, KpiframeError):
        expected = hand(project, f"select count(*) {ORDERS} and ({hand_where})")[0][0]
        assert outcome == expected, where
    if hand_where is not None and isinstance(outcome, KpiframeError):
        # an allowed filter is refused only when the warehouse refuses the same SQL by hand (types)
        assert outcome.diagnostic.code == "KF503", outcome.render()
        with pytest.raises(duckdb.Error):
            hand(project, f"select count(*) {ORDERS} and ({hand_where})")
    assert raw_state(project) == RAW_AT_START


@settings(max_examples=200, deadline=None)
@given(piece=filters)
def test_generated_filters_answer_right_or_are_refused(shop, piece):
    _check_filter(shop.project, piece)


@settings(max_examples=120, deadline=None)
@given(piece=allowed_filters)
def test_generated_allowed_filters_match_hand_written_sql(shop, piece):
    _check_filter(shop.project, piece)


# --- model SQL: reads, writes anywhere in the tree, random text ---------------------------------------------
READS = [
    "select * from {{ ref('stg_orders') }}",
    "select 1 as x",
    "select * from raw.orders",
    "select count(*) as n from raw.customers",
    "select * from read_csv('missing.csv')",
]
WRITES = [
    "delete from raw.orders",
    "update raw.orders set amount = 0",
    "insert into raw.orders select * from raw.orders",
    "drop table raw.customers",
    "truncate raw.orders",
    "create table raw.x as select 1",
    "copy raw.orders to 'out.csv'",
    "attach ':memory:' as m",
    "detach m",
    "set threads = 1",
    "pragma version",
    "checkpoint",
    "vacuum",
    "install httpfs",
    "load httpfs",
    "call pragma_version()",
    "export database 'dump'",
    "begin",
    "commit",
    "alter table raw.orders add column z int",
    "select * into raw.y from raw.orders",
    "use raw",
    "create or replace view raw.orders_v as select 1",
    "delete from raw.orders returning *",
]
RETURNING = [
    "delete from raw.orders",
    "update raw.orders set amount = 0",
    "insert into raw.customers values ('c9', 'x')",
]
SHAPES = [
    "{r}",
    "{w}",
    "{r}; {w}",
    "{w}; {r}",
    "with gone as ({d} returning *) select count(*) as n from gone",
    "with a as ({r}) select * from a where exists (with g as ({d} returning 1) select * from g)",
    "select * from ({r}) s union all select * from ({r}) t",
    "with a as ({r}) {w}",
    "select (select count(*) from (with g as ({d} returning 1) select * from g) x) as n",
    "{r} {text}",
    "{text}",
    "{w} {text}",
]


@st.composite
def model_sql(draw: st.DrawFn) -> str:
    shape = draw(st.sampled_from(SHAPES))
    return shape.format(
        r=draw(st.sampled_from(READS)),
        w=draw(st.sampled_from(WRITES)),
        d=draw(st.sampled_from(RETURNING)),
        text=draw(st.text(max_size=30)),
    )


@settings(max_examples=150, deadline=None)
@given(sql=model_sql())
def test_generated_model_sql_never_changes_raw_tables(shop, sql):
    root = Path(shop.project.root)
    (root / "models" / "fuzz.sql").write_text(sql, encoding="utf-8")
    try:
        Project.load(root).build(select=["fuzz"])
    except KpiframeError as exc:
        assert exc.render() and exc.diagnostic.code != "KF999"
    assert raw_state(shop.project) == RAW_AT_START, sql
