"""Benchmarks (c) and (d): build the example project on ~10M web sessions, against hand-written DuckDB SQL.

Run: .venv/bin/python bench/bench_build.py [--scale 50] [--repeat 3] [--keep DIR] [--write]

One run generates the demo data once (`kpiframe demo --scale S`), then on that same DuckDB file:
  * kpiframe: `Project.load(copy, warehouse=path).build()` in a fresh subprocess;
  * hand: the models' own SQL (Jinja rendered here by regex) plus hand-written SQL for every published
    table, into the schemas analytics_hand and metrics_hand, in a fresh subprocess too;
alternating (kpiframe, hand, kpiframe, hand, ...), `--repeat` times each; the medians give the ratio.
Each hand-written table must equal kpiframe's (EXCEPT ALL both ways, numbers rounded to 6 decimals).
Then both sides run once more with the warehouse's memory limit at 1 GB, so DuckDB has to spill.
Peak RSS is the subprocess's own ru_maxrss (os.wait4); spill is the peak size of `<warehouse>.tmp`.
Every subprocess imports one snapshot of kpiframe/ taken at the start, so all runs measure the same code.
With --write, the printed Markdown replaces the "## Build" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "benchmarks.md"
RAW_TABLES = ("ad_spend", "web_sessions", "leads", "lead_activities", "email_sends", "lead_status_changes",
              "opportunities")
MEMORY_LIMIT = "1GB"
RATIO_TARGET = 1.2

# --- the hand-written side -----------------------------------------------------------------------------------
# The models in dependency order (checked against models/ at start-up).
MODEL_ORDER = ("stg_ad_spend", "stg_web_sessions", "stg_leads", "stg_lead_activities", "stg_email_sends",
               "stg_lead_status_changes", "stg_opportunities", "mql_v1", "sql_leads", "funnel_lead_stages")
A = "analytics_hand"


def funnel_table(grain: str) -> str:
    """marketing_<grain>ly: per period and lead channel, leads, MQLs, their rate, opportunities, pipeline."""
    return f"""
with leads as (
    select date_trunc('{grain}', created_at)::date as period_start, channel as lead__channel,
           count(lead_id) as leads
    from {A}.stg_leads where created_at is not null group by all
), mqls as (
    select date_trunc('{grain}', m.qualified_at)::date as period_start, l.channel as lead__channel,
           count(m.lead_id) as mqls
    from {A}.mql_v1 as m left join {A}.stg_leads as l on m.lead_id = l.lead_id
    where m.qualified_at is not null group by all
), opportunities as (
    select date_trunc('{grain}', o.created_at)::date as period_start, l.channel as lead__channel,
           count(o.opportunity_id) as opportunities,
           sum(o.amount) filter (where o.is_marketing_sourced) as pipeline
    from {A}.stg_opportunities as o left join {A}.stg_leads as l on o.valid_lead_id = l.lead_id
    where o.created_at is not null group by all
), stacked as (
    select period_start, lead__channel, leads, null as mqls, null as opportunities, null as pipeline from leads
    union all select period_start, lead__channel, null, mqls, null, null from mqls
    union all select period_start, lead__channel, null, null, opportunities, pipeline from opportunities
), summed as (
    select period_start, lead__channel, coalesce(sum(leads), 0) as leads, coalesce(sum(mqls), 0) as mqls,
           coalesce(sum(opportunities), 0) as opportunities, coalesce(sum(pipeline), 0) as pipeline
    from stacked group by period_start, lead__channel
)
select period_start, lead__channel, leads, mqls, mqls / nullif(leads, 0) as lead_to_mql_rate,
       opportunities, pipeline
from summed order by period_start, lead__channel nulls last"""


def sales_table(grain: str) -> str:
    """sales_<grain>ly: per period and lead channel, SQLs, opportunities, pipeline, deals, bookings."""
    return f"""
