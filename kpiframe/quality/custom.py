"""KPI checks Great Expectations lacks, compiled to "unexpected rows" SQL with sqlglot.

Each check is a query that returns the offending rows (and nothing when the data is fine). GX runs it
as an `UnexpectedRowsExpectation` in the same validation as the GX-native expectations, so every check
of a table is one GX run, one result format, and all the work stays in the warehouse: GX counts the
rows with `SELECT COUNT(*) FROM (query)` and fetches a few of them for the sample.

Identifiers are sqlglot nodes (always quoted), values are literals: nothing a user wrote is pasted into
SQL text. The checked table is `{batch}`, GX's placeholder, filled with the table of the batch.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from sqlglot import exp

from kpiframe.engine import adapter_class

# name -> (required kwargs, optional kwargs)
CUSTOM_CHECKS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "freshness": (("column", "max_age_hours"), ("as_of",)),
    "rate_between_0_and_1": (("column",), ()),
    "funnel_monotonic": (("columns",), ("group_by",)),
    "within_historical_band": (("column", "order_by"), ("window", "tolerance", "group_by")),
    "references": (("column", "to"), ()),
    "not_null_when": (("column", "when"), ()),
    "finite": (("column",), ()),
    "dates_between": (("column",), ("min", "max_days_ahead")),
}
BAND_DEFAULTS = {"window": 6, "tolerance": 3}
_BATCH = "__KF_BATCH__"  # stands for GX's `{batch}` while sqlglot renders the query
BATCH = _BATCH  # the checked table's placeholder in `unexpected_rows` (kpiframe.quality.pushdown)


# --- validation (at parse time; no warehouse) --------------------------------------------------------------
def check_arguments(kind: str, kwargs: dict[str, Any]) -> list[tuple[str, str]]:
    """Problems with the values of a custom check's arguments, as (argument, message) pairs."""
    problems: list[tuple[str, str]] = []
    for key in ("column", "order_by"):
        if key in kwargs and not _is_name(kwargs[key]):
            problems.append((key, f"'{key}' must be a column name"))
    for key in ("columns", "group_by"):
        if key in kwargs and not _is_names(kwargs[key]):
            problems.append((key, f"'{key}' must be a column name or a list of column names"))
    if kind == "funnel_monotonic" and _is_names(kwargs.get("columns")) and len(_names(kwargs["columns"])) < 2:
        problems.append(("columns", "a funnel needs at least two columns, widest stage first"))
    problems += _check_numbers(kwargs)
    if "as_of" in kwargs and _timestamp(kwargs["as_of"]) is None:
        problems.append(("as_of", "'as_of' must be a timestamp such as 2026-03-01 12:00:00"))
    if kind == "references":
        problems += _check_reference(kwargs.get("to"))
    if kind == "not_null_when":
        problems += _check_when(kwargs.get("when"))
    if kind == "dates_between":
        problems += _check_dates(kwargs)
    return problems


def _check_when(when: Any) -> list[tuple[str, str]]:
    shape = "'when' must map column names to lists of values, e.g. {is_won: [true, null]}"
    if not isinstance(when, dict) or not when:
        return [("when", shape)]
    for column, values in when.items():
        if not _is_name(column) or not isinstance(values, list) or not values:
            return [("when", shape)]
        if any(isinstance(v, (dict, list)) for v in values):
            return [("when", "the values in 'when' must be plain values (text, numbers, true/false, null)")]
    return []


def _check_dates(kwargs: dict[str, Any]) -> list[tuple[str, str]]:
    problems = []
    if "min" not in kwargs and "max_days_ahead" not in kwargs:
        problems.append(("column", "'dates_between' needs 'min' (a date) or 'max_days_ahead' (days after today)"))
    if "min" in kwargs and _timestamp(kwargs["min"]) is None:
        problems.append(("min", "'min' must be a date such as 2000-01-01"))
    ahead = kwargs.get("max_days_ahead")
    if ahead is not None and not (isinstance(ahead, int) and not isinstance(ahead, bool) and ahead >= 0):
        problems.append(("max_days_ahead", "'max_days_ahead' must be a whole number of days, 0 or more"))
    return problems


