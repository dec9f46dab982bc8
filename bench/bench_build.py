"""Benchmarks (c) and (d): build the example project on ~10M web sessions, against hand-written DuckDB SQL.

Run: .venv/bin/python bench/bench_build.py [--scale 50] [--repeat 3] [--keep DIR] [--write]

The demo data is generated once (`kpiframe demo --scale S`); every build then runs on that same DuckDB
file, each in a fresh subprocess, the sides taking turns, `--repeat` times each:
  * kpiframe: `Project.load(copy, warehouse=path).build()` on a copy of the example project;
  * kpiframe, no expectations: the same on a copy without its `expectations:` (what the checks cost);
  * hand-written: the models' own SQL (Jinja rendered here by regex) plus SQL written by hand for what
    kpiframe generates from YAML (MQL definition versions, funnel) and for every published table, into
    the schemas analytics_hand and metrics_hand.
The medians give the ratios. Both sides must build the same tables, and each generated one must equal its
hand-written twin (EXCEPT ALL both ways, numbers rounded to 6 decimals). Then kpiframe and hand-written run
once more with the warehouse's memory limit at 1 GB, so DuckDB has to spill.
Peak RSS is the subprocess's own ru_maxrss (os.wait4); spill is the peak size of `<warehouse>.tmp`.
Every subprocess imports one snapshot of kpiframe/ taken at the start, so all runs measure the same code.
With --write, the printed Markdown replaces the "## Build" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import graphlib
import hashlib
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "benchmarks.md"
RAW_TABLES = (
    "ad_spend",
    "web_sessions",
    "leads",
    "lead_activities",
    "email_sends",
    "lead_status_changes",
    "opportunities",
)
MEMORY_LIMIT = "1GB"
RATIO_TARGET = 1.2
EXPECTATIONS_TARGET = 0.30  # issue 3 (8): the expectations' share of the build's time, at most

# --- the hand-written side -----------------------------------------------------------------------------------
# The models' own SQL (models/**/*.sql) is rendered by regex; what kpiframe generates from YAML (the MQL
# definition versions and the lead funnel) and every published table is written by hand below.
# As kpiframe builds them: the funnel has each stage's time in both orders (independent and strict) and
# its published tables count the strict one; every metric table has a time spine (every period from the
# first to the last with data, for every dimension combination in the data; counts and sums 0 there).
A = "analytics_hand"
FREE_MAIL = "('gmail.com', 'yahoo.com', 'hotmail.com', 'outlook.com')"
MQL_V1_POINTS = {
    "email_click": 5,
    "content_download": 10,
    "webinar_register": 5,
    "webinar_attend": 15,
    "pricing_page_view": 10,
    "demo_request": 40,
}
MQL_V2_POINTS = {**MQL_V1_POINTS, "email_click": 3, "webinar_attend": 20}
FUNNEL_WINDOW_DAYS = 180  # metrics/mql_definition.yml: lead_funnel's window_days


def mql_model(
    min_employees: int, window_days: int, points: dict[str, int], threshold: int = 40, sla_hours: int = 24
) -> str:
    """One MQL version: fit leads whose running activity score within the window reaches the threshold."""
    values = ", ".join(f"('{kind}', {value})" for kind, value in points.items())
    return f"""
with points (activity_type, points) as (values {values}),
fit_leads as (
    select lead_id, created_at from {A}.stg_leads
    where employee_count >= {min_employees} and not is_competitor and email_domain not in {FREE_MAIL}
), scored as (
    select l.lead_id, l.created_at as entered_at, a.occurred_at, a.activity_id,
           sum(p.points) over (partition by l.lead_id order by a.occurred_at, a.activity_id
                               rows between unbounded preceding and current row) as score
    from fit_leads as l
    join {A}.stg_lead_activities as a on a.lead_id = l.lead_id
    join points as p on p.activity_type = a.activity_type
    where a.occurred_at >= l.created_at and a.occurred_at < l.created_at + interval {window_days} day
), qualified as (
    select lead_id, occurred_at as qualified_at, score as score_at_qualification, entered_at
    from scored where score >= {threshold}
    qualify row_number() over (partition by lead_id order by occurred_at, activity_id) = 1
), accepted as (
    select q.*, min(s.changed_at) as accepted_at
    from qualified as q
    left join {A}.stg_lead_status_changes as s
        on s.lead_id = q.lead_id and s.status = 'sales_accepted' and s.changed_at >= q.qualified_at
    group by all
)
select *, date_diff('second', qualified_at, accepted_at) / 3600.0 as hours_to_accept,
       coalesce(date_diff('second', qualified_at, accepted_at) <= {sla_hours} * 3600, false) as accepted_within_sla
