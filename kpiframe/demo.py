"""Deterministic demo data for the example project: a B2B SaaS marketing and sales funnel.

`generate_demo` writes the raw tables of the contract (schema ``raw``: ad_spend, web_sessions, leads,
lead_activities, email_sends, lead_status_changes, opportunities) into a DuckDB connection. Every row is
made inside DuckDB with SQL; pseudo-random numbers come from ``hash(seed, key, salt)``, so the same seed
and scale give the same tables (for a given DuckDB version, whose hash function they rely on).

The data has weekday and month seasonality, growth, channels of different cost and lead quality (LINE ads
bring cheap leads that rarely qualify), funnel rates in the ranges practitioners quote, and a handful of
the bad rows real exports have (duplicated sessions and leads, leads without email, rows of unknown
leads, an opportunity of an invalid lead).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import duckdb

SCHEMA = "raw"

#: The raw-data contract: table -> ((column, DuckDB type), ...), in contract order.
RAW_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "ad_spend": (
        ("date", "DATE"), ("channel", "VARCHAR"), ("campaign_id", "VARCHAR"),
        ("impressions", "BIGINT"), ("clicks", "BIGINT"), ("spend", "DECIMAL(12,2)"),
    ),
    "web_sessions": (
        ("session_id", "VARCHAR"), ("started_at", "TIMESTAMP"), ("visitor_id", "VARCHAR"),
        ("channel", "VARCHAR"), ("campaign_id", "VARCHAR"), ("landing_page", "VARCHAR"),
        ("pageviews", "INTEGER"), ("converted", "BOOLEAN"),
    ),
    "leads": (
        ("lead_id", "VARCHAR"), ("created_at", "TIMESTAMP"), ("email", "VARCHAR"), ("company", "VARCHAR"),
        ("country", "VARCHAR"), ("channel", "VARCHAR"), ("campaign_id", "VARCHAR"),
        ("employee_count", "INTEGER"), ("is_competitor", "BOOLEAN"),
    ),
    "lead_activities": (
        ("activity_id", "VARCHAR"), ("lead_id", "VARCHAR"), ("occurred_at", "TIMESTAMP"),
        ("activity_type", "VARCHAR"),
    ),
    "email_sends": (
        ("send_id", "VARCHAR"), ("campaign_id", "VARCHAR"), ("lead_id", "VARCHAR"), ("sent_at", "TIMESTAMP"),
        ("opened_at", "TIMESTAMP"), ("clicked_at", "TIMESTAMP"), ("unsubscribed_at", "TIMESTAMP"),
        ("bounced", "BOOLEAN"),
    ),
    "lead_status_changes": (("lead_id", "VARCHAR"), ("changed_at", "TIMESTAMP"), ("status", "VARCHAR")),
    "opportunities": (
        ("opportunity_id", "VARCHAR"), ("lead_id", "VARCHAR"), ("created_at", "TIMESTAMP"),
        ("amount", "DECIMAL(14,2)"), ("closed_at", "TIMESTAMP"), ("is_won", "BOOLEAN"),
    ),
}

SESSIONS_PER_DAY = 290.0  # at scale 1: ~200,000 sessions over the default 689 days

_TEMP_TABLES = (
    "_kf_params", "_kf_sources", "_kf_channel_buckets", "_kf_pages", "_kf_countries", "_kf_days",
    "_kf_leads", "_kf_orphans", "_kf_funnel",
)
_TEMP_MACROS = ("_kf_u", "_kf_z", "_kf_email_campaign")

# ---------------------------------------------------------------------------------------------------------
# Set-up: parameters (the only bound values), random-number macros and small dimension tables.

_PARAMS_SQL = """
CREATE OR REPLACE TEMP TABLE _kf_params AS
SELECT $seed::BIGINT AS seed, $scale::DOUBLE AS scale, $start::DATE AS start_date, $end::DATE AS end_date,
       ($end::DATE + 1)::TIMESTAMP AS as_of,
       ($start::DATE - ((isodow($start::DATE) + 5) % 7))::DATE AS first_blast,
       (3 + floor(2 * sqrt($scale::DOUBLE)))::BIGINT AS n_bad,
       greatest(300, least(90000, round(4000 * $scale::DOUBLE)))::BIGINT AS n_companies,
       $per_day::DOUBLE AS per_day