def _check_numbers(kwargs: dict[str, Any]) -> list[tuple[str, str]]:
    problems = []
    max_age = kwargs.get("max_age_hours")
    if max_age is not None and not (_is_number(max_age) and max_age > 0):
        problems.append(("max_age_hours", "'max_age_hours' must be a number above 0"))
    window = kwargs.get("window")
    if window is not None and not (isinstance(window, int) and not isinstance(window, bool) and window >= 2):
        problems.append(("window", "'window' must be a whole number of rows, at least 2"))
    tolerance = kwargs.get("tolerance")
    if tolerance is not None and not (_is_number(tolerance) and tolerance > 0):
        problems.append(("tolerance", "'tolerance' must be a number of standard deviations above 0"))
    return problems


def _check_reference(to: Any) -> list[tuple[str, str]]:
    if not isinstance(to, dict):
        return [("to", "'to' must be a mapping {schema: ..., table: ..., column: ...}")]
    unknown = sorted(set(to) - {"schema", "table", "column"})
    if unknown:
        return [("to", f"unknown key(s) in 'to': {', '.join(map(str, unknown))} (use schema, table, column)")]
    names_ok = all(_is_name(to.get(k)) for k in ("table", "column"))
    if not names_ok or ("schema" in to and not _is_name(to["schema"])):
        return [("to", "'to' needs a table and a column name (schema is optional)")]
    return []


