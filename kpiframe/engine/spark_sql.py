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
    exact, interpolating equivalent is `PERCENTILE(x, p)` (sqlglot's Quantile, rendered for Spark);
    `PERCENTILE_DISC(x, p)` is Spark's `PERCENTILE_DISC(p) WITHIN GROUP (ORDER BY x)`, which sqlglot's
    Spark dialect would render as the approximate PERCENTILE_APPROX.

    A rolling window of months or years by day or week reaches back `INTERVAL n MONTH - INTERVAL 1 DAY`
    (the periods within (p - window, p], series_history.window_frame); a Spark frame bound must be one
    literal, so the running sum becomes the sum from `n MONTH PRECEDING` less the sum of the rows exactly
    `n MONTH PRECEDING` (NULL where no row of the window has a value, as the sum over it is).

    A series of instants (the periods of a sub-day grain) is a table function, `FROM GENERATE_SERIES(...)
    AS series(v)`, which sqlglot's Spark dialect renders wrongly: it becomes `EXPLODE(SEQUENCE(...))`.

    A query nested in another with a WITH of its own (a cumulative metric's daily series, a metric per
    entity in a filter) is lifted to the top by sqlglot's Spark dialect, where its CTE names (spine, ...)
    would repeat the outer query's (DUPLICATED_CTE_NAMES): each nested WITH's names get a prefix."""
    nested = [n for n in statement.walk() if isinstance(n, exp.With) and n.parent is not statement]
    if not nested and not any(_needs_change(node) for node in statement.walk()):
        return statement
    tree = statement.copy()
    for node in [n for n in tree.walk() if _needs_change(n)]:  # changed in place: nested ones stay reachable
        _for_spark(node)
    withs = [n for n in tree.walk() if isinstance(n, exp.With) and n.parent is not tree]
    for index, with_ in enumerate(withs):
        if isinstance(with_.parent, exp.Query):
            own_cte_names(with_.parent, f"n{index + 1}_")
    return tree


def _needs_change(node: exp.Expr) -> bool:
    if isinstance(node, exp.Div):
        return not node.args.get("typed")
    if isinstance(node, exp.Interval):
        return node.text("unit").upper() == "QUARTER" and isinstance(node.this, exp.Literal)
    if isinstance(node, exp.Window):
        return _month_window_less_a_day(node) is not None
    if isinstance(node, exp.Table):
        return isinstance(node.this, exp.ExplodingGenerateSeries)
    percentile = isinstance(node, exp.PercentileCont | exp.PercentileDisc)
    return percentile and not isinstance(node.parent, exp.WithinGroup)


def _month_window_less_a_day(node: exp.Window) -> exp.Interval | None:
    """The `INTERVAL n MONTH` of a `SUM(...) OVER (... RANGE BETWEEN INTERVAL n MONTH - INTERVAL 1 DAY
    PRECEDING AND CURRENT ROW)`, else None."""
    spec, start = node.args.get("spec"), None
    if isinstance(spec, exp.WindowSpec) and str(spec.args.get("kind", "")).upper() == "RANGE":
        start = spec.args.get("start")
    if not (isinstance(node.this, exp.Sum) and isinstance(start, exp.Sub)):
        return None
    months, day = start.this, start.expression
    if isinstance(months, exp.Interval) and isinstance(day, exp.Interval) and day.text("unit").upper() == "DAY":
        return months if months.text("unit").upper() in ("MONTH", "YEAR") else None
    return None


def _running_sum_after(node: exp.Window) -> exp.Expr:
    """SUM over (p - n months, p], as Spark takes it: over [p - n months, p] less the rows at p - n months."""
    months = _month_window_less_a_day(node)
    assert months is not None

    def over(function: exp.Expr, end: exp.Expr | str, end_side: str | None) -> exp.Window:
        spec = exp.WindowSpec(kind="RANGE", start=months.copy(), start_side="PRECEDING", end=end, end_side=end_side)
        return exp.Window(
            this=function,
            partition_by=[p.copy() for p in node.args.get("partition_by") or []] or None,
            order=node.args["order"].copy(),
            spec=spec,
        )

    value = node.this.this
    whole = over(exp.Sum(this=value.copy()), "CURRENT ROW", None)
    edge = over(exp.Sum(this=value.copy()), months.copy(), "PRECEDING")
    counted = exp.Sub(
        this=over(exp.Count(this=value.copy()), "CURRENT ROW", None),
        expression=over(exp.Count(this=value.copy()), months.copy(), "PRECEDING"),
    )
    difference = exp.Sub(this=whole, expression=exp.Coalesce(this=edge, expressions=[exp.Literal.number(0)]))
    return exp.Case(
        ifs=[exp.If(this=exp.EQ(this=counted, expression=exp.Literal.number(0)), true=exp.Null())], default=difference
    )


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
    if isinstance(node, exp.Window):
        node.replace(_running_sum_after(node))
        return
    if isinstance(node, exp.Table):  # a series of instants as a table: Spark's EXPLODE(SEQUENCE(...))
        made = node.this
        instants = exp.GenerateSeries(start=made.args["start"], end=made.args["end"], step=made.args.get("step"))
        columns = node.args["alias"].args.get("columns")
        node.replace(exp.Unnest(expressions=[instants], alias=exp.TableAlias(columns=columns)))
        return
    if isinstance(node, exp.PercentileDisc):  # Spark's is written WITHIN GROUP; sqlglot would approximate it
        order = exp.Order(expressions=[exp.Ordered(this=node.this)])
        disc = exp.Anonymous(this="PERCENTILE_DISC", expressions=[node.expression])
        node.replace(exp.WithinGroup(this=disc, expression=order))
        return
    node.replace(exp.Quantile(this=node.this, quantile=node.expression))


def own_cte_names(query: exp.Query, prefix: str) -> None:
    """`query` with the CTEs of its own WITH renamed `<prefix><name>`, and its references to them: a query
    placed inside another (as a CTE) whose names (spine, spine_bounds, ...) the outer one has too. Spark
    refuses the repeated names: sqlglot lifts a nested WITH to the top for it."""
    with_ = query.args.get("with_")
    if with_ is None:
        return
    names = {cte.alias for cte in with_.expressions}
    for table in list(query.find_all(exp.Table)):
        if not table.args.get("db") and table.name in names and _defined_by(table) is query:
            table.set("this", exp.to_identifier(prefix + table.name, quoted=True))
    for cte in with_.expressions:
        cte.set("alias", exp.TableAlias(this=exp.to_identifier(prefix + cte.alias, quoted=True)))


def _defined_by(table: exp.Table) -> exp.Expr | None:
    """The nearest query around `table` whose WITH defines its name (a nested WITH may shadow an outer one)."""
    node = table.parent
    while node is not None:
        with_ = node.args.get("with_") if isinstance(node, exp.Query) else None
        if with_ is not None and any(cte.alias == table.name for cte in with_.expressions):
            return node
        node = node.parent
    return None
