"""What every command shares: the project options, loading the project, and errors shown as located
messages with an exit code instead of tracebacks."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kpiframe.errors import KpiframeError

if TYPE_CHECKING:
    from kpiframe.project import Project

PROJECT_OPTIONS = [
    click.option(
        "--project-dir",
        default=".",
        show_default=True,
        type=click.Path(file_okay=False),
        help="Folder holding kpi_project.yml.",
    ),
    click.option(
        "--warehouse",
        default=None,
        help="DuckDB file, or a PostgreSQL DSN (postgresql://... or 'host=... dbname=...'); also $KPIFRAME_WAREHOUSE.",
    ),
]


def project_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(PROJECT_OPTIONS):
        command = option(command)
    return command


def handle_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Users see a located message and an exit code, never a traceback (unless --debug)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = click.get_current_context().find_root().params.get("debug", False)
        try:
            return command(*args, **kwargs)
        except KpiframeError as exc:
            if debug:
                raise
            click.echo(exc.render(), err=True)
            sys.exit(exc.exit_code)
        except (click.ClickException, BrokenPipeError):
            # click prints a usage error (exit 2), and ends quietly when the reader of stdout has gone
            # away (`kpiframe funnel | head -1`), like any Unix tool: neither is an internal error
            raise
        except Exception as exc:  # a bug of ours: say so plainly, keep the traceback behind --debug
            if debug:
                raise
            click.echo(
                f"error[KF999]: internal error: {type(exc).__name__}: {exc}\n"
                "  hint: rerun with --debug for the traceback and report it",
                err=True,
            )
            sys.exit(1)

    return wrapper


def load(project_dir: str, warehouse: str | None) -> Project:
    from kpiframe.project import Project  # imported late so that --help stays fast

    return Project.load(Path(project_dir), warehouse=warehouse)
