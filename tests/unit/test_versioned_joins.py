"""Versioned datasets: a validity window (`validity: start` / `validity: end`), and the joins to them.

An account-owner history (`account_owners`, a row per account and period of ownership) is one row per account
*at any time*: a many-to-one join to it from a deal keeps the version whose window holds the deal's day
(valid_from <= day < valid_to, an open end still valid), so each deal counts under the owner of its account
when it was closed. Every expected row comes from SQL written here over the raw tables, never from kpiframe's
own answer. Also: the load errors of a misplaced window (KF116, KF117), the implied key check (key, start),
and a query of dimension values, which lists every version's values and refuses to join a version (KF429).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from kpiframe.errors import ProjectInvalid, QueryError
from kpiframe.project import Project
from tests.conftest import built_project, hand, write_files

DATASETS = """
datasets:
  - name: account_owners
    model: stg_account_owners
    primary_entity: account
    entities:
      - {name: account, type: primary, expr: account_id}
      - {name: rep, type: foreign, expr: owner}
    dimensions:
      - {name: owner}
      - {name: valid_from, type: time, validity: start}
      - {name: valid_to, type: time, validity: end}
  - name: reps
    model: stg_reps
    entities: [{name: rep, type: primary, expr: rep_id}]
    dimensions: [{name: team}]
  - name: deals
    model: stg_deals
    time: closed_at
    entities:
      - {name: deal, type: primary, expr: deal_id}
      - {name: account, type: foreign, expr: account_id}
    dimensions:
      - {name: closed_at, type: time}
      - {name: stage}
    measures:
      - {name: deal_count, agg: count, expr: deal_id}
      - {name: deal_amount, agg: sum, expr: amount}
  - name: meetings
    model: stg_meetings
    time: met_at
    entities:
      - {name: meeting, type: primary, expr: meeting_id}
      - {name: account, type: foreign, expr: account_id}
    measures: [{name: meeting_count, agg: count, expr: meeting_id}]
metrics:
  - {name: deals, measure: deal_count}
  - {name: bookings, measure: deal_amount}
  - {name: meetings, measure: meeting_count}
  - {name: deals_per_meeting, type: ratio, numerator: deals, denominator: meetings}
"""

FILES = {
    "kpi_project.yml": "name: versions\nwarehouse: {path: versions.duckdb}\nquery: {without_time: all}\n",
    "models/sources.yml": """
        sources:
          - name: raw
            schema: raw
            tables:
              - name: account_owners
                columns: [account_id, owner, {name: valid_from, type: DATE}, {name: valid_to, type: DATE}]
              - name: reps
                columns: [rep_id, team]
              - name: deals
                columns: [deal_id, account_id, {name: closed_at, type: TIMESTAMP}, amount, stage]
              - name: meetings
                columns: [meeting_id, account_id, {name: met_at, type: TIMESTAMP}]
    """,
    "models/stg_account_owners.sql": "select * from {{ source('raw', 'account_owners') }}",
    "models/stg_reps.sql": "select * from {{ source('raw', 'reps') }}",
    "models/stg_deals.sql": "select * from {{ source('raw', 'deals') }}",
    "models/stg_meetings.sql": "select * from {{ source('raw', 'meetings') }}",
    "metrics/versions.yml": DATASETS,
}

# a1 is alice's from 10 January, bob's from 15 February (open-ended); a2 is carol's throughout; a3 has an
# owner only from 1 March. d1 and d6 are closed before their account's first version, d3 on the day a1
# changes hands (bob's), d7's account has no history at all.
ROWS = """
    create schema raw;
    create table raw.account_owners (account_id varchar, owner varchar, valid_from date, valid_to date);
    insert into raw.account_owners values
      ('a1', 'alice', '2026-01-10', '2026-02-15'), ('a1', 'bob', '2026-02-15', null),
      ('a2', 'carol', '2026-01-01', null), ('a3', 'dave', '2026-03-01', null);
    create table raw.reps (rep_id varchar, team varchar);
    insert into raw.reps values ('alice', 'east'), ('bob', 'west'), ('carol', 'east'), ('dave', 'west');
    create table raw.deals (deal_id varchar, account_id varchar, closed_at timestamp, amount integer,
                            stage varchar);
    insert into raw.deals values
      ('d1', 'a1', '2026-01-05 10:00', 100, 'won'), ('d2', 'a1', '2026-01-20 10:00', 200, 'won'),
      ('d3', 'a1', '2026-02-15 09:00', 300, 'lost'), ('d4', 'a1', '2026-03-01 12:00', 400, 'won'),
      ('d5', 'a2', '2026-02-01 08:00', 50, 'won'), ('d6', 'a3', '2026-02-10 16:00', 70, 'lost'),
      ('d7', 'a9', '2026-02-11 16:00', 10, 'won');
    create table raw.meetings (meeting_id varchar, account_id varchar, met_at timestamp);
    insert into raw.meetings values
      ('m1', 'a1', '2026-01-12 09:00'), ('m2', 'a1', '2026-01-13 09:00'), ('m3', 'a1', '2026-02-20 09:00'),
      ('m4', 'a2', '2026-01-02 09:00'), ('m5', 'a3', '2026-03-02 09:00');
