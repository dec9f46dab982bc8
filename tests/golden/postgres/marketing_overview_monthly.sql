WITH scan_ad_spend_1 AS (
  SELECT
    CAST(DATE_TRUNC('MONTH', "t"."date") AS DATE) AS "period_start",
    SUM("t"."spend") AS "m1_spend",
    SUM("t"."impressions") AS "m2_impressions_sum",
    SUM("t"."clicks") AS "m3_clicks_sum"
  FROM "analytics"."stg_ad_spend" AS "t"
  WHERE
    NOT "t"."date" IS NULL
  GROUP BY
    CAST(DATE_TRUNC('MONTH', "t"."date") AS DATE)
), scan_web_sessions_2 AS (
  SELECT
    CAST(DATE_TRUNC('MONTH', "t"."started_at") AS DATE) AS "period_start",
    COUNT(DISTINCT "t"."session_id") AS "m4_session_count",
    COUNT(DISTINCT "t"."session_id") FILTER(WHERE
      "t"."converted") AS "m5_session_count"
  FROM "analytics"."stg_web_sessions" AS "t"
  WHERE
    NOT "t"."started_at" IS NULL
  GROUP BY
    CAST(DATE_TRUNC('MONTH', "t"."started_at") AS DATE)
), scan_leads_3 AS (
  SELECT
    CAST(DATE_TRUNC('MONTH', "t"."created_at") AS DATE) AS "period_start",
    COUNT("t"."lead_id") AS "m6_lead_count"
  FROM "analytics"."stg_leads" AS "t"
  WHERE
    NOT "t"."created_at" IS NULL
  GROUP BY
    CAST(DATE_TRUNC('MONTH', "t"."created_at") AS DATE)
), scan_mql_v1_4 AS (
  SELECT
    CAST(DATE_TRUNC('MONTH', "t"."qualified_at") AS DATE) AS "period_start",
    COUNT("t"."lead_id") AS "m7_mql_v1_count"
  FROM "analytics"."mql_v1" AS "t"
  WHERE
    NOT "t"."qualified_at" IS NULL
  GROUP BY
    CAST(DATE_TRUNC('MONTH', "t"."qualified_at") AS DATE)
), scan_opportunities_5 AS (
  SELECT
    CAST(DATE_TRUNC('MONTH', "t"."closed_at") AS DATE) AS "period_start",
    SUM("t"."amount") FILTER(WHERE
      "t"."is_won" AND "j1"."channel" IN ('paid_search', 'paid_social')) AS "m8_closed_amount"
  FROM "analytics"."stg_opportunities" AS "t"
  LEFT JOIN "analytics"."stg_leads" AS "j1"
    ON "t"."valid_lead_id" = "j1"."lead_id"
  WHERE
    NOT "t"."closed_at" IS NULL
  GROUP BY
    CAST(DATE_TRUNC('MONTH', "t"."closed_at") AS DATE)
  HAVING
    COUNT(*) FILTER(WHERE
      "t"."is_won" AND "j1"."channel" IN ('paid_search', 'paid_social')) > 0
), scan_email_sends_6 AS (
  SELECT
    CAST(DATE_TRUNC('MONTH', "t"."sent_at") AS DATE) AS "period_start",
    COUNT("t"."send_id") FILTER(WHERE
      NOT "t"."bounced" AND NOT "t"."opened_at" IS NULL) AS "m9_send_count",
    COUNT("t"."send_id") FILTER(WHERE
      NOT "t"."bounced") AS "m10_send_count",
    COUNT("t"."send_id") FILTER(WHERE
      NOT "t"."bounced" AND NOT "t"."clicked_at" IS NULL) AS "m11_send_count"
  FROM "analytics"."stg_email_sends" AS "t"
  WHERE
    NOT "t"."sent_at" IS NULL
  GROUP BY
    CAST(DATE_TRUNC('MONTH', "t"."sent_at") AS DATE)
  HAVING
    COUNT(*) FILTER(WHERE
      NOT "t"."bounced" AND NOT "t"."opened_at" IS NULL) > 0
    OR COUNT(*) FILTER(WHERE
      NOT "t"."bounced") > 0
    OR COUNT(*) FILTER(WHERE
      NOT "t"."bounced" AND NOT "t"."clicked_at" IS NULL) > 0
), scan_lead_activities_7 AS (
  SELECT
    CAST(DATE_TRUNC('MONTH', "t"."occurred_at") AS DATE) AS "period_start",
    COUNT("t"."activity_id") FILTER(WHERE
      "t"."activity_type" = 'webinar_attend') AS "m12_activity_count",
    COUNT("t"."activity_id") FILTER(WHERE
      "t"."activity_type" = 'webinar_register') AS "m13_activity_count"
  FROM "analytics"."stg_lead_activities" AS "t"
  WHERE
    NOT "t"."occurred_at" IS NULL
  GROUP BY
    CAST(DATE_TRUNC('MONTH', "t"."occurred_at") AS DATE)
  HAVING
    COUNT(*) FILTER(WHERE
      "t"."activity_type" = 'webinar_attend') > 0
    OR COUNT(*) FILTER(WHERE
      "t"."activity_type" = 'webinar_register') > 0
), spine_bounds AS (
  SELECT
    MIN("period_start") AS "spine_start",
    MAX("period_start") AS "spine_end",
    MIN("period_start") AS "range_start",
    MAX("period_start") AS "range_end"
  FROM (
    SELECT
      "period_start"
    FROM "scan_ad_spend_1"
    UNION ALL
    SELECT
      "period_start"
    FROM "scan_web_sessions_2"
    UNION ALL
    SELECT
      "period_start"
    FROM "scan_leads_3"
    UNION ALL
    SELECT
      "period_start"
    FROM "scan_mql_v1_4"
    UNION ALL
    SELECT
      "period_start"
    FROM "scan_opportunities_5"
    UNION ALL
    SELECT
      "period_start"
    FROM "scan_email_sends_6"
    UNION ALL
    SELECT
      "period_start"
    FROM "scan_lead_activities_7"
  ) AS d
), spine_periods AS (
  SELECT
    CAST("series_value" AS DATE) AS "period_start"
  FROM (
    SELECT
      CAST(value AS DATE)
    FROM GENERATE_SERIES(
      (
        SELECT
          "b"."spine_start"
        FROM "spine_bounds" AS "b"
      ),
      (
        SELECT
          "b"."spine_end"
        FROM "spine_bounds" AS "b"
      ),
      INTERVAL '1 MONTH'
    ) AS _t(value)
  ) AS _t0("series_value")
), spine AS (
  SELECT
    "s"."period_start"
  FROM "spine_periods" AS "s"
)
SELECT
  "period_start",
  "m1_spend" AS "ad_spend",
  "m2_impressions_sum" AS "impressions",
  "m3_clicks_sum" AS "clicks",
  CAST("m3_clicks_sum" AS DOUBLE PRECISION) / NULLIF("m2_impressions_sum", 0) AS "ctr",
  CAST("m1_spend" AS DOUBLE PRECISION) / NULLIF("m3_clicks_sum", 0) AS "cpc",
  "m4_session_count" AS "sessions",
  CAST("m5_session_count" AS DOUBLE PRECISION) / NULLIF("m4_session_count", 0) AS "session_cvr",
  "m6_lead_count" AS "leads",
  "m7_mql_v1_count" AS "mqls",
  CAST("m7_mql_v1_count" AS DOUBLE PRECISION) / NULLIF("m6_lead_count", 0) AS "lead_to_mql_rate",
  CAST("m1_spend" AS DOUBLE PRECISION) / NULLIF("m6_lead_count", 0) AS "cost_per_lead",
  CAST("m1_spend" AS DOUBLE PRECISION) / NULLIF("m7_mql_v1_count", 0) AS "cost_per_mql",
  CAST("m8_closed_amount" AS DOUBLE PRECISION) / NULLIF("m1_spend", 0) AS "paid_roas",
  CAST("m9_send_count" AS DOUBLE PRECISION) / NULLIF("m10_send_count", 0) AS "email_open_rate",
  CAST("m11_send_count" AS DOUBLE PRECISION) / NULLIF("m10_send_count", 0) AS "email_click_rate",
  CAST("m11_send_count" AS DOUBLE PRECISION) / NULLIF("m9_send_count", 0) AS "email_ctor",
  CAST("m12_activity_count" AS DOUBLE PRECISION) / NULLIF("m13_activity_count", 0) AS "webinar_attendance_rate"
