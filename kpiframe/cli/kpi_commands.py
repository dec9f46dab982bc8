"""KPI tree commands: status, plan-targets, explain, lint. Each calls kpiframe.kpi.session.KpiSession."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import click

from kpiframe.cli.app import handle_errors, load, project_options

if TYPE_CHECKING:
    from kpiframe.kpi.session import KpiSession

FORMAT = click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True
)
TREE = click.option("--tree", default=None, help="Tree name; not needed when the project has one tree.")
AS_OF = click.option(
    "--as-of",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Last day of data to count (default: the last day with data, before today).",
)
SCENARIO = click.option(
    "--scenario",
    default="plan",
    show_default=True,
    help="Target scenario (plan, stretch, reforecast, ...); falls back to plan.",
)


def register(main: click.Group) -> None:
    """Add the KPI commands to the main CLI."""
    for command in (status, plan_targets, explain_command, lint_command):
        main.add_command(command)


def _session(
    project_dir: str,
    warehouse: str | None,
    tree: str | None,
    as_of: datetime | None,
    scenario: str = "plan",
    window: int | None = None,
) -> KpiSession:
    from kpiframe.kpi.session import KpiSession

    return KpiSession(load(project_dir, warehouse), tree, as_of.date() if as_of else None, scenario, window)


def _period(text: str) -> Any:
    from kpiframe.kpi.periods import period_option

    return period_option(text)


def _units(session: KpiSession) -> dict[str, str]:
    return session.project.units()


def _echo_machine(result: Any, fmt: str) -> None:
    from kpiframe.cli.output import render

    click.echo(render(result, fmt))


@click.command()
@project_options
@TREE
@AS_OF
@SCENARIO
@FORMAT
@click.option("--publish", is_flag=True, help="Also write the rows to <metrics schema>.kpi_status.")
@handle_errors
def status(
    project_dir: str,
    warehouse: str | None,
    tree: str | None,
    as_of: datetime | None,
    scenario: str,
    fmt: str,
    publish: bool,
) -> None:
    """Each node's actual to date, target, attainment, projection to period end and status."""
    from kpiframe.cli.output import render
    from kpiframe.kpi.report import status_machine, status_people

    session = _session(project_dir, warehouse, tree, as_of, scenario)
    rows = session.status()
    if fmt == "table":
        title = f"{session.tree.label}: {scenario} as of {session.as_of}"
        click.echo(render(status_people(rows), "table", title=title))
    else:
        _echo_machine(status_machine(rows), fmt)
    if publish:
        from kpiframe.kpi.publish import STATUS_COLUMNS, STATUS_KEY, publish_rows

        schema = session.project.graph.config.schemas.metrics
        count = session.project.with_warehouse(
            lambda w: publish_rows(w, schema, "kpi_status", STATUS_COLUMNS, [r.as_dict() for r in rows], STATUS_KEY)
        )
        click.echo(f"published {count} rows to {schema}.kpi_status", err=True)


@click.command(name="plan-targets")
@project_options
@TREE
@AS_OF
@click.option("--period", "period_text", required=True, help="Period of the KGI target: 2027-Q1, 2027-01, 2027.")
@click.option("--target", type=float, default=None, help="The KGI's target (default: its target in the files).")
@click.option("--metric", default=None, help="Start from this node instead of the KGI.")
@click.option(
    "--window",
    type=click.IntRange(1, 24),
    default=None,
    help="Trailing complete months whose rates are assumed (default: kpi.plan_window, 3).",
)
@click.option("--scenario", default="plan", show_default=True, help="Scenario the written targets belong to.")
@click.option("--write", is_flag=True, help="Write the plan to metrics/targets_<period>.yml for review.")
@click.option("--force", is_flag=True, help="Replace that file if it exists.")
@FORMAT
@handle_errors
def plan_targets(
    project_dir: str,
    warehouse: str | None,
    tree: str | None,
    as_of: datetime | None,
    period_text: str,
    target: float | None,
    metric: str | None,
    window: int | None,
    scenario: str,
    write: bool,
    force: bool,
    fmt: str,
) -> None:
    """Walk the tree's formulas down from a KGI target: the required value of every node."""
    from kpiframe.cli.output import render
    from kpiframe.kpi.report import plan_machine, plan_people

    session = _session(project_dir, warehouse, tree, as_of, scenario, window)
    plan = session.plan(_period(period_text), target, metric)
    if fmt == "table":
        totals, months = plan_people(plan, _units(session))
        click.echo(
            render(
                totals,
                "table",
                title=f"{plan.metric} {plan.period.label} = {plan.target:,.0f} (rates of {plan.history.label})",
            )
        )
        click.echo(render(months, "table", title="by month"))
    else:
        _echo_machine(plan_machine(plan), fmt)
    if write:
        _write_plan(session, plan, scenario, force)


