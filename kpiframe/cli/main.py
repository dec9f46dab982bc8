"""kpiframe commands. Each command calls the Project API; errors print compiler-style, exit codes:
0 ok, 1 user error, 2 usage error, 3 failed expectations."""

from __future__ import annotations

import atexit
import gc
import logging
import sys
import time
from pathlib import Path
from typing import Any

import click

from kpiframe.cli import (
    diff_commands,
    docs_commands,
    import_commands,
    kpi_commands,
    query_command,
    serve_commands,
)
from kpiframe.cli.app import handle_errors, load, project_options


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show Python tracebacks.")
@click.version_option(package_name="kpiframe")
def main(debug: bool) -> None:
    """kpiframe: metrics as code for marketing and sales analytics."""
    # sqlglot warns on stderr about dialect details we already handle (e.g. NULLS LAST in windows)
    logging.getLogger("sqlglot").setLevel(logging.DEBUG if debug else logging.ERROR)
    # sqlglot trees hold reference cycles (each node points at its parent), so a project load makes
    # hundreds of thousands of objects that only the cyclic collector frees; its full passes also walk
    # every imported module. A command is a short process: leave the imports out of those passes and
    # collect less often (measured in bench/bench_compile.py: 40-60 % of load + compile was collection).
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    # and freeze again at exit: the interpreter's last collections would walk every object the command
    # made only to free memory the process gives back anyway (0.07-0.17 s of a command). Python never
    # promised __del__ at exit; connections and files are closed where they are used.
    atexit.unregister(gc.freeze)  # once, however many commands a process runs (tests run many)
    atexit.register(gc.freeze)


@main.command()
@click.argument("folder", default=".", type=click.Path(file_okay=False))
@click.option("--name", default=None, help="Project name (default: the folder's name).")
@handle_errors
def init(folder: str, name: str | None) -> None:
    """Create a new project in FOLDER: a source contract, a model, metrics, a published table and a test."""
    from kpiframe.scaffold import init_project

    written = init_project(Path(folder), name)
    for path in written:
        click.echo(f"  created {path}")
    click.echo(
        f"next: cd {folder} && kpiframe compile && kpiframe test --metrics-only; then load your rows into "
        "raw.orders (or edit models/sources.yml for your own table) and run kpiframe build"
    )


@main.command()
@project_options
@click.option("--seed", default=42, show_default=True, help="Random seed: the same seed gives the same data.")
@click.option(
    "--scale", default=1.0, show_default=True, help="1.0 is about 200,000 web sessions; 50 is about 10 million."
)
@handle_errors
def demo(project_dir: str, warehouse: str | None, seed: int, scale: float) -> None:
    """Write deterministic demo data into the warehouse's raw.* tables (all of them, or none on failure)."""
    from kpiframe.demo.run import write_demo
    from kpiframe.engine import warehouse_label
    from kpiframe.engine.options import resolve_warehouse
    from kpiframe.load.config import load_config

    root = Path(project_dir)
    spec = resolve_warehouse(load_config(root), root.resolve(), warehouse)
    started = time.perf_counter()

    def progress(message: str) -> None:
        click.echo(f"  {message}", err=True)

    counts = write_demo(spec, warehouse_label(spec), seed, scale, progress)
    click.echo(
        f"wrote {sum(counts.values()):,} raw rows into {warehouse_label(spec)} in {time.perf_counter() - started:.1f}s"
    )


