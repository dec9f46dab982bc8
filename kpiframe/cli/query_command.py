"""`kpiframe query`: a metric request answered from the warehouse, or replayed from target/query_cache/."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kpiframe.cli.app import handle_errors, load, project_options

if TYPE_CHECKING:
    from kpiframe.cli.query_cache import CachedAnswer


def register(main: click.Group) -> None:
    main.add_command(query)


@click.command()
@project_options
@click.option(
    "--metric",
    "--metrics",
    "metrics",
    multiple=True,
    help="Metric name; repeat for several, or separate them with commas. Without one, --by lists the "
    "dimensions' distinct values (filtered by --where).",
)
@click.option(
    "--by",
    "--group-by",
    "dimensions",
    multiple=True,
    help="Dimension (lead__channel, or channel when unambiguous); MetricFlow's metric_time__month sets the grain; "
    "metric_time__extract_dow (year, quarter, month, day, dow, doy) groups by a date part, without a period "
    "unless --grain is given.",
)
@click.option(
    "--grain",
    type=click.Choice(
        ["day", "week", "month", "quarter", "year", "fiscal_quarter", "fiscal_year"]
        + ["hour", "minute", "second", "millisecond", "all"]
    ),
    help="Period of the rows; default: the grain of metric_time__<grain> in --by, else the metrics' grain, else "
    "month. hour to millisecond: periods that are instants (bound them with --start-time/--end-time). 'all': no "
    "period_start column, each metric over the whole range (days from --start to --end).",
)
@click.option(
    "--start",
    type=click.DateTime(["%Y-%m-%d"]),
    help="First period start to show (inclusive); default: the first period with data.",
)
@click.option(
    "--end",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Last period start to show (inclusive); default: the last period with data.",
)
@click.option(
    "--where",
    help="Filter over the requested metrics' dimensions, e.g. \"lead__country = 'DE'\" "
    "(allowed syntax: docs/security.md); MetricFlow's {{ Dimension('lead__country') }} form works too.",
)
@click.option(
    "--compare",
    type=click.Choice(["previous", "year"]),
    help="Add the previous period or year (0 when it had no rows) and the relative change.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json", "markdown"]), default="table", show_default=True
)
@click.option(
    "--start-time",
    help="MetricFlow's time constraint: an instant (2024-03-15 or 2024-03-15T00:00:00); the period holding it is "
    "the first shown. Instead of --start.",
)
@click.option("--end-time", help="The instant whose period is the last shown (MetricFlow's); instead of --end.")
@click.option(
    "--order",
    "--order-by",
    "order",
    multiple=True,
    help="Sort the rows by a metric, dimension or metric_time (-name: descending); repeat or separate with commas.",
)
@click.option("--limit", type=click.IntRange(min=0), help="At most this many rows (after --order).")
@click.option("--decimals", type=click.IntRange(min=0, max=12), help="Round decimal values to this many places.")
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the rows as CSV to this file (MetricFlow's --csv) instead of printing them.",
)
@click.option(
    "--saved-query",
    help="Ask what the published table (a MetricFlow saved query, once imported) NAME holds: its metrics, "
    "group-bys and grain; --where, --order, --limit and the range may be added.",
)
@click.option("--min-max", is_flag=True, help="Without --metric: the first and last value of each --by, one row.")
@click.option("--explain", is_flag=True, help="Print the SQL instead of running it.")
@click.option(
    "--dialect",
    type=click.Choice(["duckdb", "postgres", "snowflake", "bigquery"]),
    default="duckdb",
    help="Dialect of --explain.",
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Load and compile the project even when the same request on the same files was answered before "
    "(the SQL kept under target/query_cache/; the data is read anew either way).",
)
@handle_errors
def query(
    project_dir: str,
    warehouse: str | None,
    metrics: tuple[str, ...],
    dimensions: tuple[str, ...],
    grain: str | None,
    start: Any,
    end: Any,
    where: str | None,
    compare: str | None,
    fmt: str,
    start_time: str | None,
    end_time: str | None,
    order: tuple[str, ...],
    limit: int | None,
    decimals: int | None,
    csv_path: str | None,
    saved_query: str | None,
    min_max: bool,
    explain: bool,
    dialect: str,
    no_cache: bool,
) -> None:
    """Answer a metric request: period_start, the dimensions, one column per metric.

    Every period of the range has a row for every dimension combination in the data (a time
    spine): counts and sums are 0 in a period without rows, ratios NULL when the denominator is 0,
    and cumulative metrics carry their value across such periods.
    """
    from kpiframe.errors import QueryError

    if saved_query and (metrics or dimensions or grain):
        hint = "drop --metric, --by and --grain (the saved query names them), or drop --saved-query"
        raise QueryError("--saved-query given with --metric, --by or --grain", code="KF427", hint=hint)
    if not metrics and not dimensions and not saved_query:
        hint = "pass --metric NAME, or --by DIMENSION alone for the dimension's distinct values"
        raise QueryError("no metric and no dimension asked for", code="KF401", hint=hint)
    asked: dict[str, Any] = {"metrics": list(metrics), "dimensions": list(dimensions), "grain": grain}
    shape = dict(
        start=start.date() if start else None,
        end=end.date() if end else None,
        where=where,
        compare=compare,
        start_time=start_time,
        end_time=end_time,
        order=order,
        limit=limit,
        **({"min_max": True} if min_max else {}),  # the cache key of a request without it stays as it was
    )
    if explain:
        project = load(project_dir, warehouse)
        request = {**(project.saved_query(saved_query) if saved_query else asked), **shape}
        click.echo(project.explain(dialect=dialect, **request))
        return
    from kpiframe.cli import query_cache

    key = (
        None if no_cache else query_cache.request_key(project_dir, warehouse, {**asked, **shape, "saved": saved_query})
    )
    answer = query_cache.cached_answer(project_dir, key) if key else None
    if answer is None:
        answer = _answer_and_keep(project_dir, warehouse, saved_query, asked, shape, key)
    _print_answer(answer, fmt, decimals, csv_path)


def _answer_and_keep(
    project_dir: str,
    warehouse: str | None,
    saved_query: str | None,
    asked: dict[str, Any],
    shape: dict[str, Any],
    key: str | None,
) -> CachedAnswer:
    """Load the project and answer; keep the SQL it ran for the next identical request (`key`)."""
    from kpiframe.cli import query_cache
    from kpiframe.cli.output import metric_formats
    from kpiframe.sql.coverage import SUBDAY_GRAINS

    project = load(project_dir, warehouse)
    request = {**(project.saved_query(saved_query) if saved_query else asked), **shape}
    formats = metric_formats(project.graph)  # each metric's `format:`, for people (table, markdown)
    answer = project.replayable_query(**request)  # periods not ended on the last day with data
    units = project.units()
    # not a sub-day grain's: the spine's length is checked against the data before it runs (KF435)
    if key and answer.recipe is not None and answer.grain not in SUBDAY_GRAINS:
        entry = {
            "recipe": answer.recipe,
            "statements": answer.statements,
            "grain": answer.grain,
            "periods": answer.periods,
            "units": units,
            "formats": formats,
        }
        query_cache.store(project_dir, key, entry)
    return query_cache.CachedAnswer(answer.result, answer.coverage, units, formats)


def _print_answer(answer: CachedAnswer, fmt: str, decimals: int | None, csv_path: str | None) -> None:
    from kpiframe.cli.output import render_query, rounded

    result = rounded(answer.result, decimals) if decimals is not None else answer.result
    if csv_path:
        Path(csv_path).write_text(render_query(result, "csv", answer.coverage) + "\n", encoding="utf-8")
        click.echo(f"wrote {len(result.rows)} rows to {csv_path}")
        return
    click.echo(render_query(result, fmt, answer.coverage, units=answer.units, formats=answer.formats))