from accepted"""


MQL_MEMBERSHIP = f"""
select lead_id, 1 as version, qualified_at, score_at_qualification from {A}.mql_v1
union all
select lead_id, 2 as version, qualified_at, score_at_qualification from {A}.mql_v2"""


def within_window(column: str, days: int = FUNNEL_WINDOW_DAYS) -> str:
    return f"case when {column} >= l.created_at and {column} < l.created_at + interval {days} day then {column} end"


# Each funnel stage's events (entity_id, reached_at): every time a lead reached it.
FUNNEL_EVENTS = (
    f"select lead_id as entity_id, created_at as reached_at from {A}.stg_leads",
    f"select lead_id as entity_id, qualified_at as reached_at from {A}.mql_v1",
    f"select lead_id as entity_id, changed_at as reached_at from {A}.stg_lead_status_changes "
    "where status = 'sales_accepted'",
    f"select lead_id as entity_id, changed_at as reached_at from {A}.stg_lead_status_changes "
    "where status = 'sales_qualified'",
    f"select valid_lead_id as entity_id, created_at as reached_at from {A}.stg_opportunities",
    f"select valid_lead_id as entity_id, closed_at as reached_at from {A}.stg_opportunities where is_won",
)


def in_order_steps(days: int = FUNNEL_WINDOW_DAYS) -> str:
    """Strict order: step k keeps the leads of step k - 1 (every lead for k = 0) with a stage-k event at or
    after their step k - 1 time (entered_at for k = 0) and inside the window, at the earliest such event."""
    steps = []
    for k, events in enumerate(FUNNEL_EVENTS):
        previous, after = ("base", "entered_at") if k == 0 else (f"in_order_{k - 1}", "reached_at")
        steps.append(f"""in_order_{k} as (
    select p.entity_id, p.entered_at, min(ev.reached_at) as reached_at
    from {previous} as p join ({events}) as ev on ev.entity_id = p.entity_id
        and ev.reached_at >= p.{after} and ev.reached_at < p.entered_at + interval {days} day
    group by p.entity_id, p.entered_at
)""")
    return ",\n".join(steps)


FUNNEL_MODEL = f"""
with statuses as (
    select lead_id, min(changed_at) filter (where status = 'sales_accepted') as sales_accepted_at,
           min(changed_at) filter (where status = 'sales_qualified') as sales_qualified_at
    from {A}.stg_lead_status_changes group by lead_id
), opportunities as (
    select valid_lead_id as lead_id, min(created_at) as opportunity_at,
           min(closed_at) filter (where is_won) as won_at
    from {A}.stg_opportunities where valid_lead_id is not null group by valid_lead_id
), base as (
    select l.lead_id as entity_id, l.created_at as entered_at, l.channel, l.country, l.created_at as stage_0_at,
           {within_window("m.qualified_at")} as stage_1_at,
           {within_window("s.sales_accepted_at")} as stage_2_at,
           {within_window("s.sales_qualified_at")} as stage_3_at,
           {within_window("o.opportunity_at")} as stage_4_at,
           {within_window("o.won_at")} as stage_5_at
    from {A}.stg_leads as l
    left join {A}.mql_v1 as m on m.lead_id = l.lead_id
    left join statuses as s on s.lead_id = l.lead_id
    left join opportunities as o on o.lead_id = l.lead_id
),
{in_order_steps()}
select b.*, {", ".join(f"o{k}.reached_at as stage_{k}_in_order_at" for k in range(6))}
from base as b
{chr(10).join(f"left join in_order_{k} as o{k} on o{k}.entity_id = b.entity_id" for k in range(6))}"""

FUNNEL_STAGES = ("lead", "mql", "sales_accepted", "sales_qualified", "opportunity", "won")


def funnel_table(dimension: str | None) -> str:
    """Per monthly cohort (and dimension), strict order: leads reaching each stage (every stage a row, 0 when
    none did), conversions, hours from the stage before."""
    keys = f"cohort_start, {dimension}" if dimension else "cohort_start"
    aggregates = [f"count(stage_{k}_in_order_at) as n{k}" for k in range(6)]
    for k in range(1, 6):
        hours = f"date_diff('second', stage_{k - 1}_in_order_at, stage_{k}_in_order_at) / 3600.0"
        aggregates.append(f"median({hours}) as median{k}, quantile_cont({hours}, 0.9) as p90_{k}")
    stages = ["(0, 'lead', n0, null, null, null)"]
    stages += [f"({k}, '{FUNNEL_STAGES[k]}', n{k}, n{k - 1}, median{k}, p90_{k})" for k in range(1, 6)]
    return f"""
with cohorts as (
    select date_trunc('month', entered_at)::date as cohort_start{f", {dimension}" if dimension else ""},
           {", ".join(aggregates)}
    from {A}.funnel_lead_funnel where entered_at is not null group by all
)
select {keys}, s.stage, s.entities, s.entities / nullif(s.previous, 0) as conversion_from_previous,
       s.entities / nullif(n0, 0) as conversion_from_first, s.median_hours as median_hours_from_previous,
       s.p90_hours as p90_hours_from_previous
