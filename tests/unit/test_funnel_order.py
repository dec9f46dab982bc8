# ruff: noqa: E501  (the rows are laid out as tables, one row a line)
"""The lead funnel's order rule (strict | independent) and its zero rows, against SQL written by hand.

A warehouse holds only the hand-made rows below, in the raw tables of the example project. Every lead
fits the MQL rule, and a `demo_request` (40 points) makes a lead an MQL (v1) at that moment.

January 2024 cohort (window: created_at <= stage time < created_at + 180 days)
  ord_1  paid   all six stages in order
  ord_2  paid   no MQL, but accepted, qualified and an opportunity: counted there only by `independent`
  ord_3  organic accepted (01-18) before its MQL (01-20) and never again: `strict` stops after mql
  ord_4  organic accepted before and after its MQL, a first opportunity before sales_qualified and a
                second one after: `strict` counts the later times, `independent` the first ones
  ord_5  paid   won exactly 180 days after creation: outside the window in both orders
  ord_6  paid   won 179 days after creation: inside; its MQL came 100 days late (v1's window is 90):
                no MQL, so `strict` stops at lead while `independent` counts its later stages
February 2024 cohort
  ord_7  email  MQL only; ord_8 email: nothing; ord_9 email: only an opportunity
  -> sales_accepted has 0 leads (conversion 0) and sales_qualified 0 after 0 (conversion NULL)
March 2024 cohort (the bottleneck: mature, and its mql -> sales_accepted step falls to 0)
  ord_10 paid   MQL, then nothing
December 2024: ord_11 enters, so cohorts up to early June 2024 have closed windows.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from kpiframe.cli import main
from kpiframe.project import Project
from tests.conftest import copy_example

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("edge_rows", REPO / "tests" / "fixtures" / "edge_rows.py")
assert _spec and _spec.loader
edge_rows = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(edge_rows)

ROWS = """
insert into raw.leads (lead_id, created_at, email, company, country, channel, campaign_id, employee_count, is_competitor) values
    ('ord_1',  timestamp '2024-01-05 09:00', 'a@acme.io', 'Acme', 'DE', 'paid_search',    null, 120, false),
    ('ord_2',  timestamp '2024-01-10 09:00', 'b@acme.io', 'Acme', 'DE', 'paid_search',    null, 120, false),
    ('ord_3',  timestamp '2024-01-15 09:00', 'c@acme.io', 'Acme', 'FR', 'organic_search', null, 120, false),
    ('ord_4',  timestamp '2024-01-20 09:00', 'd@acme.io', 'Acme', 'FR', 'organic_search', null, 120, false),
    ('ord_5',  timestamp '2024-01-25 09:00', 'e@acme.io', 'Acme', 'DE', 'paid_search',    null, 120, false),
    ('ord_6',  timestamp '2024-01-26 09:00', 'f@acme.io', 'Acme', 'DE', 'paid_search',    null, 120, false),
    ('ord_7',  timestamp '2024-02-05 09:00', 'g@acme.io', 'Acme', 'DE', 'email',          null, 120, false),
    ('ord_8',  timestamp '2024-02-10 09:00', 'h@acme.io', 'Acme', 'DE', 'email',          null, 120, false),
    ('ord_9',  timestamp '2024-02-12 09:00', 'i@acme.io', 'Acme', 'DE', 'email',          null, 120, false),
    ('ord_10', timestamp '2024-03-04 09:00', 'j@acme.io', 'Acme', 'DE', 'paid_search',    null, 120, false),
    ('ord_11', timestamp '2024-12-02 09:00', 'k@acme.io', 'Acme', 'DE', 'paid_search',    null, 120, false);

insert into raw.lead_activities (activity_id, lead_id, occurred_at, activity_type) values
    ('ord_a1',  'ord_1',  timestamp '2024-01-06 09:00', 'demo_request'),
    ('ord_a3',  'ord_3',  timestamp '2024-01-20 09:00', 'demo_request'),
    ('ord_a4',  'ord_4',  timestamp '2024-01-22 09:00', 'demo_request'),
    ('ord_a5',  'ord_5',  timestamp '2024-01-26 09:00', 'demo_request'),
    ('ord_a6',  'ord_6',  timestamp '2024-05-05 09:00', 'demo_request'),
    ('ord_a7',  'ord_7',  timestamp '2024-02-06 09:00', 'demo_request'),
    ('ord_a10', 'ord_10', timestamp '2024-03-05 09:00', 'demo_request');

