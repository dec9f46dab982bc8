"""Bad values real exports contain are caught before anything is published.

NaN or Infinity in a DOUBLE spend, a re-imported ad export, won or open deals without an amount: each
stops the build (exit 3) and the published tables stay exactly as they were. Negative spend and dates
before 2000 or far in the future are warnings whose counts match a count written by hand.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from kpiframe.cli import main
from tests.acceptance.test_any_data import example_copy

PUBLISHED = ("ad_performance_monthly", "marketing_overview_monthly", "sales_monthly")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example built once on good demo data; each test works on a copy of its directory."""
    root = example_copy(tmp_path_factory.mktemp("bad_values") / "project")
    for args in (["demo", "--seed", "3", "--scale", "0.1"], ["build"]):
        result = CliRunner().invoke(main, [*args, "--project-dir", str(root)])
        assert result.exit_code == 0, result.output
    return root


@pytest.fixture
def project(built: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    shutil.copytree(built, copy)
    return copy


def execute(root: Path, *statements: str) -> None:
    con = duckdb.connect(str(root / "warehouse.duckdb"))
    try:
        for statement in statements:
            con.execute(statement)
    finally:
        con.close()


def one(root: Path, sql: str) -> object:
    con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchone()[0]  # type: ignore[index]
    finally:
        con.close()


def snapshot(root: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    try:
        return {t: con.execute(f"select * from metrics.{t} order by all").fetchall() for t in PUBLISHED}
    finally:
        con.close()


def build(root: Path) -> tuple[int, str, list[dict]]:
    result = CliRunner().invoke(main, ["build", "--project-dir", str(root)])
    results = json.loads((root / "target" / "run_results.json").read_text())["results"]
    return result.exit_code, result.output, results


def finding(results: list[dict], target: str, kind: str) -> dict:
    found = [r for r in results if r["target"] == target and r["expectation"] == kind and not r["success"]]
    assert len(found) == 1, [r for r in results if r["target"] == target]
    return found[0]


def as_double(nth_special: str) -> Callable[[Path], None]:
    """raw.ad_spend.spend loaded as DOUBLE (as CSV loads make it), every 97th row a special value."""

    def load(root: Path) -> None:
        execute(
            root,
            f"""create or replace table raw.ad_spend as
            select date, channel, campaign_id, impressions, clicks,
                   case when (row_number() over (order by date, channel, campaign_id)) % 97 = 0
                        then '{nth_special}'::double else spend::double end as spend
            from raw.ad_spend""",
        )

    return load


@pytest.mark.parametrize("special", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_spend_stops_the_build(project: Path, special: str) -> None:
    before = snapshot(project)
    as_double(special)(project)
    planted = one(project, "select count(*) from raw.ad_spend where isnan(spend) or isinf(spend)")
    assert planted and planted > 0
    code, output, results = build(project)
    assert code == 3, output
    assert "finite on source raw.ad_spend" in output
    found = finding(results, "source raw.ad_spend", "finite")
    assert found["unexpected_count"] == planted
    # the sample names the value found, never null (which would read as a missing value)
    assert found["sample"] and all(row == {"spend": special} for row in found["sample"])
    assert f'sample: {{"spend": "{special}"}}' in output
    assert snapshot(project) == before


def test_a_double_spend_without_specials_builds(project: Path) -> None:
    """The contract accepts DOUBLE for DECIMAL: only the special values are refused."""
    execute(
        project,
        """create or replace table raw.ad_spend as
        select date, channel, campaign_id, impressions, clicks, spend::double as spend from raw.ad_spend""",
    )
    code, output, _ = build(project)
    assert code == 0, output
    spend = one(project, "select sum(spend) from raw.ad_spend")
    assert one(project, "select sum(ad_spend) from metrics.ad_performance_monthly") == pytest.approx(spend)


def test_a_re_imported_ad_export_stops_the_build(project: Path) -> None:
    before = snapshot(project)
    execute(project, "insert into raw.ad_spend select * from raw.ad_spend")
    code, output, results = build(project)
    assert code == 3, output
    # every row now has a twin: GX counts each row of a repeated key
    rows = one(project, "select count(*) from raw.ad_spend")
    found = finding(results, "source raw.ad_spend", "expect_compound_columns_to_be_unique")
    assert found["unexpected_count"] == rows
    assert snapshot(project) == before


def test_won_and_open_deals_without_an_amount_stop_the_build(project: Path) -> None:
    before = snapshot(project)
    execute(project, "update raw.opportunities set amount = null")
    won_or_open = one(project, "select count(*) from raw.opportunities where is_won or is_won is null")
    code, output, results = build(project)
    assert code == 3, output
    assert finding(results, "source raw.opportunities", "not_null_when")["unexpected_count"] == won_or_open
    assert snapshot(project) == before


def test_a_lost_deal_without_an_amount_is_a_warning(project: Path) -> None:
    execute(
        project,
        """update raw.opportunities set amount = null where opportunity_id in
        (select opportunity_id from raw.opportunities where not is_won order by opportunity_id limit 2)""",
    )
    code, output, results = build(project)
    assert code == 0, output
    found = finding(results, "source raw.opportunities", "expect_column_values_to_not_be_null")
    assert (found["status"], found["unexpected_count"]) == ("warn", 2)


def test_negative_spend_and_implausible_dates_warn_with_counts(project: Path) -> None:
    execute(
        project,
        "update raw.ad_spend set spend = -12.5 where date in (date '2025-03-03', date '2025-03-04')",
        "update raw.leads set created_at = timestamp '2099-01-01' where lead_id in "
        "(select lead_id from raw.leads order by lead_id limit 3)",
        "update raw.opportunities set created_at = timestamp '1999-12-31 23:00:00' where opportunity_id in "
        "(select opportunity_id from raw.opportunities order by opportunity_id limit 2)",
    )
    negative = one(project, "select count(*) from raw.ad_spend where spend < 0")
    future = one(project, "select count(*) from raw.leads where created_at > current_date + interval 2 day")
    ancient = one(project, "select count(*) from raw.opportunities where created_at < date '2000-01-01'")
    assert (negative, future, ancient) != (0, 0, 0)
    code, output, results = build(project)
    assert code == 0, output
    checks = {
        ("source raw.ad_spend", "expect_column_values_to_be_between"): negative,
        ("source raw.leads", "dates_between"): future,
        ("source raw.opportunities", "dates_between"): ancient,
    }
    for (target, kind), count in checks.items():
        found = [r for r in results if r["target"] == target and r["expectation"] == kind and not r["success"]]
        assert [(r["status"], r["unexpected_count"]) for r in found] == [("warn", count)], (target, kind)
    assert "WARN  source raw.leads: dates_between(created_at) [warn]" in output


def test_a_declared_finite_check_replaces_the_implied_one(project: Path) -> None:
    """An export known to write NaN, cleaned in staging: the source declares `finite` as a warning, and that
    declaration stands instead of the contract's implied error (which alone would stop every build)."""
    as_double("NaN")(project)
    planted = one(project, "select count(*) from raw.ad_spend where isnan(spend)")
    sources = project / "models" / "sources.yml"
    text = sources.read_text()
    declared = "          - {finite: spend, severity: warn, description: the ad export writes NaN for no spend}\n"
    anchor = "        expectations:\n          # one row per platform, campaign and day"
    assert text.count(anchor) == 1
    sources.write_text(text.replace(anchor, anchor.replace("expectations:\n", "expectations:\n" + declared)))
    staging = project / "models" / "staging" / "stg_ad_spend.sql"
    source = "from {{ source('raw', 'ad_spend') }}"
    assert staging.read_text().count(source) == 1
    staging.write_text(staging.read_text().replace(source, source + "\nwhere not isnan(spend)"))
    code, output, results = build(project)
    assert code == 0, output
    finite = [r for r in results if r["target"] == "source raw.ad_spend" and r["expectation"] == "finite"]
    assert [(r["severity"], r["status"], r["unexpected_count"]) for r in finite] == [("warn", "warn", planted)]
    spend = one(project, "select sum(spend) from raw.ad_spend where not isnan(spend)")
    assert one(project, "select sum(ad_spend) from metrics.ad_performance_monthly") == pytest.approx(spend)
