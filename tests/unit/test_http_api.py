"""The HTTP JSON API (`kpiframe serve`), run as a user runs it: the real server (uvicorn) in a subprocess on a
free loopback port, over the example project built on demo data, asked with a real HTTP client (httpx).

Numbers are checked against SQL written here by hand on the raw tables; the status and funnel endpoints
against `kpiframe status` / `kpiframe funnel --format json`; the OpenAPI document with
openapi-spec-validator, and real responses against its schemas. Tests that need no built warehouse use
the shop project in process (httpx's ASGI transport)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import click
import duckdb
import httpx
import pytest
from click.testing import CliRunner
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate as validate_openapi
from ruamel.yaml import YAML
from starlette.routing import Route

from kpiframe.cli import main, serve_commands
from kpiframe.errors import KpiframeError
from kpiframe.project import Project
from kpiframe.serve import TOKEN_VARIABLE, create_app, is_loopback, require_token_off_loopback
from kpiframe.serve.openapi import openapi_document
from kpiframe.sql.calendar import SUBDAY_GRAINS
from tests.conftest import SHOP_PROJECT

TOKEN = "test-token-7f3a9c"
SERVE = "import sys\nfrom kpiframe.cli.serve_commands import serve\nserve(sys.argv[1:])\n"

# --- SQL written by hand from the example's definitions (models/staging/stg_leads.sql, metrics/*.yml) -------

# A lead is its lead_id's earliest row (ties: the email that sorts first, NULL last); it counts when that
# row's email is neither NULL nor blank.
VALID_LEADS = """
    firsts as (
        select *, row_number() over (
                   partition by lead_id order by created_at asc nulls last, email asc nulls last) as pick
        from raw.leads
        where lead_id is not null
    ),
    valid as (
        select lead_id, created_at, channel, employee_count, is_competitor,
               lower(trim(string_split(email, '@')[-1], ' ')) as domain
        from firsts
        where pick = 1 and email is not null and trim(email, ' ') <> '' and created_at is not null
    )
"""
# MQL v1: a fit lead (50+ employees, not a competitor, no free-mail domain) qualifies at the first activity
# whose running points, counting activities from its creation up to 90 days later, reach 40.
MQL_V1 = """
    fit as (
        select * from valid
        where employee_count >= 50 and is_competitor = false
          and domain not in ('gmail.com', 'yahoo.com', 'hotmail.com', 'outlook.com')
    ),
    scored as (
        select a.lead_id, a.occurred_at,
               sum(case a.activity_type when 'email_click' then 5 when 'content_download' then 10
                                        when 'webinar_register' then 5 when 'webinar_attend' then 15
                                        when 'pricing_page_view' then 10 when 'demo_request' then 40 else 0 end)
                   over (partition by a.lead_id order by a.occurred_at, a.activity_id
                         rows between unbounded preceding and current row) as points
        from raw.lead_activities as a
        join fit as f on f.lead_id = a.lead_id
        where a.occurred_at >= f.created_at and a.occurred_at < f.created_at + interval 90 day
    ),
    mql as (select lead_id, min(occurred_at) as qualified_at from scored where points >= 40 group by lead_id)