with sqls as (
    select date_trunc('{grain}', s.qualified_at)::date as period_start, l.channel as lead__channel,
           count(s.lead_id) as sqls
    from {A}.sql_leads as s left join {A}.stg_leads as l on s.lead_id = l.lead_id
    where s.qualified_at is not null group by all
), created as (
    select date_trunc('{grain}', o.created_at)::date as period_start, l.channel as lead__channel,
           count(o.opportunity_id) as opportunities,
           sum(o.amount) filter (where o.is_marketing_sourced) as pipeline
    from {A}.stg_opportunities as o left join {A}.stg_leads as l on o.valid_lead_id = l.lead_id
    where o.created_at is not null group by all
), closed as (
    select date_trunc('{grain}', o.closed_at)::date as period_start, l.channel as lead__channel,
           count(o.opportunity_id) filter (where o.is_won) as won_deals,
           sum(o.amount) filter (where o.is_won) as bookings,
           count(o.opportunity_id) as closed_deals
    from {A}.stg_opportunities as o left join {A}.stg_leads as l on o.valid_lead_id = l.lead_id
    where o.closed_at is not null and o.is_won is not null group by all
), stacked as (
    select period_start, lead__channel, sqls, null as opportunities, null as pipeline, null as won_deals,
           null as bookings, null as closed_deals from sqls
    union all select period_start, lead__channel, null, opportunities, pipeline, null, null, null from created
    union all select period_start, lead__channel, null, null, null, won_deals, bookings, closed_deals from closed
), summed as (
    select period_start, lead__channel, coalesce(sum(sqls), 0) as sqls,
           coalesce(sum(opportunities), 0) as opportunities, coalesce(sum(pipeline), 0) as pipeline,
           coalesce(sum(won_deals), 0) as won_deals, coalesce(sum(bookings), 0) as bookings,
           coalesce(sum(closed_deals), 0) as closed_deals
    from stacked group by period_start, lead__channel
)
select period_start, lead__channel, sqls, opportunities, pipeline, won_deals, bookings,
       won_deals / nullif(closed_deals, 0) as win_rate, bookings / nullif(won_deals, 0) as avg_deal_size