from cohorts cross join lateral (values {", ".join(stages)})
    as s (stage_index, stage, entities, previous, median_hours, p90_hours)
order by {keys}, s.stage_index"""


def spine(grain: str, dims: tuple[str, ...], zero: tuple[str, ...], kept: tuple[str, ...] = ()) -> str:
    """CTEs `periods` and `filled`, after a CTE `summed` (one row per period and dims with data): every period
    from the first to the last in `summed`, for every dims combination in it; `zero` columns 0 where a
    period has no rows, `kept` ones (medians) NULL."""
    combos = f"(select distinct {', '.join(dims)} from summed) as c" if dims else ""
    joined = "".join(f" and s.{d} is not distinct from g.{d}" for d in dims)
    values = [f"coalesce(s.{c}, 0) as {c}" for c in zero] + [f"s.{c}" for c in kept]
    return f"""periods as (
    select p::date as period_start
    from generate_series((select min(period_start) from summed), (select max(period_start) from summed),
                         interval 1 {grain}) as t (p)
), grid as (
    select * from periods{f" cross join {combos}" if dims else ""}
), filled as (
    select g.*, {", ".join(values)}
    from grid as g left join summed as s on s.period_start = g.period_start{joined}
)"""


def marketing_funnel_table(grain: str) -> str:
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
    select period_start, lead__channel, sum(leads) as leads, sum(mqls) as mqls,
           sum(opportunities) as opportunities, sum(pipeline) as pipeline
    from stacked group by period_start, lead__channel
), {spine(grain, ("lead__channel",), ("leads", "mqls", "opportunities", "pipeline"))}
select period_start, lead__channel, leads, mqls, mqls / nullif(leads, 0) as lead_to_mql_rate,
       opportunities, pipeline
from filled order by period_start, lead__channel nulls last"""


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
    select period_start, lead__channel, sum(sqls) as sqls, sum(opportunities) as opportunities,
           sum(pipeline) as pipeline, sum(won_deals) as won_deals, sum(bookings) as bookings,
           sum(closed_deals) as closed_deals
    from stacked group by period_start, lead__channel
), {spine(grain, ("lead__channel",), ("sqls", "opportunities", "pipeline", "won_deals", "bookings", "closed_deals"))}
select period_start, lead__channel, sqls, opportunities, pipeline, won_deals, bookings,
       won_deals / nullif(closed_deals, 0) as win_rate, bookings / nullif(won_deals, 0) as avg_deal_size
from filled order by period_start, lead__channel nulls last"""


OVERVIEW_COLUMNS = (
    "ad_spend",
    "impressions",
    "clicks",
    "sessions",
    "converted_sessions",
    "leads",
    "mqls",
    "paid_bookings",
    "delivered",
    "opened",
    "clicked",
    "registrations",
    "attendees",
)
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
), summed as (
    select period_start, {", ".join(f"sum({c}) as {c}" for c in OVERVIEW_COLUMNS)}
    from stacked group by period_start
), {spine("month", (), OVERVIEW_COLUMNS)}
select period_start, ad_spend, impressions, clicks, clicks / nullif(impressions, 0) as ctr,
       ad_spend / nullif(clicks, 0) as cpc, sessions, converted_sessions / nullif(sessions, 0) as session_cvr,
       leads, mqls, mqls / nullif(leads, 0) as lead_to_mql_rate, ad_spend / nullif(leads, 0) as cost_per_lead,
       ad_spend / nullif(mqls, 0) as cost_per_mql, paid_bookings / nullif(ad_spend, 0) as paid_roas,
       opened / nullif(delivered, 0) as email_open_rate, clicked / nullif(delivered, 0) as email_click_rate,
       clicked / nullif(opened, 0) as email_ctor, attendees / nullif(registrations, 0) as webinar_attendance_rate
from filled order by period_start"""

AD_PERFORMANCE = f"""
with summed as (
    select date_trunc('month', date)::date as period_start, channel as ad__channel, sum(spend) as ad_spend,
           sum(impressions) as impressions, sum(clicks) as clicks
    from {A}.stg_ad_spend where date is not null group by all
), {spine("month", ("ad__channel",), ("ad_spend", "impressions", "clicks"))}
select period_start, ad__channel, ad_spend, impressions, clicks, clicks / nullif(impressions, 0) as ctr,
       ad_spend / nullif(clicks, 0) as cpc
from filled order by period_start, ad__channel nulls last"""