insert into raw.lead_status_changes (lead_id, changed_at, status) values
    ('ord_1', timestamp '2024-01-07 09:00', 'sales_accepted'),
    ('ord_1', timestamp '2024-01-10 09:00', 'sales_qualified'),
    ('ord_2', timestamp '2024-01-12 09:00', 'sales_accepted'),
    ('ord_2', timestamp '2024-01-13 09:00', 'sales_qualified'),
    ('ord_3', timestamp '2024-01-18 09:00', 'sales_accepted'),
    ('ord_3', timestamp '2024-01-25 09:00', 'sales_qualified'),
    ('ord_4', timestamp '2024-01-21 09:00', 'sales_accepted'),
    ('ord_4', timestamp '2024-01-25 09:00', 'sales_accepted'),
    ('ord_4', timestamp '2024-01-26 09:00', 'sales_qualified'),
    ('ord_5', timestamp '2024-01-27 09:00', 'sales_accepted'),
    ('ord_5', timestamp '2024-01-28 09:00', 'sales_qualified'),
    ('ord_6', timestamp '2024-01-27 09:00', 'sales_accepted'),
    ('ord_6', timestamp '2024-01-28 09:00', 'sales_qualified');

insert into raw.opportunities (opportunity_id, lead_id, created_at, amount, closed_at, is_won) values
    ('ord_o1',  'ord_1', timestamp '2024-01-15 09:00', 1000, timestamp '2024-02-20 09:00', true),
    ('ord_o2',  'ord_2', timestamp '2024-01-20 09:00', 1000, null, null),
    ('ord_o4a', 'ord_4', timestamp '2024-01-24 09:00', 1000, timestamp '2024-03-01 09:00', true),
    ('ord_o4b', 'ord_4', timestamp '2024-02-01 09:00', 1000, null, null),
    ('ord_o5',  'ord_5', timestamp '2024-02-01 09:00', 1000, timestamp '2024-07-23 09:00', true),
    ('ord_o6',  'ord_6', timestamp '2024-02-01 09:00', 1000, timestamp '2024-07-23 09:00', true),
    ('ord_o9',  'ord_9', timestamp '2024-02-20 09:00', 1000, null, null);
