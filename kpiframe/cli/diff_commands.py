"""`kpiframe diff` (definition changes against a git ref, with their impact on the numbers) and
`kpiframe schema` (JSON Schemas of the project files for editors and CI)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kpiframe.cli.app import handle_errors, project_options
from kpiframe.errors import KpiframeError

if TYPE_CHECKING:
    from kpiframe.diff import DiffReport

BREAKING_EXIT = 4
GRAINS = ["day", "week", "month", "quarter", "year", "fiscal_quarter", "fiscal_year"]


@click.command()
@project_options
@click.option(
    "--base",
    default=None,
    metavar="REF",
    help="Git ref to compare with (branch, tag, commit). Default: the merge base of HEAD with main.",
)
@click.option("--head", default=None, metavar="REF", help="Git ref to compare. Default: the working tree as it is.")
@click.option(
    "--periods",
    default=3,
    show_default=True,
    type=click.IntRange(min=0),
    help="How many of the latest periods to compute both versions for (0: no value impact).",
)
@click.option("--grain", default="month", show_default=True, type=click.Choice(GRAINS))
@click.option("--end", type=click.DateTime(["%Y-%m-%d"]), help="Last period to show. Default: the latest with data.")
@click.option("--no-impact", is_flag=True, help="Compare definitions only; do not read the warehouse.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "markdown", "json"]),
    default="table",
    show_default=True,
    help="table for people, markdown for a pull-request comment, json for tools.",
)
@click.option(
    "--fail-on",
    type=click.Choice(["breaking", "any", "never"]),
    default="never",
    show_default=True,
    help="Exit with code 4 when a change breaks readers of the published tables (breaking), "
    "or when anything changed (any). For CI.",
)
@handle_errors
def diff(
    project_dir: str,
    warehouse: str | None,
    base: str | None,
    head: str | None,
    periods: int,
    grain: str,
    end: Any,
    no_impact: bool,
    fmt: str,
    fail_on: str,
) -> None:
    """Compare the project with a git ref: what changed, what it reaches, whether it breaks, what it does to numbers.

    Both versions run on the warehouse (opened read-only; models are built in memory) for the last
    --periods periods. Exit codes: 0 ok, 1 user error (unknown ref, invalid project at the ref, ...),
    2 usage error, 4 a change matched --fail-on.
    """
    from kpiframe.diff import Window, diff_project
    from kpiframe.diff.report import to_json

    report = diff_project(
        Path(project_dir),
        base=base,
        head=head,
        warehouse=warehouse,
        window=Window(grain, periods, end.date() if end else None),
        impact=not no_impact,
    )
    if fmt == "json":
        click.echo(json.dumps(to_json(report), indent=2, ensure_ascii=False, default=str))
    else:
        click.echo(show(report, markdown=fmt == "markdown"))
    if (fail_on == "breaking" and report.breaking) or (fail_on == "any" and report.changes):
        click.echo(
            f"kpiframe diff: {len(report.breaking)} breaking change(s), {len(report.changes)} in all "
            f"(--fail-on {fail_on}): exit {BREAKING_EXIT}",
            err=True,
        )
        sys.exit(BREAKING_EXIT)


def show(report: DiffReport, markdown: bool) -> str:
    """The report's blocks as Markdown (a PR comment) or for a terminal (boxed tables)."""
    from kpiframe.cli.output import render
    from kpiframe.diff.report import MARKER, blocks

    lines = [MARKER] if markdown else []
    for block in blocks(report):
        if block.kind == "heading" and markdown:
            lines += ["", "#" * block.level + " " + block.text]
        elif block.kind == "heading":
            text = _plain(block.text)
            lines += ["", text] + (["=" * len(text)] if block.level == 2 else [])
        elif block.kind == "text":
            lines.append(block.text if markdown else _plain(block.text))
        elif block.kind == "bullets":
            lines += [f"- {item}" if markdown else f"  • {_plain(item)}" for item in block.items]
        elif block.table is not None and markdown and block.collapsed:
            lines += [
                "",
                f"<details><summary>{block.text}</summary>",
                "",
                render(block.table, "markdown"),
                "",
                "</details>",
                "",
            ]
        elif block.table is not None and markdown:
            lines += ["", render(block.table, "markdown"), ""]
        elif block.table is not None:
            lines += ["", render(block.table, "table"), ""]
    return "\n".join(lines).strip() + "\n"


def _plain(text: str) -> str:
    return (
        text.replace("**", "").replace("`", "").replace("_", " ").strip()
        if text.startswith("_")
        else text.replace("**", "").replace("`", "")
    )


@click.command()
@click.option(
    "--project-dir",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Project folder; --output-dir is relative to it. (No --warehouse: schema reads no data.)",
)
@click.option(
    "--output-dir",
    default="schemas",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder to write the *.schema.json files into.",
)
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if the files there are missing or out of date.")
@handle_errors
def schema(project_dir: str, output_dir: str, check: bool) -> None:
    """Write JSON Schemas of kpi_project.yml and of the YAML files under models/ and metrics/."""
    from kpiframe.diff.schemas import stale_schemas, write_schemas

    folder = Path(project_dir) / output_dir
    if check:
        stale = stale_schemas(folder)
        if stale:
            raise KpiframeError(
                f"out of date in {folder}: {', '.join(stale)}",
                code="KF960",
                hint=f"run `kpiframe schema --project-dir {project_dir} --output-dir {output_dir}` "
                "and commit the result",
            )
        click.echo(f"schemas in {folder} are up to date")
        return
    for path in write_schemas(folder):
        click.echo(f"wrote {path}")


def register(main: click.Group) -> None:
    main.add_command(diff)
    main.add_command(schema)
