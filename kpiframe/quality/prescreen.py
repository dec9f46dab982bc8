"""Checks that pass, told without Great Expectations: GX is loaded only for the checks that need it.

Importing GX takes a build process ~140 MB (pandas with pyarrow, numpy, SQLAlchemy, pydantic and GX
itself), which stay until the process ends. Each model is checked right after it is built, so once
GX was loaded for the first one, that memory came on top of every later model's DuckDB peak: at 10M
web sessions it put the build's peak memory ~150-250 MB above the same SQL written by hand
(docs/benchmarks.md). Most checks pass, and a passing check's result has no sample, so its whole
result follows from counts: one counting query per table (kpiframe.quality.pushdown's counts, run as
one query) tells which checks pass, with the very result GX would report for them. Every other check
goes to GX as before: one that fails (GX reports its samples and details), one of a kind or with an
argument that has no exact count here, every check of an empty table, every check when the counting
query fails. The verdicts, counts, samples and order of the results are therefore the same as when GX
ran them all; tests/quality/test_prescreen.py compares both on every kind.
"""

from __future__ import annotations

import contextlib
from typing import Any

from sqlglot import exp

from kpiframe.engine import Warehouse
from kpiframe.errors import WarehouseError
from kpiframe.quality import custom, pushdown
from kpiframe.quality.model import Expectation, ExpectationResult

# GX-native kinds whose passing result follows from counts, and the arguments that may come with them
# (another argument, e.g. GX's row_condition, changes what GX counts: such a check goes to GX)
_MAP_ARGUMENTS: dict[str, frozenset[str]] = {
    pushdown.NOT_NULL: frozenset({"column", "mostly"}),
    "expect_column_values_to_be_in_set": frozenset({"column", "value_set", "mostly"}),
    "expect_column_values_to_be_between": frozenset(
        {"column", "min_value", "max_value", "strict_min", "strict_max", "mostly"}
    ),
    "expect_column_values_to_match_regex": frozenset({"column", "regex", "mostly"}),
    pushdown.PAIR_GREATER: frozenset({"column_A", "column_B", "or_equal", "mostly"}),
    custom.UNIQUE: frozenset({"column", "mostly"}),
    pushdown.COMPOUND_UNIQUE: frozenset({"column_list"}),
}
_ROW_COUNT_ARGUMENTS = frozenset({"min_value", "max_value"})


def passing_results(
    warehouse: Warehouse, schema: str, table: str, expectations: list[Expectation]
) -> list[ExpectationResult | None]:
    """For each expectation of `schema.table`, in order: its result if it passes, exactly as GX reports a
    pass; None where GX must run it. Never raises: whatever goes wrong leaves the checks to GX."""
    try:
        hash_prefilter = _hash_prefilter(warehouse, schema, table)
        target = exp.table_(table, db=schema, quoted=True)
        planned = [_counts(e, target, schema, warehouse.dialect, hash_prefilter) for e in expectations]
        runnable = [(e, counts) for e, counts in zip(expectations, planned, strict=True) if counts is not None]
        found = _fetch(warehouse, runnable)
        return [_passed(e, found.get(id(e))) for e in expectations]
    except Exception:  # noqa: BLE001  # whatever goes wrong, GX runs these checks as before and reports it
        return [None] * len(expectations)


def _fetch(warehouse: Warehouse, runnable: list[tuple[Expectation, pushdown.Counts]]) -> dict[int, list[Any]]:
    """Every count in one query; if the warehouse refuses it (a missing column, say), check by check,
    so that one broken check (GX reports its error) leaves the others settled."""
    try:
        found = pushdown.fetch_counts(warehouse, runnable) if runnable else {}
    except WarehouseError:
        found = {}
        for e, counts in runnable:
            with contextlib.suppress(WarehouseError):
                found.update(pushdown.fetch_counts(warehouse, [(e, counts)]))
    return found


def _hash_prefilter(warehouse: Warehouse, schema: str, table: str) -> bool:
    """Whether plain uniqueness may narrow its rows by hash first, as the GX run decides it."""
    if warehouse.gx_datasource != "open_connection":  # PostgreSQL: no hash step (custom._duplicates)
        return False
    from kpiframe.quality.gx_runner import hash_prefilter_is_exact

    return hash_prefilter_is_exact(warehouse.gx_connection(), schema, table)


def _counts(
    expectation: Expectation, target: exp.Table, schema: str, dialect: str, hash_prefilter: bool
) -> pushdown.Counts | None:
    kind, kwargs = expectation.kind, expectation.kwargs
    if custom.runs_as_query(kind, kwargs):  # kpiframe's checks and plain uniqueness: GX runs our query
        rows = custom.unexpected_rows_tree(kind, kwargs, schema, dialect, hash_prefilter)
        counted = exp.select(exp.Count(this=exp.Star())).from_(pushdown.read_from(rows, target).subquery("kf_rows"))
        return [counted.subquery(), pushdown.count_rows(target)]
    if kind == pushdown.ROW_COUNT:
        bounds = [kwargs.get("min_value"), kwargs.get("max_value")]
        if set(kwargs) - _ROW_COUNT_ARGUMENTS or not all(_number(b) for b in bounds if b is not None):
            return None
        return pushdown.counts_of(expectation, target, schema)
    allowed = _MAP_ARGUMENTS.get(kind)
    if allowed is None or set(kwargs) - allowed or not _plain_arguments(kind, kwargs):
        return None
    return pushdown.counts_of(expectation, target, schema)


def _plain_arguments(kind: str, kwargs: dict[str, Any]) -> bool:
    """Arguments GX takes as they are, with no conversion or refusal a count would not see."""
    if "mostly" in kwargs and not (_number(kwargs["mostly"]) and 0 <= kwargs["mostly"] <= 1):
        return False
    if kind == "expect_column_values_to_be_between":
        bounds = [kwargs.get("min_value"), kwargs.get("max_value")]
        present = [b for b in bounds if b is not None]
        return bool(present) and all(_number(b) for b in present)
    if kind == "expect_column_values_to_be_in_set":
        values = kwargs.get("value_set")
        return isinstance(values, list) and bool(values) and all(_number(v) or isinstance(v, str) for v in values)
    if kind == "expect_column_values_to_match_regex":
        return isinstance(kwargs.get("regex"), str)
    return True


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _passed(expectation: Expectation, values: list[Any] | None) -> ExpectationResult | None:
    """The result GX reports when the check passes; None unless the counts show a pass."""
    if values is None or any(v is None for v in values):
        return None
    kind, kwargs = expectation.kind, expectation.kwargs
    if custom.runs_as_query(kind, kwargs):
        unexpected, rows = values
        # as kpiframe's UnexpectedRowsExpectation reports it through GX (gx_runner._from_gx)
        return ExpectationResult(expectation, True, 0, None, 0, None) if unexpected == 0 and rows > 0 else None
    if kind == pushdown.ROW_COUNT:
        [rows] = values
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        ok = rows > 0 and (low is None or rows >= low) and (high is None or rows <= high)
        return ExpectationResult(expectation, True, rows, None, None, None) if ok else None
    unexpected, counted, rows = values
    if unexpected != 0 or counted == 0:  # a failure, or GX's percentage of nothing: GX tells
        return None
    return ExpectationResult(expectation, True, None, rows, 0, 0.0)