MQL_SLA = f"""
with summed as (
    select date_trunc('month', m.qualified_at)::date as period_start, l.channel as lead__channel,
           count(m.lead_id) as mqls, count(m.lead_id) filter (where m.accepted_within_sla) as mqls_accepted_in_sla,
           median(m.hours_to_accept) as mql_hours_to_accept
    from {A}.mql_v1 as m left join {A}.stg_leads as l on m.lead_id = l.lead_id
    where m.qualified_at is not null group by all
), {spine("month", ("lead__channel",), ("mqls", "mqls_accepted_in_sla"), ("mql_hours_to_accept",))}
select period_start, lead__channel, mqls, mqls_accepted_in_sla, mqls_accepted_in_sla / nullif(mqls, 0) as mql_sla_rate,
       mql_hours_to_accept
from filled order by period_start, lead__channel nulls last"""

# What kpiframe generates from metrics/*.yml (definitions: and funnels:), written by hand.
HAND_MODELS = {
    "mql_v1": mql_model(50, 90, MQL_V1_POINTS),
    "mql_v2": mql_model(100, 60, MQL_V2_POINTS),
    "mql_membership": MQL_MEMBERSHIP,
    "funnel_lead_funnel": FUNNEL_MODEL,
}
HAND_TABLES = {
    "marketing_monthly": marketing_funnel_table("month"),
    "marketing_weekly": marketing_funnel_table("week"),
    "marketing_overview_monthly": OVERVIEW,
    "ad_performance_monthly": AD_PERFORMANCE,
    "mql_sla_monthly": MQL_SLA,
    "sales_monthly": sales_table("month"),
    "sales_weekly": sales_table("week"),
    "funnel_lead_funnel_monthly": funnel_table(None),
    "funnel_lead_funnel_monthly_by_channel": funnel_table("channel"),
    "funnel_lead_funnel_monthly_by_country": funnel_table("country"),
}


def project_vars(project: Path) -> dict[str, object]:
    from ruamel.yaml import YAML

    return dict(YAML(typ="safe").load((project / "kpi_project.yml").read_text()).get("vars") or {})


def render_model(sql: str, variables: dict[str, object]) -> str:
    """The model's Jinja rendered by hand: ref('x') -> analytics_hand.x, source('raw', 't') -> raw.t, macros."""
    sql = re.sub(r"\{\{\s*ref\(\s*['\"](\w+)['\"]\s*\)\s*\}\}", rf"{A}.\1", sql)
    sql = re.sub(r"\{\{\s*source\(\s*['\"]raw['\"]\s*,\s*['\"](\w+)['\"]\s*\)\s*\}\}", r"raw.\1", sql)
    sql = re.sub(r"\{\{\s*var\(\s*['\"](\w+)['\"]\s*\)\s*\}\}", lambda m: str(variables[m.group(1)]), sql)
    # the example's one macro (macros/email.sql), written out by hand
    sql = re.sub(
        r"\{\{\s*email_domain\(\s*['\"](\w+)['\"]\s*\)\s*\}\}",
        r"lower(trim(both ' ' from split_part(\1, '@', -1)))",
        sql,
    )
    assert "{{" not in sql and "{%" not in sql, f"unrendered Jinja left in:\n{sql}"
    return sql


def hand_models(project: Path) -> dict[str, str]:
    """Every model's SELECT (the project's own SQL, then the hand-written ones), in dependency order."""
    variables = project_vars(project)
    models = {p.stem: render_model(p.read_text(), variables) for p in sorted((project / "models").rglob("*.sql"))}
    models.update(HAND_MODELS)
    graph = {name: set(re.findall(rf"\b{A}\.(\w+)", sql)) & set(models) for name, sql in models.items()}
    return {name: models[name] for name in graphlib.TopologicalSorter(graph).static_order()}


def hand_statements(project: Path) -> list[str]:
    """Every statement of the hand-written build: schemas, models in dependency order, published tables."""
    statements = [f"create schema if not exists {A}", "create schema if not exists metrics_hand"]
    statements += [f"create or replace table {A}.{name} as\n{sql}" for name, sql in hand_models(project).items()]
    statements += [f"create or replace table metrics_hand.{name} as\n{sql}" for name, sql in HAND_TABLES.items()]
    return statements


# --- workers: each build runs alone in a fresh interpreter -----------------------------------------------------
def rss_now_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def measured(build: Callable[[], dict[str, object]]) -> dict[str, object]:
    """Run `build`, with its wall time, its CPU time (every thread of this process) and the RSS before it."""
    rss_before, cpu_before = rss_now_kb(), cpu_seconds()
    started = time.perf_counter()
    extra = build()
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": cpu_seconds() - cpu_before,
        "rss_before_kb": rss_before,
        **extra,
    }


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def worker_kpiframe(project: Path, warehouse: str) -> dict[str, object]:
    import logging

    from kpiframe.project import Project

    logging.getLogger("sqlglot").setLevel(logging.ERROR)  # as the CLI does

    def build() -> dict[str, object]:
        loaded = Project.load(project, warehouse=warehouse)
        rows = loaded.build().rows
        checks = loaded.last_expectation_run
        return {"rows": rows, "checks_seconds": checks.seconds if checks else 0.0}

    return measured(build)


