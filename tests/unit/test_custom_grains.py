"""Custom grains (MetricFlow's custom granularities): `calendar: time_spine: {model, day, custom_grains}` names
columns of a day-grain spine model, and `--by metric_time__sprint` / `lead__won_at__sprint` groups (or
`--where` filters) each row by the spine's value on its day (kpiframe.sql.custom_grains). Every expected
number comes from SQL written here over raw.leads and raw.spine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kpiframe.errors import KpiframeError, ProjectInvalid, QueryError
from kpiframe.imports.metricflow_filters import translate_filter
from kpiframe.project import Project
from tests.conftest import built_project, hand, write_files

PROJECT = """
    name: grains
    warehouse: {path: grains.duckdb}
    calendar:
      time_spine:
        start: 2026-01-01
        end: 2026-01-31
        model: spine
        day: ds
        custom_grains: {sprint: sprint_name, half: month_half}
"""

FILES = {
    "kpi_project.yml": PROJECT,
    "models/sources.yml": """
        sources:
          - name: raw
            schema: raw
            tables:
              - name: leads
                columns: [lead_id, channel, {name: created_at, type: TIMESTAMP}, {name: won_at, type: TIMESTAMP}]
              - name: spine
                columns: [{name: ds, type: DATE}, sprint_name, month_half]
    """,
    "models/stg_leads.sql": "select * from {{ source('raw', 'leads') }}",
    "models/spine.sql": "select * from {{ source('raw', 'spine') }}",
    "metrics/leads.yml": """
        datasets:
          - name: leads
            model: stg_leads
            time: created_at
            entities: [{name: lead, type: primary, expr: lead_id}]
            dimensions: [{name: channel}, {name: won_at, type: time}]
            measures:
              - {name: lead_count, agg: count, expr: lead_id}
        metrics:
          - {name: leads, measure: lead_count}
          - {name: leads_running, type: cumulative, metric: leads, window: 7 days}
          - {name: email_leads, measure: lead_count, filter: "channel = 'email'", join_to_timespine: true}
          - name: leads_two_days_ago
            type: derived
            expr: leads_before
            inputs: [{metric: leads, alias: leads_before, offset: 2 days}]
    """,
}

# the spine covers 2026-01-01..2026-01-10 only: sprint s1 is 1-4 January, s2 5-10; a lead of 20 January
# has no spine row (NULL sprint)
ROWS = """
    create schema raw;
    create table raw.spine as
      select d::date as ds,
             case when d < date '2026-01-05' then 's1' else 's2' end as sprint_name,
             case when day(d) <= 5 then 'first' else 'second' end as month_half
      from generate_series(date '2026-01-01', date '2026-01-10', interval 1 day) t(d);
    create table raw.leads (lead_id varchar, channel varchar, created_at timestamp, won_at timestamp);
    insert into raw.leads values
      ('l1', 'ads',   '2026-01-02 09:00', '2026-01-06 10:00'),
      ('l2', 'ads',   '2026-01-04 23:30', null),
      ('l3', 'email', '2026-01-05 08:00', '2026-01-09 08:00'),
      ('l4', 'email', '2026-01-08 12:00', null),
      ('l5', 'ads',   '2026-01-20 12:00', '2026-01-03 12:00'),
      ('l6', 'ads',   null,               null);