"""

_SETUP_SQL = (
    # uniform in [0, 1) and standard normal, from a hash of (seed, key, salt)
    "CREATE OR REPLACE TEMP MACRO _kf_u(s, i, salt) AS (hash(s, i, salt) >> 11)::DOUBLE / 9007199254740992.0",
    """CREATE OR REPLACE TEMP MACRO _kf_z(s, i, salt) AS
       sqrt(-2 * ln(1 - _kf_u(s, i, salt || '.a'))) * cos(2 * pi() * _kf_u(s, i, salt || '.b'))""",
    # the email program sends a blast every other Tuesday; blast b's campaign
    """CREATE OR REPLACE TEMP MACRO _kf_email_campaign(first_blast, b) AS
       'email_' || ['newsletter', 'nurture', 'webinar_invite', 'product_update'][1 + (b % 4)::INT]
       || '_' || strftime(first_blast + (14 * b)::INT, '%Y%m%d')""",
    # lead sources: session share (per mille), ad economics, lead quality and deal win probability
    """CREATE OR REPLACE TEMP TABLE _kf_sources AS
    SELECT source, channel, ad_channel, permille::INT AS permille, cvr_mult::DOUBLE AS cvr_mult, prefix,
           greatest(1, round(n_base * sqrt(p.scale)))::INT AS n_camp, ctr::DOUBLE AS ctr, cpc::DOUBLE AS cpc,
           p_free::DOUBLE AS p_free, emp_median::DOUBLE AS emp_median, p_emp_null::DOUBLE AS p_emp_null,
           p_hot::DOUBLE AS p_hot, p_warm::DOUBLE AS p_warm, p_win::DOUBLE AS p_win
    FROM (VALUES
      ('organic_search', 'organic_search', NULL, 350, 1.0, NULL, 0, 0, 0,       0.30, 120, 0.15, 0.16, 0.40, 0.22),
      ('google_ads', 'paid_search', 'google_ads', 180, 1.0, 'gads', 4, 0.035, 2.40, 0.25, 150, 0.12, 0.20, 0.40, 0.24),
      ('meta_ads', 'paid_social', 'meta_ads', 63, 1.0, 'meta', 3, 0.009, 0.95,   0.45, 40, 0.15, 0.10, 0.35, 0.15),
      ('linkedin_ads', 'paid_social', 'linkedin_ads', 28, 0.7, 'lnkd', 3, 0.0045, 6.80, 0.08, 400, 0.08, 0.22,
       0.45, 0.28),
      ('line_ads', 'paid_social', 'line_ads', 49, 1.5, 'line', 2, 0.008, 0.32,  0.80, 12, 0.20, 0.03, 0.20, 0.08),
      ('email', 'email', NULL, 60, 1.0, NULL, 0, 0, 0,                          0.25, 150, 0.12, 0.20, 0.45, 0.22),
      ('direct', 'direct', NULL, 170, 1.0, NULL, 0, 0, 0,                       0.30, 100, 0.15, 0.18, 0.40, 0.25),
      ('referral', 'referral', NULL, 100, 1.0, NULL, 0, 0, 0,                   0.20, 200, 0.10, 0.20, 0.40, 0.30),
      ('event', 'event', NULL, 0, 1.0, NULL, 0, 0, 0,                           0.10, 300, 0.10, 0.16, 0.45, 0.20),
      ('outbound', 'outbound', NULL, 0, 1.0, NULL, 0, 0, 0,                     0.02, 800, 0.05, 0.05, 0.30, 0.18)
    ) t(source, channel, ad_channel, permille, cvr_mult, prefix, n_base, ctr, cpc, p_free, emp_median,
        p_emp_null, p_hot, p_warm, p_win), _kf_params p""",
    # 1000 buckets -> session source (a session draws bucket floor(u * 1000))
    """CREATE OR REPLACE TEMP TABLE _kf_channel_buckets AS
    SELECT (lo + unnest(range(permille)))::INT AS bucket, source, channel, ad_channel, prefix, n_camp, cvr_mult
    FROM (SELECT *, sum(permille) OVER (ORDER BY source) - permille AS lo FROM _kf_sources WHERE permille > 0)""",
    # landing pages per session channel: weight (percent, sums to 100 per channel) and lead-form CVR
    """CREATE OR REPLACE TEMP TABLE _kf_pages AS
    SELECT channel, (lo + unnest(range(weight)))::INT AS bucket, page, cvr
    FROM (SELECT channel, page, weight::INT AS weight, cvr::DOUBLE AS cvr,
                 sum(weight) OVER (PARTITION BY channel ORDER BY page) - weight AS lo
          FROM (VALUES
      ('organic_search', '/blog/lead-scoring-guide', 14, 0.008), ('organic_search', '/blog/b2b-funnel-metrics', 12, 0.008),
      ('organic_search', '/blog/what-is-an-mql', 10, 0.008), ('organic_search', '/blog/marketing-attribution', 8, 0.008),
      ('organic_search', '/blog/sales-pipeline-template', 8, 0.008), ('organic_search', '/', 14, 0.015),
      ('organic_search', '/product', 8, 0.02), ('organic_search', '/pricing', 6, 0.05),
      ('organic_search', '/resources/ebook-kpi-handbook', 8, 0.10), ('organic_search', '/case-studies', 5, 0.03),
      ('organic_search', '/docs', 5, 0.004), ('organic_search', '/careers', 2, 0.0),
      ('paid_search', '/lp/demo', 30, 0.06), ('paid_search', '/lp/free-trial', 20, 0.07),
      ('paid_search', '/pricing', 20, 0.05), ('paid_search', '/', 15, 0.015), ('paid_search', '/product', 15, 0.02),
      ('paid_social', '/lp/ebook', 35, 0.09), ('paid_social', '/lp/webinar', 25, 0.08),
      ('paid_social', '/lp/demo', 15, 0.06), ('paid_social', '/', 15, 0.015),
      ('paid_social', '/blog/b2b-funnel-metrics', 10, 0.008),
      ('email', '/webinars', 30, 0.08), ('email', '/resources/ebook-kpi-handbook', 25, 0.10),
      ('email', '/blog/lead-scoring-guide', 20, 0.008), ('email', '/pricing', 10, 0.05), ('email', '/product', 15, 0.02),
      ('direct', '/', 50, 0.015), ('direct', '/pricing', 15, 0.05), ('direct', '/product', 15, 0.02),
      ('direct', '/docs', 10, 0.004), ('direct', '/careers', 5, 0.0), ('direct', '/demo', 5, 0.15),
      ('referral', '/', 30, 0.015), ('referral', '/case-studies', 20, 0.03), ('referral', '/product', 20, 0.02),
      ('referral', '/pricing', 10, 0.05), ('referral', '/blog/what-is-an-mql', 10, 0.008),
      ('referral', '/integrations', 10, 0.02)
          ) t(channel, page, weight, cvr)))""",
    # company countries (percent buckets) and their e-mail top-level domains
    """CREATE OR REPLACE TEMP TABLE _kf_countries AS
    SELECT (lo + unnest(range(weight)))::INT AS bucket, country, tld
    FROM (SELECT *, sum(weight) OVER (ORDER BY tld, country) - weight AS lo FROM (VALUES
      ('JP', '.co.jp', 40), ('US', '.com', 22), ('GB', '.co.uk', 7), ('DE', '.de', 7), ('FR', '.fr', 4),
      ('SG', '.com.sg', 5), ('AU', '.com.au', 4), ('IN', '.in', 4), ('KR', '.co.kr', 3), ('CA', '.ca', 2),
      (NULL, '.io', 2)) t(country, tld, weight))""",
)

# ---------------------------------------------------------------------------------------------------------
# Calendar, ad spend and web sessions.

_DAYS_SQL = """
CREATE OR REPLACE TEMP TABLE _kf_days AS
WITH d AS (
  SELECT unnest(generate_series(start_date, end_date, INTERVAL 1 DAY))::DATE AS dt, seed, scale, start_date,
         per_day
  FROM _kf_params
), w AS (
  SELECT dt, seed, scale, per_day,
    CASE isodow(dt) WHEN 6 THEN 0.60 WHEN 7 THEN 0.55 WHEN 5 THEN 0.92 WHEN 1 THEN 1.0 ELSE 1.05 END
    * [1.08, 1.04, 1.12, 1.0, 0.96, 1.0, 0.94, 0.80, 1.12, 1.05, 1.0, 0.84][month(dt)]
    * CASE WHEN (month(dt) = 12 AND day(dt) >= 24) OR (month(dt) = 1 AND day(dt) <= 3) THEN 0.6 ELSE 1.0 END
    * (1 + 0.3 * date_diff('day', start_date, dt) / 365.25)
    * (0.9 + 0.2 * _kf_u(seed, dt, 'day')) AS w
  FROM d
), n AS (
  SELECT dt, per_day * scale * w / avg(w) OVER () AS expected, seed FROM w
)
SELECT dt, expected, n_sessions, sum(n_sessions) OVER (ORDER BY dt) - n_sessions AS first_i
FROM (SELECT dt, expected, floor(expected + _kf_u(seed, dt, 'round'))::BIGINT AS n_sessions FROM n)
"""

_AD_SPEND_SQL = """
INSERT INTO raw.ad_spend BY NAME
WITH camp AS (
  SELECT s.ad_channel, s.prefix || '_' || lpad((s.k + 1)::VARCHAR, 3, '0') AS campaign_id, s.permille, s.ctr,
         s.cpc, 0.4 + _kf_u(p.seed, s.prefix || s.k, 'weight') AS w
  FROM (SELECT *, unnest(range(n_camp)) AS k FROM _kf_sources WHERE ad_channel IS NOT NULL) s, _kf_params p
), share AS (
  SELECT *, w / sum(w) OVER (PARTITION BY ad_channel) AS share FROM camp
), x AS (
  SELECT d.dt, c.ad_channel, c.campaign_id, c.ctr, c.cpc, p.seed, c.campaign_id || d.dt AS key,
         d.expected * c.permille / 1000.0 * 1.18 * c.share AS clicks_e
  FROM _kf_days d, share c, _kf_params p
), y AS (
  SELECT *, round(clicks_e / ctr * (0.85 + 0.3 * _kf_u(seed, key, 'impr')))::BIGINT AS impressions FROM x
), z AS (
  SELECT *, least(impressions,
                  floor(impressions * ctr * (0.85 + 0.3 * _kf_u(seed, key, 'clk')) + _kf_u(seed, key, 'r')))::BIGINT
            AS clicks
  FROM y
)
SELECT dt AS date, ad_channel AS channel, campaign_id, impressions, clicks,
       round(clicks * cpc * (0.8 + 0.4 * _kf_u(seed, key, 'cpc')), 2)::DECIMAL(12,2) AS spend