from summed order by period_start, lead__channel nulls last"""


OVERVIEW = f"""
with ads as (
    select date_trunc('month', date)::date as period_start, sum(spend) as ad_spend,
           sum(impressions) as impressions, sum(clicks) as clicks
    from {A}.stg_ad_spend where date is not null group by all
), sessions as (
    select date_trunc('month', started_at)::date as period_start, count(distinct session_id) as sessions,
           count(distinct session_id) filter (where converted) as converted_sessions
    from {A}.stg_web_sessions where started_at is not null group by all
), leads as (
    select date_trunc('month', created_at)::date as period_start, count(lead_id) as leads
    from {A}.stg_leads where created_at is not null group by all
), mqls as (
    select date_trunc('month', qualified_at)::date as period_start, count(lead_id) as mqls
    from {A}.mql_v1 where qualified_at is not null group by all
), paid_bookings as (
    select date_trunc('month', o.closed_at)::date as period_start, sum(o.amount) as paid_bookings
    from {A}.stg_opportunities as o left join {A}.stg_leads as l on o.valid_lead_id = l.lead_id
    where o.closed_at is not null and o.is_won and l.channel in ('paid_search', 'paid_social') group by all
), emails as (
    select date_trunc('month', sent_at)::date as period_start, count(send_id) as delivered,
           count(send_id) filter (where opened_at is not null) as opened,
           count(send_id) filter (where clicked_at is not null) as clicked
    from {A}.stg_email_sends where sent_at is not null and not bounced group by all
), webinars as (
    select date_trunc('month', occurred_at)::date as period_start,
           count(activity_id) filter (where activity_type = 'webinar_register') as registrations,
           count(activity_id) filter (where activity_type = 'webinar_attend') as attendees
    from {A}.stg_lead_activities
    where occurred_at is not null and activity_type in ('webinar_register', 'webinar_attend') group by all
), stacked as (
    select period_start, ad_spend, impressions, clicks, null as sessions, null as converted_sessions,
           null as leads, null as mqls, null as paid_bookings, null as delivered, null as opened,
           null as clicked, null as registrations, null as attendees from ads
    union all select period_start, null, null, null, sessions, converted_sessions, null, null, null, null, null,
           null, null, null from sessions
    union all select period_start, null, null, null, null, null, leads, null, null, null, null, null, null, null
           from leads
    union all select period_start, null, null, null, null, null, null, mqls, null, null, null, null, null, null
           from mqls
    union all select period_start, null, null, null, null, null, null, null, paid_bookings, null, null, null,
           null, null from paid_bookings
    union all select period_start, null, null, null, null, null, null, null, null, delivered, opened, clicked,
           null, null from emails
    union all select period_start, null, null, null, null, null, null, null, null, null, null, null,
           registrations, attendees from webinars
), m as (
    select period_start, coalesce(sum(ad_spend), 0) as ad_spend, coalesce(sum(impressions), 0) as impressions,
           coalesce(sum(clicks), 0) as clicks, coalesce(sum(sessions), 0) as sessions,
           coalesce(sum(converted_sessions), 0) as converted_sessions, coalesce(sum(leads), 0) as leads,
           coalesce(sum(mqls), 0) as mqls, coalesce(sum(paid_bookings), 0) as paid_bookings,
           coalesce(sum(delivered), 0) as delivered, coalesce(sum(opened), 0) as opened,
           coalesce(sum(clicked), 0) as clicked, coalesce(sum(registrations), 0) as registrations,
           coalesce(sum(attendees), 0) as attendees
    from stacked group by period_start
)
select period_start, ad_spend, impressions, clicks, clicks / nullif(impressions, 0) as ctr,
       ad_spend / nullif(clicks, 0) as cpc, sessions, converted_sessions / nullif(sessions, 0) as session_cvr,
       leads, mqls, mqls / nullif(leads, 0) as lead_to_mql_rate, ad_spend / nullif(leads, 0) as cost_per_lead,
       ad_spend / nullif(mqls, 0) as cost_per_mql, paid_bookings / nullif(ad_spend, 0) as paid_roas,
       opened / nullif(delivered, 0) as email_open_rate, clicked / nullif(delivered, 0) as email_click_rate,
       clicked / nullif(opened, 0) as email_ctor, attendees / nullif(registrations, 0) as webinar_attendance_rate
from m order by period_start"""

AD_PERFORMANCE = f"""
select date_trunc('month', date)::date as period_start, channel as ad__channel, sum(spend) as ad_spend,
       sum(impressions) as impressions, sum(clicks) as clicks,
       sum(clicks) / nullif(sum(impressions), 0) as ctr, sum(spend) / nullif(sum(clicks), 0) as cpc
from {A}.stg_ad_spend where date is not null
group by all order by period_start, ad__channel nulls last"""

HAND_TABLES = {
    "marketing_monthly": funnel_table("month"), "marketing_weekly": funnel_table("week"),
    "marketing_overview_monthly": OVERVIEW, "ad_performance_monthly": AD_PERFORMANCE,
    "sales_monthly": sales_table("month"), "sales_weekly": sales_table("week"),
}


def project_vars(project: Path) -> dict[str, object]:
    from ruamel.yaml import YAML

    return dict(YAML(typ="safe").load((project / "kpi_project.yml").read_text())["vars"])


def render_model(sql: str, variables: dict[str, object]) -> str:
    """The model's Jinja rendered by hand: ref('x') -> analytics_hand.x, source('raw', 't') -> raw.t."""
    sql = re.sub(r"\{\{\s*ref\(\s*['\"](\w+)['\"]\s*\)\s*\}\}", rf"{A}.\1", sql)
    sql = re.sub(r"\{\{\s*source\(\s*['\"]raw['\"]\s*,\s*['\"](\w+)['\"]\s*\)\s*\}\}", r"raw.\1", sql)
    sql = re.sub(r"\{\{\s*var\(\s*['\"](\w+)['\"]\s*\)\s*\}\}", lambda m: str(variables[m.group(1)]), sql)
    assert "{{" not in sql and "{%" not in sql, f"unrendered Jinja left in:\n{sql}"
    return sql