def _write_plan(session: KpiSession, plan: Any, scenario: str, force: bool) -> None:
    from kpiframe.errors import KpiframeError
    from kpiframe.kpi.model import load_kpi
    from kpiframe.kpi.plan_file import write_plan

    root = session.project.root
    path = write_plan(root, plan, session.tree, _units(session), scenario, date.today(), force)
    try:  # the file must load: otherwise it is removed rather than left to break the project
        load_kpi(load(str(root), None))
    except KpiframeError:
        path.unlink()
        raise
    click.echo(f"wrote {path.relative_to(root)} (scenario {scenario}); review it before merging", err=True)


@click.command(name="explain")
@project_options
@click.argument("metric")
@TREE
@AS_OF
@SCENARIO
@click.option("--period", "period_text", required=True, help="Period to explain: 2026-10, 2026-Q3, 2026.")
@click.option("--vs", type=click.Choice(["previous", "target", "year"]), default="previous", show_default=True)
@click.option("--method", type=click.Choice(["shapley", "log"]), default="shapley", show_default=True)
@click.option("--depth", type=click.IntRange(1, 10), default=None, help="Formula levels to expand (default: all).")
@FORMAT
@click.option("--publish", is_flag=True, help="Also write the contributions to <metrics schema>.kpi_explain.")
@handle_errors
def explain_command(
    project_dir: str,
    warehouse: str | None,
    metric: str,
    tree: str | None,
    as_of: datetime | None,
    scenario: str,
    period_text: str,
    vs: str,
    method: str,
    depth: int | None,
    fmt: str,
    publish: bool,
) -> None:
    """Split a metric's change (or gap to target) into its drivers' contributions."""
    from kpiframe.cli.output import render
    from kpiframe.kpi.report import explain_machine, explain_people, explain_rows

    session = _session(project_dir, warehouse, None, as_of, scenario)
    session.choose_tree_for(metric, tree)
    explanation = session.explain(metric, _period(period_text), vs, method, depth)
    if fmt == "json":
        click.echo(json.dumps(explain_machine(explanation), indent=2, default=str))
    elif fmt == "csv":
        _echo_machine(explain_rows(explanation), "csv")
    else:
        head, table, lines = explain_people(explanation, _units(session))
        click.echo(render(table, "table", title=head))
        for line in lines:
            click.echo(line)
    if publish:
        _publish_explain(session, explanation)


def _publish_explain(session: KpiSession, explanation: Any) -> None:
    from kpiframe.kpi.publish import EXPLAIN_COLUMNS, EXPLAIN_KEY, publish_rows
    from kpiframe.kpi.report import explain_rows

    rows = [
        {
            **row,
            "baseline_value": row["baseline_value"],
            "total_change": explanation.change,
            "method": explanation.method,
            "as_of": session.as_of,
        }
        for row in explain_rows(explanation).as_dicts()
    ]
    schema = session.project.graph.config.schemas.metrics
    count = session.project.with_warehouse(
        lambda w: publish_rows(w, schema, "kpi_explain", EXPLAIN_COLUMNS, rows, EXPLAIN_KEY)
    )
    click.echo(f"published {count} rows to {schema}.kpi_explain", err=True)


@click.command(name="lint")
@project_options
@TREE
@AS_OF
@FORMAT
@handle_errors
def lint_command(project_dir: str, warehouse: str | None, tree: str | None, as_of: datetime | None, fmt: str) -> None:
    """KPI design checks; data checks (formulas, vanity metrics, achievable targets) need the warehouse."""
    session = _session(project_dir, warehouse, tree, as_of)
    report, reason = session.lint(all_trees=tree is None)
    findings = [
        {
            "code": d.code,
            "severity": d.severity.value,
            "message": d.message,
            "location": str(d.location) if d.location else None,
            "hint": d.hint,
        }
        for d in report.diagnostics
    ]
    if fmt == "json":
        click.echo(
            json.dumps({"data_checked": report.data_checked, "skipped_reason": reason, "findings": findings}, indent=2)
        )
    elif fmt == "csv":  # pure data on stdout; the note about skipped data lints goes to stderr
        from kpiframe.engine import QueryResult

        columns = ["code", "severity", "location", "message", "hint"]
        _echo_machine(QueryResult(columns, [tuple(f[c] for c in columns) for f in findings]), "csv")
        if reason:
            click.echo(f"note: static lints only; the data lints need the warehouse ({reason})", err=True)
    else:  # people read compiler-style lines: file:line first, so editors can jump to them
        for diagnostic in report.diagnostics:
            click.echo(diagnostic.render())
        if reason:
            click.echo(f"note: static lints only; the data lints need the warehouse ({reason})")
        warnings = len(report.diagnostics) - report.errors
        click.echo(
            f"{report.errors} error(s), {warnings} warning(s)"
            + ("" if report.data_checked else " (data lints skipped)")
        )
    if report.errors:
        sys.exit(1)
