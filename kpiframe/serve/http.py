"""The HTTP JSON API: a Starlette application over one loaded project, served by uvicorn.

The project is loaded once, when the server starts; a request reloads nothing. Every answer that reads
data opens its own read-only connection to what the last build published (`Project.connect_reader`: on
DuckDB the serving snapshot), so requests never wait for a build nor make one fail, and each request
sees the newest complete build.

Requests are answered in Starlette's thread pool (the work is blocking: compiling SQL and running it).
Errors are JSON, `{"error": {"code", "message", "hint"}}`:

- a KpiframeError (unknown metric, refused `where`, unknown funnel, ...) is 400 with its own code;
- a body or parameter of the wrong shape is 422 (413 for a body over MAX_BODY_BYTES), KF971;
- a missing or wrong token is 401, KF972; an unknown path 404 and a wrong method 405, KF973;
- anything else is 500, KF999, without the traceback (it goes to the server's log).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from datetime import date, datetime, time
from decimal import Decimal
from functools import cached_property
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from kpiframe.errors import KpiframeError, QueryError
from kpiframe.project import Project
from kpiframe.sql.calendar import GRAINS
from kpiframe.suggest import did_you_mean

TOKEN_VARIABLE = "KPIFRAME_SERVE_TOKEN"
MAX_BODY_BYTES = 1_000_000
JSON = "application/json"

log = logging.getLogger("kpiframe.serve")

Handler = Callable[[Request], Awaitable[Response]]
BodyT = TypeVar("BodyT", bound=BaseModel)


class Malformed(Exception):
    """A request whose body or parameters do not have the documented shape (422, or 413 when too large)."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


class QueryBody(BaseModel):
    """The body of POST /v1/query; the fields of `kpiframe query`."""

    model_config = ConfigDict(extra="forbid", strict=True)

    metrics: list[str]
    by: list[str] = []
    grain: str | None = None  # month, or the grain of a MetricFlow metric_time__<grain> in `by`; `all`: no period
    start: date | None = None
    end: date | None = None
    start_time: str | None = None  # an instant (a time of day at a sub-day grain): its period is the first
    end_time: str | None = None
    where: str | None = None
    compare: str | None = None
    order: list[str] = []
    limit: int | None = Field(default=None, ge=0)
    min_max: bool = False  # no metric: the first and last value of each `by` (a date picker's range)
    sql: bool = False


# --- starting the server ------------------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach: 127.0.0.0/8, ::1 or the name localhost."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:  # any other host name may resolve to an address others reach
        return False


def require_token_off_loopback(host: str, token: str | None) -> None:
    """Refuse to listen where other machines can connect unless requests need a token."""
    if token or is_loopback(host):
        return
    raise KpiframeError(
        f"--host {host} accepts connections from other machines, and {TOKEN_VARIABLE} is not set, so anyone "
        "who can reach it could read every metric",
        code="KF970",
        hint=f"set {TOKEN_VARIABLE} to a long random secret (python -c 'import secrets; "
        "print(secrets.token_urlsafe(32))'), or listen on 127.0.0.1 only",
    )


def run(project: Project, host: str, port: int, token: str | None, log_level: str = "info") -> None:
    """Serve the project until interrupted (Ctrl-C, SIGTERM)."""
    import uvicorn

    require_token_off_loopback(host, token)
    uvicorn.run(create_app(project, token), host=host, port=port, log_level=log_level, server_header=False)


# --- the application ----------------------------------------------------------------------------------------


def create_app(project: Project, token: str | None = None) -> Starlette:
    """The ASGI application serving `project`; with a token, every request needs `Authorization: Bearer`."""
    api = _Api(project)
    routes = [
        Route("/openapi.json", api.endpoint(api.openapi), methods=["GET"]),
        Route("/v1/metrics", api.endpoint(api.metrics), methods=["GET"]),
        Route("/v1/query", api.endpoint(api.query), methods=["POST"]),
        Route("/v1/status", api.endpoint(api.status), methods=["GET"]),
        Route("/v1/funnels/{name}", api.endpoint(api.funnel), methods=["GET"]),
    ]
    middleware = [Middleware(_BearerToken, token=token)] if token else []
    return Starlette(routes=routes, middleware=middleware, exception_handlers={HTTPException: _http_exception})