@main.command()
@project_options
@click.option(
    "--junit-xml", default=None, type=click.Path(dir_okay=False), help="Write expectation results as JUnit XML."
)
@click.option(
    "--select",
    "-s",
    "selectors",
    multiple=True,
    help="name, +upstream, downstream+, tag:X, state:modified+ (repeatable).",
)
@click.option(
    "--state",
    type=click.Path(exists=True, dir_okay=False),
    help="A saved manifest.json to compare with for state:modified.",
)
@click.option(
    "--accept-volume-drop",
    "accept_drops",
    multiple=True,
    metavar="TABLE",
    help="Publish even though TABLE (a metric table or source, e.g. sales_monthly or raw.leads) "
    "shrank beyond its allowed drop since the last successful build (comma-separated or "
    "repeatable).",
)
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    is_flag=False,
    flag_value=600.0,
    default=None,
    metavar="[SECONDS]",
    help="When another build of the project is running, wait for it to finish "
    "(at most SECONDS, 600 when not given) instead of stopping at once.",
)
@click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0.001),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="PostgreSQL: how long publishing waits for a session (e.g. a BI tool "
    "in an open transaction) to release a published table; then nothing is published.",
)
@handle_errors
def build(
    project_dir: str,
    warehouse: str | None,
    junit_xml: str | None,
    selectors: tuple[str, ...],
    state: str | None,
    accept_drops: tuple[str, ...],
    wait: float | None,
    lock_timeout: float,
) -> None:
    """Build every model in dependency order, check expectations, publish the metric tables."""
    project = load(project_dir, warehouse)
    started = time.perf_counter()

    def progress(name: str, index: int, total: int) -> None:
        click.echo(f"  [{index}/{total}] {name}", err=True)

    try:
        chosen = [part for selector in selectors for part in selector.replace(",", " ").split()]
        result = project.build(
            progress,
            junit_xml=junit_xml,
            select=chosen,
            state=Path(state) if state else None,
            on_checked=lambda line: click.echo(f"        {line}", err=True),
            accept_volume_drop=[part for names in accept_drops for part in names.replace(",", " ").split()],
            wait=wait,
            lock_timeout=lock_timeout,
            on_notice=lambda line: click.echo(line, err=True),
        )
    finally:
        _print_expectations(project.last_expectation_results)
    from kpiframe.cli.output import render
    from kpiframe.engine import QueryResult, warehouse_label

    rows = QueryResult(["table", "rows"], sorted(result.rows.items()))
    click.echo(render(rows, "table", title="published"))
    checks = project.last_expectation_run
    checked = f" ({len(checks.results)} expectations: {checks.seconds:.1f}s)" if checks and checks.results else ""
    click.echo(
        f"build {result.run_id} finished in {time.perf_counter() - started:.1f}s{checked} "
        f"into {warehouse_label(project.warehouse_spec)}"
    )


def _print_expectations(results: list[Any]) -> None:
    if results:
        from kpiframe.quality import render_results

        click.echo(render_results(results))


@main.command(name="compile")
@project_options
@click.option(
    "--dialect", type=click.Choice(["duckdb", "postgres", "snowflake", "bigquery"]), default="duckdb", show_default=True
)
@handle_errors
def compile_command(project_dir: str, warehouse: str | None, dialect: str) -> None:
    """Validate the project and write compiled SQL and manifest.json under target/."""
    project = load(project_dir, warehouse)
    manifest = project.compile(dialect)
    for locked in project.lock_definitions():
        click.echo(f"locked the rule of {locked} in definitions.lock (commit it: a locked rule cannot change)")
    click.echo(
        f"compiled {len(project.graph.models)} models, {len(project.graph.metrics)} metrics, "
        f"{len(project.graph.tables)} tables for {dialect} -> {manifest.parent}"
    )


@main.command()
@project_options
@click.argument("name", required=False)
@click.option("--by", "dimensions", multiple=True, help="A dimension of the funnel (e.g. channel).")
@click.option(
    "--cohort",
    "grain",
    default="month",
    show_default=True,
    type=click.Choice(["day", "week", "month", "quarter", "year", "fiscal_quarter", "fiscal_year"]),
)
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), help="First cohort to show.")
@click.option("--end", type=click.DateTime(["%Y-%m-%d"]), help="Last cohort to show.")
@click.option(
    "--order",
    type=click.Choice(["strict", "independent"]),
    default=None,
    help="strict: a stage counts only after every earlier stage, in order; independent: each stage on "
    "its own. Default: the funnel's `order:`.",
)
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "markdown"]), default="table")
@handle_errors
def funnel(
    project_dir: str,
    warehouse: str | None,
    name: str | None,
    dimensions: tuple[str, ...],
    grain: str,
    start: Any,
    end: Any,
    order: str | None,
    fmt: str,
) -> None:
    """Show a funnel per cohort and stage, and flag the bottleneck."""
    import json

    from kpiframe.cli.output import render

    project = load(project_dir, warehouse)
    result, bottleneck = project.funnel(
        name,
        grain=grain,
        dimensions=dimensions,
        order=order,
        start=start.date() if start else None,
        end=end.date() if end else None,
    )
    about = project.funnel_rules(name, order)
    units = {"conversion_from_previous": "percent", "conversion_from_first": "percent"}
    if fmt == "json":
        rows = json.loads(render(result, "json"))
        click.echo(json.dumps({**about, "rows": rows, "bottleneck": bottleneck}, indent=2, default=str))
        return
    # the order rule and what conversion means frame the table (on stderr for csv, which stays pure data)
    click.echo(f"funnel {about['funnel']}, order {about['order_rule']}", err=fmt == "csv")
    click.echo(render(result, fmt, units=units))
    click.echo(about["conversion"], err=fmt == "csv")
    if bottleneck:
        line = (
            f"bottleneck: {bottleneck['step']} in the {bottleneck['cohort_start']} cohort: "
            f"{bottleneck['conversion']:.1%} vs {bottleneck['trailing_average']:.1%} over the "
            f"{bottleneck['trailing_cohorts']} cohorts before ({bottleneck['change_points']:+.1f} pts)"
        )
        click.echo(line, err=fmt == "csv")