def hand_statements(project: Path) -> list[str]:
    """Every CREATE statement of the hand-written build, models first (in DAG order), then the tables."""
    files = {p.stem: p for p in (project / "models").rglob("*.sql")}
    assert set(files) == set(MODEL_ORDER), f"models changed: {sorted(files)}"
    variables = project_vars(project)
    statements = ["create schema if not exists analytics_hand", "create schema if not exists metrics_hand"]
    for name in MODEL_ORDER:
        body = render_model(files[name].read_text(), variables)
        statements.append(f"create or replace table {A}.{name} as\n{body}")
    for name, body in HAND_TABLES.items():
        statements.append(f"create or replace table metrics_hand.{name} as\n{body}")
    return statements


# --- workers: each build runs alone in a fresh interpreter -----------------------------------------------------
def rss_now_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def worker_kpiframe(project: Path, warehouse: str) -> dict[str, object]:
    import logging

    from kpiframe.project import Project

    logging.getLogger("sqlglot").setLevel(logging.ERROR)  # as the CLI does
    before = rss_now_kb()
    started = time.perf_counter()
    result = Project.load(project, warehouse=warehouse).build()
    return {"seconds": time.perf_counter() - started, "rss_before_kb": before, "rows": result.rows}


def worker_hand(project: Path, warehouse: str, memory_limit: str | None) -> dict[str, object]:
    import duckdb

    statements = hand_statements(project)
    before = rss_now_kb()
    started = time.perf_counter()
    con = duckdb.connect(warehouse, config={"memory_limit": memory_limit} if memory_limit else {})
    for statement in statements:
        con.execute(statement)
    con.close()
    return {"seconds": time.perf_counter() - started, "rss_before_kb": before}


@dataclass
class Run:
    side: str
    seconds: float  # the build inside the worker (kpiframe: load + build; hand: connect + SQL + close)
    wall: float  # the whole subprocess, interpreter start and imports included
    peak_rss_mb: float
    base_rss_mb: float  # RSS after imports, before the build
    spill_mb: float  # peak size of DuckDB's temp directory
    rows: dict[str, int]


def dir_size(path: Path) -> int:
    if not path.exists():
        return 0
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def run_worker(side: str, project: Path, warehouse: Path, memory_limit: str | None, log: Path,
               env: dict[str, str]) -> Run:
    """Run one build in a subprocess; wait4 gives that process's own peak RSS."""
    args = [sys.executable, __file__, "--worker", side, "--project", str(project), "--warehouse", str(warehouse)]
    if memory_limit:
        args += ["--memory-limit", memory_limit]
    out_path = log.with_suffix(".json")
    spill_dir, spill = Path(f"{warehouse}.tmp"), 0
    started = time.perf_counter()
    with out_path.open("w") as out, log.open("w") as err:
        process = subprocess.Popen(args, stdout=out, stderr=err, env=env)
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            spill = max(spill, dir_size(spill_dir))
            time.sleep(0.1)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{side} build failed (exit {process.returncode}); see {log}:\n{log.read_text()[-3000:]}")
    report = json.loads(out_path.read_text())
    return Run(side, report["seconds"], wall, usage.ru_maxrss / 1024, report["rss_before_kb"] / 1024,
               spill / 2**20, report.get("rows", {}))


# --- set-up and checks ----------------------------------------------------------------------------------------
def copy_project(target: Path, memory_limit: str | None) -> Path:
    """The example project (kpi_project.yml, models, macros, metrics) with an optional memory limit."""
    from ruamel.yaml import YAML

    target.mkdir(parents=True)
    for folder in ("models", "macros", "metrics"):
        shutil.copytree(REPO / folder, target / folder)
    yaml = YAML()
    config = yaml.load((REPO / "kpi_project.yml").read_text())
    if memory_limit:
        config["warehouse"]["memory_limit"] = memory_limit
    with (target / "kpi_project.yml").open("w") as handle:
        yaml.dump(config, handle)
    return target