"""

# Every time a lead reached each stage (i = 0 .. 5), written from the spec: MQL v1 is the first time a
# fitting lead's points inside 90 days of creation reach 40; the other stages are the raw rows.
HAND_EVENTS = """
with valid as (
    select lead_id, created_at, channel from raw.leads
    where email is not null and employee_count >= 50 and not is_competitor
), points as (
    select a.lead_id, a.occurred_at, a.activity_id,
           sum(case a.activity_type when 'demo_request' then 40 else 0 end) over (
               partition by a.lead_id order by a.occurred_at, a.activity_id) as score
    from raw.lead_activities a join valid v using (lead_id)
    where a.occurred_at >= v.created_at and a.occurred_at < v.created_at + interval 90 day
)
select lead_id, 0 as i, created_at as t from valid
union all select lead_id, 1, min(occurred_at) from points where score >= 40 group by lead_id
union all select lead_id, 2, changed_at from raw.lead_status_changes where status = 'sales_accepted'
union all select lead_id, 3, changed_at from raw.lead_status_changes where status = 'sales_qualified'
union all select lead_id, 4, created_at from raw.opportunities
union all select lead_id, 5, closed_at from raw.opportunities where is_won
"""

STAGES = ["lead", "mql", "sales_accepted", "sales_qualified", "opportunity", "won"]
INSIDE = "{t} >= l.created_at and {t} < l.created_at + interval 180 day"


def hand_reached(order: str) -> str:
    """(lead_id, i, t): the time each lead counts at stage i under `order`, by hand.

    independent: the first time ever at the stage, if it lies inside the window.
    strict: the earliest time inside the window at or after the lead's strict time at the stage before.
    """
    if order == "independent":
        return (
            f"select l.lead_id, e.i, min(e.t) as t from valid l join events e using (lead_id) "
            f"group by l.lead_id, l.created_at, e.i having {INSIDE.format(t='min(e.t)')}"
        )
    steps = []
    for i in range(len(STAGES)):
        after = "l.created_at" if i == 0 else "p.t"
        source = "valid l" if i == 0 else f"strict_{i - 1} p join valid l using (lead_id)"
        steps.append(
            f"strict_{i} as (select l.lead_id, {i} as i, min(e.t) as t from {source} "
            f"join events e on e.lead_id = l.lead_id and e.i = {i} and e.t >= {after} "
            f"and {INSIDE.format(t='e.t')} group by l.lead_id)"
        )
    return f"with {', '.join(steps)} " + " union all ".join(f"select * from strict_{i}" for i in range(len(STAGES)))


def hand_funnel(con: duckdb.DuckDBPyConnection, order: str, by_channel: bool = False) -> list[dict[str, Any]]:
    """Per cohort (and channel) and stage: leads counted, median hours from the stage before."""
    group = ", l.channel" if by_channel else ""
    rows = con.execute(f"""
        with valid as (select lead_id, created_at, channel from raw.leads),
        events as ({HAND_EVENTS}),
        reached as ({hand_reached(order)}),
        cohorts as (select distinct cast(date_trunc('month', created_at) as date) as cohort{group} from valid l),
        stages as (select unnest(range({len(STAGES)})) as i)
        select c.*, s.i,
               (select count(*) from reached r join valid l using (lead_id)
                where r.i = s.i and cast(date_trunc('month', l.created_at) as date) = c.cohort
                {"and l.channel = c.channel" if by_channel else ""}),
               (select median(date_diff('second', b.t, r.t) / 3600.0)
                from reached r join reached b on b.lead_id = r.lead_id and b.i = r.i - 1
                join valid l on l.lead_id = r.lead_id
                where r.i = s.i and cast(date_trunc('month', l.created_at) as date) = c.cohort
                {"and l.channel = c.channel" if by_channel else ""})
        from cohorts c cross join stages s order by all""").fetchall()
    out = []
    for row in rows:
        cohort, *channel, index, entities, hours = row
        same = [r for r in rows if r[: 1 + len(channel)] == (cohort, *channel)]
        before = same[index - 1][-2] if index else None
        first = same[0][-2]
        out.append(
            {
                "cohort_start": cohort.isoformat(),
                **({"channel": channel[0]} if channel else {}),
                "stage": STAGES[index],
                "entities": entities,
                "conversion_from_previous": entities / before if before else None,
                "conversion_from_first": entities / first if first else None,
                "median_hours_from_previous": hours,
            }
        )
    return out


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("funnel_order") / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    edge_rows.create_raw_tables(con)
    for statement in ROWS.split(";"):
        if statement.strip():
            con.execute(statement)
    con.close()
    Project.load(REPO, warehouse=str(path)).build()
    return path


def cli_json(warehouse: Path, *args: str) -> dict[str, Any]:
    result = CliRunner().invoke(
        main,
        ["funnel", "lead_funnel", "--project-dir", str(REPO), "--warehouse", str(warehouse), "--format", "json", *args],
    )
    assert result.exit_code == 0, result.output
    answer: dict[str, Any] = json.loads(result.output)
    return answer


def hand(warehouse: Path, order: str, by_channel: bool = False) -> list[dict[str, Any]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return hand_funnel(con, order, by_channel)
    finally:
        con.close()


def same(engine: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    """Row for row: every key of the hand rows, numbers to 1e-9."""
    assert len(engine) == len(expected)
    for got, want in zip(engine, expected, strict=True):
        for key, value in want.items():
            if isinstance(value, float) and got[key] is not None:
                assert math.isclose(got[key], value, rel_tol=1e-9), (want, got)
            else:
                assert got[key] == value, (key, want, got)


@pytest.mark.parametrize("order", ["strict", "independent"])
def test_each_order_matches_hand_sql_with_every_stage_of_every_cohort(warehouse: Path, order: str) -> None:
    answer = cli_json(warehouse, "--order", order)
    assert answer["order"] == order and answer["funnel"] == "lead_funnel"
    expected = hand(warehouse, order)
    assert len(expected) == 4 * len(STAGES)  # Jan, Feb, Mar and Dec 2024, six stages each
    same(answer["rows"], expected)


@pytest.mark.parametrize("order", ["strict", "independent"])
def test_by_channel_every_group_has_every_stage(warehouse: Path, order: str) -> None:
    answer = cli_json(warehouse, "--order", order, "--by", "channel")
    expected = hand(warehouse, order, by_channel=True)
    assert {(r["cohort_start"], r["channel"]) for r in expected} == {
        ("2024-01-01", "paid_search"),
        ("2024-01-01", "organic_search"),
        ("2024-02-01", "email"),
        ("2024-03-01", "paid_search"),
        ("2024-12-01", "paid_search"),
    }
    same(answer["rows"], expected)


def test_the_example_funnel_is_strict_and_the_cases_differ_as_stated(warehouse: Path) -> None:
    strict = {(r["cohort_start"], r["stage"]): r for r in cli_json(warehouse)["rows"]}
    independent = {(r["cohort_start"], r["stage"]): r for r in cli_json(warehouse, "--order", "independent")["rows"]}
    hand_strict = {(r["cohort_start"], r["stage"]): r for r in hand(warehouse, "strict")}
    assert {k: r["entities"] for k, r in strict.items()} == {k: r["entities"] for k, r in hand_strict.items()}
    jan, feb = "2024-01-01", "2024-02-01"
    # ord_2 and ord_6 (no MQL) reach an opportunity: counted there by independent only
    assert independent[(jan, "opportunity")]["entities"] - strict[(jan, "opportunity")]["entities"] == 2
    # ord_3 and ord_4 were accepted before their MQL: independent counts more accepted leads than MQLs
    assert independent[(jan, "sales_accepted")]["conversion_from_previous"] > 1
    # conversions never exceed 100 % in strict order
    assert all(r["conversion_from_previous"] is None or r["conversion_from_previous"] <= 1 for r in strict.values())
    # February: 0 accepted after 1 MQL is a conversion of 0; the stage after a 0 has none (NULL)
    assert (
        strict[(feb, "sales_accepted")]["entities"],
        strict[(feb, "sales_accepted")]["conversion_from_previous"],
    ) == (0, 0)
    assert (
        strict[(feb, "sales_qualified")]["entities"],
        strict[(feb, "sales_qualified")]["conversion_from_previous"],
    ) == (0, None)
    assert independent[(feb, "opportunity")]["entities"] == 1  # ord_9, after 0 sales_qualified: NULL
    assert independent[(feb, "opportunity")]["conversion_from_previous"] is None


def test_the_bottleneck_reads_zero_stages_in_the_chosen_order(warehouse: Path) -> None:
    for order in ("strict", "independent"):
        answer = cli_json(warehouse, "--order", order)
        rows = hand(warehouse, order)
        # mature cohorts: entered more than 180 days before the newest lead (2024-12-02)
        mature = sorted({r["cohort_start"] for r in rows if r["cohort_start"] < "2024-06-01"})
        latest, history = mature[-1], mature[-4:-1]

        def conversion(cohort: str, index: int, rows: list[dict[str, Any]] = rows) -> float | None:
            counts = {r["stage"]: r["entities"] for r in rows if r["cohort_start"] == cohort}
            before = counts[STAGES[index - 1]]
            return counts[STAGES[index]] / before if before else None

        drops = []
        for index in range(1, len(STAGES)):
            now, past = conversion(latest, index), [c for c in (conversion(h, index) for h in history) if c is not None]
            if now is not None and past:
                drops.append((now - sum(past) / len(past), f"{STAGES[index - 1]} → {STAGES[index]}", now))
        drop, step, now = min(drops)
        assert drop < 0
        bottleneck = answer["bottleneck"]
        assert (bottleneck["cohort_start"], bottleneck["step"]) == (latest, step), order
        assert math.isclose(bottleneck["conversion"], now, abs_tol=1e-12)


def test_table_output_states_the_order_rule_and_what_conversion_means(warehouse: Path) -> None:
    result = CliRunner().invoke(main, ["funnel", "--project-dir", str(REPO), "--warehouse", str(warehouse)])
    assert result.exit_code == 0, result.output
    first_line = result.output.splitlines()[0]
    assert first_line.startswith(
        "funnel lead_funnel, order strict: a lead counts at a stage only if it reached "
        "every earlier stage, each at or after the stage before it, within 180 days"
    )
    assert "conversion_from_previous = entities at the stage / entities at the stage before" in result.output
    independent = CliRunner().invoke(
        main,
        [
            "funnel",
            "--project-dir",
            str(REPO),
            "--warehouse",
            str(warehouse),
            "--order",
            "independent",
            "--format",
            "csv",
        ],
    )
    assert independent.exit_code == 0, independent.output
    assert "order independent: a lead counts at each stage it reached" in independent.stderr
    assert independent.stdout.startswith("cohort_start,stage,entities,")  # csv stays pure data


@pytest.fixture
def example_copy(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "example")


def test_an_unknown_order_is_an_error_at_its_line(example_copy: Path) -> None:
    path = example_copy / "metrics" / "mql_definition.yml"
    text = path.read_text()
    assert "    order: strict\n" in text
    path.write_text(text.replace("    order: strict\n", "    order: sideways\n"))
    line = text[: text.index("    order: strict\n")].count("\n") + 1
    result = CliRunner().invoke(main, ["compile", "--project-dir", str(example_copy)])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert f"metrics/mql_definition.yml:{line}:" in result.output
    assert "'strict'" in result.output and "'independent'" in result.output
