"""Marketing tables: the calendar of daily session volumes, ad_spend, web_sessions and email_sends.

The email sends go to leads (``_kf_leads`` of `kpiframe.demo.crm`), so that statement runs after the leads;
`kpiframe.demo.generator` fixes the order.
"""

from __future__ import annotations

# ---------------------------------------------------------------------------------------------------------
# Calendar, ad spend and web sessions.

# sessions per day: weekday and month seasonality, year-end holidays, growth, noise; 290 a day on average
DAYS_SQL = """
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
AD_SPEND_SQL = """
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
SESSION_DAYS_SQL = """
CREATE OR REPLACE TEMP TABLE _kf_session_days AS
SELECT dt, first_i + k AS i FROM (SELECT dt, first_i, unnest(range(n_sessions)) AS k FROM _kf_days)
"""

SESSIONS_SQL = """
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

DROP_SESSION_DAYS_SQL = "DROP TABLE temp._kf_session_days"

# ---------------------------------------------------------------------------------------------------------
# Email: every valid inbound or event lead gets the fortnightly blasts after its creation (up to 12) until
# it unsubscribes; a hard bounce stops after the first send.

EMAIL_SQL = """
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
