"""CRM tables: leads, lead_activities, lead_status_changes (the sales funnel) and opportunities."""

from __future__ import annotations

# ---------------------------------------------------------------------------------------------------------
# Leads: inbound (converted sessions), event badge scans and outbound prospects, with CRM-like attributes.

LEADS_SQL = """
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

LEADS_INSERT_SQL = """
INSERT INTO raw.leads BY NAME
SELECT lead_id, created_at, email, company, country, channel, campaign_id, employee_count, is_competitor
FROM _kf_leads
"""

# ---------------------------------------------------------------------------------------------------------
# Activities: engagement by intent (hot, warm, cold), mostly within 90 days of creation; webinar attendance
# follows registrations; email clicks are the clicked sends.

ACTIVITIES_SQL = """
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

# ---------------------------------------------------------------------------------------------------------
# Sales: MQLs (rule v1) are accepted, then qualified or disqualified; outbound and event leads are worked
# without being MQLs; a few qualified leads are recycled and qualified again.

FUNNEL_SQL = """
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

STATUS_SQL = """
INSERT INTO raw.lead_status_changes BY NAME
SELECT lead_id, changed_at, status FROM (
  SELECT lead_id, sal_at AS changed_at, 'sales_accepted' AS status FROM _kf_funnel
  UNION ALL SELECT lead_id, sql_at, 'sales_qualified' FROM _kf_funnel
  UNION ALL SELECT lead_id, sql2_at, 'sales_qualified' FROM _kf_funnel
  UNION ALL SELECT lead_id, dq_at, 'disqualified' FROM _kf_funnel
), _kf_params p
WHERE changed_at < p.as_of
"""

# ---------------------------------------------------------------------------------------------------------
# Opportunities: weeks after a lead's first sales_qualified; a few expansions; sales-sourced ones without
# a lead; and (bad rows) two on leads without a usable email. Open when the close date is after `end`.

OPPORTUNITIES_SQL = """
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
