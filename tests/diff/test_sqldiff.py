"""SQL compared as trees: layout, comments and the order of AND-ed conditions are not changes."""

from __future__ import annotations

import sqlglot

from kpiframe.diff.changes import field_changes
from kpiframe.diff.sqldiff import only_columns_added, sql_changes


def parse(sql: str) -> sqlglot.exp.Expr:
    return sqlglot.parse_one(sql, read="duckdb")


def changes(old: str, new: str) -> list[str]:
    return sql_changes(parse(old), parse(new))


def test_layout_comments_case_and_condition_order_are_not_changes():
    assert (
        changes(
            "select a, b from t where x = 1 and y > 2",
            "-- the same\nSELECT a,\n       b\nFROM t\nWHERE y > 2 AND x = 1",
        )
        == []
    )


def test_each_clause_says_what_changed():
    assert changes("select a, b from t where x = 1", "select a, b * 2 as b, c from t where x = 2") == [
        "column c added: c",
        "column b: b → b * 2",
        "WHERE condition: x = 1 → x = 2",
    ]
    assert changes("select a from t", "select a from t join u on t.a = u.a group by a") == [
        "JOIN added: JOIN u ON t.a = u.a",
        "GROUP BY: ∅ → GROUP BY a",
    ]
    assert changes("select a, b from t", "select b, a from t") == ["column order: a, b → b, a"]


def test_ctes_subqueries_and_unions_are_followed():
    assert changes(
        "with r as (select a from t where s >= 40) select a from r",
        "with r as (select a from t where s >= 30) select a from r",
    ) == ["CTE r: WHERE condition: s >= 40 → s >= 30"]
    assert changes("select a from (select a from t where k) q", "select a from (select a from t) q") == [
        "subquery q: WHERE condition removed: k"
    ]
    assert changes("select 1 as v", "select 1 as v union all select 2") == ["UNION branch added: SELECT 2"]


def test_added_output_columns_alone_keep_every_number():
    assert only_columns_added(parse("select a from t"), parse("select a, b from t"))
    assert not only_columns_added(parse("select a from t"), parse("select a, b from t where b"))


def test_fields_by_path_with_expressions_compared_by_meaning():
    old = {"filter": "status='paid'", "measures": [{"name": "m", "expr": "a+b"}], "fit": ["x >= 1", "y"]}
    new = {"filter": "status = 'paid'", "measures": [{"name": "m", "expr": "a + b"}], "fit": ["y", "x>=1"]}
    assert field_changes(old, new) == []
    new = {"filter": "status = 'won'", "measures": [{"name": "m", "expr": "a"}, {"name": "n"}], "fit": ["y"]}
    assert [(c.path, c.old, c.new) for c in field_changes(old, new)] == [
        ("filter", "status='paid'", "status = 'won'"),
        ("measures[m].expr", "a+b", "a"),
        ("measures[n]", None, {"name": "n"}),
        ("fit", ["x >= 1", "y"], ["y"]),
    ]