def worker_hand(project: Path, warehouse: str, memory_limit: str | None) -> dict[str, object]:
    import duckdb

    statements = hand_statements(project)

    def build() -> dict[str, object]:
        con = duckdb.connect(warehouse, config={"memory_limit": memory_limit} if memory_limit else {})
        for statement in statements:
            con.execute(statement)
        con.close()
        return {}

    return measured(build)


@dataclass(frozen=True)
class Side:
    label: str  # as reported
    worker: str  # kpiframe | hand
    project: Path
    memory_limit: str | None = None  # passed to the hand worker; kpiframe's is in its project's kpi_project.yml


@dataclass
class Run:
    side: str
    seconds: float  # the build inside the worker (kpiframe: load + build; hand: connect + SQL + close)
    cpu_seconds: float  # CPU time of that build, all threads
    wall: float  # the whole subprocess, interpreter start and imports included
    peak_rss_mb: float
    base_rss_mb: float  # RSS after imports, before the build
    spill_mb: float  # peak size of DuckDB's temp directory
    others_cpu: float  # CPU seconds the rest of the machine used during the run (0 on an idle machine)
    rows: dict[str, int]
    checks_seconds: float = 0.0  # kpiframe: time spent inside the expectations, as the build reports it


def machine_busy_seconds() -> float:
    """CPU seconds all processes have used since boot (user, nice, system, irq, softirq, steal)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    busy = sum(fields) - fields[3] - fields[4]  # minus idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


def dir_size(path: Path) -> int:
    """Bytes in the files of a folder that DuckDB may be creating or deleting at the same time."""
    total = 0
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                with contextlib.suppress(FileNotFoundError):
                    total += entry.stat().st_size if entry.is_file() else dir_size(Path(entry.path))
    except (FileNotFoundError, NotADirectoryError):
        pass
    return total


def run_worker(side: Side, warehouse: Path, log: Path, env: dict[str, str]) -> Run:
    """Run one build in a subprocess; wait4 gives that process's own peak RSS."""
    args = [
        sys.executable,
        __file__,
        "--worker",
        side.worker,
        "--project",
        str(side.project),
        "--warehouse",
        str(warehouse),
    ]
    if side.memory_limit and side.worker == "hand":
        args += ["--memory-limit", side.memory_limit]
    out_path = log.with_suffix(".json")
    spill_dir, spill = Path(f"{warehouse}.tmp"), 0
    busy_before = machine_busy_seconds()
    started = time.perf_counter()
    with out_path.open("w") as out, log.open("w") as err:
        process = subprocess.Popen(args, stdout=out, stderr=err, env=env, cwd=log.parent)
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            spill = max(spill, dir_size(spill_dir))
            time.sleep(0.1)
    wall = time.perf_counter() - started
    others = max(0.0, machine_busy_seconds() - busy_before - usage.ru_utime - usage.ru_stime)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{side.label} failed (exit {process.returncode}); see {log}:\n{log.read_text()[-3000:]}")
    report = json.loads(out_path.read_text())
    return Run(
        side.label,
        report["seconds"],
        report["cpu_seconds"],
        wall,
        usage.ru_maxrss / 1024,
        report["rss_before_kb"] / 1024,
        spill / 2**20,
        others,
        report.get("rows", {}),
        report.get("checks_seconds", 0.0),
    )


# --- set-up and checks ----------------------------------------------------------------------------------------
def copy_project(target: Path, memory_limit: str | None = None, expectations: bool = True) -> Path:
    """The example project (kpi_project.yml, definitions.lock, models, macros, metrics), with a memory limit
    or without its data-quality expectations if asked."""
    from ruamel.yaml import YAML

    target.mkdir(parents=True)
    for folder in ("models", "macros", "metrics"):
        shutil.copytree(REPO / folder, target / folder)
    if not expectations:
        for path in [*(target / "models").rglob("*.yml"), *(target / "metrics").rglob("*.yml")]:
            drop_expectations(path)
    if (REPO / "definitions.lock").exists():
        shutil.copy(REPO / "definitions.lock", target)
    yaml = YAML()
    config = yaml.load((REPO / "kpi_project.yml").read_text())
    if memory_limit:
        config["warehouse"]["memory_limit"] = memory_limit
    with (target / "kpi_project.yml").open("w") as handle:
        yaml.dump(config, handle)
    return target


def drop_expectations(path: Path) -> None:
    """Remove every `expectations:` key of a project YAML file."""
    from ruamel.yaml import YAML

    def strip(node: object) -> None:
        if isinstance(node, dict):
            node.pop("expectations", None)
            for value in node.values():
                strip(value)
        elif isinstance(node, list):
            for item in node:
                strip(item)

    if "expectations" not in path.read_text():
        return
    yaml = YAML()
    yaml.width = 4096
    data = yaml.load(path.read_text())
    strip(data)
    with path.open("w") as handle:
        yaml.dump(data, handle)