FROM (
  SELECT
    "k"."period_start",
    COALESCE("p1"."m1_spend", 0) AS "m1_spend",
    COALESCE("p1"."m2_impressions_sum", 0) AS "m2_impressions_sum",
    COALESCE("p1"."m3_clicks_sum", 0) AS "m3_clicks_sum",
    COALESCE("p2"."m4_session_count", 0) AS "m4_session_count",
    COALESCE("p2"."m5_session_count", 0) AS "m5_session_count",
    COALESCE("p3"."m6_lead_count", 0) AS "m6_lead_count",
    COALESCE("p4"."m7_mql_v1_count", 0) AS "m7_mql_v1_count",
    COALESCE("p5"."m8_closed_amount", 0) AS "m8_closed_amount",
    COALESCE("p6"."m9_send_count", 0) AS "m9_send_count",
    COALESCE("p6"."m10_send_count", 0) AS "m10_send_count",
    COALESCE("p6"."m11_send_count", 0) AS "m11_send_count",
    COALESCE("p7"."m12_activity_count", 0) AS "m12_activity_count",
    COALESCE("p7"."m13_activity_count", 0) AS "m13_activity_count"
  FROM "spine" AS "k"
  LEFT JOIN "scan_ad_spend_1" AS "p1"
    ON "k"."period_start" = "p1"."period_start"
  LEFT JOIN "scan_web_sessions_2" AS "p2"
    ON "k"."period_start" = "p2"."period_start"
  LEFT JOIN "scan_leads_3" AS "p3"
    ON "k"."period_start" = "p3"."period_start"
  LEFT JOIN "scan_mql_v1_4" AS "p4"
    ON "k"."period_start" = "p4"."period_start"
  LEFT JOIN "scan_opportunities_5" AS "p5"
    ON "k"."period_start" = "p5"."period_start"
  LEFT JOIN "scan_email_sends_6" AS "p6"
    ON "k"."period_start" = "p6"."period_start"
  LEFT JOIN "scan_lead_activities_7" AS "p7"
    ON "k"."period_start" = "p7"."period_start"
  WHERE
    "k"."period_start" >= (
      SELECT
        "b"."range_start"
      FROM "spine_bounds" AS "b"
    )
    AND "k"."period_start" <= (
      SELECT
        "b"."range_end"
      FROM "spine_bounds" AS "b"
    )
) AS combined
ORDER BY
  "period_start"
