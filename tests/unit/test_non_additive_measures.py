"""Semi-additive measures (`non_additive:` on a measure): an account balance is not added up over time; each
period aggregates only the rows at its last (or first) day, over all accounts or per account.

Every expected number comes from SQL written here over raw.balances, which finds the chosen day with a
GROUP BY and a join (never a window, as kpiframe does), never from kpiframe itself.
"""

from __future__ import annotations

import textwrap
from datetime import date

import pytest
import sqlglot

from kpiframe.errors import ProjectInvalid
from kpiframe.project import Project
from kpiframe.sql.metric_query import MetricRequest, compile_request
from tests.conftest import built_project, hand, write_files

DATASET = """
        datasets:
          - name: balances
            model: stg_balances
            time: ds
            entities:
              - {name: account, type: foreign, expr: account_id}
              - {name: owner, type: foreign, expr: owner_id}
            dimensions:
              - {name: kind}
              - {name: ds, type: time}
              - {name: kf_at, expr: kind}  # the name of a working column of the scan
            measures:
              - {name: balance_sum, agg: sum, expr: balance}
              - name: closing_balance
                agg: sum
                expr: balance
                non_additive: {choose: last}
              - name: opening_balance
                agg: sum
                expr: balance
                non_additive: {dimension: ds, choose: first}
              - name: account_balance
                agg: sum
                expr: balance
                non_additive:
                  choose: last
                  per: [account]
              - name: accounts_on_last_day
                agg: count_distinct
                expr: account_id
                non_additive: {}
              - name: owner_balance
                agg: sum
                expr: balance
                non_additive: {per: [owner]}
"""

METRICS = """
        metrics:
          - {name: balances_added, measure: balance_sum}
          - {name: closing, measure: closing_balance}
          - {name: closing_or_null, measure: closing_balance, fill_nulls_with: null}
          - {name: opening, measure: opening_balance}
          - {name: latest_per_account, measure: account_balance}
          - {name: open_accounts, measure: accounts_on_last_day}
          - {name: latest_per_owner, measure: owner_balance}
          - {name: closing_checking, measure: closing_balance, filter: "kind = 'checking'"}
          - {name: change, type: derived, expr: closing - opening}
          - name: closing_growth
            type: derived
            expr: closing - closing_before
            inputs: [{metric: closing, alias: closing_before, offset: previous}]
          - {name: per_account_share, type: ratio, numerator: closing, denominator: latest_per_account}
"""

FILES = {
    "kpi_project.yml": """
        name: balances
        warehouse: {path: balances.duckdb}
    """,
    "models/sources.yml": """
        sources:
          - name: raw
            schema: raw
            tables:
              - name: balances
                columns: [account_id, owner_id, kind, {name: ds, type: DATE}, {name: balance, type: INTEGER}]
    """,
    "models/stg_balances.sql": "select * from {{ source('raw', 'balances') }}",
    "metrics/balances.yml": DATASET + METRICS,
}

# a1: gaps (no row on 3-4 January), on the last day of both months;
# a2: a NULL balance on 2 January, missing on January's last day (31st: its last row is the 30th);
# a3: missing on February's last day (10th: its last row is the 3rd);
# a4: no owner, a NULL balance on January's last day; a row without a day, never chosen.
ROWS = """
    create schema raw;
    create table raw.balances (account_id varchar, owner_id varchar, kind varchar, ds date, balance integer);
    insert into raw.balances values
      ('a1', 'u1', 'checking', '2026-01-01', 100),
      ('a1', 'u1', 'checking', '2026-01-02', 110),
      ('a1', 'u1', 'checking', '2026-01-05', 120),
      ('a1', 'u1', 'checking', '2026-01-31', 130),
      ('a1', 'u1', 'checking', '2026-02-01', 140),
      ('a1', 'u1', 'checking', '2026-02-10', 150),
      ('a2', 'u1', 'savings', '2026-01-01', 500),
      ('a2', 'u1', 'savings', '2026-01-02', null),
      ('a2', 'u1', 'savings', '2026-01-30', 520),
      ('a2', 'u1', 'savings', '2026-02-10', 530),
      ('a3', 'u2', 'checking', '2026-01-02', 50),
      ('a3', 'u2', 'checking', '2026-01-31', 60),
      ('a3', 'u2', 'checking', '2026-02-03', 70),
      ('a4', null, 'savings', '2026-01-31', null),
      ('a4', null, 'savings', '2026-02-10', 10),
      ('a5', 'u3', 'savings', null, 999);
"""

MONTH = "cast(date_trunc('month', ds) as date)"


