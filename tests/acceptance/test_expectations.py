"""The example project's expectations in real builds: planted bad rows warn with counts, errors stop."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from kpiframe.cli import main
from kpiframe.demo import generate_demo
from tests.conftest import copy_example

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_example(tmp_path_factory.mktemp("example"), lock=False)
    con = duckdb.connect(str(root / "warehouse.duckdb"))
    generate_demo(con, seed=3, scale=0.1)
    con.close()
    return root


def hand(root: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_planted_bad_rows_are_warnings_with_counts(example: Path) -> None:
    junit = example / "junit.xml"
    result = CliRunner().invoke(main, ["build", "--project-dir", str(example), "--junit-xml", str(junit)])
    assert result.exit_code == 0, result.output
    # progress: each checked table gets a line, right after its own build line for models
    assert "  [1/22] " in result.stderr and "/22] stg_leads\n" in result.stderr  # dependencies first, by name
    assert "checked model stg_leads: 4 expectation(s) in" in result.stderr
    assert "checked source raw.web_sessions: 4 expectation(s) in" in result.stderr
    found = {
        (r[0], r[1]): (r[2], r[3])
        for r in hand(
            example,
            """
        select target, expectation, unexpected_count, success from kpiframe.expectation_results""",
        )
    }
    duplicated_sessions = hand(
        example,
        """select count(*) from raw.web_sessions where session_id in
        (select session_id from raw.web_sessions group by 1 having count(*) > 1)""",
    )[0][0]
    no_email = hand(example, "select count(*) from raw.leads where email is null")[0][0]
    unknown_lead = hand(
        example,
        """select count(*) from raw.lead_activities a
        where not exists (select 1 from raw.leads l where l.lead_id = a.lead_id)""",
    )[0][0]
    assert duplicated_sessions and no_email and unknown_lead  # the generator planted each kind
    assert found[("source raw.web_sessions", "expect_column_values_to_be_unique(session_id)")] == (
        duplicated_sessions,
        False,
    )
    assert found[("source raw.leads", "expect_column_values_to_not_be_null(email)")] == (no_email, False)
    assert found[("source raw.lead_activities", "references(lead_id)")] == (unknown_lead, False)
    assert "WARN  source raw.web_sessions" in result.output
    results = json.loads((example / "target" / "run_results.json").read_text())["results"]
    assert len(results) == len(found)
    suites = ElementTree.parse(junit).getroot()
    assert int(suites.get("failures", "0")) == 0 and int(suites.get("tests", "0")) == len(found)


def test_an_error_expectation_stops_the_build_and_publishes_nothing(example: Path) -> None:
    assert CliRunner().invoke(main, ["build", "--project-dir", str(example)]).exit_code == 0
    before = hand(example, "select * from metrics.sales_monthly order by all")
    con = duckdb.connect(str(example / "warehouse.duckdb"))
    con.execute("""insert into raw.opportunities values ('bad_1', null, '2026-06-01 10:00', -500, null, null)""")
    con.close()
    result = CliRunner().invoke(main, ["build", "--project-dir", str(example)])
    assert result.exit_code == 3
    assert "FAIL  source raw.opportunities: expect_column_values_to_be_between(amount)" in result.output
    assert "error[KF600]" in result.stderr and "nothing was published" in result.stderr
    assert hand(example, "select * from metrics.sales_monthly order by all") == before
    con = duckdb.connect(str(example / "warehouse.duckdb"))
    con.execute("delete from raw.opportunities where opportunity_id = 'bad_1'")
    con.close()


def test_kpiframe_test_runs_expectations_against_the_warehouse(example: Path) -> None:
    result = CliRunner().invoke(main, ["test", "--project-dir", str(example)])
    assert result.exit_code == 0, result.output
    assert "56 passed, 0 failed" in result.output and "PASS  table marketing_monthly" in result.output
