"""The example project on data nobody tuned it for: other seeds and scales, late qualifications.

An error-severity check means "this cannot be right": no valid data may stop the build. Each build
here runs in a fresh project directory (no earlier build, so no volume baseline), as a new user's
would, and the published leads and MQLs are compared with SQL written by hand from the KPI definitions.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from kpiframe.cli import main
from tests.conftest import copy_example
from tests.test_demo import STAGING_SQL

REPO = Path(__file__).resolve().parents[2]
SEEDS = range(1, 11)


def example_copy(root: Path) -> Path:
    return copy_example(root, lock=False)


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def rows(root: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


# leads and MQLs per month and lead channel, by hand from raw.* (STAGING_SQL: valid leads, fit, MQL v1)
HAND_FUNNEL = (
    STAGING_SQL
    + """;
SELECT date_trunc('month', created_at)::DATE AS month, channel, count(*) AS n, 'leads' AS metric
FROM valid_leads GROUP BY ALL
UNION ALL
SELECT date_trunc('month', qualified_at)::DATE, l.channel, count(*), 'mqls'
FROM mqls JOIN valid_leads l USING (lead_id) GROUP BY ALL
"""
)


def hand_funnel(root: Path) -> dict[tuple, int]:
    con = duckdb.connect(str(root / "warehouse.duckdb"))
    try:
        statements = [s for s in HAND_FUNNEL.split(";") if s.strip()]
        for statement in statements[:-1]:
            con.execute(statement)
        return {(month, channel, metric): n for month, channel, n, metric in con.execute(statements[-1]).fetchall()}
    finally:
        con.close()


def published_funnel(root: Path) -> dict[tuple, int]:
    found = {}
    for month, channel, leads, mqls in rows(
        root,
        """
            select period_start, lead__channel, leads, mqls from metrics.marketing_monthly""",
    ):
        found[(month, channel, "leads")] = leads
        found[(month, channel, "mqls")] = mqls
    return {key: n for key, n in found.items() if n}  # the hand query has no rows for zeros


def build_demo(root: Path, seed: int, scale: float) -> tuple[int, str]:
    code, output = cli("demo", "--project-dir", str(root), "--seed", str(seed), "--scale", str(scale))
    assert code == 0, output
    return cli("build", "--project-dir", str(root))


@pytest.mark.parametrize("scale", [0.1, 0.3, 1.0, 5.0])
@pytest.mark.parametrize("seed", SEEDS)
def test_the_example_builds_on_every_seed(tmp_path: Path, seed: int, scale: float) -> None:
    root = example_copy(tmp_path / "project")
    code, output = build_demo(root, seed, scale)
    assert code == 0, output
    assert published_funnel(root) == hand_funnel(root)


# Seven event leads created on the last day of November 2024 qualify on 1 December with a demo
# request; December has one new event lead of its own. Before the demo data starts (2025), so the
# month holds these rows only: 1 lead, 7 MQLs, a lead-to-MQL rate of 7.0. Correct data, an unusual
# month: a warning, never a stopped build.
LATE_COHORT = """
insert into raw.leads
select 'LATE' || i, timestamp '2024-11-30 10:00:00', 'buyer' || i || '@acme-late.com', 'Acme', 'DE', 'event',
       null, 500, false
from range(7) t(i);
insert into raw.lead_activities
select 'ALATE' || i, 'LATE' || i, timestamp '2024-12-01 09:00:00', 'demo_request' from range(7) t(i);
insert into raw.leads values ('DECEMBER', timestamp '2024-12-15 10:00:00', 'one@acme-late.com', 'Acme', 'DE',
                              'event', null, 500, false);
"""


def test_a_month_with_more_mqls_than_leads_builds_and_warns(tmp_path: Path) -> None:
    root = example_copy(tmp_path / "project")
    code, output = cli("demo", "--project-dir", str(root), "--seed", "5", "--scale", "0.1")
    assert code == 0, output
    con = duckdb.connect(str(root / "warehouse.duckdb"))
    con.execute(LATE_COHORT)
    con.close()
    code, output = cli("build", "--project-dir", str(root))
    assert code == 0, output
    assert rows(
        root,
        """select leads, mqls, lead_to_mql_rate from metrics.marketing_monthly
                         where period_start = date '2024-12-01' and lead__channel = 'event'""",
    ) == [(1, 7, 7.0)]
    warned = rows(
        root,
        """select unexpected_count from kpiframe.expectation_results
                           where expectation = 'rate_between_0_and_1(lead_to_mql_rate)' and not success""",
    )
    assert warned and warned[-1][0] >= 1
    assert "WARN  table marketing_monthly: rate_between_0_and_1(lead_to_mql_rate) [warn]" in output


def test_whole_cohorts_qualifying_a_month_later_build_with_the_right_numbers(tmp_path: Path) -> None:
    """Every activity of the leads of March and June 2026 happens 31 days later (still within the
    90-day window for most): those months' MQLs move into April and July."""
    root = example_copy(tmp_path / "project")
    code, output = cli("demo", "--project-dir", str(root), "--seed", "8", "--scale", "0.3")
    assert code == 0, output
    con = duckdb.connect(str(root / "warehouse.duckdb"))
    con.execute("""update raw.lead_activities a set occurred_at = occurred_at + interval 31 day
                   from raw.leads l where l.lead_id = a.lead_id
                   and date_trunc('month', l.created_at) in (date '2026-03-01', date '2026-06-01')""")
    con.close()
    code, output = cli("build", "--project-dir", str(root))
    assert code == 0, output
    published, by_hand = published_funnel(root), hand_funnel(root)
    assert published == by_hand
    april = sum(n for (month, _, metric), n in by_hand.items() if metric == "mqls" and str(month) == "2026-04-01")
    march = sum(n for (month, _, metric), n in by_hand.items() if metric == "mqls" and str(month) == "2026-03-01")
    assert april > march  # the shift really moved qualifications into the next month


def test_a_smaller_demo_in_the_same_project_builds_and_an_emptied_load_still_stops(tmp_path: Path) -> None:
    """`kpiframe demo` replaces raw.* on purpose: the volume guard starts afresh after it, and guards
    the builds that follow as before."""
    root = example_copy(tmp_path / "project")
    code, output = build_demo(root, 1, 1.0)
    assert code == 0, output
    code, output = build_demo(root, 2, 0.1)  # a tenth of the rows: a real drop, but a new demo
    assert code == 0, output
    assert published_funnel(root) == hand_funnel(root)
    statuses = [status for (status,) in rows(root, "select status from kpiframe.runs order by started_at")]
    assert statuses == ["baseline_reset", "success", "baseline_reset", "success"]
    before = rows(root, "select * from metrics.sales_monthly order by all")
    con = duckdb.connect(str(root / "warehouse.duckdb"))
    for table in ("opportunities", "leads", "lead_status_changes"):
        con.execute(f"delete from raw.{table}")
    con.close()
    code, output = cli("build", "--project-dir", str(root))
    assert code == 3 and "KF610" in output, output
    assert rows(root, "select * from metrics.sales_monthly order by all") == before
