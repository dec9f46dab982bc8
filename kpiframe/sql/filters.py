"""Query-time filters (`--where`, and any future BI endpoint): only what the semantic layer exposes.

A metric's `filter:` in YAML is project code, reviewed like model SQL. A query-time filter is typed by
whoever may query, so it is held to an allow-list: the dimensions of the metrics asked for, literals,
plain operators and a few scalar functions. Everything else is refused, because a filter is compiled
into a scan of the model (`FROM model AS t`): DuckDB's COLUMNS('email'), a star, a subquery or a table
function would reach columns, tables and files the semantic layer never declared, and a count per
filter leaks personal data one value at a time. The check walks the parsed tree with an allow-list of
node types (whatever sqlglot learns to parse later is refused until added here).

A filter of a metric request may also name date parts (`metric_time__extract_month = 1`, the part of each
row's day, kpiframe.sql.date_parts): of metric_time, the measures' own time, and of the time dimensions it
may name. They reach no column the request could not already group by.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from sqlglot import exp

from kpiframe.errors import QueryError
from kpiframe.semantic.layer import SemanticLayer, metric_datasets
from kpiframe.sql.calendar import PERIOD_GRAINS
from kpiframe.sql.custom_grains import custom_grains
from kpiframe.sql.date_parts import (
    METRIC_TIME,
    PARTS,
    date_part_name,
    grain_name,
    is_date_part,
    not_a_time,
    require_part,
    split_date_part,
)
from kpiframe.sql.expressions import ExpressionRejected, parse_expression
from kpiframe.suggest import did_you_mean

# Longer texts are not typed filters; the bound also keeps sqlglot's recursive parser far from its limit.
MAX_FILTER_CHARS = 2000
MAX_DEPTH = 100

_STRUCTURE: tuple[type[exp.Expr], ...] = (exp.Column, exp.Identifier, exp.Literal, exp.Boolean, exp.Null, exp.Paren)
_OPERATORS: tuple[type[exp.Expr], ...] = (
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.NullSafeEQ,
    exp.NullSafeNEQ,
    exp.And,
    exp.Or,
    exp.Not,
    exp.In,
    exp.Between,
    exp.Like,
    exp.ILike,
    exp.Escape,
    exp.Is,
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Div,
    exp.Mod,
    exp.Neg,
    exp.DPipe,
    exp.Case,
    exp.If,
    exp.Cast,
    exp.DataType,
    exp.DataTypeParam,
    exp.Interval,
    exp.Var,
)
# The scalar functions a filter may call, by the tree node sqlglot parses them into.
FUNCTIONS: dict[type[exp.Expr], str] = {
    exp.Lower: "lower",
    exp.Upper: "upper",
    exp.Trim: "trim",
    exp.Length: "length",
    exp.Coalesce: "coalesce",
    exp.Substring: "substr",
    exp.TimestampTrunc: "date_trunc",
    exp.DateTrunc: "date_trunc",
    exp.Extract: "extract",
    exp.Abs: "abs",
    exp.Round: "round",
    exp.CurrentDate: "current_date",
}
_ANONYMOUS = {"date_part"}  # functions sqlglot does not model, allowed by name
_ALLOWED = (*_STRUCTURE, *_OPERATORS, *FUNCTIONS)

PLAIN_TYPES = {
    exp.DataType.Type[name]
    for name in (
        "BOOLEAN",
        "TINYINT",
        "SMALLINT",
        "INT",
        "BIGINT",
        "FLOAT",
        "DOUBLE",
        "DECIMAL",
        "VARCHAR",
        "TEXT",
        "CHAR",
        "DATE",
        "TIME",
        "TIMESTAMP",
        "TIMESTAMPTZ",
        "TIMESTAMPNTZ",
    )
}
DATE_PARTS = {
    "YEAR",
    "ISOYEAR",
    "QUARTER",
    "MONTH",
    "WEEK",
    "DAY",
    "DAYOFWEEK",
    "DAYOFYEAR",
    "ISODOW",
    "DOW",
    "DOY",
    "HOUR",
    "MINUTE",
    "SECOND",
    "MILLISECOND",
    "MICROSECOND",
    "EPOCH",
}
_UNIT_HOLDERS = (exp.Extract, exp.TimestampTrunc, exp.DateTrunc, exp.Interval)

ALLOWED_TEXT = (
    "the dimensions of the metrics asked for and the date parts of their times (metric_time__extract_month), "
    "literals, comparisons (= <> < <= > >=, IS [NOT] "
    "DISTINCT FROM), AND/OR/NOT, IN (list), BETWEEN, LIKE/ILIKE, IS [NOT] NULL, + - * / % ||, "
    "CASE, CAST to a plain type, INTERVAL, and the functions " + ", ".join(sorted({*FUNCTIONS.values(), *_ANONYMOUS}))
)


def parse_query_filter(
    text: str, allowed_dimensions: Collection[str], what: str = "--where", suggestions: Collection[str] = ()
) -> exp.Expr:
    """Parse a filter typed at query time and check it; a QueryError names what is refused (and suggests
    a close allowed name, or one of `suggestions`: names valid though not listed, like metrics per entity)."""
    if len(text) > MAX_FILTER_CHARS:
        raise QueryError(
            f"{what}: the filter is {len(text)} characters long",
            code="KF412",
            hint=f"a query filter is at most {MAX_FILTER_CHARS} characters",
        )
    try:
        tree = parse_expression(text)
    except ExpressionRejected as exc:
        raise QueryError(f"{what}: {exc}", code="KF120") from None
    except RecursionError:  # nesting deep enough to exhaust the parser: refused like a too-deep tree
        raise _too_deep(what) from None
    for node in tree.walk():
        node.comments = None  # sqlglot escapes comments; dropping them leaves nothing to escape
    return check_query_filter(tree, allowed_dimensions, what, suggestions)


def check_query_filter(
    tree: exp.Expr, allowed_dimensions: Collection[str], what: str = "--where", suggestions: Collection[str] = ()
) -> exp.Expr:
    """Return `tree` if every node is on the allow-list and every column is an allowed dimension.

    `allowed_dimensions` are the names a filter may reference (qualified like lead__channel, and short
    names); which dataset a name resolves to is decided later, as for --by."""
    for node in tree.walk():
        if node.depth > MAX_DEPTH:
            raise _too_deep(what)
        problem = _problem(node)
        if problem:
            raise _refused(what, problem, _snippet(node))
        if isinstance(node, exp.Column) and node.name not in allowed_dimensions:
            _refuse_date_part(what, node.name, allowed_dimensions)
            raise _unknown_dimension(what, node.name, allowed_dimensions, suggestions)
    return tree


def filter_dimensions(layer: SemanticLayer, metrics: Iterable[str]) -> set[str]:
    """The dimension names (qualified and short) that a filter on `metrics` may reference."""
    names: set[str] = set()
    for dataset in metric_datasets(layer, metrics):
        for dim in layer.dimensions_of(dataset).values():
            names.update((dim.qualified, dim.name))
    return names


def filter_date_parts(layer: SemanticLayer, metrics: Iterable[str]) -> set[str]:
    """The date parts a filter on `metrics` may name: every part of metric_time and of each time dimension
    (qualified and short names) of their datasets, and their custom grains (kpiframe.sql.custom_grains)."""
    times = {METRIC_TIME}
    for dataset in metric_datasets(layer, metrics):
        times.update(
            n for dim in layer.dimensions_of(dataset).values() if dim.is_time for n in (dim.qualified, dim.name)
        )
    grains = custom_grains(layer.files.config)
    periods = {grain_name(time, grain) for time in times for grain in PERIOD_GRAINS}  # metric_time's: the row's
    return (
        {date_part_name(time, part) for time in times for part in PARTS}
        | periods
        | {grain_name(time, grain) for time in times for grain in grains}
    )


def _refuse_date_part(what: str, name: str, allowed: Collection[str]) -> None:
    """Say why a date part of a name the filter may use is not allowed: an unknown part (KF402), the part of
    a dimension that is no time (KF428), or a date part where the caller takes none, a query of dimension
    values (no metric, hence no rows to take the part of). The date parts a caller takes are in `allowed`,
    metric_time's always among them (filter_date_parts)."""
    base, _ = split_date_part(name) or ("", "")
    if not base or (base != METRIC_TIME and base not in allowed):
        return  # not a date part of a known name: an unknown name
    require_part(name, what)
    if date_part_name(METRIC_TIME, PARTS[0]) in allowed:  # the caller takes the date parts of every time
        raise not_a_time(name, what)
    if base == METRIC_TIME:  # as in a group-by: metric_time is the metrics' time
        raise QueryError(
            f"{what}: '{name}' without a metric: metric_time is the time of the metrics asked for",
            code="KF415",
            hint="add --metric NAME, or filter the values on a time dimension",
        )
    raise QueryError(
        f"{what}: '{name}' without a metric: a date part filters the rows of the metrics asked for",
        code="KF428",
        hint=f"add --metric NAME, or filter on the time itself: {base} >= '2026-01-01'",
    )


