"""Deterministic demo data for the example project: a B2B SaaS marketing and sales funnel.

`generate_demo` writes the raw tables of the contract (schema ``raw``: ad_spend, web_sessions, leads,
lead_activities, email_sends, lead_status_changes, opportunities) into a DuckDB connection. Every row is
made inside DuckDB with SQL. Pseudo-random numbers come from DuckDB's ``hash()`` of (seed, key, salt), so
the same seed and scale give the same tables (for a given DuckDB version, whose hash function they use).

The data has weekday and month seasonality and growth, channels of different cost and lead quality (LINE
ads bring cheap leads that rarely qualify), funnel rates in the ranges practitioners quote, and a handful
of the bad rows real exports have: duplicated sessions, leads without a usable email, duplicated lead ids,
activities, sends and status changes of unknown leads, and an opportunity of an invalid lead.
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

SESSIONS_PER_DAY = 290.0  # average at scale 1: ~200,000 sessions over the default 689 days

_TEMP_TABLES = (
    "_kf_params", "_kf_sources", "_kf_channel_buckets", "_kf_pages", "_kf_countries", "_kf_days",
    "_kf_session_days", "_kf_leads", "_kf_orphans", "_kf_funnel",
)
_TEMP_MACROS = ("_kf_h", "_kf_u", "_kf_z", "_kf_sec", "_kf_day", "_kf_email_campaign")

# ---------------------------------------------------------------------------------------------------------
# Set-up: parameters (the only bound values), helper macros and small dimension tables.

_PARAMS_SQL = """
CREATE OR REPLACE TEMP TABLE _kf_params AS
SELECT $seed::BIGINT AS seed, $scale::DOUBLE AS scale, $start::DATE AS start_date, $end::DATE AS end_date,
       ($end::DATE + 1)::TIMESTAMP AS as_of,
       ($start::DATE - ((isodow($start::DATE) + 5) % 7)::INT)::DATE AS first_blast,
       (3 + floor(2 * sqrt($scale::DOUBLE)))::BIGINT AS n_bad,
       greatest(300, least(90000, round(4000 * $scale::DOUBLE)))::BIGINT AS n_companies,
       $per_day::DOUBLE AS per_day