def chosen_rows(pick: str = "max", key: str = MONTH, per: str = "", where: str = "true") -> str:
    """The rows at the last (first) day of each `key` (and `per` value), among the rows `where` keeps."""
    per_select = f", {per}" if per else ""
    per_match = f"and l.{per} is not distinct from b.{per}" if per else ""
    return f"""
        select b.*, {key.replace("ds", "b.ds")} as k from raw.balances b
        join (select {key} as k{per_select}, {pick}(ds) as chosen from raw.balances
              where ds is not null and {where} group by all) l
          on {key.replace("ds", "b.ds")} = l.k {per_match} and b.ds = l.chosen
        where {where.replace("kind", "b.kind")}
    """


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return built_project(tmp_path_factory.mktemp("balances"), FILES, "balances.duckdb", ROWS)


def answer(project: Project, metrics: list[str], **kwargs: object) -> dict[object, tuple[object, ...]]:
    result = project.query(metrics=metrics, **kwargs)  # type: ignore[arg-type]
    return {row[0]: tuple(None if v is None else float(v) for v in row[1:]) for row in result.rows}


def expected(project: Project, sql: str) -> dict[object, tuple[object, ...]]:
    return {row[0]: tuple(None if v is None else float(v) for v in row[1:]) for row in hand(project, sql)}


def test_the_last_day_of_each_month_not_the_sum_of_its_days(project):
    mine = answer(project, ["closing", "balances_added"], grain="month")
    theirs = expected(
        project,
        f"""select c.k, c.total, a.added from
              (select k, sum(balance) as total from ({chosen_rows()}) group by k) c
              join (select {MONTH} as k, sum(balance) as added from raw.balances group by 1) a using (k)""",
    )
    assert mine == theirs
    # January's last day is the 31st: a1 130 + a3 60 (+ a4's NULL); a2, missing that day, is not counted
    assert mine[date(2026, 1, 1)] == (190.0, 1590.0)
    assert mine[date(2026, 2, 1)] == (690.0, 900.0)


def test_the_first_day_of_each_month(project):
    mine = answer(project, ["opening"], grain="month")
    theirs = expected(project, f"select k, sum(balance) from ({chosen_rows('min')}) group by k")
    assert mine == theirs == {date(2026, 1, 1): (600.0,), date(2026, 2, 1): (140.0,)}


def test_at_day_grain_every_row_of_the_day_is_kept(project):
    mine = answer(project, ["closing", "opening", "balances_added"], grain="day")
    theirs = expected(
        project, "select ds, sum(balance), sum(balance), sum(balance) from raw.balances where ds is not null group by 1"
    )
    assert {day: mine[day] for day in theirs} == {
        day: tuple(0.0 if v is None else v for v in values) for day, values in theirs.items()
    }
    assert all(values == (0.0, 0.0, 0.0) for day, values in mine.items() if day not in theirs)  # the gaps


def test_per_account_each_account_keeps_its_own_last_day(project):
    mine = answer(project, ["latest_per_account", "closing"], grain="month")
    theirs = expected(
        project,
        f"""select p.k, p.total, c.total from
              (select k, sum(balance) as total from ({chosen_rows(per="account_id")}) group by k) p
              join (select k, sum(balance) as total from ({chosen_rows()}) group by k) c using (k)""",
    )
    assert mine == theirs
    # January: a1 130 (31st) + a2 520 (30th) + a3 60 (31st) + a4 NULL (31st); February: a3's 70 of the 3rd counts
    assert mine == {date(2026, 1, 1): (710.0, 190.0), date(2026, 2, 1): (760.0, 690.0)}


def test_per_an_entity_with_null_values_chooses_for_the_null_group_too(project):
    mine = answer(project, ["latest_per_owner"], grain="month")
    theirs = expected(project, f"select k, sum(balance) from ({chosen_rows(per='owner_id')}) group by k")
    assert mine == theirs
    # u1's last January day is the 31st (a1 130; a2 has no row that day), u2's the 31st (60), no owner's too
    assert mine[date(2026, 1, 1)] == (190.0,)
    assert mine[date(2026, 2, 1)] == (760.0,)  # u1 10th: 150 + 530; u2 3rd: 70; no owner 10th: 10


