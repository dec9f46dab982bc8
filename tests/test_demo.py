"""Tests of the demo-data generator against the raw-data contract (real DuckDB files in tmp_path)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from kpiframe.demo import generate_demo

# The contract of raw-data.md, written out again here so that the generator is checked against it.
CONTRACT: dict[str, list[tuple[str, str]]] = {
    "ad_spend": [
        ("date", "DATE"),
        ("channel", "VARCHAR"),
        ("campaign_id", "VARCHAR"),
        ("impressions", "BIGINT"),
        ("clicks", "BIGINT"),
        ("spend", "DECIMAL(12,2)"),
    ],
    "web_sessions": [
        ("session_id", "VARCHAR"),
        ("started_at", "TIMESTAMP"),
        ("visitor_id", "VARCHAR"),
        ("channel", "VARCHAR"),
        ("campaign_id", "VARCHAR"),
        ("landing_page", "VARCHAR"),
        ("pageviews", "INTEGER"),
        ("converted", "BOOLEAN"),
    ],
    "leads": [
        ("lead_id", "VARCHAR"),
        ("created_at", "TIMESTAMP"),
        ("email", "VARCHAR"),
        ("company", "VARCHAR"),
        ("country", "VARCHAR"),
        ("channel", "VARCHAR"),
        ("campaign_id", "VARCHAR"),
        ("employee_count", "INTEGER"),
        ("is_competitor", "BOOLEAN"),
    ],
    "lead_activities": [
        ("activity_id", "VARCHAR"),
        ("lead_id", "VARCHAR"),
        ("occurred_at", "TIMESTAMP"),
        ("activity_type", "VARCHAR"),
    ],
    "email_sends": [
        ("send_id", "VARCHAR"),
        ("campaign_id", "VARCHAR"),
        ("lead_id", "VARCHAR"),
        ("sent_at", "TIMESTAMP"),
        ("opened_at", "TIMESTAMP"),
        ("clicked_at", "TIMESTAMP"),
        ("unsubscribed_at", "TIMESTAMP"),
        ("bounced", "BOOLEAN"),
    ],
    "lead_status_changes": [("lead_id", "VARCHAR"), ("changed_at", "TIMESTAMP"), ("status", "VARCHAR")],
    "opportunities": [
        ("opportunity_id", "VARCHAR"),
        ("lead_id", "VARCHAR"),
        ("created_at", "TIMESTAMP"),
        ("amount", "DECIMAL(14,2)"),
        ("closed_at", "TIMESTAMP"),
        ("is_won", "BOOLEAN"),
    ],
}
AD_CHANNELS = {"google_ads", "meta_ads", "linkedin_ads", "line_ads"}
SESSION_CHANNELS = {"organic_search", "paid_search", "paid_social", "email", "direct", "referral"}
ACTIVITY_TYPES = {
    "email_click",
    "content_download",
    "webinar_register",
    "webinar_attend",
    "pricing_page_view",
    "demo_request",
}
STATUSES = {"sales_accepted", "sales_qualified", "disqualified"}
FREE_DOMAINS = ("gmail.com", "yahoo.com", "hotmail.com", "outlook.com")
END = date(2026, 11, 20)

# staging rules of example-kpis.md: one lead per lead_id, valid leads, fit, MQL v1
STAGING_SQL = """
CREATE TEMP TABLE valid_leads AS
WITH one AS (
  SELECT * FROM raw.leads
  QUALIFY row_number() OVER (PARTITION BY lead_id ORDER BY created_at, email NULLS LAST) = 1
)
SELECT *, coalesce(employee_count >= 50, false) AND coalesce(NOT is_competitor, false)
          AND lower(trim(split_part(email, '@', -1)))
              NOT IN ('gmail.com', 'yahoo.com', 'hotmail.com', 'outlook.com') AS fit