"""

_MACROS_SQL = (
    # a 64-bit hash of (seed, key, salt); hashed twice because DuckDB combines the hashes of several
    # arguments with a final XOR, which would make draws that differ only by salt dependent
    "CREATE OR REPLACE TEMP MACRO _kf_h(s, i, salt) AS hash(hash(s, i, salt))",
    # uniform in [0, 1) and standard normal (Box-Muller)
    "CREATE OR REPLACE TEMP MACRO _kf_u(s, i, salt) AS (_kf_h(s, i, salt) >> 11)::DOUBLE / 2.0 ^ 53",
    """CREATE OR REPLACE TEMP MACRO _kf_z(s, i, salt) AS
       sqrt(-2 * ln(1 - _kf_u(s, i, salt || '.a'))) * cos(2 * pi() * _kf_u(s, i, salt || '.b'))""",
    # intervals of x seconds and of x days (whole seconds)
    "CREATE OR REPLACE TEMP MACRO _kf_sec(x) AS to_seconds(floor(x)::BIGINT)",
    "CREATE OR REPLACE TEMP MACRO _kf_day(x) AS to_seconds(floor(x * 86400)::BIGINT)",
    # the email program sends a blast every other Tuesday; the campaign of blast number b
    """CREATE OR REPLACE TEMP MACRO _kf_email_campaign(first_blast, b) AS
       'email_' || ['newsletter', 'nurture', 'webinar_invite', 'product_update'][1 + (b % 4)::INT]
       || '_' || strftime(first_blast + (14 * b)::INT, '%Y%m%d')""",
)

_DIMENSIONS_SQL = (
    # lead sources. Sessions: share (per mille), lead-form CVR multiplier. Ads: campaign prefix, campaigns at
    # scale 1, CTR, CPC. Leads: share on free email, median employees, share without employee count, share
    # of hot and warm intent. Deals: win probability.
    """CREATE OR REPLACE TEMP TABLE _kf_sources AS
    SELECT source, channel, ad_channel, permille::INT AS permille, cvr_mult::DOUBLE AS cvr_mult, prefix,
           greatest(1, round(n_base * sqrt(p.scale)))::INT AS n_camp, ctr::DOUBLE AS ctr, cpc::DOUBLE AS cpc,
           p_free::DOUBLE AS p_free, emp_median::DOUBLE AS emp_median, p_emp_null::DOUBLE AS p_emp_null,
           p_hot::DOUBLE AS p_hot, p_warm::DOUBLE AS p_warm, p_win::DOUBLE AS p_win
    FROM (VALUES
      ('organic_search', 'organic_search', NULL, 350, 1.0, NULL, 0, 0, 0,
       0.30, 120, 0.15, 0.19, 0.40, 0.22),
      ('google_ads', 'paid_search', 'google_ads', 180, 1.0, 'gads', 4, 0.035, 2.40,
       0.25, 150, 0.12, 0.23, 0.40, 0.24),
      ('meta_ads', 'paid_social', 'meta_ads', 63, 1.0, 'meta', 3, 0.009, 0.95,
       0.45, 40, 0.15, 0.12, 0.35, 0.15),
      ('linkedin_ads', 'paid_social', 'linkedin_ads', 28, 0.7, 'lnkd', 3, 0.0045, 6.80,
       0.08, 400, 0.08, 0.26, 0.45, 0.28),
      ('line_ads', 'paid_social', 'line_ads', 49, 1.5, 'line', 2, 0.008, 0.32,
       0.80, 12, 0.20, 0.03, 0.20, 0.08),
      ('email', 'email', NULL, 60, 1.0, NULL, 0, 0, 0, 0.25, 150, 0.12, 0.23, 0.45, 0.22),
      ('direct', 'direct', NULL, 170, 1.0, NULL, 0, 0, 0, 0.30, 100, 0.15, 0.21, 0.40, 0.25),
      ('referral', 'referral', NULL, 100, 1.0, NULL, 0, 0, 0, 0.20, 200, 0.10, 0.23, 0.40, 0.30),
      ('event', 'event', NULL, 0, 1.0, NULL, 0, 0, 0, 0.10, 300, 0.10, 0.19, 0.45, 0.20),
      ('outbound', 'outbound', NULL, 0, 1.0, NULL, 0, 0, 0, 0.02, 800, 0.05, 0.06, 0.30, 0.18)
    ) t(source, channel, ad_channel, permille, cvr_mult, prefix, n_base, ctr, cpc, p_free, emp_median,
        p_emp_null, p_hot, p_warm, p_win), _kf_params p""",
    # 1000 buckets -> session source (a session draws bucket floor(u * 1000))
    """CREATE OR REPLACE TEMP TABLE _kf_channel_buckets AS
    SELECT (lo + unnest(range(permille)))::INT AS bucket, source, channel, ad_channel, prefix, n_camp,
           cvr_mult
    FROM (SELECT *, sum(permille) OVER (ORDER BY source) - permille AS lo
          FROM _kf_sources WHERE permille > 0)""",
    # landing pages per session channel: weight (percent, 100 per channel) and lead-form CVR
    """CREATE OR REPLACE TEMP TABLE _kf_pages AS
    SELECT channel, (lo + unnest(range(weight)))::INT AS bucket, page, cvr
    FROM (SELECT channel, page, weight::INT AS weight, cvr::DOUBLE AS cvr,
                 sum(weight) OVER (PARTITION BY channel ORDER BY page) - weight AS lo
          FROM (VALUES
      ('organic_search', '/blog/lead-scoring-guide', 14, 0.008),
      ('organic_search', '/blog/b2b-funnel-metrics', 12, 0.008),
      ('organic_search', '/blog/what-is-an-mql', 10, 0.008),
      ('organic_search', '/blog/marketing-attribution', 8, 0.008),
      ('organic_search', '/blog/sales-pipeline-template', 8, 0.008), ('organic_search', '/', 14, 0.015),
      ('organic_search', '/product', 8, 0.02), ('organic_search', '/pricing', 6, 0.05),
      ('organic_search', '/resources/ebook-kpi-handbook', 8, 0.10),
      ('organic_search', '/case-studies', 5, 0.03), ('organic_search', '/docs', 5, 0.004),
      ('organic_search', '/careers', 2, 0.0),
      ('paid_search', '/lp/demo', 30, 0.06), ('paid_search', '/lp/free-trial', 20, 0.07),
      ('paid_search', '/pricing', 20, 0.05), ('paid_search', '/', 15, 0.015),
      ('paid_search', '/product', 15, 0.02),
      ('paid_social', '/lp/ebook', 35, 0.09), ('paid_social', '/lp/webinar', 25, 0.08),
      ('paid_social', '/lp/demo', 15, 0.06), ('paid_social', '/', 15, 0.015),
      ('paid_social', '/blog/b2b-funnel-metrics', 10, 0.008),
      ('email', '/webinars', 30, 0.08), ('email', '/resources/ebook-kpi-handbook', 25, 0.10),
      ('email', '/blog/lead-scoring-guide', 20, 0.008), ('email', '/pricing', 10, 0.05),
      ('email', '/product', 15, 0.02),
      ('direct', '/', 50, 0.015), ('direct', '/pricing', 15, 0.05), ('direct', '/product', 15, 0.02),
      ('direct', '/docs', 10, 0.004), ('direct', '/careers', 5, 0.0), ('direct', '/demo', 5, 0.15),
      ('referral', '/', 30, 0.015), ('referral', '/case-studies', 20, 0.03),
      ('referral', '/product', 20, 0.02), ('referral', '/pricing', 10, 0.05),
      ('referral', '/blog/what-is-an-mql', 10, 0.008), ('referral', '/integrations', 10, 0.02)
          ) t(channel, page, weight, cvr))""",
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

# sessions per day: weekday and month seasonality, year-end holidays, growth, noise; 290 a day on average
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

# daily rows per campaign; clicks follow the paid sessions expected that day (plus untracked clicks)
_AD_SPEND_SQL = """
INSERT INTO raw.ad_spend BY NAME
WITH camp AS (
  SELECT s.ad_channel, s.prefix || '_' || lpad((s.k + 1)::VARCHAR, 3, '0') AS campaign_id, s.permille,
         s.ctr, s.cpc, 0.4 + _kf_u(p.seed, s.prefix || s.k, 'weight') AS w
  FROM (SELECT *, unnest(range(n_camp)) AS k FROM _kf_sources WHERE ad_channel IS NOT NULL) s, _kf_params p
), x AS (
  SELECT d.dt, c.ad_channel, c.campaign_id, c.ctr, c.cpc, p.seed, c.campaign_id || d.dt AS key,
         d.expected * c.permille / 1000.0 * 1.18 * c.w / sum(c.w) OVER (PARTITION BY d.dt, c.ad_channel)
           AS clicks_e
  FROM _kf_days d, camp c, _kf_params p
), y AS (
  SELECT *, round(clicks_e / ctr * (0.85 + 0.3 * _kf_u(seed, key, 'impr')))::BIGINT AS impressions FROM x
), z AS (
  SELECT *, least(impressions, floor(impressions * ctr * (0.85 + 0.3 * _kf_u(seed, key, 'clk'))
                                     + _kf_u(seed, key, 'r')))::BIGINT AS clicks
  FROM y
)
SELECT dt AS date, ad_channel AS channel, campaign_id, impressions, clicks,
       round(clicks * cpc * (0.8 + 0.4 * _kf_u(seed, key, 'cpc')), 2)::DECIMAL(12,2) AS spend