def test_a_dimension_does_not_change_the_day_chosen_so_groups_add_up(project):
    theirs = {
        (row[0], row[1]): (float(row[2]) if row[2] is not None else 0.0, float(row[3]))
        for row in hand(
            project,
            f"""select c.k, c.kind, c.total, p.total from
                  (select k, kind, sum(balance) as total from ({chosen_rows()}) group by all) c
                  right join (select k, kind, sum(balance) as total from ({chosen_rows(per="account_id")})
                              group by all) p using (k, kind)""",
        )
    }
    rows = project.query(metrics=["closing", "latest_per_account"], grain="month", dimensions=["kind"]).rows
    found = {(r[0], r[1]): (float(r[2]), float(r[3])) for r in rows}
    assert found == theirs
    # savings in January: the month's last day (31st) has only a4's NULL, so 0, not a2's 520 of the 30th
    assert found[(date(2026, 1, 1), "savings")] == (0.0, 520.0)
    assert found[(date(2026, 1, 1), "checking")][0] + found[(date(2026, 1, 1), "savings")][0] == 190.0


def test_a_dimension_named_like_a_working_column_is_grouped_by_as_any_other(project):
    asked = ["closing", "latest_per_account", "latest_per_owner"]
    by_kind = project.query(metrics=asked, grain="month", dimensions=["kind"]).rows
    assert project.query(metrics=asked, grain="month", dimensions=["kf_at"]).rows == by_kind


def test_a_null_balance_on_the_chosen_day_answers_null_with_fill_nulls_with_null(project):
    rows = project.query(metrics=["closing_or_null"], grain="month", dimensions=["kind"]).rows
    found = {(r[0], r[1]): r[2] for r in rows}
    assert found[(date(2026, 1, 1), "savings")] is None  # a row that day, its balance NULL
    assert float(found[(date(2026, 2, 1), "savings")]) == 540.0


def test_count_distinct_of_the_accounts_of_the_last_day(project):
    mine = answer(project, ["open_accounts"], grain="month")
    theirs = expected(project, f"select k, count(distinct account_id) from ({chosen_rows()}) group by k")
    assert mine == theirs == {date(2026, 1, 1): (3.0,), date(2026, 2, 1): (3.0,)}


def test_filters_apply_before_the_day_is_chosen(project):
    where = "kind = 'savings'"
    mine = answer(project, ["closing", "latest_per_account"], grain="month", where=where)
    theirs = expected(
        project,
        f"""select c.k, coalesce(c.total, 0), p.total from
              (select k, sum(balance) as total from ({chosen_rows(where=where)}) group by k) c
              join (select k, sum(balance) as total from ({chosen_rows(per="account_id", where=where)})
                    group by k) p using (k)""",
    )
    assert mine == theirs
    # the metric's own filter is the same: the last day with a checking row (February: a1's 10th, not a3's 3rd)
    checking = answer(project, ["closing_checking"], grain="month")
    only_checking = chosen_rows(where="kind = 'checking'")
    assert checking == expected(project, f"select k, sum(balance) from ({only_checking}) group by k")
    assert checking == {date(2026, 1, 1): (190.0,), date(2026, 2, 1): (150.0,)}


def test_over_all_time_the_last_day_of_the_range(project):
    mine = answer(project, ["closing", "opening", "latest_per_account"], grain="all", dimensions=["kind"])
    whole = "'all'"
    theirs = expected(
        project,
        f"""select kind, coalesce(sum(balance) filter (where src = 'c'), 0), sum(balance) filter (where src = 'o'),
                   sum(balance) filter (where src = 'p') from (
              select 'c' as src, * from ({chosen_rows(key=whole)})
              union all select 'o', * from ({chosen_rows("min", key=whole)})
              union all select 'p', * from ({chosen_rows(key=whole, per="account_id")})) group by kind""",
    )
    assert mine == theirs
    assert mine["checking"] == (150.0, 100.0, 220.0)  # 10 Feb: a1; 1 Jan: a1; a1 150 + a3 70
    # --end bounds the rows' days: the last day is then 31 January
    bounded = project.query(metrics=["closing"], grain="all", end=date(2026, 1, 31)).rows
    assert [tuple(float(v) for v in row) for row in bounded] == [(190.0,)]


def test_derived_ratio_and_offset_metrics_read_the_chosen_values(project):
    mine = answer(project, ["change", "closing_growth", "per_account_share"], grain="month")
    assert mine[date(2026, 1, 1)] == (190.0 - 600.0, 190.0, 190.0 / 710.0)
    assert mine[date(2026, 2, 1)] == (690.0 - 140.0, 690.0 - 190.0, 690.0 / 760.0)


def test_the_sql_is_a_window_that_renders_for_postgres_and_spark(project):
    select = compile_request(project.layer, MetricRequest(("latest_per_account",), ("kind",), "week"))
    for dialect in ("duckdb", "postgres", "spark"):
        text = select.sql(dialect=dialect)
        assert "OVER (PARTITION BY" in text and "QUALIFY" not in text.upper(), dialect
        sqlglot.parse_one(text, read=dialect)  # reads back in its own dialect