"""

VALID = """
    left join raw.account_owners o on d.account_id = o.account_id
      and cast(d.closed_at as date) >= o.valid_from
      and (o.valid_to is null or cast(d.closed_at as date) < o.valid_to)
"""
DEALS = f"from raw.deals d {VALID} where d.closed_at is not null"


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return built_project(tmp_path_factory.mktemp("versions"), FILES, "versions.duckdb", ROWS)


def answer(project: Project, **request: object) -> list[tuple]:
    result = project.query(**request)
    return sorted((tuple(_plain(v) for v in row) for row in result.rows), key=str)


def by_hand(project: Project, sql: str) -> list[tuple]:
    return sorted((tuple(_plain(v) for v in row) for row in hand(project, sql)), key=str)


def _plain(value: object) -> object:
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def test_a_deal_reads_the_owner_of_its_account_on_the_day_it_closed(versions):
    got = answer(versions, metrics=["deals", "bookings"], dimensions=["account__owner"])
    expected = by_hand(versions, f"select o.owner, count(d.deal_id), sum(d.amount) {DEALS} group by 1")
    assert got == expected
    assert ("alice", 1.0, 200.0) in got and ("bob", 2.0, 700.0) in got  # d3 on the day of the change: bob's
    assert (None, 3.0, 180.0) in got  # before the first version (d1, d6), no history (d7)
    assert sum(row[1] for row in got) == 7  # no deal is counted twice


def test_by_period_and_owner(versions):
    got = answer(versions, metrics=["deals"], dimensions=["account__owner"], grain="month")
    got = [row for row in got if row[-1]]  # kpiframe also answers 0 for every other (month, owner)
    expected = by_hand(
        versions, f"select date_trunc('month', d.closed_at)::date, o.owner, count(d.deal_id) {DEALS} group by 1, 2"
    )
    assert got == expected


def test_a_filter_on_the_owner_reads_the_same_version(versions):
    got = answer(versions, metrics=["bookings"], dimensions=["deal__stage"], where="account__owner = 'bob'")
    expected = by_hand(versions, f"select d.stage, sum(d.amount) {DEALS} and o.owner = 'bob' group by 1")
    assert got == expected == [("lost", 300.0), ("won", 400.0)]


def test_a_dimension_reached_through_the_versioned_dataset(versions):
    # two joins: deal -> the owner of its account that day -> that owner's team
    got = answer(versions, metrics=["bookings"], dimensions=["rep__team"])
    expected = by_hand(
        versions,
        f"select r.team, sum(d.amount) from raw.deals d {VALID} left join raw.reps r on o.owner = r.rep_id "
        "where d.closed_at is not null group by 1",
    )
    assert got == expected == [("east", 250.0), ("west", 700.0), (None, 180.0)]


def test_a_metric_over_two_datasets_reads_each_rows_own_version(versions):
    got = answer(versions, metrics=["deals_per_meeting"], dimensions=["account__owner"])
    expected = by_hand(
        versions,
        f"""with dl as (select o.owner, count(d.deal_id) as n {DEALS} group by 1),
        mt as (select o.owner, count(m.meeting_id) as n from raw.meetings m
               {VALID.replace("d.", "m.").replace("m.closed_at", "m.met_at")}
               where m.met_at is not null group by 1)
        select coalesce(dl.owner, mt.owner), cast(coalesce(dl.n, 0) as double) / nullif(mt.n, 0)
        from dl full join mt on dl.owner is not distinct from mt.owner""",
    )
    assert got == expected
    assert ("alice", 0.5) in got and ("bob", 2.0) in got  # m1, m2 alice's; m3 bob's; m5 dave's


def test_the_generated_join_keeps_the_version_of_the_rows_day(versions):
    sql = " ".join(versions.explain(metrics=["deals"], dimensions=["account__owner"]).split())
    day = 'CAST("t"."closed_at" AS DATE)'
    start, end = 'CAST("j1"."valid_from" AS DATE)', 'CAST("j1"."valid_to" AS DATE)'
    assert (
        f'ON "t"."account_id" = "j1"."account_id" AND ( {day} >= {start} AND ( {end} IS NULL OR {day} < {end} ) )'
        in (sql)
    ), sql


def test_the_versioned_dataset_alone_lists_every_versions_values(versions):
    # a query of values has no time to pick a version at: it lists the values some version has
    result = versions.query(metrics=[], dimensions=["account__owner"])
    assert [tuple(r) for r in result.rows] == by_hand(
        versions, "select distinct owner from raw.account_owners order by 1"
    )


def test_a_query_of_values_does_not_join_a_versioned_dataset(versions):
    with pytest.raises(QueryError) as caught:
        versions.query(metrics=[], dimensions=["deal__stage", "account__owner"])
    assert caught.value.diagnostic.code == "KF429" and "'account_owners' is versioned" in str(caught.value)


def test_the_key_check_of_a_versioned_dataset_is_per_version(versions):
    [owners] = versions.graph.expectations[("model", "stg_account_owners")]
    assert (owners.kind, owners.kwargs, owners.severity) == (
        "expect_compound_columns_to_be_unique",
        {"column_list": ["account_id", "valid_from"]},
        "warn",
    )
    assert "one row per account_id in each version from valid_from" in (owners.description or "")
    found = {r.expectation.target: r.status for r in versions.last_expectation_results}
    assert (
        found["model stg_account_owners (implied by dataset account_owners: one row per account_id and valid_from)"]
        == "pass"
    )


def test_without_an_end_a_version_is_valid_from_its_start_on(tmp_path):
    # no end column: each version holds from its start; the later start takes over only where the key has one
    text = DATASETS.replace("      - {name: valid_to, type: time, validity: end}\n", "")
    rows = ROWS.replace("('a1', 'alice', '2026-01-10', '2026-02-15'), ('a1', 'bob', '2026-02-15', null),", "")
    project = built_project(tmp_path, {**FILES, "metrics/versions.yml": text}, "versions.duckdb", rows)
    got = answer(project, metrics=["deals"], dimensions=["account__owner"])
    expected = by_hand(
        project,
        """select o.owner, count(d.deal_id) from raw.deals d left join raw.account_owners o
           on d.account_id = o.account_id and cast(d.closed_at as date) >= o.valid_from
           where d.closed_at is not null group by 1""",
    )
    assert got == expected == [("carol", 1.0), (None, 6.0)]


def _load_errors(tmp_path: Path, old: str, new: str) -> tuple[list[str], int]:
    text = DATASETS.replace(old, new, 1)
    assert text != DATASETS
    with pytest.raises(ProjectInvalid) as caught:
        Project.load(write_files(tmp_path, {**FILES, "metrics/versions.yml": text}))
    written = textwrap.dedent(text).lstrip().splitlines()
    line = next(n for n, row in enumerate(written, 1) if new.strip() in row)
    return [d.render() for d in caught.value.diagnostics], line


def test_a_validity_on_a_categorical_dimension_is_an_error_at_its_line(tmp_path):
    found, line = _load_errors(tmp_path, "- {name: stage}", "- {name: stage, validity: end}")
    found = [f for f in found if "KF116" in f]
    assert len(found) == 1 and found[0].startswith(f"metrics/versions.yml:{line}:"), found
    assert "'stage' of dataset 'deals' is the end of a validity window but not a time" in found[0]


def test_a_second_start_is_an_error_at_its_line(tmp_path):
    found, line = _load_errors(tmp_path, "- {name: owner}", "- {name: owner, type: time, validity: start}")
    assert len(found) == 1 and "error[KF117]" in found[0] and found[0].startswith(f"metrics/versions.yml:{line + 1}:")
    assert "second validity start, 'valid_from' (the first is 'owner')" in found[0]


def test_an_end_without_a_start_is_an_error_at_its_line(tmp_path):
    found, _ = _load_errors(tmp_path, ", validity: start}", "}")
    line = next(n for n, row in enumerate(textwrap.dedent(DATASETS).lstrip().splitlines(), 1) if "validity: end" in row)
    assert len(found) == 1 and "error[KF117]" in found[0], found
    assert (
        found[0].startswith(f"metrics/versions.yml:{line}:") and "validity end, 'valid_to', without a start" in found[0]
    )


def test_validity_takes_start_or_end(tmp_path):
    found, line = _load_errors(tmp_path, "validity: start}", "validity: from}")
    found = [f for f in found if "KF201" not in f]
    assert len(found) == 1 and "error[KF014]" in found[0] and found[0].startswith(f"metrics/versions.yml:{line}:"), (
        found
    )
