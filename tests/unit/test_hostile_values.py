"""Dimension values without a metric (`kpiframe query --by lead__channel`) over values as CRM exports have
them: NULL, the empty string, trailing spaces and other cases of the same word, quotes, a newline, a tab
and a comma, unicode, a 10,000-character value, duplicates, foreign keys that are NULL or point nowhere,
an empty load. The values must come back exactly as stored, through the API and through the CLI's csv and
json output. Every expected answer comes from SQL written here over the raw tables.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from kpiframe.cli.main import main
from kpiframe.errors import QueryError
from kpiframe.imports.metricflow_filters import translate_filter
from kpiframe.project import Project
from tests.conftest import built_project, hand

LONG = "ü" * 10_000

FILES = {
    "kpi_project.yml": """
        name: hostile_values
        warehouse: {path: values.duckdb}
    """,
    "models/sources.yml": """
        sources:
          - name: raw
            schema: raw
            tables:
              - name: leads
                columns: [lead_id, account_id, channel, {name: created_at, type: TIMESTAMP}]
              - name: accounts
                columns: [account_id, industry]
    """,
    "models/stg_leads.sql": "select * from {{ source('raw', 'leads') }}",
    "models/stg_accounts.sql": "select * from {{ source('raw', 'accounts') }}",
    "metrics/leads.yml": """
        datasets:
          - name: leads
            model: stg_leads
            time: created_at
            entities: [{name: lead, type: foreign, expr: lead_id}, {name: account, type: foreign, expr: account_id}]
            dimensions: [{name: channel}]
            measures: [{name: lead_count, agg: count, expr: lead_id}]
          - name: accounts
            model: stg_accounts
            entities: [{name: account, type: primary, expr: account_id}]
            dimensions: [{name: industry}]
        metrics:
          - {name: leads, measure: lead_count}
    """,
}

CHANNELS = [
    None,
    "",
    "ads",
    "Ads",
    "ads ",
    " ads",
    "it's",
    'say "hi"',
    "line1\nline2",
    "tab\there, comma",
    "日本語 ✓",
    "e\u0301",  # e + combining accent: not the same string as é
    "é",
    "{{ not a template }}",
    "%_wildcards_%",
    "a | b",
    LONG,
]


def sql_text(value: str | None) -> str:
    return "null" if value is None else "'" + value.replace("'", "''") + "'"


ROWS = f"""
    create schema raw;
    create table raw.leads (lead_id varchar, account_id varchar, channel varchar, created_at timestamp);
    create table raw.accounts (account_id varchar, industry varchar);
    insert into raw.leads values
      {", ".join(f"('l{i}', 'a{i % 3}', {sql_text(c)}, '2024-02-29 23:59:59')" for i, c in enumerate(CHANNELS))},
      ('dup1', 'a1', 'ads', '2024-03-01'), ('dup1', 'a1', 'ads', '2024-03-01'),
      ('nokey', null, 'ads', null), ('dangling', 'a404', 'mail', '2024-03-02');
    insert into raw.accounts values ('a0', 'retail'), ('a1', null), ('a2', 'Ünïcödé "quoted"'), ('a3', 'unused');
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return built_project(tmp_path_factory.mktemp("hostile_values"), FILES, "values.duckdb", ROWS)


def test_every_value_comes_back_exactly_once_as_stored(project):
    result = project.query(metrics=[], dimensions=["channel"])
    assert result.columns == ["channel"]
    theirs = hand(project, "select distinct channel from raw.leads order by channel nulls last")
    assert result.rows == theirs
    assert sorted(row[0] for row in result.rows if row[0] is not None) == sorted(
        {c for c in CHANNELS if c is not None} | {"mail"}
    )
    assert result.rows[-1] == (None,)


def test_values_through_a_join_with_null_and_dangling_keys(project):
    result = project.query(metrics=[], dimensions=["channel", "account__industry"])
    theirs = hand(
        project,
        """
        select distinct l.channel, a.industry from raw.leads l left join raw.accounts a on l.account_id = a.account_id
        order by 1 nulls last, 2 nulls last
        """,
    )
    assert result.rows == theirs
    assert ("mail", None) in result.rows  # a404 is no account: its industry is NULL
    only_accounts = project.query(metrics=[], dimensions=["industry"]).rows
    assert only_accounts == hand(project, "select distinct industry from raw.accounts order by 1 nulls last")
    assert ("unused",) in only_accounts  # a dimension table's own values, referenced or not