FROM z
"""

_SESSIONS_SQL = """
INSERT INTO raw.web_sessions BY NAME
WITH s AS (
  SELECT dt, first_i + k AS i FROM (SELECT dt, first_i, unnest(range(n_sessions)) AS k FROM _kf_days)
), pool AS (
  SELECT greatest(1, sum(n_sessions) * 6 // 10) AS n_visitors FROM _kf_days
), a AS (
  SELECT s.i, s.dt, p.seed, p.first_blast,
    floor(_kf_u(p.seed, s.i, 'channel') * 1000)::INT AS ch_bucket,
    floor(_kf_u(p.seed, s.i, 'page') * 100)::INT AS page_bucket,
    _kf_u(p.seed, s.i, 'campaign') AS u_camp,
    _kf_u(p.seed, s.i, 'pageviews') AS u_pv,
    _kf_u(p.seed, s.i, 'converted') AS u_conv,
    floor(43200 * (_kf_u(p.seed, s.i, 't1') + _kf_u(p.seed, s.i, 't2')))::BIGINT AS second_of_day,
    hash(p.seed, s.i, 'visitor') % pool.n_visitors AS visitor_num
  FROM s, _kf_params p, pool
), b AS (
  SELECT a.*, cb.channel, pg.page,
    CASE
      WHEN cb.ad_channel IS NOT NULL THEN cb.prefix || '_' || lpad((1 + floor(u_camp * cb.n_camp))::VARCHAR, 3, '0')
      WHEN cb.channel = 'email' THEN _kf_email_campaign(
        first_blast, greatest(0, date_diff('day', first_blast, dt) // 14 - CASE WHEN u_camp < 0.3 THEN 1 ELSE 0 END))
    END AS campaign_id,
    u_conv < pg.cvr * cb.cvr_mult AS converted
  FROM a
  JOIN _kf_channel_buckets cb ON cb.bucket = a.ch_bucket
  JOIN _kf_pages pg ON pg.channel = cb.channel AND pg.bucket = a.page_bucket
)
SELECT 'S' || lpad(i::VARCHAR, 10, '0') AS session_id, dt + to_seconds(second_of_day) AS started_at,
       'V' || lpad(visitor_num::VARCHAR, 9, '0') AS visitor_id, channel, campaign_id, page AS landing_page,
       least(60, 1 + floor(-ln(1 - u_pv) * 2.2) + CASE WHEN converted THEN 2 ELSE 0 END)::INTEGER AS pageviews,
       converted
FROM b
"""

_SESSIONS_BAD_SQL = """
INSERT INTO raw.web_sessions
SELECT w.* FROM raw.web_sessions w, _kf_params p
ORDER BY hash(p.seed, w.session_id, 'dup') LIMIT (SELECT n_bad FROM _kf_params)
"""