"""


def hand_sql(root: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def leads_by_month(root: Path, where: str = "true") -> dict[str, int]:
    rows = hand_sql(
        root,
        f"with {VALID_LEADS} select strftime(date_trunc('month', created_at), '%Y-%m-%d'), count(*) "
        f"from valid where {where} group by 1",
    )
    return {period: count for period, count in rows}


# --- the server ----------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    url: str
    token: str | None
    process: subprocess.Popen[bytes]
    log: Path

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.token}"} if (token or self.token) else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120)

    def get(self, path: str, **params: Any) -> httpx.Response:
        with self.client() as client:
            return client.get(path, params=params)

    def query(self, **body: Any) -> httpx.Response:
        with self.client() as client:
            return client.post("/v1/query", json=body)


def environment(token: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (TOKEN_VARIABLE, "KPIFRAME_WAREHOUSE")}
    if token:
        env[TOKEN_VARIABLE] = token
    return env


def start_server(root: Path, folder: Path, token: str | None, host: str = "127.0.0.1") -> Server:
    """`kpiframe serve` in its own process; returns once it answers HTTP."""
    port = free_port()
    log = folder / f"serve-{port}.log"
    args = ["--project-dir", str(root), "--warehouse", str(root / "warehouse.duckdb")]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVE, *args, "--host", host, "--http-port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=environment(token),
        )
    server = Server(f"http://127.0.0.1:{port}", token, process, log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server stopped ({process.returncode}):\n{log.read_text()}")
        try:
            with server.client() as client:
                if client.get("/openapi.json", timeout=2).status_code == 200:
                    return server
        except httpx.TransportError:
            time.sleep(0.2)
    stop(server)
    pytest.fail(f"the server did not answer within 120 s:\n{log.read_text()}")


def stop(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="module")
def server(built_example: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The example, built once per session, served with a token for this module."""
    running = start_server(built_example, tmp_path_factory.mktemp("serve"), TOKEN)
    yield running
    stop(running)


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    assert set(error) == {"code", "message", "hint"}
    assert "Traceback" not in response.text
    return error


def in_process(app: Any, method: str, path: str, **options: Any) -> httpx.Response:
    """One request to the ASGI application in this process, without a server."""

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.request(method, path, **options)

    return asyncio.run(call())


def cli(*args: str) -> Any:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


# --- GET /v1/metrics -----------------------------------------------------------------------------------------


