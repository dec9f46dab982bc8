"""Expectations as plain SQL counts, for a warehouse Great Expectations does not run on (Spark).

Each supported expectation becomes one scalar subquery counting its unexpected rows (and, where GX
reports them, the rows it looked at); all of a table's subqueries go to the warehouse as ONE query,
so only the counts come back, never rows. The SQL is a sqlglot tree, rendered by the warehouse in its
own dialect. Semantics follow GX's: NULLs are not unexpected except for `not_null`, `unique` counts
every row of a repeated value, `mostly` is the share of non-NULL values that must pass. kpiframe's own
checks reuse the unexpected-rows queries of `custom`, counted instead of fetched.

An expectation with no translation here is a failed result whose error says so: never a silent pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlglot import exp

from kpiframe.engine import Warehouse
from kpiframe.errors import WarehouseError
from kpiframe.quality import custom
from kpiframe.quality.contracts import COMPOUND_UNIQUE as COMPOUND_UNIQUE  # read by quality.prescreen
from kpiframe.quality.model import Expectation, ExpectationResult

Counts = list[exp.Expr]  # scalar subqueries: [unexpected] or [unexpected, counted rows]


def run_pushed_down(
    warehouse: Warehouse, schema: str, table: str, expectations: list[Expectation]
) -> list[ExpectationResult]:
    """Every expectation of `schema.table`, in order, from one counting query (per expectation if it
    fails, so that one broken check does not hide the others)."""
    target = exp.table_(table, db=schema, quoted=True)
    planned: list[tuple[Expectation, Counts | None]] = [(e, counts_of(e, target, schema)) for e in expectations]
    runnable = [(e, counts) for e, counts in planned if counts is not None]
    values: dict[int, list[Any]] = {}
    try:
        values = fetch_counts(warehouse, runnable)
    except WarehouseError:
        for e, counts in runnable:
            try:
                values.update({id(e): fetch_counts(warehouse, [(e, counts)])[id(e)]})
            except WarehouseError as exc:
                values[id(e)] = [exc.diagnostic.message]
    return [_result(e, values.get(id(e)), warehouse.dialect) for e, _ in planned]


def fetch_counts(warehouse: Warehouse, runnable: list[tuple[Expectation, Counts]]) -> dict[int, list[Any]]:
    columns = [count for _, counts in runnable for count in counts]
    if not columns:
        return {}
    [row] = warehouse.query(exp.select(*[c.copy().as_(f"kf_{i}") for i, c in enumerate(columns)])).rows
    found, at = {}, 0
    for e, counts in runnable:
        found[id(e)] = [None if v is None else int(v) for v in row[at : at + len(counts)]]
        at += len(counts)
    return found


def _result(expectation: Expectation, values: list[Any] | None, dialect: str) -> ExpectationResult:
    if values is None:
        error = f"{expectation.kind} has no SQL translation for {dialect} yet, so it was not run"
        return ExpectationResult(expectation, False, None, None, None, None, [], error)
    if values and isinstance(values[0], str):  # the warehouse refused this check's query
        return ExpectationResult(expectation, False, None, None, None, None, [], values[0])
    kind, kwargs = expectation.kind, expectation.kwargs
    if kind == ROW_COUNT:
        [rows] = values
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        ok = (low is None or rows >= low) and (high is None or rows <= high)
        return ExpectationResult(expectation, ok, rows, None, None, None)
    if len(values) == 1:  # kpiframe's checks: the count of unexpected rows is the observed value
        [unexpected] = values
        return ExpectationResult(expectation, unexpected == 0, unexpected, None, unexpected, None)
    unexpected, counted, rows = values
    percent = 100.0 * unexpected / counted if counted else 0.0
    mostly = kwargs.get("mostly")
    ok = unexpected == 0 if mostly is None else (not counted or (counted - unexpected) / counted >= mostly)
    return ExpectationResult(expectation, ok, None, rows, unexpected, percent)


# --- the counts -------------------------------------------------------------------------------------------
ROW_COUNT = "expect_table_row_count_to_be_between"


def counts_of(expectation: Expectation, target: exp.Table, schema: str) -> Counts | None:
    kind, kwargs = expectation.kind, expectation.kwargs
    if kind == ROW_COUNT:
        return [count_rows(target)]
    if kind in _CONDITIONS:
        condition = _CONDITIONS[kind](kwargs)
        if condition is None:
            return None
        if kind == NOT_NULL:  # GX: NULLs are what is unexpected, out of every row
            return [count_rows(target, condition), count_rows(target), count_rows(target)]
        counted = exp.Not(this=_col(kwargs["column"]).is_(exp.null()))
        return [
            count_rows(target, exp.and_(counted, condition)),
            count_rows(target, counted.copy()),
            count_rows(target),
        ]
    if kind == custom.UNIQUE and set(kwargs) <= {"column", "mostly"}:
        return [*_repeated(target, [kwargs["column"]]), count_rows(target)]
    if kind == COMPOUND_UNIQUE and set(kwargs) == {"column_list"}:
        return [*_repeated(target, list(kwargs["column_list"])), count_rows(target)]
    if kind == PAIR_GREATER:
        condition = _a_greater_than_b(kwargs)
        if condition is None:
            return None
        counted = exp.Not(
            this=exp.and_(_col(kwargs["column_A"]).is_(exp.null()), _col(kwargs["column_B"]).is_(exp.null()))
        )
        return [
            count_rows(target, exp.and_(counted, condition)),
            count_rows(target, counted.copy()),
            count_rows(target),
        ]
    if kind in custom.CUSTOM_CHECKS:
        rows = custom.unexpected_rows(kind, kwargs, schema)
        return [exp.select(exp.Count(this=exp.Star())).from_(read_from(rows, target).subquery("kf_rows")).subquery()]
    return None


def count_rows(target: exp.Table, where: exp.Expr | None = None) -> exp.Expr:
    query = exp.select(exp.Count(this=exp.Star())).from_(target.copy())
    return (query.where(where) if where is not None else query).subquery()


def _repeated(target: exp.Table, columns: list[str]) -> Counts:
    """Rows whose value (all NULL: ignored, as GX does) occurs more than once, and the rows counted."""
    present = exp.or_(*[exp.Not(this=_col(c).is_(exp.null())) for c in columns])
    groups = (
        exp.select(exp.Count(this=exp.Star()).as_("kf_times"))
        .from_(target.copy())
        .where(present)
        .group_by(*[_col(c) for c in columns])
        .having(exp.GT(this=exp.Count(this=exp.Star()), expression=exp.Literal.number(1)))
    )
    repeated = exp.select(exp.func("coalesce", exp.Sum(this=exp.column("kf_times")), exp.Literal.number(0)))
    return [repeated.from_(groups.subquery("kf_groups")).subquery(), count_rows(target, present.copy())]


def read_from(rows: exp.Select, target: exp.Table) -> exp.Select:
    """`custom`'s query with its batch placeholder replaced by the checked table."""

    def place(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Var) and node.this.name == custom.BATCH:
            return target.copy()
        return node

    return rows.transform(place)  # type: ignore[return-value]


