"""`kpiframe import metricflow PATH`: bring a dbt Semantic Layer project over (kpiframe.imports)."""

from __future__ import annotations

from pathlib import Path

import click

from kpiframe.cli.app import handle_errors

TOOLS = ("metricflow",)


def register(main: click.Group) -> None:
    """Add `import` to the main CLI."""
    main.add_command(import_command)


@click.command(name="import")
@click.argument("tool", type=click.Choice(TOOLS))
@click.argument("path", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--project-dir",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False),
    help="The kpiframe project to import into (the default for --output).",
)
@click.option(
    "--output", default=None, type=click.Path(file_okay=False), help="Folder to write to (default: --project-dir)."
)
@click.option("--write", is_flag=True, help="Write the files; without it, print what would be written.")
@handle_errors
def import_command(tool: str, path: str, project_dir: str, output: str | None, write: bool) -> None:
    """Read another tool's project into kpiframe files: `metricflow` reads a dbt project's
    semantic_models:, metrics: and saved_queries: and the dbt models they read.

    Prints a table of the files it would write and everything it could not carry over as it was, with
    file and line. Re-importing a changed dbt project rewrites only what changed.
    """
    from kpiframe.imports.metricflow import plan_import, render_summary, write_import

    result = plan_import(Path(path), Path(output or project_dir))
    written = write_import(result) if write else None
    click.echo(render_summary(result, written))
