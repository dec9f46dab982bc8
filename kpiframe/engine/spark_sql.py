"""Spark's sqlglot trees: what a statement written for DuckDB must become before sqlglot's Spark dialect
renders it, so that Spark computes what DuckDB does (`spark_tree`, used by `SparkWarehouse.render`)."""

from __future__ import annotations

from sqlglot import exp


def spark_tree(statement: exp.Expr) -> exp.Expr:
    """`statement` as Spark must get it; DuckDB's and PostgreSQL's trees stay as they are.

    A safe division (NULL when the divisor is 0) is rendered by sqlglot's Spark dialect as a plain `/`,
    which was NULL on zero before Spark 4 but raises DIVIDE_BY_ZERO under ANSI mode, Spark 4's default;
    an explicit NULLIF says it on every version.

    A division is DuckDB's: always in DOUBLE (no integer division, and no DECIMAL division, which Spark
    rounds to 6 decimal places: `seconds / 3600.0`); sqlglot does the same for PostgreSQL.

    An interval of n quarters is one of 3n months: Spark has no QUARTER interval unit.

    `PERCENTILE_CONT(x, p)` (DuckDB's and kpiframe's two-argument form) does not exist in Spark, whose
    exact, interpolating equivalent is `PERCENTILE(x, p)` (sqlglot's Quantile, rendered for Spark)."""
    if not any(_needs_change(node) for node in statement.walk()):
        return statement
    tree = statement.copy()
    for node in [n for n in tree.walk() if _needs_change(n)]:  # changed in place: nested ones stay reachable
        _for_spark(node)
    return tree


def _needs_change(node: exp.Expr) -> bool:
    if isinstance(node, exp.Div):
        return not node.args.get("typed")
    if isinstance(node, exp.Interval):
        return node.text("unit").upper() == "QUARTER" and isinstance(node.this, exp.Literal)
    return isinstance(node, exp.PercentileCont) and not isinstance(node.parent, exp.WithinGroup)


def _for_spark(node: exp.Expr) -> None:
    if isinstance(node, exp.Div):
        if node.args.get("safe"):
            node.set("expression", exp.Nullif(this=node.expression, expression=exp.Literal.number(0)))
            node.set("safe", None)
        node.set("this", exp.Cast(this=node.this, to=exp.DataType.build("DOUBLE")))
        node.set("typed", True)
        return
    if isinstance(node, exp.Interval):  # Spark's intervals have no QUARTER unit
        node.set("this", exp.Literal.string(str(int(node.this.name) * 3)))
        node.set("unit", exp.var("MONTH"))
        return
    node.replace(exp.Quantile(this=node.this, quantile=node.expression))
