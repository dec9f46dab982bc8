"""`kpiframe docs generate` and `kpiframe docs serve`: the static, offline docs site (kpiframe.docsite)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from kpiframe.cli.app import handle_errors, load, project_options

DEFAULT_OUTPUT = "target/docs"


def register(main: click.Group) -> None:
    """Add `docs generate` and `docs serve` to the main CLI."""
    main.add_command(docs)


@click.group()
def docs() -> None:
    """A browsable site of the project: catalog, lineage, KPI trees, trends, funnels, quality."""


@docs.command()
@project_options
@click.option(
    "--output",
    default=None,
    type=click.Path(),
    help=f"Folder to write the site to (default: <project>/{DEFAULT_OUTPUT}).",
)
@click.option("--period", default=None, help="Period the KPI trees show: 2026-Q4, 2026-10, 2026 (default: current).")
@handle_errors
def generate(project_dir: str, warehouse: str | None, output: str | None, period: str | None) -> None:
    """Write the site: every page reads only files next to it, so it opens offline and from a file share.

    Without a build it still shows the catalog and lineage, and says which pages need `kpiframe build`.
    """
    from kpiframe.docsite.collect import collect_site
    from kpiframe.docsite.render import write_site

    started = time.perf_counter()
    project = load(project_dir, warehouse)
    target = Path(output) if output else project.root / DEFAULT_OUTPUT
    data = collect_site(project, period, progress=lambda step: click.echo(f"  {step}", err=True))
    pages = write_site(data, target)
    click.echo(f"wrote {len(pages)} pages to {target} in {time.perf_counter() - started:.1f} s", err=True)
    if not data["built"]:
        click.echo(f"  data pages are empty: {data['not_built_reason']}", err=True)
    for problem in data["problems"]:
        click.echo(f"  warning: {problem}", err=True)
    click.echo(f"open {target / 'index.html'} or run `kpiframe docs serve`")


@docs.command()
@click.option(
    "--project-dir",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder holding kpi_project.yml.",
)
@click.option("--output", default=None, type=click.Path(), help=f"Site folder (default: <project>/{DEFAULT_OUTPUT}).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="TCP port.")
@handle_errors
def serve(project_dir: str, output: str | None, host: str, port: int) -> None:
    """Serve a generated site over HTTP (read-only; the site is static files)."""
    from kpiframe.docsite.serve import serve_site

    folder = Path(output) if output else Path(project_dir) / DEFAULT_OUTPUT
    serve_site(folder, host, port, ready=lambda url: click.echo(f"serving {folder} on {url} (Ctrl-C stops)", err=True))