def normalise(kind: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Defaults filled in and single names turned into lists, so the stored kwargs say what runs."""
    out = dict(kwargs)
    for key in ("columns", "group_by"):
        if key in out:
            out[key] = _names(out[key])
    if kind == "within_historical_band":
        out = {**BAND_DEFAULTS, **out}
    return out


# --- SQL -------------------------------------------------------------------------------------------------
def unexpected_rows_query(
    kind: str, kwargs: dict[str, Any], schema: str, dialect: str = "duckdb", hash_prefilter: bool = True
) -> str:
    """The GX `unexpected_rows_query` of one of our checks, in the SQL of the warehouse `dialect`;
    `schema` is the checked table's schema. `hash_prefilter=False` turns off the hash step of `unique`
    (see `_duplicates`), which is only exact when no text column of the table has a collation.

    Every row carries `kf_total`, the number of unexpected rows, so that the first few rows GX fetches
    give both the count and the sample: one pass over the table where GX would make two. The rows are
    a materialized CTE counted by a scalar subquery: `COUNT(*) OVER ()` on top of them gives the same
    answer, but DuckDB then runs a 10M-row uniqueness check about a third slower (less in parallel).
    """
    query = unexpected_rows_tree(kind, kwargs, schema, dialect, hash_prefilter)
    rows = exp.to_identifier("kf_rows", quoted=True)
    total = exp.select(exp.Count(this=exp.Star())).from_(rows.copy()).subquery().as_(TOTAL, quoted=True)
    counted = exp.select(exp.Star(), total).from_(rows.copy()).with_(rows.copy(), as_=query, materialized=True)
    return gx_template(counted.sql(dialect=dialect))


TOTAL = "kf_total"


def unexpected_rows(kind: str, kwargs: dict[str, Any], schema: str) -> exp.Select:
    """The rows one of our checks finds unexpected, as a tree reading the table `BATCH` (any dialect)."""
    return _BUILDERS[kind](kwargs, schema)


def unexpected_rows_tree(
    kind: str, kwargs: dict[str, Any], schema: str, dialect: str, hash_prefilter: bool
) -> exp.Select:
    """The rows of `unexpected_rows_query` (plain uniqueness included), as a tree reading `BATCH`, for
    counting them (kpiframe.quality.prescreen)."""
    return _duplicates(kwargs, dialect, hash_prefilter) if kind == UNIQUE else _BUILDERS[kind](kwargs, schema)


def literal_of(value: Any) -> exp.Expression:
    """A YAML value as a SQL literal: true/false, a number, else text."""
    return _literal(value)


def gx_template(sql: str) -> str:
    """SQL text as GX wants it: braces doubled (GX runs str.format on it), `{batch}` for the table.

    SQLAlchemy's text() reads `:word` as a bind parameter, so such colons are escaped as `\\:`.
    """
    if sql.count(_BATCH) < 1:
        raise ValueError(f"the query has no {_BATCH}: it would not check the batch")
    text = sql.replace("{", "{{").replace("}", "}}")
    text = re.sub(r"(?<![:\w\\]):(?=\w)", r"\\:", text)
    return text.replace(_BATCH, "{batch}")


def _batch() -> exp.Table:
    return exp.Table(this=exp.Var(this=_BATCH))


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table, quoted=True)


def _freshness(kwargs: dict[str, Any], schema: str) -> exp.Select:
    newest = exp.Max(this=_col(kwargs["column"]))
    as_of = _timestamp(kwargs["as_of"]) if "as_of" in kwargs else None
    now: exp.Expression = exp.cast(exp.Literal.string(as_of), "TIMESTAMPTZ") if as_of else exp.CurrentTimestamp()
    age_seconds = exp.Sub(this=_epoch(now), expression=_epoch(exp.cast(newest.copy(), "TIMESTAMPTZ")))
    age_hours = exp.Div(this=exp.paren(age_seconds), expression=exp.Literal.number(3600.0))
    inner = exp.select(
        newest.as_("newest", quoted=True),
        age_hours.as_("age_hours", quoted=True),
        exp.Literal.number(kwargs["max_age_hours"]).as_("max_age_hours", quoted=True),
    ).from_(_batch())
    stale = exp.or_(
        _col("newest").is_(exp.null()),
        exp.GT(this=_col("age_hours"), expression=exp.Literal.number(kwargs["max_age_hours"])),
    )
    return exp.select("*").from_(inner.subquery("freshness", copy=False)).where(stale)


def _rate(kwargs: dict[str, Any], schema: str) -> exp.Select:
    value = _col(kwargs["column"])
    outside = exp.or_(
        exp.LT(this=value.copy(), expression=exp.Literal.number(0)),
        exp.GT(this=value.copy(), expression=exp.Literal.number(1)),
    )
    return exp.select(value).from_(_batch()).where(outside)


def _funnel(kwargs: dict[str, Any], schema: str) -> exp.Select:
    stages, groups = kwargs["columns"], kwargs.get("group_by") or []
    values: dict[str, exp.Expression]
    if groups:  # a table by period and channel is checked per period: stages summed per group
        values = {c: exp.Sum(this=_col(c)) for c in stages}
        query = exp.select(*[_col(g) for g in groups], *[v.as_(c, quoted=True) for c, v in values.items()]).from_(
            _batch()
        )
        query = query.group_by(*[_col(g) for g in groups]).order_by(*[_col(g) for g in groups])
    else:
        values = {c: _col(c) for c in stages}
        query = exp.select(*values.values()).from_(_batch())
    # every later stage against every earlier one, so a NULL stage in between hides nothing
    widened = [
        exp.GT(this=values[later].copy(), expression=values[earlier].copy())
        for i, earlier in enumerate(stages)
        for later in stages[i + 1 :]
    ]
    condition = exp.or_(*widened)
    return query.having(condition) if groups else query.where(condition)


def _band(kwargs: dict[str, Any], schema: str) -> exp.Select:
    column, order_by, groups = kwargs["column"], kwargs["order_by"], kwargs.get("group_by") or []
    window, tolerance = kwargs["window"], kwargs["tolerance"]

    def over(func: exp.Expression, frame: bool = True, descending: bool = False) -> exp.Window:
        spec = (
            exp.WindowSpec(
                kind="ROWS",
                start=exp.Literal.number(window),
                start_side="PRECEDING",
                end=exp.Literal.number(1),
                end_side="PRECEDING",
            )
            if frame
            else None
        )
        order = exp.Order(expressions=[exp.Ordered(this=_col(order_by), desc=descending)])
        return exp.Window(this=func, partition_by=[_col(g) for g in groups] or None, order=order, spec=spec)

    inner = exp.select(
        *[_col(g) for g in groups],
        _col(order_by),
        _col(column),
        over(exp.RowNumber(), frame=False, descending=True).as_("kf_recency", quoted=True),
        over(exp.Avg(this=_col(column))).as_("band_mean", quoted=True),
        over(exp.StddevSamp(this=_col(column))).as_("kf_stddev", quoted=True),
        over(exp.Count(this=_col(column))).as_("kf_history", quoted=True),
    ).from_(_batch())
    spread = exp.Mul(this=exp.Literal.number(tolerance), expression=_col("kf_stddev"))
    low = exp.Sub(this=_col("band_mean"), expression=spread.copy())
    high = exp.Add(this=_col("band_mean"), expression=spread.copy())
    outside = exp.or_(
        exp.LT(this=_col(column), expression=low.copy()), exp.GT(this=_col(column), expression=high.copy())
    )
    # only the newest row of each group, and only once it has a full window of history behind it
    latest = exp.and_(
        exp.EQ(this=_col("kf_recency"), expression=exp.Literal.number(1)),
        exp.EQ(this=_col("kf_history"), expression=exp.Literal.number(window)),
        exp.paren(outside),
    )
    return (
        exp.select(
            *[_col(g) for g in groups],
            _col(order_by),
            _col(column),
            _col("band_mean"),
            low.as_("band_low", quoted=True),
            high.as_("band_high", quoted=True),
        )
        .from_(inner.subquery("band", copy=False))
        .where(latest)
    )


def _references(kwargs: dict[str, Any], schema: str) -> exp.Select:
    to = kwargs["to"]
    referenced = exp.table_(to["table"], db=to.get("schema") or schema, quoted=True)
    referenced.set("alias", exp.TableAlias(this=exp.to_identifier("kf_ref", quoted=True)))
    match = (
        exp.select(exp.Literal.number(1))
        .from_(referenced)
        .where(exp.EQ(this=_col(to["column"], "kf_ref"), expression=_col(kwargs["column"], "kf_row")))
    )
    orphan = exp.and_(
        exp.Not(this=_col(kwargs["column"], "kf_row").is_(exp.null())), exp.Not(this=exp.Exists(this=match))
    )
    # GX fills {batch} with a table or with an aliased subquery, so alias a subquery of our own
    rows = exp.select("*").from_(_batch()).subquery("kf_row", copy=False)
    return exp.select(_col(kwargs["column"], "kf_row")).from_(rows).where(orphan)


def _not_null_when(kwargs: dict[str, Any], schema: str) -> exp.Select:
    """Rows where `column` is NULL although every `when` column holds one of its listed values."""
    conditions = []
    for column, values in kwargs["when"].items():
        listed = [v for v in values if v is not None]
        options: list[exp.Expression] = [_col(column).is_(exp.null())] if None in values else []
        if listed:
            options.append(exp.In(this=_col(column), expressions=[_literal(v) for v in listed]))
        conditions.append(exp.paren(exp.or_(*options)))
    missing = exp.and_(_col(kwargs["column"]).is_(exp.null()), *conditions)
    return exp.select(*[_col(c) for c in kwargs["when"]], _col(kwargs["column"])).from_(_batch()).where(missing)


def _dates_between(kwargs: dict[str, Any], schema: str) -> exp.Select:
    """Rows dated before `min` or more than `max_days_ahead` days after today (the warehouse's today)."""
    value = _col(kwargs["column"])
    outside: list[exp.Expression] = []
    if "min" in kwargs:
        earliest = exp.cast(exp.Literal.string(str(_timestamp(kwargs["min"]))[:10]), "DATE")
        outside.append(exp.LT(this=value.copy(), expression=earliest))
    if "max_days_ahead" in kwargs:
        latest = exp.DateAdd(
            this=exp.CurrentDate(), expression=exp.Literal.number(kwargs["max_days_ahead"] + 1), unit=exp.var("DAY")
        )
        # before the start of the day after the last allowed day: a timestamp late that day still passes
        outside.append(exp.GTE(this=value.copy(), expression=exp.cast(latest, "DATE")))
    return exp.select(value).from_(_batch()).where(exp.or_(*outside))


def _finite(kwargs: dict[str, Any], schema: str) -> exp.Select:
    """Rows whose value is NaN, Infinity or -Infinity: a DOUBLE loaded where a DECIMAL was meant holds them,
    and one NaN turns every sum it reaches into NaN. Both DuckDB and PostgreSQL treat NaN as equal to
    itself, so a plain IN finds it."""
    value = _col(kwargs["column"])
    specials = [exp.cast(exp.Literal.string(s), "DOUBLE") for s in ("NaN", "Infinity", "-Infinity")]
    return exp.select(value).from_(_batch()).where(exp.In(this=exp.cast(value.copy(), "DOUBLE"), expressions=specials))


def _literal(value: Any) -> exp.Expression:
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float)):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))


