"""Parsing `expectations:` lists: short forms, GX names, KPI checks, and KF6xx diagnostics at their lines."""

from __future__ import annotations

import textwrap

import pytest

from kpiframe.errors import Diagnostic
from kpiframe.load.files import parse_yaml
from kpiframe.quality import Expectation, parse_expectations


def parse(text: str) -> tuple[list[Expectation], list[Diagnostic]]:
    """Parse a YAML `expectations:` list the way the project loader does, with real positions."""
    problems: list[Diagnostic] = []
    doc = parse_yaml(textwrap.dedent(text), "models/leads.yml", problems)
    assert doc is not None and not problems
    return parse_expectations(
        doc.data["expectations"], "model stg_leads", lambda path: doc.locate(("expectations", *path))
    )


def test_short_forms_become_gx_expectations_with_gx_kwargs():
    expectations, problems = parse("""
        expectations:
          - not_null: email
          - unique: {column: lead_id}
          - accepted_values: {column: channel, values: [web, ads]}
          - row_count_between: {min: 1, max: 100}
          - between: {column: score, min: 0, max: 1}
            mostly: 0.95
            severity: warn
            description: scores are fractions
          - matches_regex: {column: email, regex: '@'}
    """)
    assert problems == []
    assert [(e.kind, e.kwargs) for e in expectations] == [
        ("expect_column_values_to_not_be_null", {"column": "email"}),
        ("expect_column_values_to_be_unique", {"column": "lead_id"}),
        ("expect_column_values_to_be_in_set", {"column": "channel", "value_set": ["web", "ads"]}),
        ("expect_table_row_count_to_be_between", {"min_value": 1, "max_value": 100}),
        ("expect_column_values_to_be_between", {"column": "score", "min_value": 0, "max_value": 1, "mostly": 0.95}),
        ("expect_column_values_to_match_regex", {"column": "email", "regex": "@"}),
    ]
    between = expectations[4]
    assert between.severity == "warn" and between.description == "scores are fractions"
    assert between.target == "model stg_leads"
    assert {e.severity for e in expectations[:4]} == {"error"}
    assert str(expectations[1].location) == "models/leads.yml:4:5"


def test_gx_vocabulary_passes_through():
    expectations, problems = parse("""
        expectations:
          - expect_column_values_to_be_between: {column: employee_count, min_value: 0}
          - expect_column_pair_values_a_to_be_greater_than_b:
              {column_A: pipeline, column_B: won, or_equal: true}
          - expect_column_values_to_not_be_null: lead_id
          - expect_table_row_count_to_be_between: {max_value: 10}
    """)
    assert problems == []
    assert expectations[1].kwargs == {"column_A": "pipeline", "column_B": "won", "or_equal": True}
    assert expectations[2].kwargs == {"column": "lead_id"}  # a bare name is the column
    assert expectations[3].kind == "expect_table_row_count_to_be_between"


def test_kpi_checks_are_normalised_with_defaults():
    expectations, problems = parse("""
        expectations:
          - freshness: {column: created_at, max_age_hours: 36, as_of: 2026-03-01 12:00:00}
          - rate_between_0_and_1: lead_to_mql_rate
          - funnel_monotonic: {columns: [leads, mqls, sqls], group_by: period_start}
          - within_historical_band: {column: leads, order_by: period_start}
          - references: {column: lead_id, to: {schema: analytics, table: stg_leads, column: lead_id}}
    """)
    assert problems == []
    kinds = [e.kind for e in expectations]
    assert kinds == ["freshness", "rate_between_0_and_1", "funnel_monotonic", "within_historical_band", "references"]
    assert expectations[1].kwargs == {"column": "lead_to_mql_rate"}
    assert expectations[2].kwargs["group_by"] == ["period_start"]
    assert expectations[3].kwargs == {
        "column": "leads",
        "order_by": "period_start",
        "window": 6,
        "tolerance": 3,
    }  # the defaults are stored, so results say what ran


@pytest.mark.parametrize(
    ("yaml_item", "code", "position", "words"),
    [
        (
            "- expect_column_values_to_be_uniqe: {column: id}",
            "KF602",
            "4:5",
            "did you mean 'expect_column_values_to_be_unique'",
        ),
        ("- not_nul: email", "KF602", "4:14", "did you mean 'not_null'"),
        ("- between: {column: x, minimum: 0}", "KF603", "4:35", "takes no argument 'minimum'"),
        ("- expect_column_values_to_be_in_set: {column: x, values: [a]}", "KF603", "4:52", "'values'"),
        ("- accepted_values: {column: channel}", "KF604", "4:5", "needs 'values'"),
        ("- freshness: {column: created_at}", "KF604", "4:5", "needs 'max_age_hours'"),
        ("- between: {column: x}", "KF604", "4:5", "needs min or max"),
        ("- unique: id\n    severity: fatal", "KF605", "5:15", "severity must be 'error' or 'warn'"),
        ("- unique: id\n    mostly: 1.5", "KF605", "5:13", "mostly must be a fraction"),
        ("- row_count_between: {min: 1}\n    mostly: 0.9", "KF603", "5:13", "mostly does not apply"),
        ("- freshness: {column: c, max_age_hours: 2}\n    mostly: 0.9", "KF603", "5:13", "mostly does not apply"),
        ("- within_historical_band: {column: x, order_by: p, window: 1}", "KF605", "4:62", "at least 2"),
        ("- funnel_monotonic: {columns: [leads]}", "KF605", "4:24", "at least two columns"),
        ("- references: {column: x, to: stg_leads}", "KF605", "4:33", "'to' must be a mapping"),
        ("- freshness: {column: c, max_age_hours: 2, as_of: soon}", "KF605", "4:53", "'as_of' must be a timestamp"),
        ("- between: {column: x, min: 5, max: 1}", "KF605", "4:5", "minimum 5 is above the maximum 1"),
        ("- not_null: email\n    unique: email", "KF601", "4:5", "names 2 expectations"),
        ("- email", "KF601", "4:5", "must be a mapping"),
    ],
)
def test_problems_are_diagnostics_at_their_line(yaml_item, code, position, words):
    text = "\nexpectations:\n  - not_null: lead_id\n  " + yaml_item.replace("\n    ", "\n    ") + "\n"
    expectations, problems = parse(text)
    assert problems and problems[0].code == code, [p.render() for p in problems]
    rendered = problems[0].render()
    assert rendered.startswith(f"models/leads.yml:{position}: error[{code}]"), rendered
    assert words in rendered
    assert [e.kwargs for e in expectations] == [{"column": "lead_id"}]  # the good item is kept


def test_unknown_name_without_a_close_match_lists_the_vocabulary():
    _, problems = parse("""
        expectations:
          - zzzzzz: {column: x}
    """)
    assert problems[0].code == "KF602" and "not_null" in (problems[0].hint or "")


def test_expectations_must_be_a_list():
    expectations, problems = parse("""
        expectations: {not_null: email}
    """)
    assert expectations == [] and [p.code for p in problems] == ["KF601"]
    assert str(problems[0].location) == "models/leads.yml:2:1"