def declared_metrics(root: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted((root / "metrics").glob("*.yml")):
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
        found += data.get("metrics", [])
    return found


def test_the_catalog_lists_every_metric_of_the_yaml_files(server: Server, built_example: Path) -> None:
    catalog = ok(server.get("/v1/metrics"))["metrics"]
    declared = declared_metrics(built_example)
    assert len(declared) > 30
    assert sorted(m["name"] for m in catalog) == sorted(m["name"] for m in declared)
    by_name = {m["name"]: m for m in catalog}
    for spec in declared:
        entry = by_name[spec["name"]]
        assert entry["label"] == spec.get("label", spec["name"])
        for key in ("unit", "description", "owner", "direction", "timing"):
            assert entry[key] == spec.get(key), (spec["name"], key)
        assert entry["type"] == spec.get("type", "simple")
    assert by_name["leads"]["kpi_trees"] == ["marketing_pipeline"] and by_name["ctr"]["kpi_trees"] == []
    assert by_name["cost_per_mql"]["direction"] == "lower"


def test_the_catalog_dimensions_and_grains_are_what_a_query_accepts(server: Server) -> None:
    by_name = {m["name"]: m for m in ok(server.get("/v1/metrics"))["metrics"]}
    rate = by_name["lead_to_mql_rate"]
    assert {"lead__channel", "lead__country"} <= set(rate["dimensions"])
    for dimension in rate["dimensions"]:  # each one groups the metric
        answer = ok(server.query(metrics=["lead_to_mql_rate"], by=[dimension], grain="year"))
        assert answer["columns"] == ["period_start", dimension, "lead_to_mql_rate"]
    # mqls has dimensions leads lack (of the MQL dataset): the ratio lists only those of both
    extra = sorted(set(by_name["mqls"]["dimensions"]) - set(rate["dimensions"]))
    assert extra
    refused(server.query(metrics=["lead_to_mql_rate"], by=[extra[0]]), 400, "KF410")
    assert by_name["sessions_7d"]["grains"] == ["day", *SUBDAY_GRAINS]  # a 7-day window
    refused(server.query(metrics=["sessions_7d"], grain="week"), 400, "KF421")
    assert by_name["bookings_mtd"]["grains"] == ["day", "week", "month", *SUBDAY_GRAINS]
    refused(server.query(metrics=["bookings_mtd"], grain="quarter"), 400, "KF421")


def test_a_tree_node_sets_the_direction_of_its_metric(make_project: Callable[..., Path]) -> None:
    metrics = SHOP_PROJECT["metrics/shop.yml"].replace(
        "- {name: revenue, measure: revenue_sum}", "- {name: revenue, measure: revenue_sum, direction: higher}"
    )
    tree = """
        trees:
          - name: shop_tree
            label: Shop
            kgi: {metric: revenue, direction: lower}
            ksfs:
              - {name: volume, label: Volume, kpis: [{metric: orders}]}
    """
    root = make_project({"metrics/shop.yml": metrics, "metrics/tree.yml": tree}, rows=False)
    response = in_process(create_app(Project.load(root)), "GET", "/v1/metrics")
    by_name = {m["name"]: m for m in response.json()["metrics"]}
    assert by_name["revenue"]["direction"] == "lower"  # the tree's, over the metric's own
    assert by_name["revenue"]["kpi_trees"] == ["shop_tree"] and by_name["aov"]["kpi_trees"] == []
    assert by_name["orders"]["direction"] is None
    assert by_name["orders"]["dimensions"] == ["customer", "customer__region", "order", "order__status"]
    assert by_name["revenue_mtd"]["grains"] == ["day", "week", "month", *SUBDAY_GRAINS]


# --- POST /v1/query ------------------------------------------------------------------------------------------


def test_leads_by_month_match_sql_written_by_hand(server: Server, built_example: Path) -> None:
    answer = ok(server.query(metrics=["leads"], grain="month"))
    assert answer["columns"] == ["period_start", "leads"] and answer["units"] == {"leads": "count"}
    assert "sql" not in answer
    got = {period: leads for period, leads in answer["rows"]}
    expected = leads_by_month(built_example)
    assert len(expected) >= 20 and sum(expected.values()) > 500
    assert {p: n for p, n in got.items() if n} == expected
    assert all(isinstance(n, int) for n in got.values())


def test_an_allowed_where_filter_matches_sql_written_by_hand(server: Server, built_example: Path) -> None:
    answer = ok(
        server.query(metrics=["leads"], where="lead__channel = 'paid_search'", start="2025-07-01", end="2026-06-30")
    )
    got = {period: leads for period, leads in answer["rows"]}
    expected = leads_by_month(built_example, "channel = 'paid_search' and created_at >= '2025-07-01'")
    expected = {p: n for p, n in expected.items() if p <= "2026-06-30"}
    assert sorted(got) == [
        f"{y}-{m:02d}-01" for y, m in [(2025, m) for m in range(7, 13)] + [(2026, m) for m in range(1, 7)]
    ]
    assert {p: n for p, n in got.items() if n} == expected and sum(expected.values()) > 20


def test_min_max_gives_a_dimensions_first_and_last_value(server: Server, built_example: Path) -> None:
    # what a BI tool's filter or date picker asks before it draws: no metric, one row
    answer = ok(server.query(metrics=[], by=["lead__channel"], min_max=True))
    assert answer["columns"] == ["lead__channel__min", "lead__channel__max"]
    assert [tuple(row) for row in answer["rows"]] == hand_sql(
        built_example, f"with {VALID_LEADS} select min(channel), max(channel) from valid"
    )
    assert refused(server.query(metrics=["leads"], min_max=True), 400, "KF434")


def test_leads_by_the_hour_with_a_time_constraint(server: Server, built_example: Path) -> None:
    # a sub-day grain over HTTP: periods are ISO timestamps, start_time/end_time take a time of day
    answer = ok(
        server.query(metrics=["leads"], grain="hour", start_time="2026-02-02T08:30:00", end_time="2026-02-02T17:59")
    )
    assert answer["columns"] == ["period_start", "leads"]
    by_hand = hand_sql(
        built_example,
        f"with {VALID_LEADS}, hours as (select unnest(generate_series(timestamp '2026-02-02 08:00', "
        "timestamp '2026-02-02 17:00', interval 1 hour)) h) "
        "select strftime(h, '%Y-%m-%dT%H:%M:%S'), "
        "(select count(*) from valid where date_trunc('hour', created_at) = h) from hours order by h",
    )
    assert [tuple(row) for row in answer["rows"]] == by_hand
    assert len(by_hand) == 10 and sum(n for _, n in by_hand) > 0
    assert refused(
        server.query(metrics=["leads"], grain="hour", start="2026-02-02", start_time="2026-02-02"), 400, "KF417"
    )


def test_lead_to_mql_rate_of_a_quarter_matches_sql_written_by_hand(server: Server, built_example: Path) -> None:
    answer = ok(
        server.query(
            metrics=["leads", "mqls", "lead_to_mql_rate"], grain="quarter", start="2026-04-01", end="2026-04-01"
        )
    )
    assert answer["columns"] == ["period_start", "leads", "mqls", "lead_to_mql_rate"]
    assert answer["units"] == {"leads": "count", "mqls": "count", "lead_to_mql_rate": "percent"}
    [[period, leads, mqls, rate]] = answer["rows"]
    [(hand_leads, hand_mqls)] = hand_sql(
        built_example,
        f"with {VALID_LEADS}, {MQL_V1} select "
        "(select count(*) from valid where created_at >= '2026-04-01' and created_at < '2026-07-01'), "
        "(select count(*) from mql where qualified_at >= '2026-04-01' and qualified_at < '2026-07-01')",
    )
    assert period == "2026-04-01"
    assert (leads, mqls) == (hand_leads, hand_mqls) and hand_mqls > 5
    assert rate == pytest.approx(hand_mqls / hand_leads, rel=1e-12)


def test_the_sql_when_asked_is_what_ran(server: Server, built_example: Path) -> None:
    request = {"metrics": ["pipeline", "opportunities"], "by": ["lead__channel"], "grain": "quarter"}
    answer = ok(server.query(**request, sql=True))
    assert answer["sql"].lstrip().upper().startswith("WITH")
    con = duckdb.connect(str(built_example / "warehouse.duckdb.serving" / "current.duckdb"), read_only=True)
    try:
        again = con.execute(answer["sql"]).fetchall()
    finally:
        con.close()
    as_json = [
        [v.isoformat() if isinstance(v, date) else float(v) if hasattr(v, "as_tuple") else v for v in row]
        for row in again
    ]
    assert answer["rows"] == as_json and len(as_json) > 10
    pipeline = [row[2] for row in answer["rows"] if row[2]]
    assert pipeline and all(isinstance(v, (int, float)) for v in pipeline)  # DECIMAL sums are JSON numbers


def test_compare_adds_the_comparison_columns(server: Server) -> None:
    answer = ok(server.query(metrics=["leads"], grain="quarter", compare="previous"))
    assert answer["columns"] == ["period_start", "leads", "leads__previous", "leads__change"]
    assert answer["units"] == {"leads": "count", "leads__previous": "count", "leads__change": "percent"}
    rows = answer["rows"]
    assert [row[2] for row in rows[1:]] == [row[1] for row in rows[:-1]]


@pytest.mark.parametrize(
    ("where", "code", "says"),
    [
        ("md5(lead__channel) = 'x'", "KF412", "function"),
        ("lead__channel in (select channel from raw.leads)", "KF120", "not a statement or a subquery"),
        ("email = 'a@b.c'", "KF410", "'email' is not a dimension"),
        ("t.lead__channel = 'x'", "KF412", "qualified column"),
        ("lead__channel = '" + "x" * 2100 + "'", "KF412", "characters long"),
    ],
)
def test_a_refused_where_filter_is_400_with_its_code(server: Server, where: str, code: str, says: str | None) -> None:
    error = refused(server.query(metrics=["leads"], where=where), 400, code)
    assert says is None or says in error["message"]


def test_unknown_metric_is_400_with_a_did_you_mean(server: Server) -> None:
    error = refused(server.query(metrics=["leads", "lead_to_mql_rat"]), 400, "KF104")
    assert (
        "unknown metric 'lead_to_mql_rat'" in error["message"]
        and "did you mean 'lead_to_mql_rate'?" in error["message"]
    )
    error = refused(server.query(metrics=["zzzz"]), 400, "KF104")
    assert error["hint"] and error["hint"].startswith("known metrics:")
    refused(server.query(metrics=[]), 400, "KF401")
    refused(server.query(metrics=["leads"], grain="decade"), 400, "KF402")
    refused(server.query(metrics=["leads"], by=["colour"]), 400, "KF410")


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"metrics": "leads"}, "metrics: Input should be a valid array"),
        ({"metric": ["leads"]}, "metrics: Field required"),
        ({"metrics": ["leads"], "start": "2026-02-30"}, "start:"),
        ({"metrics": ["leads"], "start": "01/02/2026"}, "start:"),
        ({"metrics": ["leads"], "sql": "yes"}, "sql:"),
        ({"metrics": ["leads"], "top": 5}, "top: Extra inputs are not permitted"),
        ([1, 2], "Input should be an object"),
    ],
)
def test_a_malformed_body_is_422(server: Server, body: Any, says: str) -> None:
    error = refused(_post(server, json.dumps(body)), 422, "KF971")
    assert says in error["message"]