def _duplicates(kwargs: dict[str, Any], dialect: str, hash_prefilter: bool) -> exp.Select:
    """Rows whose value is not unique: GX's uniqueness semantics (NULLs ignored), cheaply on big tables.

    GX computes `expect_column_values_to_be_unique` with a window over the whole table, run twice. kpiframe
    runs the plain form (no `mostly`) as one GROUP BY of the repeated values, each expanded back to one
    row per occurrence, as GX counts them. With `hash_prefilter` (on a warehouse that declares
    `has_hash_function`, a 64-bit hash: DuckDB) the rows grouped are first
    narrowed down:
    1. the 64-bit hashes of the values, sorted: a hash seen twice marks a candidate. Sorting integers
       costs about a quarter less than grouping 10M values, and almost every table passes here;
    2. only the rows of candidate hashes are grouped by their value, which drops hash collisions.
       Values equal for GROUP BY have equal hashes, so nothing is missed, except under a collation
       (NOCASE: 'a' = 'A', hashed apart); callers turn the step off for collated tables.
    """
    column = _col(kwargs["column"])
    kept: exp.Expr = exp.Not(this=exp.Is(this=column.copy(), expression=exp.Null()))
    times = exp.column("kf_times", quoted=True)
    warehouse = adapter_class(dialect)
    if hash_prefilter and warehouse.has_hash_function:  # PostgreSQL has no hash()
        kept = exp.and_(kept, exp.In(this=_hash(column), query=_candidates(column).subquery()))
    each_row = warehouse.one_row_per(times)  # one row per occurrence of a repeated value
    repeated = (
        exp.select(column.copy(), exp.Count(this=exp.Star()).as_("kf_times", quoted=True))
        .from_(_batch())
        .where(kept)
        .group_by(column.copy())
        .having(exp.GT(this=exp.Count(this=exp.Star()), expression=exp.Literal.number(1)))
    )
    return exp.select(column.copy(), each_row.as_("kf_copy", quoted=True)).from_(repeated.subquery("kf_repeated"))