def snapshot_code(root: Path, tries: int = 10) -> tuple[dict[str, str], str]:
    """Copy kpiframe/ once and put it first on PYTHONPATH, so every run imports the same code."""
    target = root / "src"
    for _ in range(tries):
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(REPO / "kpiframe", target / "kpiframe", ignore=shutil.ignore_patterns("__pycache__"))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(target), os.environ.get("PYTHONPATH")]))}
        probe = [sys.executable, "-c", "import kpiframe.project, kpiframe.cli.main"]
        if subprocess.run(probe, env=env, capture_output=True).returncode == 0:
            digest = hashlib.sha256()
            for path in sorted((target / "kpiframe").rglob("*.py")):
                digest.update(path.relative_to(target).as_posix().encode() + b"\0" + path.read_bytes())
            return env, digest.hexdigest()[:12]
        time.sleep(15)  # kpiframe/ is being edited: try again
    raise SystemExit("kpiframe/ does not import; cannot benchmark it")


def generate(project: Path, warehouse: Path, scale: float, env: dict[str, str]) -> tuple[float, dict[str, int]]:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "kpiframe.cli.main_entry", "demo", "--scale", str(scale),
                    "--project-dir", str(project), "--warehouse", str(warehouse)],
                   check=True, capture_output=True, env=env)
    seconds = time.perf_counter() - started
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        counts = {t: con.execute(f"select count(*) from raw.{t}").fetchone()[0] for t in RAW_TABLES}
    return seconds, counts


def published_tables(project: Path) -> list[str]:
    from ruamel.yaml import YAML

    names = []
    for path in sorted((project / "metrics").glob("*.yml")):
        names += [t["name"] for t in (YAML(typ="safe").load(path.read_text()) or {}).get("tables", [])]
    return names


def compared(schema: str, table: str, columns: list[tuple[str, str]]) -> str:
    """SELECT of a table with every number as a DOUBLE rounded to 6 decimals."""
    numeric = re.compile(r"^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UBIGINT|FLOAT|DOUBLE|DECIMAL.*)$")
    parts = [f'round("{c}"::double, 6) as "{c}"' if numeric.match(t) else f'"{c}"' for c, t in columns]
    return f"select {', '.join(parts)} from {schema}.{table}"


def check_equal(warehouse: Path, tables: list[str]) -> dict[str, int]:
    """Every hand-written table equals kpiframe's: same columns, same rows (EXCEPT ALL both ways)."""
    import duckdb

    rows = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for table in tables:
            query = ("select column_name, data_type from information_schema.columns "
                     "where table_schema = ? and table_name = ? order by ordinal_position")
            ours = con.execute(query, ["metrics", table]).fetchall()
            hand = con.execute(query, ["metrics_hand", table]).fetchall()
            assert [c for c, _ in ours] == [c for c, _ in hand], f"{table}: columns differ: {ours} vs {hand}"
            left, right = compared("metrics", table, ours), compared("metrics_hand", table, hand)
            for a, b in ((left, right), (right, left)):
                extra = con.execute(f"select count(*) from ({a} except all {b})").fetchone()[0]
                assert extra == 0, f"{table}: {extra} rows differ between kpiframe and hand-written SQL"
            rows[table] = con.execute(f"select count(*) from metrics.{table}").fetchone()[0]
    return rows


# --- the benchmark and its report ----------------------------------------------------------------------------
@dataclass
class Results:
    command: str
    code_hash: str
    generate_seconds: float
    raw_rows: dict[str, int]
    table_rows: dict[str, int]  # published tables, checked equal to the hand-written ones
    runs: list[Run]  # alternating kpiframe, hand
    limited: list[Run]  # kpiframe, hand at MEMORY_LIMIT

    def median(self, side: str, field: str) -> float:
        return statistics.median(getattr(r, field) for r in self.runs if r.side == side)

    def limited_run(self, side: str) -> Run:
        return next(r for r in self.limited if r.side == side)