# --- errors ----------------------------------------------------------------------------------------------


def _invalid(tmp_path, dataset: str, metrics: str = METRICS) -> list[str]:
    files = dict(FILES)
    files["metrics/balances.yml"] = dataset + metrics
    with pytest.raises(ProjectInvalid) as caught:
        Project.load(write_files(tmp_path, files))
    return [d.render() for d in caught.value.diagnostics]


def _line(text: str, needle: str) -> int:
    lines = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(lines) == 1, needle
    return lines[0]


@pytest.mark.parametrize(
    ("old", "new", "code", "says"),
    [
        ("non_additive: {choose: last}", "non_additive: {choose: latest}", "KF014", "'last' or 'first'"),
        (
            "non_additive: {dimension: ds, choose: first}",
            "non_additive: {dimension: kind, choose: first}",
            "KF111",
            "'kind' is a categorical dimension of dataset 'balances'",
        ),
        (
            "non_additive: {dimension: ds, choose: first}",
            "non_additive: {dimension: day, choose: first}",
            "KF111",
            "'day' is not a dimension",
        ),
        ("per: [account]", "per: [acount]", "KF112", "'acount' is neither an entity nor a dimension"),
        ("non_additive: {choose: last}", "non_additive: {choose: last, over: ds}", "KF012", "unknown key 'over'"),
    ],
)
def test_a_bad_non_additive_is_an_error_at_its_line_with_a_hint(tmp_path, old, new, code, says):
    dataset = DATASET.replace(old, new, 1)
    # a dataset that does not parse has no measures: metrics over them would report that too
    metrics = METRICS if code.startswith("KF11") else ""
    found = _invalid(tmp_path, dataset, metrics)
    line = _line(textwrap.dedent(dataset + metrics).lstrip(), new)
    assert len(found) == 1, found
    assert found[0].startswith(f"metrics/balances.yml:{line}:") and f"error[{code}]" in found[0], found
    assert says in found[0], found
    if code in ("KF111", "KF112"):
        assert "hint:" in found[0] and ("'ds'" in found[0] or "account" in found[0]), found


def test_a_cumulative_or_conversion_metric_over_a_non_additive_measure_is_refused_at_its_line(tmp_path):
    metrics = (
        METRICS
        + "          - {name: running, type: cumulative, metric: closing, window: 7 days}\n"
        + "          - {name: conv, type: conversion, base_measure: closing_balance, conversion_measure: balance_sum,"
        + " entity: account}\n"
    )
    found = _invalid(tmp_path, DATASET, metrics)
    text = textwrap.dedent(DATASET + metrics).lstrip()
    assert len(found) == 2, found
    cumulative, conversion = found
    assert cumulative.startswith(f"metrics/balances.yml:{_line(text, 'name: running')}:"), cumulative
    assert "error[KF204]" in cumulative and "accumulates 'closing', whose measure 'closing_balance'" in cumulative
    assert "hint:" in cumulative
    assert conversion.startswith(f"metrics/balances.yml:{_line(text, 'name: conv')}:"), conversion
    assert "error[KF204]" in conversion and "pairs the rows of measure 'closing_balance'" in conversion


def test_a_target_on_a_non_additive_metric_is_refused_as_it_cannot_be_summed_over_days(tmp_path):
    files = dict(FILES)
    files["metrics/targets.yml"] = """
        targets:
          - {metric: closing, values: {2026-01: 200}}
          - {metric: balances_added, values: {2026-01: 2000}}
    """
    with pytest.raises(ProjectInvalid) as caught:
        Project.load(write_files(tmp_path, files))  # KPI targets are validated with the project
    found = [d.render() for d in caught.value.diagnostics]
    assert len(found) == 1 and found[0].startswith("metrics/targets.yml:2:"), found
    assert "error[KF807]" in found[0] and "non_additive measure 'closing_balance'" in found[0], found


def test_the_catalog_says_which_day_a_non_additive_metric_reads(project):
    from kpiframe.build.catalog import formula_text

    measures = {m.name: (m, d.spec.name) for d in project.graph.datasets.values() for m in d.spec.measures}
    assert formula_text(project.layer.metric("latest_per_account"), measures) == (
        "sum(balance) from balances at the last time of each period per account"  # the dataset's time
    )
    assert formula_text(project.layer.metric("opening"), measures).endswith(" at the first ds of each period")