def snapshot_code(root: Path, tries: int = 10) -> tuple[dict[str, str], str]:
    """Copy kpiframe/ once and put it first on PYTHONPATH, so every run imports the same code."""
    target = root / "src"
    for _ in range(tries):
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(REPO / "kpiframe", target / "kpiframe", ignore=shutil.ignore_patterns("__pycache__"))
        # byte-compile the copy, as `pip install` does: without it, a machine with PYTHONDONTWRITEBYTECODE
        # set (this one has it) compiles every module from source in every run, ~0.05 s of each command
        compileall.compile_dir(target / "kpiframe", quiet=1)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(target), os.environ.get("PYTHONPATH")]))}
        probe = [sys.executable, "-c", "import kpiframe.project, kpiframe.cli.main"]
        if subprocess.run(probe, env=env, capture_output=True, cwd=root).returncode == 0:
            digest = hashlib.sha256()
            for path in sorted((target / "kpiframe").rglob("*.py")):
                digest.update(path.relative_to(target).as_posix().encode() + b"\0" + path.read_bytes())
            return env, digest.hexdigest()[:12]
        time.sleep(15)  # kpiframe/ is being edited: try again
    raise SystemExit("kpiframe/ does not import; cannot benchmark it")


def generate(project: Path, warehouse: Path, scale: float, env: dict[str, str]) -> tuple[float, dict[str, int]]:
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "kpiframe.cli.main_entry",
            "demo",
            "--scale",
            str(scale),
            "--project-dir",
            str(project),
            "--warehouse",
            str(warehouse),
        ],
        check=True,
        capture_output=True,
        env=env,
        cwd=warehouse.parent,
    )
    seconds = time.perf_counter() - started
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        counts = {t: count(con, f"select count(*) from raw.{t}") for t in RAW_TABLES}
    return seconds, counts


def count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def same_objects(project: Path, built: dict[str, int]) -> list[tuple[str, str]]:
    """kpiframe built exactly the models and tables the hand-written side builds: their (schema, name)."""
    hand = {("analytics", m) for m in hand_models(project)} | {("metrics", t) for t in HAND_TABLES}
    ours = {tuple(key.split(".", 1)) for key in built}
    assert ours == hand, f"kpiframe only: {sorted(ours - hand)}; hand-written only: {sorted(hand - ours)}"
    return [("analytics", m) for m in HAND_MODELS] + [("metrics", t) for t in HAND_TABLES]


def compared(schema: str, table: str, columns: list[tuple[str, str]]) -> str:
    """SELECT of a table with every number as a DOUBLE rounded to 6 decimals."""
    numeric = re.compile(r"^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UBIGINT|FLOAT|DOUBLE|DECIMAL.*)$")
    parts = [f'round("{c}"::double, 6) as "{c}"' if numeric.match(t) else f'"{c}"' for c, t in columns]
    return f"select {', '.join(parts)} from {schema}.{table}"


def check_equal(warehouse: Path, objects: list[tuple[str, str]]) -> dict[str, int]:
    """Each hand-written table equals kpiframe's: same columns, same rows (EXCEPT ALL both ways); row counts."""
    import duckdb

    rows = {}
    query = (
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position"
    )
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for schema, table in objects:
            ours = con.execute(query, [schema, table]).fetchall()
            hand = con.execute(query, [f"{schema}_hand", table]).fetchall()
            assert [c for c, _ in ours] == [c for c, _ in hand], f"{table}: columns differ: {ours} vs {hand}"
            left, right = compared(schema, table, ours), compared(f"{schema}_hand", table, hand)
            for first, second in ((left, right), (right, left)):
                extra = count(con, f"select count(*) from ({first} except all {second})")
                assert extra == 0, f"{schema}.{table}: {extra} rows differ between kpiframe and hand-written SQL"
            rows[f"{schema}.{table}"] = count(con, f"select count(*) from {schema}.{table}")
    return rows


# --- the benchmark and its report ----------------------------------------------------------------------------
OURS, BARE, HAND = "kpiframe", "kpiframe, no expectations", "hand-written"


@dataclass
class Results:
    command: str
    code_hash: str
    generate_seconds: float
    raw_rows: dict[str, int]
    table_rows: dict[str, int]  # what kpiframe generates from YAML, checked equal to the hand-written twins
    runs: list[Run]  # OURS, BARE, HAND, OURS, BARE, HAND, ...
    limited: list[Run]  # OURS and HAND at MEMORY_LIMIT

    def median(self, side: str, field: str) -> float:
        return statistics.median(getattr(r, field) for r in self.runs if r.side == side)

    def ratio(self, side: str, field: str = "seconds") -> float:
        return self.median(side, field) / self.median(HAND, field)

    def limited_run(self, side: str) -> Run:
        return next(r for r in self.limited if r.side == side)