def verdict(met: bool) -> str:
    return "met" if met else "**MISSED**"


def report_data(res: Results) -> list[str]:
    built = res.runs[0].rows
    return [
        f"`{res.command}`: one run, all figures from the same raw data and the same snapshot of kpiframe/ "
        f"(sha256 of its .py files {res.code_hash}).", "",
        f"Raw data: `kpiframe demo` wrote {sum(res.raw_rows.values()):,} rows in {res.generate_seconds:.1f} s:", "",
        "| raw table | rows |", "|---|---:|", *[f"| raw.{t} | {n:,} |" for t, n in res.raw_rows.items()], "",
        "Rows built by kpiframe: " + ", ".join(f"{k.split('.')[-1]} {v:,}" for k, v in built.items()) + ".", "",
    ]


def report_runs(res: Results) -> list[str]:
    ours, hand = res.median("kpiframe", "seconds"), res.median("hand", "seconds")
    wall_ratio = res.median("kpiframe", "wall") / res.median("hand", "wall")
    return [
        "Each build runs in a fresh Python subprocess, alternating kpiframe and hand-written. *Build s* is timed "
        "inside the subprocess: kpiframe `Project.load(dir, warehouse=path).build()` (parse, validate, compile, "
        "build every model and table beside the live ones, run the build's checks, swap all in one transaction, "
        "count rows, record the run); hand-written: `duckdb.connect` + the models' own SQL (Jinja rendered by "
        "hand) + hand-written SQL for the 6 published tables, each a CREATE OR REPLACE TABLE in analytics_hand "
        "or metrics_hand, + close. *Process s* is the subprocess's wall time, interpreter start and imports "
        "included. *Peak RSS* is the subprocess's ru_maxrss; *after imports* its RSS just before the build.", "",
        "| run | side | build s | process s | peak RSS MB | RSS after imports MB |", "|---:|---|---:|---:|---:|---:|",
        *[f"| {i // 2 + 1} | {r.side} | {r.seconds:.2f} | {r.wall:.2f} | {r.peak_rss_mb:,.0f} | "
          f"{r.base_rss_mb:,.0f} |" for i, r in enumerate(res.runs)], "",
        f"- **(c)** median build: kpiframe **{ours:.2f} s**, hand-written **{hand:.2f} s**, ratio "
        f"**{ours / hand:.2f}** (target ≤ {RATIO_TARGET}: {verdict(ours / hand <= RATIO_TARGET)}); ratio of the "
        f"median process times {wall_ratio:.2f}.",
        f"- Median peak RSS: kpiframe {res.median('kpiframe', 'peak_rss_mb'):,.0f} MB, hand-written "
        f"{res.median('hand', 'peak_rss_mb'):,.0f} MB (no memory limit set: DuckDB's default is 80 % of RAM).",
        "- Same results: every published table (" + ", ".join(f"{t} {n:,} rows" for t, n in res.table_rows.items())
        + ") equals its hand-written twin: same columns, EXCEPT ALL empty both ways with numbers rounded to 6 "
        "decimals; checked after these runs and again after the memory-limited ones.", "",
    ]


def report_limited(res: Results) -> list[str]:
    ours, hand = res.limited_run("kpiframe"), res.limited_run("hand")
    return [
        f"Memory-limited: `warehouse: {{memory_limit: {MEMORY_LIMIT}}}` in a copy of kpi_project.yml (hand-written: "
        f"the same `memory_limit` passed to `duckdb.connect`), one run each. *Spill* is the peak size of DuckDB's "
        "temp directory `<warehouse>.tmp`, sampled every 0.1 s.", "",
        "| side | completed | build s | process s | peak RSS MB | peak spill MB |", "|---|---|---:|---:|---:|---:|",
        *[f"| {r.side} | yes | {r.seconds:.2f} | {r.wall:.2f} | {r.peak_rss_mb:,.0f} | {r.spill_mb:,.0f} |"
          for r in res.limited], "",
        f"- **(d)** with a {MEMORY_LIMIT} limit the kpiframe build completed ({verdict(True)}) in "
        f"{ours.seconds:.2f} s with a peak RSS of {ours.peak_rss_mb:,.0f} MB, against {hand.seconds:.2f} s and "
        f"{hand.peak_rss_mb:,.0f} MB hand-written (ratio {ours.seconds / hand.seconds:.2f}).",
    ]


