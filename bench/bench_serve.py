"""Issue 13 (7): how long a metric query takes through each way of asking, against hand-written SQL.

Run: .venv/bin/python bench/bench_serve.py [--scale 5] [--repeat 50] [--clients 20]

The example project is copied to a temporary folder, given demo data (`kpiframe demo --scale S`; 5 is
about a million web sessions) and built once. Then the same request, sessions and the session conversion
rate by session channel per month over the whole range (an aggregate over every web session), is timed:
  * hand-written SQL: one DuckDB connection to the serving snapshot, the SQL below, execute + fetch;
  * Python API: `Project.query(...)` in this process, the project loaded once (it compiles each time);
  * HTTP: `POST /v1/query` to `kpiframe serve` (uvicorn, started once) through one keep-alive httpx client;
  * CLI: `kpiframe query ...`, a fresh process each time (imports and project load included);
  * throughput: `--clients` threads each sending `--repeat` HTTP requests at once.
Each side's answer is checked equal to the hand-written SQL's before anything is timed. Figures are
medians, p95 and ranges in milliseconds, printed as Markdown with the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import duckdb
import httpx

REPO = Path(__file__).resolve().parents[1]
KPIFRAME = [sys.executable, "-m", "kpiframe.cli.main_entry"]
REQUEST = {"metrics": ["sessions", "session_cvr"], "by": ["session__channel"], "grain": "month"}
HAND_SQL = """
select date_trunc('month', started_at)::date as period_start, channel,
       count(distinct session_id) as sessions,
       count(distinct session_id) filter (where converted) / nullif(count(distinct session_id), 0) as cvr
from analytics.stg_web_sessions
group by 1, 2
order by 1, 2
"""


def prepare(scale: float) -> Path:
    root = Path(tempfile.mkdtemp(prefix="kf-bench-serve-"))
    for folder in ("metrics", "models", "macros"):
        shutil.copytree(REPO / folder, root / folder)
    for name in ("kpi_project.yml", "definitions.lock"):
        shutil.copy(REPO / name, root / name)
    for command in (["demo", "--scale", str(scale)], ["build"]):
        done = subprocess.run([*KPIFRAME, *command], cwd=root, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(done.stderr)
    return root


def timed(run: object, repeat: int) -> list[float]:
    assert callable(run)
    run()  # warm: the first call opens files and fills caches
    found = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        found.append((time.perf_counter() - started) * 1000)
    return found


def summary(ms: list[float]) -> str:
    ordered = sorted(ms)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"{statistics.median(ms):.1f} | {p95:.1f} | {ordered[0]:.1f}–{ordered[-1]:.1f}"


def same(rows: list[list[object]], hand: list[tuple[object, ...]]) -> bool:
    def norm(row: list[object] | tuple[object, ...]) -> tuple[object, ...]:
        return tuple(round(float(v), 9) if isinstance(v, float) else str(v) for v in row)

    nonzero = [r for r in rows if r[2]]  # the time spine adds months and channels with 0 sessions
    return sorted(map(norm, nonzero)) == sorted(map(norm, hand))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(root: Path) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    server = subprocess.Popen(
        [*KPIFRAME, "serve", "--http-port", str(port), "--log-level", "warning"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/v1/metrics", timeout=1).status_code == 200:
                return server, url
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit(f"kpiframe serve did not start: {server.stderr.read() if server.stderr else ''}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--clients", type=int, default=20)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from kpiframe.project import Project

    root = prepare(args.scale)
    snapshot = root / "warehouse.duckdb.serving" / "current.duckdb"
    # DuckDB refuses a second connection to a file with other settings in the same process: open the
    # hand-written side's connection with kpiframe's (extensions off), the SQL it runs is still by hand
    from kpiframe.engine.duckdb import DuckDBWarehouse
    from kpiframe.load.specs import WarehouseSpec

    con = DuckDBWarehouse(WarehouseSpec(path=str(snapshot)), read_only=True).con
    sessions = con.execute("select count(*) from raw.web_sessions").fetchone()
    hand = con.execute(HAND_SQL).fetchall()
    project = Project.load(root)
    api = project.query(metrics=REQUEST["metrics"], dimensions=REQUEST["by"], grain="month")
    assert same([list(r) for r in api.rows], hand), "the Python API and the hand-written SQL disagree"
    server, url = start_server(root)
    client = httpx.Client(base_url=url, timeout=60)
    try:
        answer = client.post("/v1/query", json=REQUEST).json()
        assert same(answer["rows"], hand), "the HTTP API and the hand-written SQL disagree"
        cli = [*KPIFRAME, "query", "--metric", "sessions", "--metric", "session_cvr", "--by", "session__channel"]
        results = {
            "hand-written SQL (DuckDB, one connection)": timed(lambda: con.execute(HAND_SQL).fetchall(), args.repeat),
            "Python API, `Project.query`": timed(
                lambda: project.query(metrics=REQUEST["metrics"], dimensions=REQUEST["by"], grain="month"),
                args.repeat,
            ),
            "HTTP, `POST /v1/query` (keep-alive)": timed(lambda: client.post("/v1/query", json=REQUEST), args.repeat),
            "CLI, `kpiframe query` (a new process each)": timed(
                lambda: subprocess.run(cli, cwd=root, capture_output=True, check=True), max(5, args.repeat // 5)
            ),
        }
        throughput, errors = load_test(url, args.clients, args.repeat)
    finally:
        client.close()
        server.terminate()
        server.wait(timeout=30)
        con.close()
    report(args, sessions[0] if sessions else 0, results, throughput, errors)
    shutil.rmtree(root, ignore_errors=True)


def load_test(url: str, clients: int, each: int) -> tuple[float, int]:
    errors: list[int] = []

    def one_client() -> None:
        with httpx.Client(base_url=url, timeout=120) as client:
            for _ in range(each):
                if client.post("/v1/query", json=REQUEST).status_code != 200:
                    errors.append(1)

    threads = [threading.Thread(target=one_client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return clients * each / (time.perf_counter() - started), len(errors)


def report(args: argparse.Namespace, sessions: int, results: dict[str, list[float]], rps: float, errors: int) -> None:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"`.venv/bin/python bench/bench_serve.py --scale {args.scale:g} --repeat {args.repeat}`: "
        f"{sessions:,} web sessions; {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, DuckDB {duckdb.__version__}; load average at the end {load}\n"
    )
    print("| way of asking | median ms | p95 ms | range ms |")
    print("|---|---|---|---|")
    for name, ms in results.items():
        print(f"| {name} | {summary(ms)} |")
    hand = statistics.median(next(iter(results.values())))
    http = statistics.median(results["HTTP, `POST /v1/query` (keep-alive)"])
    print(
        f"\nHTTP median / (hand-written median + 5 ms): {http / (hand + 5):.2f} (target for a cached plan "
        "over the PostgreSQL wire: ≤ 1.5)"
    )
    print(f"\nThroughput: {args.clients} HTTP clients × {args.repeat} requests: {rps:.1f} requests/s, {errors} errors")


if __name__ == "__main__":
    main()
