"""`kpiframe serve`: the HTTP JSON API (kpiframe.serve) over the project, loaded once."""

from __future__ import annotations

import os

import click

from kpiframe.cli.app import handle_errors, load, project_options

TOKEN_VARIABLE = "KPIFRAME_SERVE_TOKEN"  # kpiframe.serve.TOKEN_VARIABLE; not imported, so that --help stays fast


def register(main: click.Group) -> None:
    """Add `serve` to the main CLI."""
    main.add_command(serve)


@click.command()
@project_options
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help=f"Address to listen on. Any address but loopback (127.0.0.1, ::1, localhost) needs ${TOKEN_VARIABLE}.",
)
@click.option("--http-port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="TCP port.")
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
    help="uvicorn's log level (info logs each request).",
)
@handle_errors
def serve(project_dir: str, warehouse: str | None, host: str, http_port: int, log_level: str) -> None:
    """Serve the metrics as a JSON API: catalog, queries, KPI status, funnels (docs/http-api.md).

    With $KPIFRAME_SERVE_TOKEN set, every request needs `Authorization: Bearer <token>`; without it the
    server only listens on loopback. The project is loaded once; each request reads what the last build
    published, so builds go on while it serves.
    """
    from kpiframe.serve import require_token_off_loopback, run

    token = os.environ.get(TOKEN_VARIABLE) or None
    require_token_off_loopback(host, token)  # before loading: a refused start should be quick
    project = load(project_dir, warehouse)
    access = "Bearer token required" if token else "no token: loopback only"
    click.echo(
        f"serving {project.graph.config.name} on http://{_url_host(host)}:{http_port} ({access}); "
        "the API is described at /openapi.json",
        err=True,
    )
    run(project, host, http_port, token, log_level)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