class _Api:
    """The endpoints, over one loaded project."""

    def __init__(self, project: Project) -> None:
        self.project = project

    def endpoint(self, answer: Callable[[Request], Awaitable[Any]]) -> Handler:
        """An endpoint returning a JSON-able value, with every failure turned into a JSON error."""

        async def handle(request: Request) -> Response:
            try:
                payload = await answer(request)
                return await run_in_threadpool(json_response, payload)  # a large result takes a while
            except KpiframeError as exc:
                found = exc.diagnostic
                return error_response(400, found.code, found.message, found.hint)
            except Malformed as exc:
                hint = "the request shapes are in /openapi.json"
                return error_response(exc.status, "KF971", str(exc), hint)
            except Exception:  # a bug of ours: the traceback goes to the log, never to the client
                log.exception("internal error answering %s %s", request.method, request.url.path)
                return error_response(500, "KF999", "internal error", "the server's log has the details")

        return handle

    @cached_property
    def catalog(self) -> list[dict[str, Any]]:
        from kpiframe.serve.catalog import metric_catalog

        return metric_catalog(self.project)

    @cached_property
    def document(self) -> dict[str, Any]:
        from kpiframe.serve.openapi import openapi_document

        return openapi_document(self.project.graph.config.name)

    async def openapi(self, request: Request) -> Any:
        _params(request, {})
        return self.document

    async def metrics(self, request: Request) -> Any:
        _params(request, {})
        return {"metrics": await run_in_threadpool(lambda: self.catalog)}

    async def query(self, request: Request) -> Any:
        _params(request, {})
        body = _parse_body(QueryBody, await _read_body(request))
        asked: dict[str, object] = {
            "metrics": body.metrics,
            "dimensions": body.by,
            "grain": body.grain,
            "start": body.start,
            "end": body.end,
            "start_time": body.start_time,
            "end_time": body.end_time,
            "where": body.where,
            "compare": body.compare,
            "order": body.order,
            "limit": body.limit,
            "min_max": body.min_max,
        }

        def answer() -> dict[str, Any]:
            result = self.project.query(**asked)
            units = self.project.units()
            found: dict[str, Any] = {
                "columns": result.columns,
                "rows": [list(row) for row in result.rows],
                "units": {column: units[column] for column in result.columns if column in units},
            }
            if body.sql:
                found["sql"] = self.project.explain(dialect=self.project.warehouse_spec.type, **asked)
            return found

        return await run_in_threadpool(answer)

    async def status(self, request: Request) -> Any:
        params = _params(request, {"tree": str, "as_of": date, "scenario": str, "period": str})
        if params.get("period") is not None and params.get("as_of") is not None:
            raise Malformed("give period or as_of, not both")
        return await run_in_threadpool(
            kpi_status,
            self.project,
            params.get("tree"),
            params.get("as_of"),
            params.get("scenario") or "plan",
            params.get("period"),
        )

    async def funnel(self, request: Request) -> Any:
        params = _params(request, {"by": list, "grain": str, "start": date, "end": date, "order": str}, many={"by"})
        name = request.path_params["name"]
        grain = params.get("grain") or "month"
        if grain not in GRAINS:
            raise QueryError(f"unknown grain '{grain}'", code="KF402", hint=f"use one of {', '.join(GRAINS)}")

        def answer() -> dict[str, Any]:
            result, bottleneck = self.project.funnel(
                name,
                grain=grain,
                dimensions=tuple(params.get("by") or ()),
                start=params.get("start"),
                end=params.get("end"),
                order=params.get("order"),
            )
            about = self.project.funnel_rules(name, params.get("order"))
            return {**about, "rows": result.as_dicts(), "bottleneck": bottleneck}

        return await run_in_threadpool(answer)