@pytest.mark.parametrize("value", ["it's", 'say "hi"', "日本語 ✓", "line1\nline2", "%_wildcards_%", "e\u0301"])
def test_where_on_an_odd_value(project, value):
    result = project.query(metrics=[], dimensions=["channel"], where=f"channel = {sql_text(value)}")
    assert result.rows == [(value,)]


def test_a_value_longer_than_a_filter_may_be_is_refused_clearly_and_reached_with_like(project):
    with pytest.raises(QueryError) as refused:
        project.query(metrics=[], dimensions=["channel"], where=f"channel = {sql_text(LONG)}")
    assert refused.value.diagnostic.code == "KF412" and "characters" in (refused.value.diagnostic.hint or "")
    result = project.query(metrics=[], dimensions=["channel"], where=f"channel like '{LONG[:100]}%'")
    assert result.rows == [(LONG,)]


def test_where_like_keeps_its_wildcards(project):
    result = project.query(metrics=[], dimensions=["channel"], where="channel like 'ads%'")
    assert result.rows == hand(
        project, "select distinct channel from raw.leads where channel like 'ads%' order by 1 nulls last"
    )


def test_where_on_a_value_that_looks_like_a_template(project):
    try:
        rows = project.query(metrics=[], dimensions=["channel"], where="channel = '{{ not a template }}'").rows
    except QueryError as refused:
        raise AssertionError(refused.render()) from None
    assert rows == [("{{ not a template }}",)]


@pytest.mark.parametrize("value", ["tab\there, comma", "line1\nline2"])
def test_a_metricflow_template_leaves_the_quoted_value_alone(project, value):
    where = "{{ Dimension('leads__channel') }} = " + sql_text(value)
    assert project.query(metrics=[], dimensions=["channel"], where=where).rows == [(value,)]


def test_an_imported_metric_filter_keeps_its_quoted_values_and_names_as_written():
    # a YAML filter over several lines: its line breaks become spaces, not those of its values and names
    written = """{{ Dimension('leads__channel') }}
        in ('a  b', 'x
    y', '{{ first_name }}', 'it''s', '')
        and "Odd  Name" = 'a}}b' and {{ Entity('lead') }} is not null"""
    translated = translate_filter(written, lambda: None)
    assert translated.text == (
        "leads__channel in ('a  b', 'x\n    y', '{{ first_name }}', 'it''s', '') "
        "and \"Odd  Name\" = 'a}}b' and lead is not null"
    )
    assert translate_filter("{{ not a call }} = 'x'", lambda: None).text is None  # a template outside quotes


@pytest.mark.parametrize("output", ["csv", "json"])
def test_the_cli_prints_every_value_so_that_it_reads_back(project, output):
    done = CliRunner().invoke(
        main, ["query", "--project-dir", str(project.root), "--by", "channel", "--format", output]
    )
    assert done.exit_code == 0, done.output
    theirs = [row[0] for row in hand(project, "select distinct channel from raw.leads order by 1 nulls last")]
    if output == "csv":
        rows = list(csv.reader(io.StringIO(done.output)))
        assert rows[0] == ["channel"]
        read = [row[0] if row else None for row in rows[1:]]
        # csv has no NULL: it is the empty field, as the empty string is
        assert read == ["" if value is None else value for value in theirs]
    else:
        parsed = json.loads(done.output)
        records = parsed if isinstance(parsed, list) else parsed.get("rows", parsed)
        assert [record["channel"] for record in records] == theirs


def test_markdown_keeps_one_row_and_one_cell_per_value(project):
    done = CliRunner().invoke(
        main, ["query", "--project-dir", str(project.root), "--by", "channel", "--format", "markdown"]
    )
    assert done.exit_code == 0, done.output
    lines = done.output.rstrip("\n").split("\n")
    values = hand(project, "select count(distinct coalesce(channel, '<null>')) from raw.leads")[0][0]
    assert len(lines) == 2 + values
    assert all(line.replace("\\|", "").count("|") == 2 for line in lines)
    # a | is escaped, a line break is <br>: one cell of one row, as Markdown renders it
    assert "| a \\| b |" in lines and "| line1<br>line2 |" in lines


def test_an_empty_load(tmp_path):
    project = built_project(tmp_path, FILES, "values.duckdb", ROWS.split("insert into")[0])
    assert project.query(metrics=[], dimensions=["channel"]).rows == []
    assert project.query(metrics=[], dimensions=["channel", "industry"]).rows == []