def _col(name: str) -> exp.Column:
    return exp.column(name, quoted=True)


NOT_NULL = "expect_column_values_to_not_be_null"
PAIR_GREATER = "expect_column_pair_values_a_to_be_greater_than_b"


def _in_set(kwargs: dict[str, Any]) -> exp.Expr:
    values = [custom.literal_of(v) for v in kwargs["value_set"]]
    return exp.Not(this=exp.In(this=_col(kwargs["column"]), expressions=values))


def _between(kwargs: dict[str, Any]) -> exp.Expr | None:
    if set(kwargs) - {"column", "min_value", "max_value", "strict_min", "strict_max", "mostly"}:
        return None
    value, outside = _col(kwargs["column"]), list[exp.Expr]()
    if kwargs.get("min_value") is not None:
        low = custom.literal_of(kwargs["min_value"])
        below = exp.LTE if kwargs.get("strict_min") else exp.LT
        outside.append(below(this=value.copy(), expression=low))
    if kwargs.get("max_value") is not None:
        high = custom.literal_of(kwargs["max_value"])
        above = exp.GTE if kwargs.get("strict_max") else exp.GT
        outside.append(above(this=value.copy(), expression=high))
    return exp.or_(*outside) if outside else exp.false()


def _regex(kwargs: dict[str, Any]) -> exp.Expr:
    # a search, like GX's on DuckDB (regexp_matches) and PostgreSQL (~); Spark's RLIKE is Java's find()
    return exp.Not(this=exp.RegexpLike(this=_col(kwargs["column"]), expression=exp.Literal.string(kwargs["regex"])))


def _a_greater_than_b(kwargs: dict[str, Any]) -> exp.Expr | None:
    if set(kwargs) - {"column_A", "column_B", "or_equal", "mostly"}:
        return None
    greater = exp.GTE if kwargs.get("or_equal") else exp.GT
    # GX ignores a row only when both are NULL; a comparison with one NULL is NULL, never counted
    return exp.Not(this=greater(this=_col(kwargs["column_A"]), expression=_col(kwargs["column_B"])))


_CONDITIONS: dict[str, Callable[[dict[str, Any]], exp.Expr | None]] = {
    NOT_NULL: lambda kwargs: _col(kwargs["column"]).is_(exp.null()),
    "expect_column_values_to_be_in_set": _in_set,
    "expect_column_values_to_be_between": _between,
    "expect_column_values_to_match_regex": _regex,
}
