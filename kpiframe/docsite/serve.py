"""`kpiframe docs serve`: the generated folder over HTTP. The site is static, so a standard-library
file server is all it needs; it serves only that folder and never writes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kpiframe.errors import KpiframeError


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's parameter name
        pass  # one line per request would bury the "serving on" line; browsers fetch many files


def site_server(folder: Path, host: str, port: int) -> ThreadingHTTPServer:
    """A server bound to host:port (port 0 picks a free one) that serves `folder`."""
    if not (folder / "index.html").is_file():
        raise KpiframeError(
            f"no docs site in {folder}",
            code="KF980",
            hint="run `kpiframe docs generate` first, or pass --output with the folder it wrote",
        )
    handler = functools.partial(_QuietHandler, directory=str(folder))
    try:
        return ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise KpiframeError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            code="KF982",
            hint="pick another --port, or stop the program that holds it",
        ) from None


def serve_site(folder: Path, host: str, port: int, ready: Callable[[str], None]) -> None:
    server = site_server(folder, host, port)
    bound_host, bound_port = str(server.server_address[0]), int(server.server_address[1])
    ready(f"http://{bound_host}:{bound_port}/")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