def _candidates(column: exp.Column) -> exp.Select:
    """Hashes that occur more than once among the sorted hashes of the column's values (DuckDB)."""
    hashed, previous = exp.column("kf_hash", quoted=True), exp.column("kf_previous", quoted=True)
    not_null = exp.Not(this=exp.Is(this=column.copy(), expression=exp.Null()))
    hashes = exp.select(_hash(column).as_("kf_hash", quoted=True)).from_(_batch()).where(not_null)
    after = exp.Window(
        this=exp.Anonymous(this="lag", expressions=[hashed.copy()]),
        order=exp.Order(expressions=[exp.Ordered(this=hashed.copy())]),
    )
    neighbours = exp.select(hashed.copy(), after.as_("kf_previous", quoted=True)).from_(hashes.subquery("kf_hashes"))
    return (
        exp.select(hashed.copy())
        .from_(neighbours.subquery("kf_sorted"))
        .where(exp.EQ(this=hashed.copy(), expression=previous))
    )


def _hash(value: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this="hash", expressions=[value.copy()])


UNIQUE = "expect_column_values_to_be_unique"


def runs_as_query(kind: str, kwargs: dict[str, Any]) -> bool:
    """Checks kpiframe runs as an unexpected-rows query: its KPI checks, and plain uniqueness."""
    return kind in CUSTOM_CHECKS or (kind == UNIQUE and set(kwargs) == {"column"})


_BUILDERS: dict[str, Callable[[dict[str, Any], str], exp.Select]] = {
    "freshness": _freshness,
    "rate_between_0_and_1": _rate,
    "funnel_monotonic": _funnel,
    "within_historical_band": _band,
    "references": _references,
    "not_null_when": _not_null_when,
    "dates_between": _dates_between,
    "finite": _finite,
}


# --- small helpers ---------------------------------------------------------------------------------------
def _epoch(value: exp.Expression) -> exp.Expression:
    return exp.TimeToUnix(this=value)  # epoch(x) in DuckDB, date_part('epoch', x) in PostgreSQL


def _timestamp(value: Any) -> str | None:
    """An `as_of` as ISO text; YAML gives datetimes and dates for unquoted timestamps."""
    if isinstance(value, (datetime, date)):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip()).isoformat(sep=" ")
        except ValueError:
            return None
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_names(value: Any) -> bool:
    return _is_name(value) or (isinstance(value, list) and bool(value) and all(_is_name(v) for v in value))


def _names(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)