def verdict(met: bool) -> str:
    return "met" if met else "**MISSED**"


def report_data(res: Results) -> list[str]:
    built = res.runs[0].rows
    return [
        f"`{res.command}`: one run, all figures from the same raw data and the same snapshot of kpiframe/ "
        f"(sha256 of its .py files {res.code_hash}).",
        "",
        f"Raw data: `kpiframe demo` wrote {sum(res.raw_rows.values()):,} rows in {res.generate_seconds:.1f} s:",
        "",
        "| raw table | rows |",
        "|---|---:|",
        *[f"| raw.{t} | {n:,} |" for t, n in res.raw_rows.items()],
        "",
        "Rows built by kpiframe: " + ", ".join(f"{k.split('.')[-1]} {v:,}" for k, v in built.items()) + ".",
        "",
    ]


def run_row(label: str, run: Run, extra: str = "") -> str:
    checks = f"{run.checks_seconds:.2f}" if run.side == OURS else ""
    return (
        f"| {label} | {run.side} | {run.seconds:.2f} | {checks} | {run.cpu_seconds:.2f} | {run.wall:.2f} | "
        f"{run.peak_rss_mb:,.0f} | {run.base_rss_mb:,.0f} |{extra} {run.others_cpu:.1f} |"
    )


def report_runs(res: Results) -> list[str]:
    sides = list(dict.fromkeys(r.side for r in res.runs))
    ratio = res.ratio(OURS)
    return [
        "Each build runs in a fresh Python subprocess, the sides taking turns. *Build s* is timed inside the "
        "subprocess. kpiframe: `Project.load(dir, warehouse=path).build()`, which parses, validates and "
        "compiles the project, runs the expectations on the sources, builds every model and table beside the "
        "live ones and runs each one's expectations, swaps all in one transaction, counts rows, records the run "
        f"and writes target/. *{BARE}*: the same on a copy of the project whose YAML files have no "
        "`expectations:` (what the checks cost). Hand-written: `duckdb.connect`, the models' own SQL (Jinja "
        "rendered by hand), hand-written SQL for what kpiframe generates from YAML (the MQL definition versions "
        "and the funnel) and for every published table, each a CREATE OR REPLACE TABLE in analytics_hand or "
        "metrics_hand, then close; no data-quality checks. *CPU s* is the CPU time of that build over all "
        "threads. *Checks s* is the time the build spent inside its expectations, Great Expectations' import "
        "(at the first check) included. "
        "*Process s* is the subprocess's wall time, interpreter start and imports included. *Peak RSS* "
        "is the subprocess's ru_maxrss; *after imports* its RSS just before the build. *Others' CPU s* is the "
        "CPU time the rest of the machine used during the run (/proc/stat minus the subprocess's own): 0 on an "
        f"idle machine; more means competing work on these {os.cpu_count()} cores, which slows the build.",
        "",
        "| run | side | build s | checks s | CPU s | process s | peak RSS MB | RSS after imports MB | others' CPU s |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
        *[run_row(str(i // len(sides) + 1), r) for i, r in enumerate(res.runs)],
        "",
        "| side | median build s | median CPU s | median peak RSS MB | build ratio to hand-written | CPU ratio |",
        "|---|---:|---:|---:|---:|---:|",
        *[
            f"| {side} | {res.median(side, 'seconds'):.2f} | {res.median(side, 'cpu_seconds'):.2f} | "
            f"{res.median(side, 'peak_rss_mb'):,.0f} | {res.ratio(side):.2f} | {res.ratio(side, 'cpu_seconds'):.2f} |"
            for side in sides
        ],
        "",
        f"- **(c)** building the example project takes kpiframe **{res.median(OURS, 'seconds'):.2f} s** against "
        f"**{res.median(HAND, 'seconds'):.2f} s** hand-written (medians): ratio **{ratio:.2f}**, target ≤ "
        f"{RATIO_TARGET}: {verdict(ratio <= RATIO_TARGET)}. Without its expectations the ratio is "
        f"{res.ratio(BARE):.2f} ({verdict(res.ratio(BARE) <= RATIO_TARGET)}).",
        "- No memory limit was set for these runs: DuckDB's default is 80 % of RAM.",
        f"- Same results: kpiframe built exactly the {len(res.runs[0].rows)} tables the hand-written side builds, "
        f"and each of the {len(res.table_rows)} it generates from YAML (the published tables, the MQL versions "
        "and the funnel model) equals its hand-written twin: same columns, EXCEPT ALL empty both ways with "
        "numbers rounded to 6 decimals; checked after these runs and again after the memory-limited ones.",
        "",
    ]


def report_expectations(res: Results) -> list[str]:
    """Issue 3 (8): what the expectations add, as a share of the build that runs them, round by round."""
    rounds = [
        (o, b)
        for o, b in zip([r for r in res.runs if r.side == OURS], [r for r in res.runs if r.side == BARE], strict=True)
    ]
    shares = [(o.seconds - b.seconds) / o.seconds for o, b in rounds]
    ours, bare = res.median(OURS, "seconds"), res.median(BARE, "seconds")
    share = (ours - bare) / ours
    return [
        f"Expectations (issue 3, point 8): the example's expectations add **{ours - bare:.2f} s** to a "
        f"**{ours:.2f} s** build (medians, {OURS} against {BARE}), **{share:.0%}** of the build's time; target at "
        f"most {EXPECTATIONS_TARGET:.0%}: {verdict(share <= EXPECTATIONS_TARGET)}. Round by round: "
        + ", ".join(
            f"{o.seconds - b.seconds:.2f} s of {o.seconds:.2f} s ({s:.0%})"
            for (o, b), s in zip(rounds, shares, strict=True)
        )
        + f". In line, the checks took {res.median(OURS, 'checks_seconds'):.2f} s (median), Great Expectations' "
        "import included.",
        "",
    ]


def report_limited(res: Results) -> list[str]:
    ours, hand = res.limited_run(OURS), res.limited_run(HAND)
    return [
        f"Memory-limited: `warehouse: {{memory_limit: {MEMORY_LIMIT}}}` in a copy of kpi_project.yml (hand-written: "
        f"the same `memory_limit` passed to `duckdb.connect`), one run each. *Spill* is the peak size of DuckDB's "
        "temp directory `<warehouse>.tmp`, sampled every 0.1 s.",
        "",
        "| limit | side | build s | checks s | CPU s | process s | peak RSS MB | RSS after imports MB | "
        "peak spill MB | others' CPU s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *[run_row(MEMORY_LIMIT, r, f" {r.spill_mb:,.0f} |") for r in res.limited],
        "",
        f"- **(d)** with a {MEMORY_LIMIT} limit the kpiframe build (expectations included) completed "
        f"({verdict(True)}) in {ours.seconds:.2f} s with a peak RSS of {ours.peak_rss_mb:,.0f} MB and "
        f"{ours.spill_mb:,.0f} MB spilled to disk, against {hand.seconds:.2f} s, {hand.peak_rss_mb:,.0f} MB and "
        f"{hand.spill_mb:,.0f} MB hand-written (ratio {ours.seconds / hand.seconds:.2f}).",
    ]


def report(res: Results) -> str:
    return (
        "\n".join(
            ["## Build", "", *report_data(res), *report_runs(res), *report_expectations(res), *report_limited(res)]
        )
        + "\n"
    )


def write_section(section: str) -> None:
    """Replace the '## Build' section of docs/benchmarks.md (up to the next '## ' heading), or append it."""
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    match = re.search(r"^## Build\n.*?(?=^## |\Z)", text, flags=re.M | re.S)
    if match:
        text = text[: match.start()] + section + ("\n" if match.end() < len(text) else "") + text[match.end() :]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOC.write_text(text)


def benchmark(args: argparse.Namespace, root: Path) -> str:
    project = copy_project(root / "project")
    sides = [
        Side(OURS, "kpiframe", project),
        Side(BARE, "kpiframe", copy_project(root / "bare", expectations=False)),
        Side(HAND, "hand", project),
    ]
    limited_sides = [
        Side(OURS, "kpiframe", copy_project(root / "limited", MEMORY_LIMIT), MEMORY_LIMIT),
        Side(HAND, "hand", project, MEMORY_LIMIT),
    ]
    warehouse = root / "warehouse.duckdb"
    env, code_hash = snapshot_code(root)
    print(f"generating demo data at scale {args.scale:g} into {warehouse} ...", file=sys.stderr)
    gen_seconds, raw = generate(project, warehouse, args.scale, env)
    runs = [
        measure(side, warehouse, root / f"run{n}_{i}.log", env)
        for n in range(args.repeat)
        for i, side in enumerate(sides)
    ]
    objects = same_objects(project, runs[0].rows)
    table_rows = check_equal(warehouse, objects)
    limited = [measure(side, warehouse, root / f"limited_{i}.log", env) for i, side in enumerate(limited_sides)]
    check_equal(warehouse, objects)
    command = f"python bench/bench_build.py --scale {args.scale:g} --repeat {args.repeat}"
    return report(Results(command, code_hash, gen_seconds, raw, table_rows, runs, limited))


def measure(side: Side, warehouse: Path, log: Path, env: dict[str, str]) -> Run:
    run = run_worker(side, warehouse, log, env)
    limit = f" at {side.memory_limit}" if side.memory_limit else ""
    print(
        f"  {run.side}{limit}: {run.seconds:.2f} s, CPU {run.cpu_seconds:.2f} s, peak RSS "
        f"{run.peak_rss_mb:,.0f} MB, spill {run.spill_mb:,.0f} MB, others' CPU {run.others_cpu:.1f} s",
        file=sys.stderr,
    )
    return run


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