def kpi_status(
    project: Project, tree: str | None, as_of: date | None, scenario: str, period: str | None
) -> dict[str, Any]:
    """What `kpiframe status --format json` prints, with the tree, scenario and day it is as of.

    `period` (2026-10, 2026-Q3, 2026) asks for the status as of the period's last day, or the last day
    with data when that comes first; each node still shows its own grain's period holding that day."""
    from kpiframe.kpi.periods import PeriodError, parse_period
    from kpiframe.kpi.report import status_machine
    from kpiframe.kpi.session import KpiSession

    session = KpiSession(project, tree, as_of, scenario)
    if period is not None:
        try:
            chosen = parse_period(period)
        except PeriodError as exc:
            raise KpiframeError(
                f"period: {exc}",
                code="KF855",
                hint="use 2026-10 (a month, 01-12), 2026-Q3 (a quarter, Q1-Q4) or 2026 (a year)",
            ) from None
        if chosen.start > session.as_of:
            raise KpiframeError(
                f"period {chosen.label} starts after the last day with data ({session.as_of.isoformat()})",
                code="KF974",
                hint="ask for a period that has begun, or leave period out for the status as of the last day",
            )
        if chosen.end < session.as_of:
            session = KpiSession(project, tree, chosen.end, scenario)
    rows = session.status()
    return {
        "tree": session.tree.name,
        "label": session.tree.label,
        "scenario": scenario,
        "as_of": session.as_of,
        "rows": status_machine(rows).as_dicts(),
    }


# --- requests -----------------------------------------------------------------------------------------------


async def _read_body(request: Request) -> bytes:
    """The body, refused once it grows past MAX_BODY_BYTES (whatever Content-Length claimed)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise Malformed(f"the body is over {MAX_BODY_BYTES:,} bytes", status=413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise Malformed(f"the body is over {MAX_BODY_BYTES:,} bytes", status=413)
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_body(model: type[BodyT], body: bytes) -> BodyT:
    if not body.strip():
        raise Malformed("the body is empty: send a JSON object")
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        problems = []
        for error in exc.errors()[:5]:
            where = ".".join(str(part) for part in error["loc"]) or "body"
            problems.append(f"{where}: {error['msg']}")
        raise Malformed("; ".join(problems)) from None


def _params(
    request: Request, known: Mapping[str, type], many: frozenset[str] | set[str] = frozenset()
) -> dict[str, Any]:
    """The query parameters, each converted to its type; an unknown or repeated one is refused (a typo
    such as as-of must not be ignored silently)."""
    found: dict[str, Any] = {}
    for key in request.query_params:
        if key not in known:
            guess = did_you_mean(key, known)
            allowed = ", ".join(known) or "none"
            raise Malformed(f"unknown parameter '{key}'" + (f" ({guess})" if guess else "") + f"; allowed: {allowed}")
        values = request.query_params.getlist(key)
        if key in many:
            found[key] = values
            continue
        if len(values) > 1:
            raise Malformed(f"parameter '{key}' is given {len(values)} times")
        found[key] = _convert(key, values[0], known[key])
    return found


def _convert(key: str, text: str, kind: type) -> Any:
    if kind is date:
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise Malformed(f"{key}: '{text}' is not a date (YYYY-MM-DD)") from None
    return text


# --- responses ----------------------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """`value` with dates as ISO strings, decimals as numbers and NaN or infinity as null, recursively."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return jsonable(float(value))
    if isinstance(value, (date, datetime, time)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    return str(value)


def json_response(payload: Any, status: int = 200) -> Response:
    text = json.dumps(jsonable(payload), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return Response(text.encode("utf-8"), status_code=status, media_type=JSON)


def error_response(status: int, code: str, message: str, hint: str | None = None) -> Response:
    return json_response({"error": {"code": code, "message": message, "hint": hint}}, status)


async def _http_exception(request: Request, exc: Exception) -> Response:
    """404 and 405 from the router, as JSON errors like every other."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    else:
        message = f"no endpoint {request.url.path}"
    response = error_response(status, "KF973", message, "the endpoints are listed in /openapi.json")
    if isinstance(exc, HTTPException) and exc.headers:
        response.headers.update(exc.headers)
    return response


class _BearerToken:
    """Every HTTP request needs `Authorization: Bearer <token>`; anything else is 401 (compared in
    constant time, so the response time tells nothing about the token)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode("utf-8")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # starting and stopping the application
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # the API has no websocket endpoint
            await send({"type": "websocket.close", "code": 1008})
            return
        scheme, _, given = Headers(scope=scope).get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode("utf-8"), self.token):
            await self.app(scope, receive, send)
            return
        response = error_response(
            401,
            "KF972",
            "this server needs a token: missing or wrong Authorization header",
            f"send Authorization: Bearer <the {TOKEN_VARIABLE} the server was started with>",
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="kpiframe"'
        await response(scope, receive, send)
