"""Parsing user-written SQL expressions safely and rewriting them as trees."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

# Statement-like or data-changing nodes that a filter or measure expression may never contain.
_FORBIDDEN = (exp.Query, exp.DDL, exp.DML, exp.Command)


class ExpressionRejected(ValueError):
    """A user expression that is not a plain scalar expression."""


def parse_expression(text: str, dialect: str = "duckdb") -> exp.Expr:
    """Parse one scalar expression; statements, subqueries and several statements are refused.

    The tree is the caller's own: a copy of the one `shared_expression` keeps.
    """
    return shared_expression(text, dialect).copy()


@functools.lru_cache(maxsize=1024)
def shared_expression(text: str, dialect: str = "duckdb") -> exp.Expr:
    """parse_expression's tree, parsed once per process (a project reads a metric's expression when it
    validates it, orders metrics and compiles each query) and shared: read it, never change it.
    replace_columns and qualify copy it. A rejected expression raises each time (errors are not kept).
    """
    try:
        parsed = sqlglot.parse(text, read=dialect)
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        raise ExpressionRejected(f"cannot parse expression: {first.get('description', exc)}") from None
    except TokenError:  # the tokenizer stops before parsing, mostly at a quote that is never closed
        raise ExpressionRejected(f"cannot read expression {text!r}: {_token_problem(text)}") from None
    statements = [p for p in parsed if p is not None]
    if len(statements) != 1:
        raise ExpressionRejected("expected one expression, found several statements")
    tree = statements[0]
    if any(isinstance(node, _FORBIDDEN) for node in tree.walk()):
        raise ExpressionRejected("only an expression is allowed here, not a statement or a subquery")
    return tree


def _token_problem(text: str) -> str:
    """Say which quote is left open and where it opens, the usual reason sqlglot cannot tokenize."""
    opened: int | None = None
    index = 0
    while index < len(text):
        char = text[index]
        if opened is None and char in "'\"":
            opened = index
        elif opened is not None and char == text[opened]:
            if text[index + 1 : index + 2] == char:  # '' inside a string is an escaped quote
                index += 1
            else:
                opened = None
        index += 1
    if opened is not None:
        kind = "string" if text[opened] == "'" else "quoted name"
        return f"the {kind} opened by {text[opened]} at character {opened + 1} is never closed"
    return "it cannot be split into SQL tokens (check its quotes and special characters)"


def column_names(tree: exp.Expr) -> list[str]:
    return [c.name for c in tree.find_all(exp.Column)]


def replace_columns(tree: exp.Expr, replace: Callable[[exp.Column], exp.Expr]) -> exp.Expr:
    """Return a copy of `tree` where every column reference is swapped for `replace(column)`."""

    def visit(node: exp.Expr) -> exp.Expr:
        return replace(node) if isinstance(node, exp.Column) else node

    return tree.transform(visit)  # transform works on a copy


def qualify(tree: exp.Expr, table_alias: str) -> exp.Expr:
    """Prefix every unqualified column with `table_alias`, so joined tables cannot capture it."""
    return replace_columns(tree, lambda c: c if c.table else exp.column(c.name, table=table_alias, quoted=True))


def safe_divisions(tree: exp.Expr, copy: bool = True) -> exp.Expr:
    """A division by zero is NULL on every engine (PostgreSQL would raise), and never integer division.

    Every division of `tree` is marked, those inside another division's operands included; `copy=False`
    marks them in `tree` itself.
    """
    result = tree.copy() if copy else tree
    for node in result.find_all(exp.Div):
        node.set("safe", True)
    return result


def safe_divide(numerator: exp.Expr, denominator: exp.Expr) -> exp.Expr:
    """numerator / denominator, NULL when the denominator is zero; sqlglot renders it per dialect."""
    return exp.Div(this=_grouped(numerator), expression=_grouped(denominator), safe=True)


def _grouped(node: exp.Expr) -> exp.Expr:
    """Parenthesize a compound operand: sqlglot prints trees as built, without adding precedence."""
    return (
        exp.Paren(this=node) if isinstance(node, (exp.Binary, exp.Unary)) and not isinstance(node, exp.Paren) else node
    )


def ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table, quoted=True)


def literal(value: Any) -> exp.Expr:
    """A Python value as a SQL literal tree (dates as ISO text, which the target column casts)."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float, Decimal)):
        return exp.Literal.number(value)
    if isinstance(value, datetime):
        return exp.Literal.string(value.isoformat(sep=" "))
    if isinstance(value, date):
        return exp.Literal.string(value.isoformat())
    return exp.Literal.string(str(value))


def create_schema(name: str) -> exp.Create:
    """CREATE SCHEMA IF NOT EXISTS "name"."""
    return exp.Create(this=exp.Table(this=exp.to_identifier(name, quoted=True)), kind="SCHEMA", exists=True)


def create_table(schema: str, name: str, columns: Sequence[tuple[str, str]]) -> exp.Create:
    """CREATE TABLE "schema"."name" with `columns` as (name, DuckDB type) pairs; rendered in any dialect."""
    definitions = [
        exp.ColumnDef(this=exp.to_identifier(column, quoted=True), kind=exp.DataType.build(kind, dialect="duckdb"))
        for column, kind in columns
    ]
    return exp.Create(
        this=exp.Schema(this=exp.table_(name, db=schema, quoted=True), expressions=definitions), kind="TABLE"
    )


def relocate(tree: exp.Query, tables: dict[tuple[str, str], exp.Table]) -> exp.Query:
    """Point every table reference found in `tables` at its new place, keeping the alias columns use (the
    old name becomes the alias where there was none): the diff sandbox and the metric tests' scratch space."""

    def swap(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Table) and not node.catalog and (node.db, node.name) in tables:
            new = tables[(node.db, node.name)].copy()
            alias = node.args.get("alias")
            new.set("alias", alias.copy() if alias else exp.TableAlias(this=exp.to_identifier(node.name, quoted=True)))
            return new
        return node

    return tree.copy().transform(swap)  # type: ignore[return-value]


def set_option(name: str, value: str | bool, scope: str | None = None) -> exp.Set:
    """`SET [scope] name = value`: a setting of the session, or with scope GLOBAL of every connection to the
    database (DuckDB)."""
    setting = exp.Boolean(this=value) if isinstance(value, bool) else exp.Literal.string(value)
    item = exp.SetItem(this=exp.EQ(this=exp.var(name), expression=setting), kind=scope)
    return exp.Set(expressions=[item])