"""


@pytest.fixture(scope="module")
def grains(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return built_project(tmp_path_factory.mktemp("grains"), FILES, "grains.duckdb", ROWS)


def ints(rows: list[tuple]) -> list[tuple]:
    return sorted(
        (tuple(int(v) if isinstance(v, float | int) else v for v in row) for row in rows),
        key=lambda row: [str(v) for v in row],
    )


def test_grouping_by_a_custom_grain_reads_the_spine_column_of_each_rows_day(grains):
    result = grains.query(metrics=["leads"], dimensions=["metric_time__sprint"], grain="all")
    assert result.columns == ["metric_time__sprint", "leads"]
    expected = hand(
        grains,
        "select s.sprint_name, count(l.lead_id) from raw.leads l left join raw.spine s"
        " on s.ds = cast(l.created_at as date) where l.created_at is not null group by 1",
    )
    assert ints(result.rows) == ints(expected) == [(None, 1), ("s1", 2), ("s2", 2)]  # 20 January: no spine row


def test_a_custom_grain_with_a_period_and_a_dimension(grains):
    result = grains.query(metrics=["leads"], dimensions=["metric_time__half", "channel"], grain="month")
    expected = hand(
        grains,
        "select date_trunc('month', l.created_at)::date, s.month_half, l.channel, count(*) from raw.leads l"
        " left join raw.spine s on s.ds = cast(l.created_at as date) where l.created_at is not null"
        " group by all",
    )
    assert ints([row for row in result.rows if row[-1]]) == ints(expected)


def test_a_time_dimension_of_the_dataset_has_its_own_custom_grain(grains):
    result = grains.query(metrics=["leads"], dimensions=["lead__won_at__sprint"], grain="all")
    expected = hand(
        grains,
        "select s.sprint_name, count(*) from raw.leads l left join raw.spine s on s.ds = cast(l.won_at as date)"
        " where l.created_at is not null group by 1",
    )
    assert ints(result.rows) == ints(expected) == [(None, 2), ("s1", 1), ("s2", 2)]


def test_a_filter_on_a_custom_grain_keeps_rows_before_aggregation(grains):
    result = grains.query(metrics=["leads"], grain="month", where="metric_time__sprint = 's2'")
    expected = hand(
        grains,
        "select count(*) from raw.leads l join raw.spine s on s.ds = cast(l.created_at as date)"
        " where s.sprint_name = 's2'",
    )
    assert [int(row[-1]) for row in result.rows if row[-1]] == [expected[0][0]] == [2]
    # MetricFlow's template names the same column
    translated = grains.query(
        metrics=["leads"],
        dimensions=["channel"],
        grain="all",
        where="{{ TimeDimension('metric_time', 'sprint') }} = 's1'",
    )
    assert ints(translated.rows) == [("ads", 2)]


def test_a_whole_day_offset_moves_the_day_before_it_takes_its_custom_value(grains):
    result = grains.query(metrics=["leads_two_days_ago"], dimensions=["metric_time__sprint"], grain="all")
    expected = hand(
        grains,
        "select s.sprint_name, count(*) from raw.leads l left join raw.spine s"
        " on s.ds = cast(l.created_at as date) + 2 where l.created_at is not null group by 1",
    )
    assert ints(result.rows) == ints(expected) == [(None, 1), ("s1", 1), ("s2", 3)]


def test_join_to_timespine_lists_every_value_of_the_spine(grains):
    # no email lead falls in sprint s1: the spine's value has its row all the same, as MetricFlow lists it
    result = grains.query(metrics=["email_leads"], dimensions=["metric_time__sprint"], grain="all")
    expected = hand(
        grains,
        "select v.sprint_name, coalesce(c.n, 0) from (select distinct sprint_name from raw.spine) v left join"
        " (select s.sprint_name, count(*) as n from raw.leads l left join raw.spine s"
        " on s.ds = cast(l.created_at as date) where l.channel = 'email' group by 1) c using (sprint_name)",
    )
    assert ints(result.rows) == ints(expected) == [("s1", 0), ("s2", 2)]  # a count over no rows: 0


def test_a_cumulative_metric_by_a_custom_grain_reads_the_last_day_of_each_value(grains):
    # its daily series from the first lead's day to the last's; each sprint shows the running count of its
    # last day (period_agg last): 4 January for s1, 10 January for s2, 20 January for the days the spine lacks
    result = grains.query(metrics=["leads_running"], dimensions=["metric_time__sprint"], grain="all")
    expected = hand(
        grains,
        """
        with days as (
            select d::date as d from generate_series(date '2026-01-02', date '2026-01-20', interval 1 day) t(d)
        ), running as (
            select days.d, s.sprint_name as sprint,
                (select count(*) from raw.leads where created_at::date > days.d - 7 and created_at::date <= days.d) as n
            from days left join raw.spine s on s.ds = days.d
        )
        select sprint, arg_max(n, d) from running group by sprint
        """,
    )
    assert ints(result.rows) == ints(expected) == [(None, 1), ("s1", 2), ("s2", 3)]


def test_what_phase_one_does_not_answer_is_refused(grains):
    with pytest.raises(QueryError) as cumulative:  # a custom grain of another time than the metric's
        grains.query(metrics=["leads_running"], dimensions=["lead__won_at__sprint"], grain="all")
    assert cumulative.value.diagnostic.code == "KF432"
    with pytest.raises(QueryError) as period:
        grains.query(metrics=["leads"], grain="sprint")
    assert period.value.diagnostic.code == "KF432" and "--by metric_time__sprint" in (
        period.value.diagnostic.hint or ""
    )
    with pytest.raises(QueryError) as not_time:
        grains.query(metrics=["leads"], dimensions=["lead__channel__sprint"], grain="all")
    assert not_time.value.diagnostic.code == "KF432"


def test_the_metricflow_filter_template_names_the_custom_grain():
    translated = translate_filter(
        "{{ Dimension('lead__won_at').grain('sprint') }} >= 's2'",
        lambda: "lead__created_at",
        date_parts=True,
        custom_grains=("sprint",),
    )
    assert translated.text == "lead__won_at__sprint >= 's2'"


@pytest.mark.parametrize(
    ("calendar", "code", "words"),
    [
        ("{start: 2026-01-01, end: 2026-01-31, model: spine, custom_grains: {week: w}}", "KF014", "name of a grain"),
        ("{start: 2026-01-01, end: 2026-01-31, model: spine, custom_grains: {extract_x: w}}", "KF014", "date part"),
        ("{start: 2026-01-01, end: 2026-01-31, model: spine, custom_grains: {sprint: 'a b'}}", "KF014", "plain name"),
        ("{start: 2026-01-01, end: 2026-01-31, custom_grains: {sprint: s}}", "KF014", "set model"),
        ("{start: 2026-01-01, end: 2026-01-31, model: no_such_model, custom_grains: {sprint: s}}", "KF206", "model"),
    ],
)
def test_an_invalid_time_spine_is_a_located_error(tmp_path: Path, calendar: str, code: str, words: str):
    files = dict(FILES)
    files["kpi_project.yml"] = (
        f"name: grains\nwarehouse: {{path: grains.duckdb}}\ncalendar:\n  time_spine: {calendar}\n"
    )
    root = write_files(tmp_path, files)
    with pytest.raises(KpiframeError) as caught:
        Project.load(root).compile()
    problems = caught.value.diagnostics if isinstance(caught.value, ProjectInvalid) else [caught.value.diagnostic]
    found = [d for d in problems if d.code == code]
    assert found and words in found[0].message
    assert found[0].location is not None and found[0].location.path == "kpi_project.yml"
    assert found[0].location.line == 4


def test_the_values_of_a_custom_grain_without_a_metric(grains):
    result = grains.query(
        metrics=[], dimensions=["lead__won_at__sprint"], grain="all", where="lead__won_at__sprint >= 's2'"
    )
    expected = hand(
        grains,
        "select distinct s.sprint_name from raw.leads l left join raw.spine s on s.ds = cast(l.won_at as date)"
        " where s.sprint_name >= 's2'",
    )
    assert result.rows == expected == [("s2",)]


DBT_FILES = {
    "dbt_project.yml": "name: shop\n",
    "models/orders.sql": "select * from raw.orders\n",
    "models/time_spine_daily.sql": "select * from raw.days\n",
    "models/schema.yml": """
        models:
          - name: time_spine_daily
            time_spine:
              standard_granularity_column: date_day
              custom_granularities:
                - {name: retail_week, column_name: rw}
                - {name: week}
    """,
    "models/semantic.yml": """
        semantic_models:
          - name: orders
            model: ref('orders')
            defaults: {agg_time_dimension: ordered_at}
            entities: [{name: order, type: primary, expr: order_id}]
            dimensions:
              - {name: ordered_at, type: time, type_params: {time_granularity: day}}
              - {name: shipped_at, type: time, type_params: {time_granularity: day}}
            measures: [{name: order_count, agg: count, expr: order_id, create_metric: true}]
    """,
}

DBT_ROWS = """
    create schema raw;
    create table raw.days as
      select d::date as date_day, 'rw' || cast((day(d) - 1) // 7 + 1 as varchar) as rw
      from generate_series(date '2026-03-01', date '2026-03-20', interval 1 day) t(d);
    create table raw.orders (order_id varchar, ordered_at timestamp, shipped_at timestamp);
    insert into raw.orders values ('o1', '2026-03-02 10:00', '2026-03-09 10:00'),
      ('o2', '2026-03-08 10:00', null), ('o3', '2026-03-09 10:00', '2026-03-30 10:00'),
      ('o4', '2026-03-25 10:00', '2026-03-26 10:00');
"""


def test_the_import_reads_a_dbt_time_spine_and_its_custom_granularities(tmp_path: Path):
    import duckdb

    from kpiframe.imports.metricflow import plan_import, render_summary, write_import

    dbt = write_files(tmp_path / "dbt", DBT_FILES)
    out = tmp_path / "out"
    result = plan_import(dbt, out)
    write_import(result)
    settings = (out / "kpi_project.yml").read_text(encoding="utf-8")
    assert "    model: time_spine_daily\n    day: date_day\n    custom_grains: {retail_week: rw}\n" in settings
    assert "custom granularity 'week' has a name kpiframe reserves" in render_summary(result)
    again = render_summary(plan_import(dbt, out))  # kpi_project.yml is never rewritten: the import says what to add
    assert "kpi_project.yml exists: add calendar: time_spine: {model: time_spine_daily, day: date_day" in again
    with duckdb.connect(str(out / "warehouse.duckdb")) as con:
        con.execute(DBT_ROWS)
    project = Project.load(out)
    project.build()
    # MetricFlow's names: the group-by and the filter template of a dataset's time dimension
    result_rows = project.query(
        metrics=["order_count"],
        dimensions=["metric_time__retail_week"],
        where="{{ Dimension('order__shipped_at').grain('retail_week') }} IS NOT NULL",
    ).rows
    expected = hand(
        project,
        "select d.rw, count(*) from raw.orders o left join raw.days d on d.date_day = cast(o.ordered_at as date)"
        " join raw.days s on s.date_day = cast(o.shipped_at as date) group by 1",
    )
    assert ints(result_rows) == ints(expected) == [("rw1", 1)]  # o1 only: o3, o4 shipped after the spine
    by_dimension = project.query(metrics=["order_count"], dimensions=["order__shipped_at__retail_week"]).rows
    assert ints(by_dimension) == [(None, 3), ("rw2", 1)]  # 30 and 26 March and no shipping: not in the spine
