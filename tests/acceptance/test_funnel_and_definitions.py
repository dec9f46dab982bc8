"""The lead funnel, MQL versions and the SLA against SQL written by hand from the spec over raw.* only."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import duckdb
import pytest

from kpiframe.demo import generate_demo
from kpiframe.project import Project

PROJECT_DIR = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("edge_rows", PROJECT_DIR / "tests" / "fixtures" / "edge_rows.py")
assert _spec and _spec.loader
edge_rows = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(edge_rows)

# Valid leads, MQL v1 per lead, and every stage's first time, written from example-kpis.md.
HAND_LEADS = """
with ranked as (
    select *, row_number() over (partition by lead_id order by created_at, email nulls last) as rn
    from raw.leads
), valid as (
    select lead_id, created_at, channel, country, employee_count, is_competitor,
           lower(trim(split_part(email, '@', -1), ' ')) as domain
    from ranked where rn = 1 and email is not null and trim(email, ' ') <> ''
), points as (
    select a.lead_id, a.activity_id, a.occurred_at,
           case a.activity_type when 'email_click' then 5 when 'content_download' then 10
                when 'webinar_register' then 5 when 'webinar_attend' then 15
                when 'pricing_page_view' then 10 when 'demo_request' then 40 else 0 end as p
    from raw.lead_activities a join valid v on a.lead_id = v.lead_id
    where v.employee_count >= 50 and v.is_competitor = false
      and v.domain not in ('gmail.com', 'yahoo.com', 'hotmail.com', 'outlook.com')
      and a.occurred_at >= v.created_at and a.occurred_at < v.created_at + interval 90 day
), running as (
    select lead_id, occurred_at, activity_id,
           sum(p) over (partition by lead_id order by occurred_at, activity_id
                        rows between unbounded preceding and current row) as score
    from points
), mql as (
    select lead_id, min(occurred_at) as mql_at from running where score >= 40 group by lead_id
), status_first as (
    select s.lead_id,
           min(changed_at) filter (where status = 'sales_accepted') as accepted_at,
           min(changed_at) filter (where status = 'sales_qualified') as qualified_at
    from raw.lead_status_changes s join valid v on s.lead_id = v.lead_id group by s.lead_id
), opps as (
    select lead_id, min(created_at) as opportunity_at, min(closed_at) filter (where is_won) as won_at
    from raw.opportunities group by lead_id
)
select v.lead_id, v.created_at, v.channel, m.mql_at, s.accepted_at, s.qualified_at, o.opportunity_at, o.won_at
from valid v left join mql m using (lead_id) left join status_first s using (lead_id)
left join opps o using (lead_id)
"""

STAGES = ["created_at", "mql_at", "accepted_at", "qualified_at", "opportunity_at", "won_at"]
NAMES = ["lead", "mql", "sales_accepted", "sales_qualified", "opportunity", "won"]


def hand_funnel_sql(by_channel: bool) -> str:
    """Per cohort and stage: leads reaching the stage inside 180 days, median hours from the stage before."""
    windowed = ", ".join(
        f"case when {c} >= created_at and {c} < created_at + interval 180 day then {c} end as s{i}"
        for i, c in enumerate(STAGES)
    )
    dim = "channel, " if by_channel else ""
    branches = []
    for i, name in enumerate(NAMES):
        hours = "null" if i == 0 else f"median(date_diff('second', s{i - 1}, s{i}) / 3600.0)"
        branches.append(
            f"select cast(date_trunc('month', created_at) as date) as cohort_start, {dim}"
            f"'{name}' as stage, {i} as i, count(s{i}) as entities, {hours} as median_hours "
            f"from w group by all"
        )
    return f"with w as (select created_at, channel, {windowed} from hand_leads) " + " union all ".join(branches)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Project:
    path = tmp_path_factory.mktemp("funnel") / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    generate_demo(con, seed=11, scale=0.2)
    edge_rows.insert_edge_rows(con)
    con.execute(f"create schema hand; create table hand.leads as {HAND_LEADS}")
    con.close()
    project = Project.load(PROJECT_DIR, warehouse=str(path))
    project.build()
    return project


def hand(project: Project, sql: str) -> list[tuple]:
    con = duckdb.connect(project.warehouse_spec.path, read_only=True)
    try:
        return con.execute(sql.replace("hand_leads", "hand.leads")).fetchall()
    finally:
        con.close()


def close(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def test_funnel_counts_conversions_and_hours_match_hand_sql(built: Project) -> None:
    # the spec's table counts each stage on its own: the independent order (the example's default is strict)
    result, _ = built.funnel("lead_funnel", order="independent")
    engine = {(r["cohort_start"], r["stage"]): r for r in result.as_dicts()}
    expected = hand(built, hand_funnel_sql(by_channel=False))
    assert expected and len({(e[0], e[1]) for e in expected}) == len(engine)  # a row for every stage, 0 included
    for cohort, stage, index, entities, median_hours in expected:
        row = engine[(cohort, stage)]
        assert row["entities"] == entities, (cohort, stage)
        assert close(row["median_hours_from_previous"], median_hours), (cohort, stage)
        first = next(e[3] for e in expected if e[0] == cohort and e[2] == 0)
        assert close(row["conversion_from_first"], entities / first)
        if index:  # after a stage that nobody reached the conversion is NULL (not one from further back)
            before = next(e[3] for e in expected if e[0] == cohort and e[2] == index - 1)
            assert close(row["conversion_from_previous"], entities / before if before else None), (cohort, stage)


def test_funnel_by_channel_and_csv_columns(built: Project) -> None:
    result, bottleneck = built.funnel("lead_funnel", dimensions=("channel",), order="independent")
    assert result.columns == [
        "cohort_start",
        "channel",
        "stage",
        "entities",
        "conversion_from_previous",
        "conversion_from_first",
        "median_hours_from_previous",
        "p90_hours_from_previous",
    ]
    expected = {(r[0], r[1], r[2]): r[4] for r in hand(built, hand_funnel_sql(by_channel=True))}
    assert {(r[0], r[1], r[2]): r[3] for r in result.rows} == expected
    assert bottleneck is not None and "→" in bottleneck["step"]


def hand_strict_sql() -> str:
    """Per cohort and stage, in strict order: a lead counts at stage i when it has a stage-i time inside the
    window at or after its strict time at stage i - 1 (the earliest such time is its time at stage i)."""
    events = """
        select lead_id, 0 as i, created_at as t from hand_leads
        union all select lead_id, 1, mql_at from hand_leads where mql_at is not null
        union all select lead_id, 2, changed_at from raw.lead_status_changes where status = 'sales_accepted'
        union all select lead_id, 3, changed_at from raw.lead_status_changes where status = 'sales_qualified'
        union all select lead_id, 4, created_at from raw.opportunities
        union all select lead_id, 5, closed_at from raw.opportunities where is_won"""
    steps = []
    for i in range(len(NAMES)):
        source, after = (
            ("hand_leads l", "l.created_at") if i == 0 else (f"s{i - 1} p join hand_leads l using (lead_id)", "p.t")
        )
        steps.append(
            f"s{i} as (select l.lead_id, min(e.t) as t from {source} join ev e on e.lead_id = l.lead_id "
            f"and e.i = {i} and e.t >= {after} and e.t < l.created_at + interval 180 day group by l.lead_id)"
        )
    counts = " union all ".join(
        f"select cast(date_trunc('month', l.created_at) as date) as cohort_start, '{name}' as stage, "
        f"count(s{i}.lead_id) as entities from hand_leads l left join s{i} using (lead_id) "
        f"where l.created_at is not null group by 1"
        for i, name in enumerate(NAMES)
    )
    return f"with ev as ({events}), {', '.join(steps)} {counts}"


def test_funnel_strict_order_matches_hand_sql(built: Project) -> None:
    result, _ = built.funnel("lead_funnel")  # the example's own order: strict
    engine = {(r["cohort_start"], r["stage"]): r["entities"] for r in result.as_dicts()}
    expected = {(r[0], r[1]): r[2] for r in hand(built, hand_strict_sql())}
    assert engine == expected
    independent, _ = built.funnel("lead_funnel", order="independent")
    assert sum(r["entities"] for r in independent.as_dicts()) > sum(expected.values())  # leads skip stages


def test_mql_v1_and_v2_side_by_side(built: Project) -> None:
    answer = built.query(metrics=["mqls", "mqls_v2", "mqls_current"], grain="year")
    hand_v1 = dict(
        hand(
            built,
            "select cast(date_trunc('year', mql_at) as date), count(*) from hand_leads "
            "where mql_at is not null group by 1",
        )
    )
    for period, v1, v2, current in answer.rows:
        assert v1 == hand_v1[period]
        assert current == v2  # version 2 is current
    assert sum(r[1] for r in answer.rows) != sum(r[2] for r in answer.rows)
    membership = hand(built, "select version, count(*) from analytics.mql_membership group by 1 order by 1")
    assert [v for v, _ in membership] == [1, 2]
    assert membership[0][1] == sum(hand_v1.values())


def test_sla_share_by_channel_matches_hand_sql(built: Project) -> None:
    answer = built.query(metrics=["mqls", "mql_sla_rate"], dimensions=["lead__channel"], grain="quarter")
    expected = hand(
        built,
        """
        with accepted as (
            select h.lead_id, h.channel, h.mql_at, min(s.changed_at) as accepted_at
            from hand_leads h left join raw.lead_status_changes s
              on s.lead_id = h.lead_id and s.status = 'sales_accepted' and s.changed_at >= h.mql_at
            where h.mql_at is not null group by all)
        select cast(date_trunc('quarter', mql_at) as date), channel, count(*),
               count(*) filter (where accepted_at <= mql_at + interval 24 hour) / count(*)
        from accepted group by all""",
    )
    # the time spine adds quarters without MQLs for every channel: 0 MQLs and a NULL share (no denominator)
    listed = {(period, channel) for period, channel, _, _ in expected}
    spine = [row for row in answer.rows if (row[0], row[1]) not in listed]
    assert spine and all(mqls == 0 and share is None for _, _, mqls, share in spine)
    rows = [row for row in answer.rows if (row[0], row[1]) in listed]
    assert sorted(rows, key=str) == sorted(expected, key=str) or all(
        close(a, b)
        for x, y in zip(sorted(rows, key=str), sorted(expected, key=str), strict=True)
        for a, b in zip(x, y, strict=True)
    )