def report(res: Results) -> str:
    return "\n".join(["## Build", "", *report_data(res), *report_runs(res), *report_limited(res)]) + "\n"


def write_section(section: str) -> None:
    """Replace the '## Build' section of docs/benchmarks.md (up to the next '## ' heading), or append it."""
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    match = re.search(r"^## Build\n.*?(?=^## |\Z)", text, flags=re.M | re.S)
    if match:
        text = text[:match.start()] + section + ("\n" if match.end() < len(text) else "") + text[match.end():]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOC.write_text(text)


def benchmark(args: argparse.Namespace, root: Path) -> str:
    project, limited_project = copy_project(root / "project", None), copy_project(root / "limited", MEMORY_LIMIT)
    warehouse = root / "warehouse.duckdb"
    env, code_hash = snapshot_code(root)
    print(f"generating demo data at scale {args.scale:g} into {warehouse} ...", file=sys.stderr)
    gen_seconds, raw = generate(project, warehouse, args.scale, env)
    runs: list[Run] = []
    for index in range(args.repeat * 2):
        side = ("kpiframe", "hand")[index % 2]
        runs.append(run_worker(side, project, warehouse, None, root / f"run{index}_{side}.log", env))
        print(f"  {side}: {runs[-1].seconds:.2f} s, peak RSS {runs[-1].peak_rss_mb:,.0f} MB", file=sys.stderr)
    tables = published_tables(project)
    assert sorted(tables) == sorted(HAND_TABLES), f"published tables changed: {tables}"
    table_rows = check_equal(warehouse, tables)
    limited = [run_worker("kpiframe", limited_project, warehouse, None, root / "limited_kpiframe.log", env),
               run_worker("hand", project, warehouse, MEMORY_LIMIT, root / "limited_hand.log", env)]
    for run in limited:
        print(f"  {run.side} at {MEMORY_LIMIT}: {run.seconds:.2f} s, peak RSS {run.peak_rss_mb:,.0f} MB, "
              f"spill {run.spill_mb:,.0f} MB", file=sys.stderr)
    check_equal(warehouse, tables)
    command = f"python bench/bench_build.py --scale {args.scale:g} --repeat {args.repeat}"
    return report(Results(command, code_hash, gen_seconds, raw, table_rows, runs, limited))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=50.0, help="demo scale; 50 is about 10M web sessions")
    parser.add_argument("--repeat", type=int, default=3, help="builds per side, alternating")
    parser.add_argument("--keep", type=Path, help="work in DIR (new or empty) and keep it, instead of a temp dir")
    parser.add_argument("--write", action="store_true", help="replace the '## Build' section of docs/benchmarks.md")
    parser.add_argument("--worker", choices=("kpiframe", "hand"), help=argparse.SUPPRESS)
    parser.add_argument("--project", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--warehouse", help=argparse.SUPPRESS)
    parser.add_argument("--memory-limit", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "kpiframe":
        print(json.dumps(worker_kpiframe(args.project, args.warehouse)))
        return
    if args.worker == "hand":
        print(json.dumps(worker_hand(args.project, args.warehouse, args.memory_limit)))
        return
    if args.keep:
        section = benchmark(args, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="kpiframe-bench-") as tmp:
            section = benchmark(args, Path(tmp))
    print(section)
    if args.write:
        write_section(section)


if __name__ == "__main__":
    main()