FROM z
"""

# one row per session index and day, materialized so that the next statement runs in parallel
_SESSION_DAYS_SQL = """
CREATE OR REPLACE TEMP TABLE _kf_session_days AS
SELECT dt, first_i + k AS i FROM (SELECT dt, first_i, unnest(range(n_sessions)) AS k FROM _kf_days)
"""

_SESSIONS_SQL = """
INSERT INTO raw.web_sessions BY NAME
WITH pool AS (
  SELECT greatest(1, sum(n_sessions) * 6 // 10) AS n_visitors FROM _kf_days
), a AS (
  SELECT s.i, s.dt, p.seed, p.first_blast,
    floor(_kf_u(p.seed, s.i, 'channel') * 1000)::INT AS ch_bucket,
    floor(_kf_u(p.seed, s.i, 'page') * 100)::INT AS page_bucket,
    _kf_u(p.seed, s.i, 'campaign') AS u_camp, _kf_u(p.seed, s.i, 'pageviews') AS u_pv,
    _kf_u(p.seed, s.i, 'converted') AS u_conv,
    43200 * (_kf_u(p.seed, s.i, 't1') + _kf_u(p.seed, s.i, 't2')) AS second_of_day,
    _kf_h(p.seed, s.i, 'visitor') % pool.n_visitors AS visitor_num
  FROM _kf_session_days s, _kf_params p, pool
), b AS (
  SELECT a.*, cb.channel, pg.page, u_conv < pg.cvr * cb.cvr_mult AS converted,
    CASE
      WHEN cb.ad_channel IS NOT NULL
        THEN cb.prefix || '_' || lpad((1 + floor(u_camp * cb.n_camp))::BIGINT::VARCHAR, 3, '0')
      WHEN cb.channel = 'email'
        THEN _kf_email_campaign(first_blast, greatest(0, date_diff('day', first_blast, dt) // 14
                                                         - CASE WHEN u_camp < 0.3 THEN 1 ELSE 0 END))
    END AS campaign_id
  FROM a
  JOIN _kf_channel_buckets cb ON cb.bucket = a.ch_bucket
  JOIN _kf_pages pg ON pg.channel = cb.channel AND pg.bucket = a.page_bucket
)
SELECT 'S' || lpad(i::VARCHAR, 10, '0') AS session_id, dt + _kf_sec(second_of_day) AS started_at,
       'V' || lpad(visitor_num::VARCHAR, 9, '0') AS visitor_id, channel, campaign_id, page AS landing_page,
       least(60, 1 + floor(-ln(1 - u_pv) * 2.2) + CASE WHEN converted THEN 2 ELSE 0 END)::INTEGER
         AS pageviews,
       converted
FROM b
"""

_DROP_SESSION_DAYS_SQL = "DROP TABLE temp._kf_session_days"

# bad rows: exact copies of a few sessions
_SESSIONS_BAD_SQL = """
INSERT INTO raw.web_sessions
SELECT w.* FROM raw.web_sessions w
WHERE w.session_id IN (
  SELECT 'S' || lpad((_kf_h(p.seed, k, 'dup') % greatest(1, n.total))::VARCHAR, 10, '0')
  FROM (SELECT unnest(range(n_bad)) AS k FROM _kf_params) d, _kf_params p,
       (SELECT sum(n_sessions) AS total FROM _kf_days) n)
"""

# ---------------------------------------------------------------------------------------------------------
# Leads: inbound (converted sessions), event badge scans and outbound prospects, with CRM-like attributes.

_LEADS_SQL = """
CREATE OR REPLACE TEMP TABLE _kf_leads AS
WITH inbound AS (
  SELECT 'w' || w.session_id AS lead_key, w.channel, w.campaign_id, coalesce(src.source, w.channel) AS source,
         least(w.started_at + _kf_sec(60 + _kf_u(p.seed, w.session_id, 'form') * w.pageviews * 120),
               p.as_of - INTERVAL 1 SECOND) AS created_at
  FROM (SELECT DISTINCT * FROM raw.web_sessions WHERE converted) w
  CROSS JOIN _kf_params p
  LEFT JOIN _kf_sources src ON src.prefix = split_part(w.campaign_id, '_', 1)
), months AS (
  SELECT unnest(generate_series(date_trunc('month', start_date), end_date, INTERVAL 1 MONTH))::DATE AS m, seed
  FROM _kf_params
), event_days AS (
  SELECT DISTINCT d + CASE isodow(d) WHEN 6 THEN 2 WHEN 7 THEN 1 ELSE 0 END AS ev_day
  FROM (SELECT m + (2 + floor(24 * _kf_u(seed, m, 'event' || e)))::INT AS d
        FROM (SELECT m, seed, unnest(range(1 + (_kf_u(seed, m, 'n_events') < 0.35)::INT)) AS e FROM months))
), events AS (
  SELECT ev_day, 'event_' || strftime(ev_day, '%Y%m%d') AS campaign_id,
         ev_day + INTERVAL 1 DAY + _kf_sec(3600 * (1 + floor(8 * _kf_u(p.seed, ev_day, 'import'))))
           AS created_at,
         floor(p.scale * 45 * (0.5 + _kf_u(p.seed, ev_day, 'n')) + _kf_u(p.seed, ev_day, 'r'))::BIGINT AS n
  FROM event_days e, _kf_params p
  WHERE ev_day BETWEEN p.start_date AND p.end_date - 1
), event_leads AS (
  SELECT 'e' || strftime(ev_day, '%Y%m%d') || '-' || k AS lead_key, 'event' AS channel, campaign_id,
         'event' AS source, created_at
  FROM (SELECT *, unnest(range(n)) AS k FROM events)
), outbound AS (
  SELECT 'o' || strftime(dt, '%Y%m%d') || '-' || k AS lead_key, 'outbound' AS channel,
         NULL::VARCHAR AS campaign_id, 'outbound' AS source,
         dt + _kf_sec(36000 * _kf_u(seed, dt || '-' || k, 'outbound')) AS created_at
  FROM (SELECT dt, seed, unnest(range(floor(scale * 2.6 * (0.5 + _kf_u(seed, dt, 'ob_n'))
                                            + _kf_u(seed, dt, 'ob_r'))::BIGINT)) AS k
        FROM _kf_days, _kf_params WHERE isodow(dt) <= 5)
), a AS (
  SELECT b.*, s.p_free, s.emp_median, s.p_emp_null, s.p_hot, s.p_warm, p.seed, p.n_bad,
    (_kf_h(p.seed, b.lead_key, 'company') % p.n_companies)::BIGINT AS company_num,
    _kf_u(p.seed, b.lead_key, 'free') < s.p_free AS free_mail,
    _kf_u(p.seed, b.lead_key, 'intent') AS u_intent, _kf_u(p.seed, b.lead_key, 'pattern') AS u_pattern,
    _kf_u(p.seed, b.lead_key, 'mess') AS u_mess, _kf_u(p.seed, b.lead_key, 'company_null') AS u_company,
    _kf_u(p.seed, b.lead_key, 'country_null') AS u_country, _kf_u(p.seed, b.lead_key, 'emp_null') AS u_emp,
    _kf_z(p.seed, b.lead_key, 'emp') AS z_emp, _kf_u(p.seed, b.lead_key, 'competitor') AS u_competitor,
    _kf_h(p.seed, b.lead_key, 'names') AS h
  FROM (SELECT * FROM inbound
        UNION ALL BY NAME SELECT * FROM event_leads
        UNION ALL BY NAME SELECT * FROM outbound) b
  JOIN _kf_sources s USING (source), _kf_params p
), named AS (
  SELECT a.*, c.country AS company_country, c.tld,
    ['Acme', 'Blue', 'Nova', 'Quantum', 'North', 'Bright', 'Silver', 'Green', 'Red', 'Apex', 'Summit',
     'Pioneer', 'Vertex', 'Orbit', 'Stellar', 'True', 'Iron', 'Cloud', 'Data', 'Sky', 'Fusion', 'Prime',
     'Swift', 'Alpha', 'Omega', 'Crystal', 'Cedar', 'Maple', 'Harbor', 'River'][1 + company_num % 30]
    || ['wave', 'stone', 'line', 'works', 'bridge', 'point', 'path', 'field', 'gate', 'leaf', 'core', 'peak',
        'forge', 'light', 'sun'][1 + (company_num // 30) % 15] AS stem,
    ['Labs', 'Systems', 'Logistics', 'Foods', 'Retail', 'Health', 'Finance', 'Software', 'Manufacturing',
     'Consulting', 'Media', 'Energy', 'Robotics', 'Analytics', 'Networks', 'Trading', 'Motors', 'Pharma',
     'Security', 'Education'][1 + (company_num // 450) % 20] AS industry,
    ['', ' Group', ' Holdings', ' International', ' Partners', ' Global', ' Technologies', ' & Co.', ' Inc.',
     ' Ltd.'][1 + (company_num // 9000) % 10] AS suffix,
    ['taro', 'hanako', 'yuki', 'kenji', 'aiko', 'hiroshi', 'emma', 'liam', 'olivia', 'noah', 'sophia',
     'lucas', 'mia', 'ethan', 'anna', 'max', 'lea', 'paul', 'chloe', 'james', 'sara', 'david', 'maria', 'tom',
     'nina', 'ryo', 'sakura', 'daichi', 'mei', 'kai'][1 + (h % 30)::BIGINT] AS first_name,
    ['sato', 'suzuki', 'takahashi', 'tanaka', 'watanabe', 'ito', 'yamamoto', 'nakamura', 'kobayashi', 'kato',
     'smith', 'johnson', 'brown', 'miller', 'davis', 'garcia', 'muller', 'schmidt', 'schneider', 'fischer',
     'martin', 'bernard', 'dubois', 'wilson', 'taylor', 'clark', 'lee', 'tan', 'wong', 'singh'
    ][1 + (h // 30 % 30)::BIGINT] AS last_name,
    ['gmail.com', 'gmail.com', 'gmail.com', 'yahoo.com', 'hotmail.com', 'outlook.com'
    ][1 + (h // 900 % 6)::BIGINT] AS free_domain
  FROM a JOIN _kf_countries c ON c.bucket = floor(100 * _kf_u(a.seed, a.company_num, 'country'))::INT
), emailed AS (
  SELECT *,
    CASE WHEN u_pattern < 0.45 THEN first_name || '.' || last_name
         WHEN u_pattern < 0.65 THEN left(first_name, 1) || last_name
         WHEN u_pattern < 0.80 THEN first_name || '_' || last_name
         WHEN u_pattern < 0.90 THEN first_name
         ELSE first_name || last_name || (h // 5400 % 100)::VARCHAR END
    || '@' || CASE WHEN free_mail THEN free_domain ELSE lower(stem || industry) || tld END AS clean_email
  FROM named
), ranked AS (
  SELECT *, row_number() OVER (ORDER BY created_at, lead_key) AS lead_num,
    row_number() OVER (ORDER BY _kf_h(seed, lead_key, 'bad')) AS bad_rank,
    CASE WHEN u_intent < p_hot THEN 2 WHEN u_intent < p_hot + p_warm THEN 1 ELSE 0 END AS intent,
    CASE WHEN u_emp >= p_emp_null
         THEN least(250000, greatest(1, round(emp_median * exp(1.3 * z_emp))))::INTEGER END AS employee_count,
    u_competitor < 0.01 AS is_competitor
  FROM emailed
)
SELECT 'L' || lpad(lead_num::VARCHAR, 8, '0') AS lead_id, lead_num, lead_key, created_at,
  CASE WHEN bad_rank <= n_bad THEN NULL WHEN bad_rank <= 2 * n_bad THEN ''
       WHEN bad_rank <= 3 * n_bad THEN '   '
       WHEN u_mess < 0.015 THEN upper(clean_email)
       WHEN u_mess < 0.035 THEN upper(left(clean_email, 1)) || substr(clean_email, 2)
       WHEN u_mess < 0.050 THEN ' ' || clean_email || ' '
       WHEN u_mess < 0.060 THEN clean_email || '  '
       ELSE clean_email END AS email,
  CASE WHEN free_mail AND u_company < 0.35 THEN NULL ELSE stem || ' ' || industry || suffix END AS company,
  CASE WHEN u_country >= 0.05 THEN company_country END AS country,
  channel, campaign_id, employee_count, is_competitor, source, intent, free_mail,
  bad_rank > 3 * n_bad AS is_valid,
  bad_rank > 3 * n_bad AND coalesce(employee_count >= 50, false) AND NOT is_competitor AND NOT free_mail
    AS is_fit
FROM ranked
"""

_LEADS_INSERT_SQL = """
INSERT INTO raw.leads BY NAME
SELECT lead_id, created_at, email, company, country, channel, campaign_id, employee_count, is_competitor
FROM _kf_leads
"""

_LEADS_BAD_SQL = (
    # the same lead imported again later (a re-submission): staging keeps the earliest row
    """INSERT INTO raw.leads BY NAME
    SELECT lead_id, created_at + _kf_day(3 + floor(40 * _kf_u(p.seed, lead_id, 'late'))) AS created_at,
           lower(trim(email)) AS email, company, country, 'direct' AS channel, NULL AS campaign_id,
           (coalesce(employee_count, 20) * 2)::INTEGER AS employee_count, is_competitor
    FROM _kf_leads l, _kf_params p WHERE l.is_valid AND l.created_at < p.as_of - INTERVAL 60 DAY
    ORDER BY _kf_h(p.seed, l.lead_id, 'dup_late') LIMIT (SELECT n_bad FROM _kf_params)""",
    # the same lead at the same instant with another address: staging keeps the email that sorts first
    """INSERT INTO raw.leads BY NAME
    SELECT lead_id, created_at, split_part(trim(email), '@', 1) || '@gmail.com' AS email, company, country,
           channel, campaign_id, employee_count, is_competitor
    FROM _kf_leads l, _kf_params p WHERE l.is_valid AND NOT l.free_mail
    ORDER BY _kf_h(p.seed, l.lead_id, 'dup_same') LIMIT (SELECT n_bad FROM _kf_params)""",
    # ids of leads deleted from the CRM, referenced by activities, sends and status changes
    """CREATE OR REPLACE TEMP TABLE _kf_orphans AS
    SELECT o.k, 'L' || lpad((m.max_num + 1001 + o.k)::VARCHAR, 8, '0') AS lead_id,
           _kf_u(p.seed, o.k, 'kind') AS u,
           p.start_date + _kf_sec(_kf_u(p.seed, o.k, 'orphan_at')
                                  * date_diff('second', p.start_date::TIMESTAMP, p.as_of)) AS at_ts
    FROM (SELECT unnest(range(n_bad)) AS k FROM _kf_params) o, _kf_params p,
         (SELECT max(lead_num) AS max_num FROM _kf_leads) m""",
)

# ---------------------------------------------------------------------------------------------------------
# Email: every valid inbound or event lead gets the fortnightly blasts after its creation (up to 12) until
# it unsubscribes; a hard bounce stops after the first send.

_EMAIL_SQL = """
INSERT INTO raw.email_sends BY NAME
WITH l AS (
  SELECT l.lead_num, l.lead_id, l.intent, p.seed, p.first_blast, p.as_of,
    date_diff('day', p.first_blast, l.created_at::DATE) // 14 + 1 AS b0,
    _kf_u(p.seed, l.lead_num, 'hard_bounce') < 0.03 AS hard_bounce,
    floor(ln(1 - _kf_u(p.seed, l.lead_num, 'unsub')) / ln(1 - 0.003))::BIGINT AS k_unsub
  FROM _kf_leads l, _kf_params p WHERE l.is_valid AND l.channel <> 'outbound'
), s AS (
  SELECT *, unnest(range(CASE WHEN hard_bounce THEN 1 ELSE least(12, k_unsub + 1) END)) AS k FROM l
), t AS (
  SELECT *, b0 + k AS b, lead_num * 16 + k AS key,
    first_blast + (14 * (b0 + k))::INT + INTERVAL 1 HOUR
      + _kf_sec(2400 * _kf_u(seed, lead_num * 16 + k, 'send')) AS sent_at
  FROM s
), u AS (
  SELECT *, (hard_bounce AND k = 0) OR _kf_u(seed, key, 'bounce') < 0.017 AS bounced,
    [0.205, 0.245, 0.24, 0.225][1 + (b % 4)::INT] * [0.8, 1.05, 1.35][1 + intent]
      * (0.9 + 0.2 * _kf_u(seed, b, 'campaign')) AS p_open
  FROM t WHERE sent_at < as_of
), v AS (
  SELECT *, NOT bounced AND k = k_unsub AS unsubscribes,
    _kf_u(seed, key, 'click') < 0.15 * [0.7, 1.0, 1.4][1 + intent] AS clicks,
    CASE WHEN NOT bounced AND (k = k_unsub OR _kf_u(seed, key, 'open') < p_open)
         THEN sent_at + _kf_sec(-ln(1 - _kf_u(seed, key, 'open_t')) * 21600) END AS open_ts
  FROM u
), w AS (
  SELECT *,
    CASE WHEN clicks THEN open_ts + _kf_sec(10 + 600 * _kf_u(seed, key, 'click_t')) END AS click_ts,
    CASE WHEN unsubscribes THEN open_ts + _kf_sec(30 + 300 * _kf_u(seed, key, 'unsub_t')) END AS unsub_ts
  FROM v
)
SELECT 'E' || lpad(lead_num::VARCHAR, 8, '0') || lpad(k::VARCHAR, 2, '0') AS send_id,
  _kf_email_campaign(first_blast, b) AS campaign_id, lead_id, sent_at,
  CASE WHEN open_ts < as_of THEN open_ts END AS opened_at,
  CASE WHEN click_ts < as_of THEN click_ts END AS clicked_at,
  CASE WHEN unsub_ts < as_of THEN unsub_ts END AS unsubscribed_at, bounced
FROM w
"""

_EMAIL_BAD_SQL = """
INSERT INTO raw.email_sends BY NAME
SELECT 'E' || substr(o.lead_id, 2) || '00' AS send_id, o.lead_id, o.at_ts AS sent_at, false AS bounced,
  _kf_email_campaign(p.first_blast, date_diff('day', p.first_blast, o.at_ts::DATE) // 14) AS campaign_id
FROM _kf_orphans o, _kf_params p
"""

# ---------------------------------------------------------------------------------------------------------
# Activities: engagement by intent (hot, warm, cold), mostly within 90 days of creation; webinar attendance
# follows registrations; email clicks are the clicked sends.

_ACTIVITIES_SQL = """
INSERT INTO raw.lead_activities BY NAME
WITH l AS (
  SELECT l.lead_num, l.lead_id, l.created_at, l.intent, p.seed, [40.0, 30.0, 16.0][1 + l.intent] AS mean_days,
    CASE l.intent WHEN 2 THEN 2 + floor(5 * _kf_u(p.seed, l.lead_num, 'n_act'))
                  WHEN 1 THEN 1 + floor(3 * _kf_u(p.seed, l.lead_num, 'n_act'))
                  ELSE floor(2 * _kf_u(p.seed, l.lead_num, 'n_act')) END::BIGINT AS n_act
  FROM _kf_leads l, _kf_params p
), slots AS (
  SELECT *, lead_num * 16 + k AS key, _kf_u(seed, lead_num * 16 + k, 'type') AS u_type,
         _kf_u(seed, lead_num * 16 + k, 'when') AS u_when, _kf_u(seed, lead_num * 16 + k, 'offset') AS u_off
  FROM (SELECT *, unnest(range(n_act)) AS k FROM l)
), generic AS (
  SELECT lead_id, seed, key,
    CASE WHEN u_type < 0.35 THEN 'content_download' WHEN u_type < 0.65 THEN 'pricing_page_view'
         ELSE 'webinar_register' END AS activity_type,
    created_at + CASE WHEN u_when < 0.06 THEN _kf_day(90 + 300 * u_off)         -- late
                      WHEN u_when < 0.07 THEN -_kf_sec(60 + 3 * 86400 * u_off)  -- before the lead existed
                      ELSE _kf_day(-ln(1 - u_off) * mean_days) END AS occurred_at
  FROM slots
), demo AS (
  SELECT lead_id, seed, lead_num * 16 + 15 AS key, 'demo_request' AS activity_type,
    created_at + _kf_day(-ln(1 - _kf_u(seed, lead_num, 'demo_t')) * 20) AS occurred_at
  FROM l WHERE _kf_u(seed, lead_num, 'demo') < [0.01, 0.04, 0.65][1 + intent]
), attend AS (
  SELECT lead_id, seed, key, 'webinar_attend' AS activity_type,
    date_trunc('day', occurred_at) + _kf_day(1 + floor(13 * _kf_u(seed, key, 'webinar_day')))
      + _kf_sec(14400 + 900 * _kf_u(seed, key, 'join')) AS occurred_at
  FROM generic WHERE activity_type = 'webinar_register' AND _kf_u(seed, key, 'attend') < 0.5
), acts AS (
  SELECT lead_id, key::VARCHAR AS key, activity_type, occurred_at FROM generic
  UNION ALL SELECT lead_id, key::VARCHAR, activity_type, occurred_at FROM demo
  UNION ALL SELECT lead_id, key::VARCHAR, activity_type, occurred_at FROM attend
  UNION ALL SELECT lead_id, send_id, 'email_click', clicked_at FROM raw.email_sends
            WHERE clicked_at IS NOT NULL
)
SELECT 'A' || lpad(row_number() OVER (ORDER BY occurred_at, lead_id, activity_type, key)::VARCHAR, 9, '0')
         AS activity_id, lead_id, occurred_at, activity_type
FROM acts, _kf_params p WHERE occurred_at >= p.start_date AND occurred_at < p.as_of
"""

_ACTIVITIES_BAD_SQL = """
INSERT INTO raw.lead_activities BY NAME
SELECT 'A' || lpad((m.n + 1 + o.k)::VARCHAR, 9, '0') AS activity_id, o.lead_id, o.at_ts AS occurred_at,
  ['email_click', 'content_download', 'webinar_register', 'pricing_page_view', 'demo_request'
  ][1 + floor(5 * o.u)::INT] AS activity_type
FROM _kf_orphans o, (SELECT count(*) AS n FROM raw.lead_activities) m
"""

# ---------------------------------------------------------------------------------------------------------
# Sales: MQLs (rule v1) are accepted, then qualified or disqualified; outbound and event leads are worked
# without being MQLs; a few qualified leads are recycled and qualified again.

_FUNNEL_SQL = """
CREATE OR REPLACE TEMP TABLE _kf_funnel AS
WITH pts AS (
  SELECT a.lead_id, a.occurred_at,
    sum(CASE a.activity_type WHEN 'email_click' THEN 5 WHEN 'content_download' THEN 10
             WHEN 'webinar_register' THEN 5 WHEN 'webinar_attend' THEN 15 WHEN 'pricing_page_view' THEN 10
             WHEN 'demo_request' THEN 40 ELSE 0 END)
      OVER (PARTITION BY a.lead_id ORDER BY a.occurred_at, a.activity_id ROWS UNBOUNDED PRECEDING) AS total
  FROM raw.lead_activities a JOIN _kf_leads l USING (lead_id)
  WHERE l.is_fit AND a.occurred_at >= l.created_at AND a.occurred_at < l.created_at + INTERVAL 90 DAY
), mql AS (
  SELECT lead_id, min(occurred_at) AS qualified_at FROM pts WHERE total >= 40 GROUP BY lead_id
), s AS (
  SELECT l.lead_id, l.lead_num, l.source, l.channel, l.employee_count, l.created_at, m.qualified_at,
    _kf_u(p.seed, l.lead_num, 'sal') AS u_sal, _kf_u(p.seed, l.lead_num, 'sql') AS u_sql,
    _kf_u(p.seed, l.lead_num, 'dq') AS u_dq, _kf_u(p.seed, l.lead_num, 'recycle') AS u_rec,
    _kf_u(p.seed, l.lead_num, 't1') AS u1, _kf_u(p.seed, l.lead_num, 't2') AS u2,
    _kf_u(p.seed, l.lead_num, 't3') AS u3
  FROM _kf_leads l LEFT JOIN mql m USING (lead_id), _kf_params p
), sal AS (
  SELECT *, CASE
    WHEN qualified_at IS NOT NULL THEN
      CASE WHEN u_sal < 0.72 THEN qualified_at + _kf_sec(3600 + 4 * 86400 * u1) END
    WHEN (channel = 'outbound' AND u_sal < 0.30) OR (channel = 'event' AND u_sal < 0.08) OR u_sal < 0.01
      THEN created_at + _kf_day(1 + 20 * u1)
  END AS sal_at
  FROM s
), sq AS (
  SELECT *, CASE WHEN sal_at IS NOT NULL AND u_sql < CASE WHEN qualified_at IS NULL THEN 0.40 ELSE 0.55 END
                 THEN sal_at + _kf_day(2 + 20 * u2) END AS sql_at
  FROM sal
)
SELECT *,
  CASE WHEN sal_at IS NOT NULL AND sql_at IS NULL AND u_dq < 0.6
         THEN sal_at + _kf_day(1 + 30 * u3)
       WHEN sal_at IS NULL AND qualified_at IS NOT NULL AND u_dq < 0.5
         THEN qualified_at + _kf_day(1 + 10 * u3)
       WHEN sal_at IS NULL AND qualified_at IS NULL AND u_dq < 0.03
         THEN created_at + _kf_sec(600 + 259200 * u3)
  END AS dq_at,
  CASE WHEN sql_at IS NOT NULL AND u_rec < 0.05 THEN sql_at + _kf_day(60 + floor(60 * u3)) END AS sql2_at
FROM sq
"""

_STATUS_SQL = """
INSERT INTO raw.lead_status_changes BY NAME
SELECT lead_id, changed_at, status FROM (
  SELECT lead_id, sal_at AS changed_at, 'sales_accepted' AS status FROM _kf_funnel
  UNION ALL SELECT lead_id, sql_at, 'sales_qualified' FROM _kf_funnel
  UNION ALL SELECT lead_id, sql2_at, 'sales_qualified' FROM _kf_funnel
  UNION ALL SELECT lead_id, dq_at, 'disqualified' FROM _kf_funnel
), _kf_params p
WHERE changed_at < p.as_of
"""

_STATUS_BAD_SQL = """
INSERT INTO raw.lead_status_changes BY NAME
SELECT lead_id, at_ts AS changed_at,
       ['sales_accepted', 'sales_qualified', 'disqualified'][1 + floor(3 * u)::INT] AS status
FROM _kf_orphans
"""

# ---------------------------------------------------------------------------------------------------------
# Opportunities: weeks after a lead's first sales_qualified; a few expansions; sales-sourced ones without
# a lead; and (bad rows) two on leads without a usable email. Open when the close date is after `end`.

_OPPORTUNITIES_SQL = """
INSERT INTO raw.opportunities BY NAME
WITH p AS (SELECT * FROM _kf_params), first_opp AS (
  SELECT f.lead_id, 'm' || f.lead_num AS key, f.employee_count, s.p_win, f.lead_num,
    f.sql_at + _kf_day(3 + 39 * _kf_u(p.seed, f.lead_num, 'opp_t')) AS created_at
  FROM _kf_funnel f JOIN _kf_sources s USING (source), p
  WHERE f.sql_at IS NOT NULL AND _kf_u(p.seed, f.lead_num, 'opp') < 0.8
), expansion AS (
  SELECT lead_id, 'x' || lead_num AS key, employee_count, p_win, lead_num,
    created_at + _kf_day(90 + 110 * _kf_u(p.seed, lead_num, 'exp_t')) AS created_at
  FROM first_opp, p WHERE _kf_u(p.seed, lead_num, 'expansion') < 0.06
), sales AS (
  SELECT NULL::VARCHAR AS lead_id, 's' || k AS key, NULL::INTEGER AS employee_count, 0.25 AS p_win,
    NULL::BIGINT AS lead_num,
    start_date + _kf_sec(_kf_u(seed, k, 'sales_t') * date_diff('second', start_date::TIMESTAMP, as_of))
      AS created_at
  FROM (SELECT unnest(range(n_bad + floor(40 * scale)::BIGINT)) AS k FROM p), p
), invalid AS (
  SELECT l.lead_id, 'i' || l.lead_num AS key, l.employee_count, 0.2 AS p_win, l.lead_num,
    least(l.created_at + INTERVAL 30 DAY, p.as_of - INTERVAL 1 HOUR) AS created_at
  FROM _kf_leads l, p WHERE NOT l.is_valid ORDER BY _kf_h(p.seed, l.lead_id, 'invalid_opp') LIMIT 2
), priced AS (
  SELECT o.*, p.as_of,
    least(150000, greatest(5000, round(
      22000 * pow(coalesce(greatest(o.employee_count, 10), 200) / 200.0, 0.15)
      * exp(0.7 * _kf_z(p.seed, o.key, 'amount')), -1))) AS amount,
    o.created_at + _kf_day(30 + 90 * _kf_u(p.seed, o.key, 'cycle')) AS closes_at,
    _kf_u(p.seed, o.key, 'won') < o.p_win AS won
  FROM (SELECT * FROM first_opp UNION ALL BY NAME SELECT * FROM expansion
        UNION ALL BY NAME SELECT * FROM sales UNION ALL BY NAME SELECT * FROM invalid) o, p
  WHERE o.created_at < p.as_of
)
SELECT 'OP' || lpad(row_number() OVER (ORDER BY created_at, key)::VARCHAR, 7, '0') AS opportunity_id,
  lead_id, created_at, amount::DECIMAL(14,2) AS amount,
  CASE WHEN closes_at < as_of THEN closes_at END AS closed_at,
  CASE WHEN closes_at < as_of THEN won END AS is_won
FROM priced
"""

# (raw table reported after the step, or None; its statements in order)
_STEPS: tuple[tuple[str | None, tuple[str, ...]], ...] = (
    (None, (*_MACROS_SQL, *_DIMENSIONS_SQL, _DAYS_SQL)),
    ("ad_spend", (_AD_SPEND_SQL,)),
    ("web_sessions", (_SESSION_DAYS_SQL, _SESSIONS_SQL, _DROP_SESSION_DAYS_SQL, _SESSIONS_BAD_SQL)),
    ("leads", (_LEADS_SQL, _LEADS_INSERT_SQL, *_LEADS_BAD_SQL)),
    ("email_sends", (_EMAIL_SQL, _EMAIL_BAD_SQL)),
    ("lead_activities", (_ACTIVITIES_SQL, _ACTIVITIES_BAD_SQL)),
    ("lead_status_changes", (_FUNNEL_SQL, _STATUS_SQL, _STATUS_BAD_SQL)),
    ("opportunities", (_OPPORTUNITIES_SQL,)),
)


def generate_demo(
    con: duckdb.DuckDBPyConnection,
    seed: int = 42,
    scale: float = 1.0,
    start: date = date(2025, 1, 1),
    end: date = date(2026, 11, 20),
    progress: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Write the demo raw tables into schema ``raw`` of ``con``, dropping and recreating them.

    ``scale`` 1.0 is about 200,000 web sessions over the default range (290 a day on average) and about
    10,000 leads; the other tables follow from them. ``start`` and ``end`` are inclusive days and nothing
    happens after ``end``. ``progress`` receives one short message per table, e.g.
    ``"web_sessions: 200,000 rows"``. Returns the row count of each raw table, by table name.
    """
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    _create_tables(con)
    params = {"seed": int(seed), "scale": float(scale), "start": start, "end": end,
              "per_day": SESSIONS_PER_DAY}
    counts: dict[str, int] = {}
    try:
        con.execute(_PARAMS_SQL, params)
        for table, statements in _STEPS:
            for sql in statements:
                con.execute(sql)
            if table is not None:
                counts[table] = _count(con, table)
                if progress is not None:
                    progress(f"{table}: {counts[table]:,} rows")
    finally:
        _drop_temp_objects(con)
    return {table: counts[table] for table in RAW_TABLES}


def _create_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Drop and recreate the (empty) raw tables with the contract's columns and types."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    for table, columns in RAW_TABLES.items():
        cols = ", ".join(f'"{name}" {type_}' for name, type_ in columns)
        con.execute(f"DROP TABLE IF EXISTS {SCHEMA}.{table}")
        con.execute(f"CREATE TABLE {SCHEMA}.{table} ({cols})")


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    """Row count of a raw table."""
    row = con.execute(f"SELECT count(*) FROM {SCHEMA}.{table}").fetchone()
    return int(row[0]) if row else 0


def _drop_temp_objects(con: duckdb.DuckDBPyConnection) -> None:
    """Remove the generator's temporary tables and macros from the connection."""
    for name in _TEMP_TABLES:
        con.execute(f"DROP TABLE IF EXISTS temp.{name}")
    for name in _TEMP_MACROS:
        con.execute(f"DROP MACRO IF EXISTS temp.{name}")
