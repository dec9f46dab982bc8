"""`kpiframe import metricflow` maps a measure's `non_additive_dimension` (a semi-additive measure such as a
balance) onto kpiframe's `non_additive:`: window_choice max/min is choose last/first, window_groupings is per.

The imported project is built over a few hand-written rows and every number is compared with SQL written
here (the chosen day found with GROUP BY and a join), never with kpiframe's own output.
"""

from __future__ import annotations

import textwrap
from datetime import date

import duckdb
import pytest
import yaml

from kpiframe.imports.metricflow import plan_import, write_import
from kpiframe.project import Project

SEMANTIC = """
semantic_models:
  - name: balances
    node_relation: {schema_name: raw, alias: balances}
    defaults: {agg_time_dimension: ds}
    primary_entity: snapshot
    entities:
      - {name: account, type: foreign, expr: account_id}
    dimensions:
      - {name: ds, type: time, type_params: {time_granularity: day}}
      - {name: kind, type: categorical}
    measures:
      - name: closing_balance
        agg: sum
        expr: balance
        non_additive_dimension: {name: ds, window_choice: max}
      - name: opening_balance
        agg: sum
        expr: balance
        non_additive_dimension: {name: ds}
      - name: account_balance
        agg: sum
        expr: balance
        non_additive_dimension:
          name: ds
          window_choice: max
          window_groupings: [account]
      - name: odd_choice
        agg: sum
        expr: balance
        non_additive_dimension: {name: ds, window_choice: sum}
      - name: odd_grouping
        agg: sum
        expr: balance
        non_additive_dimension: {name: ds, window_groupings: [customer]}
      - name: odd_dimension
        agg: sum
        expr: balance
        non_additive_dimension: {name: kind}
metrics:
  - {name: closing, type: simple, type_params: {measure: closing_balance}}
  - {name: opening, type: simple, type_params: {measure: opening_balance}}
  - {name: latest_per_account, type: simple, type_params: {measure: account_balance}}
  - name: running_closing
    type: cumulative
    type_params: {measure: closing_balance, window: 7 days}
"""

ROWS = """
    create schema raw;
    create table raw.balances (account_id varchar, kind varchar, ds date, balance integer);
    insert into raw.balances values
      ('a1', 'checking', '2026-01-01', 100), ('a1', 'checking', '2026-01-31', 130),
      ('a2', 'savings', '2026-01-01', 500), ('a2', 'savings', '2026-01-30', 520),
      ('a1', 'checking', '2026-02-10', 150), ('a2', 'savings', '2026-02-03', 530);
"""


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("mf_balances")
    dbt = root / "dbt"
    (dbt / "models").mkdir(parents=True)
    (dbt / "dbt_project.yml").write_text("name: balances\nversion: '1.0'\nprofile: balances\n")
    (dbt / "models" / "semantic.yml").write_text(SEMANTIC.lstrip())
    out = root / "out"
    out.mkdir()
    result = plan_import(dbt, out)
    write_import(result)
    with duckdb.connect(str(out / "warehouse.duckdb")) as con:
        con.execute(textwrap.dedent(ROWS))
    project = Project.load(out)
    project.build()
    return result, project, out


def test_window_choice_and_groupings_become_choose_and_per(imported):
    result, _, out = imported
    written = yaml.safe_load((out / "metrics" / "semantic.yml").read_text())
    measures = {m["name"]: m for m in written["datasets"][0]["measures"]}
    assert measures["closing_balance"]["non_additive"] == {"dimension": "ds", "choose": "last"}
    assert measures["opening_balance"]["non_additive"] == {"dimension": "ds", "choose": "first"}  # MetricFlow's min
    assert measures["account_balance"]["non_additive"] == {"dimension": "ds", "choose": "last", "per": ["account"]}
    assert not {"odd_choice", "odd_grouping", "odd_dimension"} & set(measures)


def test_what_cannot_be_mapped_is_reported_at_its_line(imported):
    result, _, _ = imported
    text = SEMANTIC.lstrip()
    notes = {(n.line, n.subject): n.message for n in result.unmapped()}
    choice = notes[(line_of(text, "window_choice: sum"), "measure 'odd_choice' of semantic model 'balances'")]
    assert "window_choice 'sum'" in choice and "not imported" in choice
    grouping = notes[(line_of(text, "[customer]"), "measure 'odd_grouping' of semantic model 'balances'")]
    assert "window_groupings 'customer'" in grouping
    dimension = notes[(line_of(text, "{name: kind}"), "measure 'odd_dimension' of semantic model 'balances'")]
    assert "'kind' is not a time dimension" in dimension
    running = notes[(line_of(text, "measure: closing_balance, window"), "cumulative metric 'running_closing'")]
    assert "non_additive" in running and "not imported" in running


def test_the_imported_metrics_answer_the_rows_of_the_chosen_day(imported):
    _, project, out = imported
    rows = project.query(metrics=["closing", "opening", "latest_per_account"], grain="month").rows
    with duckdb.connect(str(out / "warehouse.duckdb"), read_only=True) as con:
        expected = con.execute(
            """
            with m as (select *, cast(date_trunc('month', ds) as date) as k from raw.balances),
            pick as (select k, max(ds) as last_day, min(ds) as first_day from m group by k),
            per as (select k, account_id, max(ds) as last_day from m group by k, account_id)
            select k,
                   (select sum(balance) from m join pick p using (k) where m.k = o.k and m.ds = p.last_day),
                   (select sum(balance) from m join pick p using (k) where m.k = o.k and m.ds = p.first_day),
                   (select sum(balance) from m join per p using (k, account_id) where m.k = o.k and m.ds = p.last_day)
            from (select distinct k from m) o order by k
            """
        ).fetchall()
    assert [tuple(float(v) for v in row[1:]) for row in rows] == [tuple(float(v) for v in row[1:]) for row in expected]
    assert [row[0] for row in rows] == [date(2026, 1, 1), date(2026, 2, 1)]
    # January: the 31st has a1 only (130); a1's 31st and a2's 30th per account (650)
    assert [float(v) for v in rows[0][1:]] == [130.0, 600.0, 650.0]
