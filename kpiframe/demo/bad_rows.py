"""The bad rows real exports have, planted after the clean rows of each table.

Duplicated sessions, duplicated lead ids, and activities, sends and status changes of leads deleted from
the CRM (``_kf_orphans``). Two kinds are made inside the clean statements of `kpiframe.demo.crm` instead:
the leads without a usable email (NULL, empty, blank) are ordinary leads whose email ``LEADS_SQL`` blanks,
and the two opportunities of such leads are the ``invalid`` rows of ``OPPORTUNITIES_SQL``, numbered
together with the other opportunities.
"""

from __future__ import annotations

# bad rows: exact copies of a few sessions
SESSIONS_BAD_SQL = """
INSERT INTO raw.web_sessions
SELECT w.* FROM raw.web_sessions w
WHERE w.session_id IN (
  SELECT 'S' || lpad((_kf_h(p.seed, k, 'dup') % greatest(1, n.total))::VARCHAR, 10, '0')
  FROM (SELECT unnest(range(n_bad)) AS k FROM _kf_params) d, _kf_params p,
       (SELECT sum(n_sessions) AS total FROM _kf_days) n)
"""

LEADS_BAD_SQL = (
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

EMAIL_BAD_SQL = """
INSERT INTO raw.email_sends BY NAME
SELECT 'E' || substr(o.lead_id, 2) || '00' AS send_id, o.lead_id, o.at_ts AS sent_at, false AS bounced,
  _kf_email_campaign(p.first_blast, date_diff('day', p.first_blast, o.at_ts::DATE) // 14) AS campaign_id
FROM _kf_orphans o, _kf_params p
"""

ACTIVITIES_BAD_SQL = """
INSERT INTO raw.lead_activities BY NAME
SELECT 'A' || lpad((m.n + 1 + o.k)::VARCHAR, 9, '0') AS activity_id, o.lead_id, o.at_ts AS occurred_at,
  ['email_click', 'content_download', 'webinar_register', 'pricing_page_view', 'demo_request'
  ][1 + floor(5 * o.u)::INT] AS activity_type
FROM _kf_orphans o, (SELECT count(*) AS n FROM raw.lead_activities) m
"""

STATUS_BAD_SQL = """
INSERT INTO raw.lead_status_changes BY NAME
SELECT lead_id, at_ts AS changed_at,
       ['sales_accepted', 'sales_qualified', 'disqualified'][1 + floor(3 * u)::INT] AS status
FROM _kf_orphans
"""