def _problem(node: exp.Expr) -> str | None:
    """What is wrong with one node on its own, or None when it is allowed."""
    if isinstance(node, exp.Anonymous):
        return None if node.name.lower() in _ANONYMOUS else f"function {node.name.upper()}"
    if not isinstance(node, _ALLOWED):
        return _kind(node)
    if isinstance(node, exp.Column) and (node.table or node.args.get("db") or node.args.get("catalog")):
        return "a qualified column (name the dimension alone, like lead__channel)"
    if isinstance(node, exp.Identifier) and not isinstance(node.parent, exp.Column):
        return f"the name {node.name}"
    if isinstance(node, exp.In) and any(node.args.get(key) for key in ("query", "unnest", "field")):
        return "IN over anything but a list of values"
    if isinstance(node, exp.DataType) and (node.this not in PLAIN_TYPES or not isinstance(node.parent, exp.Cast)):
        return f"type {node.sql(dialect='duckdb')} (cast to a plain type: int, double, decimal, varchar, date...)"
    if isinstance(node, exp.DataTypeParam) and not isinstance(node.this, exp.Literal):
        return "a type parameter that is not a number"
    if isinstance(node, exp.Var) and not (
        isinstance(node.parent, _UNIT_HOLDERS) and node.name.upper().rstrip("S") in DATE_PARTS
    ):
        return f"the word {node.name}"
    return None


