"""Terminal summary, run_results.json rows and JUnit XML of expectation results."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from xml.etree import ElementTree

from kpiframe.errors import SourceLocation
from kpiframe.quality import Expectation, ExpectationResult, junit_xml, render_results, results_json


def result(
    kind: str,
    success: bool,
    severity: str = "error",
    error: str | None = None,
    *,
    observed: object = None,
    elements: int | None = None,
    unexpected: int | None = None,
    percent: float | None = None,
    sample: list[object] | None = None,
) -> ExpectationResult:
    expectation = Expectation(
        kind, {"column": "email"}, severity, "model stg_leads", SourceLocation("models/staging.yml", 12, 9)
    )
    return ExpectationResult(expectation, success, observed, elements, unexpected, percent, sample or [], error)


RESULTS = [
    result("expect_column_values_to_not_be_null", True, elements=10, unexpected=0, percent=0.0),
    result(
        "expect_column_values_to_be_in_set",
        False,
        elements=1000,
        unexpected=12,
        percent=1.2,
        sample=["event", Decimal("1.5"), date(2026, 3, 1)],
    ),
    result(
        "freshness",
        False,
        severity="warn",
        observed=1,
        unexpected=1,
        sample=[{"newest": datetime(2026, 3, 1, 10, 0), "age_hours": 50.0}],
    ),
    result("expect_column_values_to_be_unique", False, error='The column "email" does not exist.'),
]


def test_summary_marks_each_check_and_explains_the_ones_that_did_not_pass():
    text = render_results(RESULTS)
    lines = text.splitlines()
    assert lines[1] == "  PASS  model stg_leads: expect_column_values_to_not_be_null(email)"
    assert "  FAIL  model stg_leads: expect_column_values_to_be_in_set(email)" in lines
    assert "unexpected: 12 of 1,000 (1.20%)" in text
    assert 'sample: "event", 1.5, "2026-03-01"' in text
    assert "  WARN  model stg_leads: freshness(email) [warn]" in lines
    assert "at models/staging.yml:12:9" in text
    assert 'error: The column "email" does not exist.' in text
    assert lines[-1] == "  1 passed, 1 failed, 1 warned, 1 errored"


def test_json_rows_are_plain_values():
    rows = results_json(RESULTS)
    assert json.loads(json.dumps(rows)) == rows  # nothing needs a custom encoder
    assert [r["status"] for r in rows] == ["pass", "fail", "warn", "error"]
    assert rows[1]["sample"] == ["event", 1.5, "2026-03-01"]
    assert rows[2]["sample"] == [{"newest": "2026-03-01T10:00:00", "age_hours": 50.0}]
    assert rows[3]["error"] == 'The column "email" does not exist.' and rows[3]["success"] is False
    assert rows[0]["location"] == "models/staging.yml:12:9" and rows[0]["kwargs"] == {"column": "email"}


def test_junit_has_one_testcase_per_expectation_and_warnings_pass():
    root = ElementTree.fromstring(junit_xml(RESULTS, "kpiframe"))
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("4", "1", "1")
    [suite] = root.findall("testsuite")
    assert suite.get("name") == "model stg_leads"
    passed, failed, warned, crashed = suite.findall("testcase")
    assert list(passed) == []
    assert failed.find("failure").get("message") == "unexpected: 12 of 1,000 (1.20%)"
    assert warned.find("failure") is None and "WARNING" in warned.find("system-out").text
    assert crashed.find("error").get("message") == 'The column "email" does not exist.'
    assert failed.get("file") == "models/staging.yml" and failed.get("line") == "12"


def test_no_results():
    assert render_results([]) == "no expectations"
    assert ElementTree.fromstring(junit_xml([], "kpiframe")).get("tests") == "0"