def _post(server: Server, content: str | bytes) -> httpx.Response:
    with server.client() as client:
        return client.post("/v1/query", content=content, headers={"content-type": "application/json"})


def test_a_body_that_is_not_json_empty_or_too_large(server: Server) -> None:
    assert "Invalid JSON" in refused(_post(server, "metrics=leads"), 422, "KF971")["message"]
    assert "empty" in refused(_post(server, ""), 422, "KF971")["message"]
    huge = json.dumps({"metrics": ["leads"], "where": "x" * 1_100_000})
    refused(_post(server, huge), 413, "KF971")


# --- authentication, unknown paths ---------------------------------------------------------------------------


def test_with_a_token_every_request_needs_it(server: Server) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": TOKEN},
        {"Authorization": f"Basic {TOKEN}"},
    ):
        for method, path in (("GET", "/v1/metrics"), ("GET", "/openapi.json"), ("POST", "/v1/query"), ("GET", "/nope")):
            response = httpx.request(method, server.url + path, headers=headers, json={"metrics": ["leads"]})
            error = refused(response, 401, "KF972")
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert TOKEN not in error["message"] + (error["hint"] or "")
    response = httpx.get(server.url + "/v1/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert httpx.get(server.url + "/v1/metrics", headers={"Authorization": f"bearer  {TOKEN}"}).status_code == 200


def test_unknown_paths_and_methods_are_json_errors(server: Server) -> None:
    error = refused(server.get("/v1/nothing"), 404, "KF973")
    assert "/v1/nothing" in error["message"]
    with server.client() as client:
        response = client.get("/v1/query")
        refused(response, 405, "KF973")
        assert response.headers["allow"] == "POST"
        refused(client.delete("/v1/metrics"), 405, "KF973")
    error = refused(server.get("/v1/metrics", limit=3), 422, "KF971")
    assert "unknown parameter 'limit'" in error["message"]


def test_on_loopback_without_a_token_no_header_is_needed(built_example: Path, tmp_path: Path) -> None:
    running = start_server(built_example, tmp_path, None)
    try:
        response = httpx.get(running.url + "/v1/metrics")
        assert response.status_code == 200 and len(response.json()["metrics"]) > 30
    finally:
        stop(running)


def test_the_server_refuses_to_listen_on_every_address_without_a_token(tmp_path: Path) -> None:
    port = free_port()
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", SERVE, "--project-dir", str(tmp_path), "--host", "0.0.0.0", "--http-port", str(port)],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment(None),
    )
    assert done.returncode == 1, done.stderr
    assert "error[KF970]: --host 0.0.0.0 accepts connections from other machines" in done.stderr
    assert f"hint: set {TOKEN_VARIABLE}" in done.stderr and "Traceback" not in done.stderr
    assert time.monotonic() - started < 60
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/v1/metrics", timeout=2)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("example.org", False),
        ("", False),
    ],
)
def test_which_hosts_are_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    require_token_off_loopback(host, "a-token")  # with a token any address is allowed
    if loopback:
        require_token_off_loopback(host, None)
    else:
        with pytest.raises(KpiframeError, match="KPIFRAME_SERVE_TOKEN is not set") as raised:
            require_token_off_loopback(host, None)
        assert raised.value.diagnostic.code == "KF970"