def _kind(node: exp.Expr) -> str:
    """A readable name for a refused node: the part a user typed, not sqlglot's class."""
    if isinstance(node, (exp.Star, exp.Columns)):
        return "a star or COLUMNS(...) expression (it reaches columns no dimension declares)"
    if isinstance(node, (exp.Query, exp.Subquery)):
        return "a subquery"
    if isinstance(node, (exp.AggFunc, exp.Window)):
        return "an aggregate or window function"
    if isinstance(node, exp.Func):
        return f"function {node.sql_name()}"
    if isinstance(node, exp.Alias):
        return "an alias (AS ...)"
    if isinstance(node, exp.Placeholder):
        return "a parameter placeholder"
    return f"the {type(node).__name__} expression"


def _snippet(node: exp.Expr) -> str:
    try:
        text = node.sql(dialect="duckdb")
    except Exception:  # noqa: BLE001 - a node sqlglot cannot print is still refused, by its kind
        text = type(node).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def _refused(what: str, problem: str, part: str) -> QueryError:
    return QueryError(
        f"{what}: {problem} is not allowed in a query filter: {part}",
        code="KF412",
        hint=f"a query filter may use {ALLOWED_TEXT}",
    )


def _too_deep(what: str) -> QueryError:
    return QueryError(
        f"{what}: the filter nests more than {MAX_DEPTH} levels deep",
        code="KF412",
        hint="write it flatter: IN (...) instead of a chain of ORs, for instance",
    )


def _unknown_dimension(what: str, name: str, allowed: Collection[str], suggestions: Collection[str]) -> QueryError:
    # a custom grain of a time (metric_time__alien_day, listing__ds__alien_day) is suggested as a date part is
    dimensions = [n for n in allowed if not is_date_part(n) and not _of_a_time(n, allowed)]
    qualified = sorted(n for n in dimensions if "__" in n)
    # a date part is suggested for a misspelt date part only: metric_time__extract_day is no metric_time__day
    guess = did_you_mean(name, allowed if split_date_part(name) else [*dimensions, *suggestions])
    parts = " and their date parts (metric_time__extract_month)" if len(dimensions) < len(allowed) else ""
    return QueryError(
        f"{what}: '{name}' is not a dimension of the metrics asked for" + (f" ({guess})" if guess else ""),
        code="KF410",
        hint=f"a query filter may reference {', '.join(qualified[:20]) or 'no dimension'}"
        f" (or their short names){parts}; declare a dimension in the dataset to filter on a column",
    )


def _of_a_time(name: str, allowed: Collection[str]) -> bool:
    """Whether `name` is a custom grain among the allowed names: the column of metric_time or of another
    allowed time (filter_date_parts adds them beside the time dimensions, with the times' date parts; an
    entity's name, `lead`, is allowed too, and `lead__channel` is no grain of it)."""
    base = name.rpartition("__")[0]
    return base == METRIC_TIME or date_part_name(base, PARTS[0]) in allowed