@main.command(name="list")
@project_options
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    type=click.Choice(["model", "dataset", "metric", "table"]),
    help="Only this kind of object (repeatable).",
)
@click.option("--search", metavar="TEXT", help="Only what has TEXT in its name, label or description (any case).")
@click.option("--owner", metavar="TEAM", help="Only the metrics TEAM owns.")
@click.option("--tag", metavar="TAG", help="Only the models and metrics tagged TAG.")
@click.option(
    "--metric",
    "metrics",
    multiple=True,
    metavar="NAME",
    help="List instead the dimensions (--by, full names) and grains a query of NAME accepts; "
    "repeat for what a query of several accepts.",
)
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "markdown"]), default="table")
@handle_errors
def list_command(
    project_dir: str,
    warehouse: str | None,
    kinds: tuple[str, ...],
    search: str | None,
    owner: str | None,
    tag: str | None,
    metrics: tuple[str, ...],
    fmt: str,
) -> None:
    """List models, datasets, metrics and published tables, or what a query of a metric accepts."""
    from kpiframe.cli.output import render

    project = load(project_dir, warehouse)
    if metrics:
        if kinds or owner or tag:
            raise click.UsageError("--metric lists what a query accepts: with --search, not --kind, --owner or --tag")
        found = project.query_options(metrics, search)
        asked = ", ".join(metrics)
        title = f"what a query of {asked} accepts: --by (dimensions) and --grain"
        empty = f"no dimension or grain of {asked} matches --search {search!r}" if search else f"{asked}: none"
    else:
        found = project.catalog(kinds, search, owner, tag)
        typed = _typed_filters(kinds, search, owner, tag)
        title = None
        empty = f"nothing matches {' '.join(typed)}" if typed else "the project defines no model, dataset or metric"
    if found.rows or fmt in ("csv", "json"):  # machines get their empty list; people a sentence
        click.echo(render(found, fmt, title=title if fmt == "table" else None))
    if not found.rows:
        click.echo(empty, err=fmt in ("csv", "json"))


def _typed_filters(kinds: tuple[str, ...], search: str | None, owner: str | None, tag: str | None) -> list[str]:
    """The filters of `kpiframe list` as they were typed, for 'nothing matches ...'."""
    values = {"--search": search, "--owner": owner, "--tag": tag}
    return [f"--kind {kind}" for kind in kinds] + [f"{key} {value!r}" for key, value in values.items() if value]


@main.command(name="test")
@project_options
@click.option("--select", default=None, help="Run only the metric test of this name.")
@click.option(
    "--junit-xml", default=None, type=click.Path(dir_okay=False), help="Write expectation results as JUnit XML."
)
@click.option("--metrics-only", is_flag=True, help="Run only the metric tests (no warehouse needed).")
@handle_errors
def test_command(
    project_dir: str, warehouse: str | None, select: str | None, junit_xml: str | None, metrics_only: bool
) -> None:
    """Run the metric tests (in memory) and the expectations (against the warehouse as it is)."""
    from kpiframe.cli.reports import render_metric_tests

    project = load(project_dir, warehouse)
    results = project.metric_tests(select)
    text, failed = render_metric_tests(results)
    click.echo(text)
    if project.graph.expectations and not metrics_only and not select:
        checked = project.test(junit_xml)
        _print_expectations(checked)
        failed += sum(1 for r in checked if not r.success and r.expectation.severity == "error")
    if failed:
        sys.exit(3)


query_command.register(main)
kpi_commands.register(main)
diff_commands.register(main)
serve_commands.register(main)
docs_commands.register(main)
import_commands.register(main)