def test_the_command_registers_on_a_group_and_says_what_it_does() -> None:
    @click.group()
    def group() -> None:
        pass

    serve_commands.register(group)
    result = CliRunner().invoke(group, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--project-dir", "--warehouse", "--host", "--http-port", "8765", "127.0.0.1", TOKEN_VARIABLE):
        assert option in result.output
    assert serve_commands.TOKEN_VARIABLE == TOKEN_VARIABLE
    result = CliRunner().invoke(group, ["serve", "--host", "0.0.0.0"], env={TOKEN_VARIABLE: ""})
    assert result.exit_code == 1 and "error[KF970]" in result.stderr


# --- GET /v1/status, GET /v1/funnels/{name} ------------------------------------------------------------------


def test_status_is_what_the_cli_prints(server: Server, built_example: Path) -> None:
    project = ["--project-dir", str(built_example), "--warehouse", str(built_example / "warehouse.duckdb")]
    report = ok(server.get("/v1/status"))
    assert report["rows"] == cli("status", *project, "--format", "json")
    assert report["tree"] == "marketing_pipeline" and report["scenario"] == "plan"
    assert report["as_of"] == "2026-11-20"  # the demo data's last day
    assert {row["as_of"] for row in report["rows"]} == {"2026-11-20"}
    assert len(report["rows"]) > 8 and {"kgi", "kpi", "driver"} <= {row["role"] for row in report["rows"]}

    dated = ok(server.get("/v1/status", as_of="2026-05-15", scenario="plan"))
    assert dated["rows"] == cli("status", *project, "--as-of", "2026-05-15", "--format", "json")
    assert dated["as_of"] == "2026-05-15"

    # a past period: as of its last day; each node in its own grain's period
    month = ok(server.get("/v1/status", period="2026-08"))
    assert month["as_of"] == "2026-08-31"
    assert month["rows"] == cli("status", *project, "--as-of", "2026-08-31", "--format", "json")
    periods = {row["metric"]: row["period"] for row in month["rows"]}
    assert periods["leads"] == "2026-08" and periods["pipeline"] == "2026-Q3"
    # the current period: as of the last day with data
    assert ok(server.get("/v1/status", period="2026-Q4"))["rows"] == report["rows"]


def test_status_refusals(server: Server) -> None:
    refused(server.get("/v1/status", period="2027-01"), 400, "KF974")
    refused(server.get("/v1/status", period="2026-13"), 400, "KF855")
    refused(server.get("/v1/status", tree="nope"), 400, "KF840")
    refused(server.get("/v1/status", scenario="dream"), 400, "KF844")
    refused(server.get("/v1/status", as_of="yesterday"), 422, "KF971")
    refused(server.get("/v1/status", as_of="2026-05-01", period="2026-05"), 422, "KF971")
    error = refused(server.get("/v1/status", **{"as-of": "2026-05-01"}), 422, "KF971")
    assert "did you mean 'as_of'?" in error["message"]
    with server.client() as client:
        refused(client.get("/v1/status?tree=a&tree=b"), 422, "KF971")


def test_a_funnel_is_what_the_cli_prints(server: Server, built_example: Path) -> None:
    project = ["--project-dir", str(built_example), "--warehouse", str(built_example / "warehouse.duckdb")]
    whole = ok(server.get("/v1/funnels/lead_funnel"))
    assert whole == cli("funnel", "lead_funnel", *project, "--format", "json")
    assert whole["funnel"] == "lead_funnel" and whole["bottleneck"] is not None
    stages = [row["stage"] for row in whole["rows"][:6]]
    assert stages == ["lead", "mql", "sales_accepted", "sales_qualified", "opportunity", "won"]

    with server.client() as client:
        response = client.get(
            "/v1/funnels/lead_funnel?by=channel&by=country&grain=quarter&start=2025-04-01&end=2025-12-31&order=independent"
        )
    narrowed = ok(response)
    assert narrowed == cli(
        "funnel",
        "lead_funnel",
        *project,
        *("--by", "channel", "--by", "country", "--cohort", "quarter"),
        *("--start", "2025-04-01", "--end", "2025-12-31", "--order", "independent", "--format", "json"),
    )
    assert {row["cohort_start"] for row in narrowed["rows"]} == {"2025-04-01", "2025-07-01", "2025-10-01"}
    assert narrowed["order"] == "independent" and {"channel", "country"} <= set(narrowed["rows"][0])
    # cohorts counted by hand: valid leads created in the quarter
    entered = sum(r["entities"] for r in narrowed["rows"] if r["stage"] == "lead" and r["cohort_start"] == "2025-07-01")
    by_hand = leads_by_month(built_example)
    assert entered == sum(by_hand.get(f"2025-{m:02d}-01", 0) for m in (7, 8, 9))


def test_funnel_refusals(server: Server) -> None:
    error = refused(server.get("/v1/funnels/lead_funel"), 400, "KF921")
    assert "did you mean 'lead_funnel'?" in error["message"]
    refused(server.get("/v1/funnels/lead_funnel", by="colour"), 400, "KF922")
    refused(server.get("/v1/funnels/lead_funnel", order="sideways"), 400, "KF922")
    refused(server.get("/v1/funnels/lead_funnel", grain="decade"), 400, "KF402")
    refused(server.get("/v1/funnels/lead_funnel", start="2025-13-01"), 422, "KF971")


# --- GET /openapi.json ---------------------------------------------------------------------------------------


def test_the_openapi_document_is_valid_and_describes_every_route(make_project: Callable[..., Path]) -> None:
    document = openapi_document("shop")
    validate_openapi(document)  # raises on an invalid OpenAPI 3.1 document
    assert document["openapi"].startswith("3.1")
    app = create_app(Project.load(make_project(rows=False)))
    routes = {
        (route.path, method.lower())
        for route in app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert routes == documented
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert operation["operationId"] and "200" in operation["responses"], (path, method)
            parameters = {p["name"] for p in operation.get("parameters", [])}
            assert set(re.findall(r"{(\w+)}", path)) <= parameters, path
    assert {p["name"] for p in document["paths"]["/v1/status"]["get"]["parameters"]} == {
        "tree",
        "as_of",
        "period",
        "scenario",
    }


def schema_validator(document: dict[str, Any], name: str) -> OAS31Validator:
    return OAS31Validator({"$ref": f"#/components/schemas/{name}", "components": document["components"]})


def test_responses_have_the_documented_shapes(server: Server) -> None:
    document = ok(server.get("/openapi.json"))
    validate_openapi(document)
    assert document["info"]["title"] == "kpiframe HTTP API: acme_revenue"
    checks = [
        ("MetricCatalog", server.get("/v1/metrics")),
        ("QueryResult", server.query(metrics=["leads", "lead_to_mql_rate"], by=["lead__channel"], sql=True)),
        ("QueryResult", server.query(metrics=["pipeline"], grain="quarter", compare="year")),
        ("StatusReport", server.get("/v1/status")),
        ("FunnelReport", server.get("/v1/funnels/lead_funnel", by="channel")),
        ("Error", server.query(metrics=["nope"])),
        ("Error", server.get("/v1/status", period="x")),
        ("Error", httpx.get(server.url + "/v1/metrics")),
    ]
    for name, response in checks:
        schema_validator(document, name).validate(response.json())
    # the schema rejects what it should: it is not a schema that accepts anything
    with pytest.raises(Exception, match="is not valid|required property|Additional properties"):
        schema_validator(document, "StatusReport").validate({"rows": []})
    row = ok(server.get("/v1/status"))["rows"][0]
    assert set(row) == set(document["components"]["schemas"]["StatusRow"]["required"])
    with pytest.raises(Exception, match="not valid|Additional properties"):
        schema_validator(document, "StatusRow").validate({**row, "surprise": 1})


def test_concurrent_requests_answer_as_sequential_ones(server: Server) -> None:
    """Requests run in a thread pool, each with its own reader connection: no answer depends on another."""
    asks: list[tuple[str, str, Any]] = [
        ("POST", "/v1/query", {"metrics": ["leads", "lead_to_mql_rate", "pipeline"], "by": ["lead__channel"]}),
        ("POST", "/v1/query", {"metrics": ["mqls", "cost_per_mql"], "grain": "week", "compare": "year"}),
        ("GET", "/v1/status", None),
        ("GET", "/v1/funnels/lead_funnel", None),
        ("POST", "/v1/query", {"metrics": ["leds"]}),
    ]

    def call(ask: tuple[str, str, Any]) -> tuple[int, Any]:
        method, path, body = ask
        with server.client() as client:
            response = client.request(method, path, json=body)
        return response.status_code, response.json()

    alone = [call(ask) for ask in asks]
    with ThreadPoolExecutor(max_workers=len(asks) * 3) as pool:
        together = list(pool.map(call, asks * 3))
    assert together == alone * 3
    assert [status for status, _ in alone] == [200, 200, 200, 200, 400]


# --- builds go on while the server serves --------------------------------------------------------------------


def test_twenty_clients_during_a_build_get_complete_old_or_new_answers(built_example: Path, tmp_path: Path) -> None:
    root = tmp_path / "example"
    shutil.copytree(built_example, root, symlinks=True)
    running = start_server(root, tmp_path, TOKEN)
    try:
        before = {p: n for p, n in ok(running.query(metrics=["leads"]))["rows"]}
        con = duckdb.connect(str(root / "warehouse.duckdb"))  # the server never holds the warehouse file
        try:
            con.execute(
                "insert into raw.leads select * replace ('copy_' || lead_id as lead_id) from raw.leads "
                "where created_at >= '2025-03-01' and created_at < '2025-04-01' and email like '%@%'"
            )
        finally:
            con.close()
        answers: list[tuple[int, dict[str, int]]] = []
        stop_asking = threading.Event()

        def ask() -> None:  # one BI client, asking again as soon as it has its answer
            with running.client() as client:
                while not stop_asking.is_set():
                    response = client.post("/v1/query", json={"metrics": ["leads"]})
                    rows = response.json().get("rows", []) if response.status_code == 200 else []
                    answers.append((response.status_code, {p: n for p, n in rows}))

        clients = [threading.Thread(target=ask) for _ in range(20)]
        for client in clients:
            client.start()
        try:
            Project.load(root, warehouse=str(root / "warehouse.duckdb")).build()
            time.sleep(1.0)  # requests after the build
        finally:
            stop_asking.set()
            for client in clients:
                client.join(timeout=120)
        after = {p: n for p, n in ok(running.query(metrics=["leads"]))["rows"]}
        assert {p: n for p, n in after.items() if n} == leads_by_month(root)
        assert after["2025-03-01"] > before["2025-03-01"]
        assert {p: n for p, n in after.items() if p != "2025-03-01"} == {
            p: n for p, n in before.items() if p != "2025-03-01"
        }
        # 20 clients through the whole build: no error, every answer the old build or the new one, entire
        assert answers and {status for status, _ in answers} == {200}
        assert all(rows in (before, after) for _, rows in answers)
        assert any(rows == before for _, rows in answers) and any(rows == after for _, rows in answers)
    finally:
        stop(running)


# --- failures of kpiframe itself -----------------------------------------------------------------------------


def test_an_internal_error_is_500_without_the_traceback(
    make_project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    project = Project.load(make_project(rows=False))

    def broken(**request: object) -> None:
        raise RuntimeError("secret detail /srv/private/path")

    monkeypatch.setattr(project, "query", broken)
    app = create_app(project, TOKEN)
    response = in_process(
        app, "POST", "/v1/query", json={"metrics": ["orders"]}, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "KF999", "message": "internal error", "hint": "the server's log has the details"}
    }
    assert "secret" not in response.text and "Traceback" not in response.text
    assert "secret detail" in caplog.text  # the log has it


def test_dates_decimals_and_non_finite_numbers_in_json() -> None:
    from decimal import Decimal

    from kpiframe.serve.http import jsonable

    value = {
        "d": date(2026, 1, 2),
        "n": Decimal("12.50"),
        "f": float("nan"),
        "i": float("inf"),
        "rows": [(date(2026, 1, 1) + timedelta(days=1), 3, None, True)],
    }
    assert jsonable(value) == {
        "d": "2026-01-02",
        "n": 12.5,
        "f": None,
        "i": None,
        "rows": [["2026-01-02", 3, None, True]],
    }