FROM one WHERE email IS NOT NULL AND trim(email, ' ') <> '';
CREATE TEMP TABLE mqls AS
WITH pts AS (
  SELECT a.lead_id, a.occurred_at,
    sum(CASE a.activity_type WHEN 'email_click' THEN 5 WHEN 'content_download' THEN 10 WHEN 'webinar_register'
        THEN 5 WHEN 'webinar_attend' THEN 15 WHEN 'pricing_page_view' THEN 10 WHEN 'demo_request' THEN 40 END)
      OVER (PARTITION BY a.lead_id ORDER BY a.occurred_at, a.activity_id) AS total
  FROM raw.lead_activities a JOIN valid_leads l USING (lead_id)
  WHERE l.fit AND a.occurred_at >= l.created_at AND a.occurred_at < l.created_at + INTERVAL 90 DAY
)
SELECT lead_id, min(occurred_at) AS qualified_at FROM pts WHERE total >= 40 GROUP BY lead_id;
"""


def _generate(path: Path, **kwargs: object) -> tuple[duckdb.DuckDBPyConnection, dict[str, int]]:
    con = duckdb.connect(str(path))
    counts = generate_demo(con, **kwargs)  # type: ignore[arg-type]
    return con, counts


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    row = con.execute(sql).fetchone()
    assert row is not None
    return row[0]


def _checksums(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[object, ...]]:
    """Order-independent checksum of every raw table."""
    out = {}
    for table in CONTRACT:
        row = con.execute(f"SELECT count(*), sum(hash(t)) FROM raw.{table} t").fetchone()
        assert row is not None
        out[table] = tuple(row)
    return out


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[duckdb.DuckDBPyConnection, dict[str, int]]:
    return _generate(tmp_path_factory.mktemp("small") / "w.duckdb", seed=7, scale=0.02)


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    con, _ = _generate(tmp_path_factory.mktemp("full") / "w.duckdb", seed=42, scale=1.0)
    con.execute(STAGING_SQL)
    return con


def test_tables_columns_and_types_match_the_contract(small: tuple[duckdb.DuckDBPyConnection, dict]) -> None:
    con, counts = small
    for table, columns in CONTRACT.items():
        got = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'raw' AND table_name = ? ORDER BY ordinal_position",
            [table],
        ).fetchall()
        assert got == columns, table
        assert counts[table] == _one(con, f"SELECT count(*) FROM raw.{table}") > 0
    assert set(counts) == set(CONTRACT)
    temp = con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()
    assert temp == []  # the generator cleans up after itself


def test_small_scale_is_a_few_thousand_rows(small: tuple[duckdb.DuckDBPyConnection, dict]) -> None:
    _, counts = small
    assert 2_000 <= sum(counts.values()) <= 15_000
    assert 3_000 <= counts["web_sessions"] <= 5_000


def test_allowed_values_and_ids(small: tuple[duckdb.DuckDBPyConnection, dict]) -> None:
    con, _ = small

    def values(sql: str) -> set[object]:
        return {r[0] for r in con.execute(sql).fetchall()}

    assert values("SELECT DISTINCT channel FROM raw.ad_spend") == AD_CHANNELS
    assert values("SELECT DISTINCT channel FROM raw.web_sessions") == SESSION_CHANNELS
    assert values("SELECT DISTINCT channel FROM raw.leads") == SESSION_CHANNELS | {"event", "outbound"}
    assert values("SELECT DISTINCT activity_type FROM raw.lead_activities") == ACTIVITY_TYPES
    assert values("SELECT DISTINCT status FROM raw.lead_status_changes") == STATUSES
    assert values("SELECT country FROM raw.leads WHERE NOT regexp_full_match(country, '[A-Z]{2}')") == set()
    # ids unique (sessions: apart from exact duplicate rows)
    assert _one(
        con,
        "SELECT count(DISTINCT session_id) = (SELECT count(*) FROM (SELECT DISTINCT * "
        "FROM raw.web_sessions)) FROM raw.web_sessions",
    )
    for table, key in [
        ("lead_activities", "activity_id"),
        ("email_sends", "send_id"),
        ("opportunities", "opportunity_id"),
    ]:
        assert _one(con, f"SELECT count(*) = count(DISTINCT {key}) FROM raw.{table}"), table
    # paid and email sessions carry a campaign; paid campaigns exist in ad_spend
    assert (
        _one(
            con,
            "SELECT count(*) FROM raw.web_sessions WHERE channel IN ('paid_search', 'paid_social', "
            "'email') AND campaign_id IS NULL",
        )
        == 0
    )
    assert (
        _one(
            con,
            "SELECT count(*) FROM raw.web_sessions WHERE channel LIKE 'paid%' "
            "AND campaign_id NOT IN (SELECT campaign_id FROM raw.ad_spend)",
        )
        == 0
    )
    assert _one(con, "SELECT count(*) FROM raw.ad_spend WHERE clicks > impressions OR spend < 0") == 0


def test_nothing_happens_after_the_end_date(small: tuple[duckdb.DuckDBPyConnection, dict]) -> None:
    con, _ = small
    limit = "TIMESTAMP '2026-11-21'"
    checks = [
        ("web_sessions", "started_at"),
        ("leads", "created_at"),
        ("lead_activities", "occurred_at"),
        ("email_sends", "greatest(sent_at, opened_at, clicked_at, unsubscribed_at)"),
        ("lead_status_changes", "changed_at"),
        ("opportunities", "greatest(created_at, closed_at)"),
    ]
    for table, expr in checks:
        assert (
            _one(con, f"SELECT count(*) FROM raw.{table} WHERE {expr} >= {limit} OR {expr} < TIMESTAMP '2025-01-01'")
            == 0
        ), table
    assert _one(con, "SELECT max(date) FROM raw.ad_spend") == END


def test_planted_bad_rows_exist_at_small_scale(small: tuple[duckdb.DuckDBPyConnection, dict]) -> None:
    con, _ = small
    checks = {
        "duplicated session rows": "SELECT count(*) - count(DISTINCT session_id) FROM raw.web_sessions",
        "NULL email": "SELECT count(*) FROM raw.leads WHERE email IS NULL",
        "empty email": "SELECT count(*) FROM raw.leads WHERE email = ''",
        "blank email": "SELECT count(*) FROM raw.leads WHERE email = '   '",
        "lead_id again, later": """SELECT count(*) FROM raw.leads a JOIN raw.leads b
                                   ON a.lead_id = b.lead_id AND b.created_at > a.created_at""",
        "lead_id again, same time, other email": """SELECT count(*) FROM raw.leads a JOIN raw.leads b
            ON a.lead_id = b.lead_id AND b.created_at = a.created_at AND b.email > a.email""",
        "activities of unknown leads": "SELECT count(*) FROM raw.lead_activities "
        "WHERE lead_id NOT IN (SELECT lead_id FROM raw.leads)",
        "sends to unknown leads": "SELECT count(*) FROM raw.email_sends "
        "WHERE lead_id NOT IN (SELECT lead_id FROM raw.leads)",
        "status of unknown leads": "SELECT count(*) FROM raw.lead_status_changes "
        "WHERE lead_id NOT IN (SELECT lead_id FROM raw.leads)",
        "opportunity of an invalid lead": """SELECT count(*) FROM raw.opportunities WHERE lead_id IN
            (SELECT lead_id FROM raw.leads WHERE email IS NULL OR trim(email, ' ') = '')""",
        "sales-sourced opportunity": "SELECT count(*) FROM raw.opportunities WHERE lead_id IS NULL",
        "upper-case email": "SELECT count(*) FROM raw.leads WHERE email <> lower(email)",
        "email with spaces": "SELECT count(*) FROM raw.leads WHERE email <> trim(email) AND trim(email) <> ''",
        "free-mail email": f"SELECT count(*) FROM raw.leads WHERE lower(trim(split_part(email, '@', -1))) "
        f"IN {FREE_DOMAINS}",
        "company email": f"SELECT count(*) FROM raw.leads WHERE email LIKE '%@%' AND "
        f"lower(trim(split_part(email, '@', -1))) NOT IN {FREE_DOMAINS}",
        "NULL employee_count": "SELECT count(*) FROM raw.leads WHERE employee_count IS NULL",
        "NULL country": "SELECT count(*) FROM raw.leads WHERE country IS NULL",
    }
    for name, sql in checks.items():
        assert _one(con, sql) >= 1, name


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bad_rows_for_other_seeds(tmp_path: Path, seed: int) -> None:
    con, counts = _generate(tmp_path / "w.duckdb", seed=seed, scale=0.01)
    assert _one(con, "SELECT count(*) - count(DISTINCT session_id) FROM raw.web_sessions") >= 1
    assert _one(con, "SELECT count(*) FROM raw.leads WHERE email IS NULL OR trim(email, ' ') = ''") >= 9
    assert _one(con, "SELECT count(*) - count(DISTINCT lead_id) FROM raw.leads") >= 6
    assert _one(con, "SELECT count(*) FROM raw.opportunities WHERE lead_id IS NULL") >= 3


def test_same_seed_same_data_other_seed_other_data(
    tmp_path: Path, small: tuple[duckdb.DuckDBPyConnection, dict]
) -> None:
    con_a, _ = small
    con_b, _ = _generate(tmp_path / "b.duckdb", seed=7, scale=0.02)
    con_c, _ = _generate(tmp_path / "c.duckdb", seed=8, scale=0.02)
    sums_a = _checksums(con_a)
    assert _checksums(con_b) == sums_a
    sums_c = _checksums(con_c)
    assert all(sums_c[t] != sums_a[t] for t in CONTRACT)


def test_rerun_replaces_the_tables(tmp_path: Path) -> None:
    con, first = _generate(tmp_path / "w.duckdb", seed=3, scale=0.01)
    messages: list[str] = []
    assert generate_demo(con, seed=3, scale=0.01, progress=messages.append) == first
    assert [m.split(":")[0] for m in messages] == [
        "ad_spend",
        "web_sessions",
        "leads",
        "email_sends",
        "lead_activities",
        "lead_status_changes",
        "opportunities",
    ]
    assert f"web_sessions: {first['web_sessions']:,} rows" in messages


def test_scale_changes_row_counts_proportionally(tmp_path: Path, small: tuple[duckdb.DuckDBPyConnection, dict]) -> None:
    _, base = small
    _, double = _generate(tmp_path / "w.duckdb", seed=7, scale=0.04)
    for table in ["web_sessions", "leads", "email_sends", "lead_activities"]:
        assert 1.7 <= double[table] / base[table] <= 2.3, table


def test_custom_date_range(tmp_path: Path) -> None:
    con, counts = _generate(tmp_path / "w.duckdb", scale=0.5, start=date(2025, 3, 1), end=date(2025, 3, 31))
    span = con.execute("SELECT min(started_at)::DATE, max(started_at)::DATE FROM raw.web_sessions").fetchone()
    assert span == (date(2025, 3, 1), date(2025, 3, 31))
    assert 31 * 290 * 0.5 * 0.8 <= counts["web_sessions"] <= 31 * 290 * 0.5 * 1.2
    assert _one(con, "SELECT count(DISTINCT date) FROM raw.ad_spend") == 31


def test_invalid_arguments(tmp_path: Path) -> None:
    con = duckdb.connect()
    with pytest.raises(ValueError):
        generate_demo(con, scale=0)
    with pytest.raises(ValueError):
        generate_demo(con, start=date(2025, 2, 1), end=date(2025, 1, 1))


# ---------------------------------------------------------------------------------------------------------
# Realism at scale 1


def test_scale_one_sizes(full: duckdb.DuckDBPyConnection) -> None:
    sessions = _one(full, "SELECT count(*) FROM raw.web_sessions")
    assert 190_000 <= sessions <= 210_000
    leads = _one(full, "SELECT count(*) FROM valid_leads")
    assert 0.02 * sessions <= leads <= 0.07 * sessions
    per_lead = _one(full, "SELECT count(*) / (SELECT count(*) FROM raw.leads) FROM raw.lead_activities")
    assert per_lead >= 1.5
    assert _one(full, "SELECT count(*) / (SELECT count(*) FROM raw.leads) FROM raw.email_sends") >= 5


def test_weekday_and_month_seasonality(full: duckdb.DuckDBPyConnection) -> None:
    per_day = """SELECT avg(n) FROM (SELECT started_at::DATE AS d, count(*) AS n FROM raw.web_sessions
                 GROUP BY 1) WHERE {}"""
    weekday = _one(full, per_day.format("isodow(d) <= 5"))
    weekend = _one(full, per_day.format("isodow(d) >= 6"))
    assert weekend < 0.75 * weekday
    august = _one(full, per_day.format("strftime(d, '%Y-%m') = '2025-08'"))
    september = _one(full, per_day.format("strftime(d, '%Y-%m') = '2025-09'"))
    assert august < 0.85 * september
    first_q = _one(full, per_day.format("year(d) = 2025 AND quarter(d) = 1"))
    next_q = _one(full, per_day.format("year(d) = 2026 AND quarter(d) = 1"))
    assert next_q > 1.1 * first_q  # growth


def test_funnel_rates_in_the_contract_ranges(full: duckdb.DuckDBPyConnection) -> None:
    cvr = _one(full, "SELECT avg(converted::INT) FROM (SELECT DISTINCT * FROM raw.web_sessions)")
    assert 0.02 <= cvr <= 0.05
    rates = full.execute("""
        SELECT avg((opened_at IS NOT NULL)::INT), avg((clicked_at IS NOT NULL)::INT),
               avg((unsubscribed_at IS NOT NULL)::INT), (SELECT avg(bounced::INT) FROM raw.email_sends)
        FROM raw.email_sends WHERE NOT bounced""").fetchone()
    assert rates is not None
    opened, clicked, unsubscribed, bounced = rates
    assert 0.20 <= opened <= 0.25
    assert 0.02 <= clicked <= 0.05
    assert 0 < unsubscribed < 0.005
    assert 0.01 <= bounced <= 0.04
    attendance = _one(
        full,
        """SELECT count(*) FILTER (activity_type = 'webinar_attend')
                                      / count(*) FILTER (activity_type = 'webinar_register')
                               FROM raw.lead_activities""",
    )
    assert 0.40 <= attendance <= 0.60
    win = _one(full, "SELECT avg(is_won::INT) FROM raw.opportunities WHERE is_won IS NOT NULL")
    assert 0.15 <= win <= 0.30
    assert _one(full, "SELECT count(*) FROM raw.opportunities WHERE closed_at IS NULL AND is_won IS NULL") > 5


def test_mql_share_of_fit_leads(full: duckdb.DuckDBPyConnection) -> None:
    share = _one(full, "SELECT avg((lead_id IN (SELECT lead_id FROM mqls))::INT) FROM valid_leads WHERE fit")
    assert 0.15 <= share <= 0.30
    fit_share = _one(full, "SELECT avg(fit::INT) FROM valid_leads")
    assert 0.3 <= fit_share <= 0.7
    assert _one(full, "SELECT count(*) FROM valid_leads WHERE is_competitor") >= 3


def test_activities_mostly_within_90_days(full: duckdb.DuckDBPyConnection) -> None:
    row = full.execute("""
        SELECT avg((occurred_at >= l.created_at AND occurred_at < l.created_at + INTERVAL 90 DAY)::INT),
               avg((occurred_at >= l.created_at + INTERVAL 90 DAY)::INT)
        FROM raw.lead_activities a JOIN valid_leads l USING (lead_id)""").fetchone()
    assert row is not None
    within, later = row
    assert within >= 0.8
    assert 0.01 <= later <= 0.2


def test_line_ads_is_cheap_and_rarely_qualifies(full: duckdb.DuckDBPyConnection) -> None:
    by_channel = "SELECT channel, {} FROM raw.ad_spend GROUP BY 1"
    cpc = dict(full.execute(by_channel.format("sum(spend) / sum(clicks)")).fetchall())
    ctr = dict(full.execute(by_channel.format("sum(clicks) / sum(impressions)")).fetchall())
    assert cpc["line_ads"] < cpc["meta_ads"] < cpc["google_ads"] < cpc["linkedin_ads"]
    assert len({round(v, 3) for v in ctr.values()}) == 4
    fit = dict(
        full.execute("""SELECT split_part(campaign_id, '_', 1), avg(fit::INT) FROM valid_leads
                               WHERE channel = 'paid_social' GROUP BY 1""").fetchall()
    )
    assert fit["line"] < 0.05 < fit["meta"] < fit["lnkd"]


def test_sales_history_follows_the_leads(full: duckdb.DuckDBPyConnection) -> None:
    before = _one(
        full,
        """SELECT count(*) FROM raw.lead_status_changes s JOIN valid_leads l USING (lead_id)
                           WHERE s.changed_at < l.created_at""",
    )
    assert before == 0
    mql_share = _one(
        full,
        """SELECT avg((lead_id IN (SELECT lead_id FROM mqls))::INT)
                              FROM raw.lead_status_changes WHERE status = 'sales_accepted'""",
    )
    assert mql_share > 0.5
    weeks = _one(
        full,
        """
        SELECT median(date_diff('day', q.sql_at, o.created_at)) FROM raw.opportunities o
        JOIN (SELECT lead_id, min(changed_at) AS sql_at FROM raw.lead_status_changes
              WHERE status = 'sales_qualified' GROUP BY 1) q USING (lead_id)""",
    )
    assert 7 <= weeks <= 42
    amounts = full.execute("SELECT min(amount), median(amount), max(amount) FROM raw.opportunities").fetchone()
    assert amounts is not None
    assert amounts[0] >= 5_000 and 10_000 <= amounts[1] <= 50_000 and amounts[2] <= 150_000
