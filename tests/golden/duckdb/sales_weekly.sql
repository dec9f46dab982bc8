WITH scan_sql_leads_1 AS (
  SELECT
    CAST(DATE_TRUNC('WEEK', "t"."qualified_at") AS DATE) AS "period_start",
    "j1"."channel" AS "lead__channel",
    COUNT("t"."lead_id") AS "m1_sql_count"
  FROM "analytics"."sql_leads" AS "t"
  LEFT JOIN "analytics"."stg_leads" AS "j1"
    ON "t"."lead_id" = "j1"."lead_id"
  WHERE
    NOT "t"."qualified_at" IS NULL
  GROUP BY
    CAST(DATE_TRUNC('WEEK', "t"."qualified_at") AS DATE),
    "j1"."channel"
), scan_opportunities_2 AS (
  SELECT
    CAST(DATE_TRUNC('WEEK', "t"."created_at") AS DATE) AS "period_start",
    "j1"."channel" AS "lead__channel",
    COUNT("t"."opportunity_id") AS "m2_opportunity_count",
    SUM("t"."amount") FILTER(WHERE
      "t"."is_marketing_sourced") AS "m3_opportunity_amount"
  FROM "analytics"."stg_opportunities" AS "t"
  LEFT JOIN "analytics"."stg_leads" AS "j1"
    ON "t"."valid_lead_id" = "j1"."lead_id"
  WHERE
    NOT "t"."created_at" IS NULL
  GROUP BY
    CAST(DATE_TRUNC('WEEK', "t"."created_at") AS DATE),
    "j1"."channel"
), scan_opportunities_3 AS (
  SELECT
    CAST(DATE_TRUNC('WEEK', "t"."closed_at") AS DATE) AS "period_start",
    "j1"."channel" AS "lead__channel",
    COUNT("t"."opportunity_id") FILTER(WHERE
      "t"."is_won") AS "m4_closed_count",
    SUM("t"."amount") FILTER(WHERE
      "t"."is_won") AS "m5_closed_amount",
    COUNT("t"."opportunity_id") FILTER(WHERE
      NOT "t"."is_won" IS NULL) AS "m6_closed_count"
  FROM "analytics"."stg_opportunities" AS "t"
  LEFT JOIN "analytics"."stg_leads" AS "j1"
    ON "t"."valid_lead_id" = "j1"."lead_id"
  WHERE
    NOT "t"."closed_at" IS NULL
  GROUP BY
    CAST(DATE_TRUNC('WEEK', "t"."closed_at") AS DATE),
    "j1"."channel"
  HAVING
    COUNT(*) FILTER(WHERE
      "t"."is_won") > 0
    OR COUNT(*) FILTER(WHERE
      NOT "t"."is_won" IS NULL) > 0
), spine_bounds AS (
  SELECT
    MIN("period_start") AS "spine_start",
    MAX("period_start") AS "spine_end",
    MIN("period_start") AS "range_start",
    MAX("period_start") AS "range_end"
  FROM (
    SELECT
      "period_start"
    FROM "scan_sql_leads_1"
    UNION ALL
    SELECT
      "period_start"
    FROM "scan_opportunities_2"
    UNION ALL
    SELECT
      "period_start"
    FROM "scan_opportunities_3"
  ) AS d
), spine_periods AS (
  SELECT
    CAST("series_value" AS DATE) AS "period_start"
  FROM UNNEST(CAST(GENERATE_SERIES(
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
    INTERVAL '1' WEEK
  ) AS DATE[])) AS _t0("series_value")
), spine_values AS (
  SELECT DISTINCT
    "lead__channel"
  FROM "scan_sql_leads_1"
  UNION
  SELECT
    "lead__channel"
  FROM "scan_opportunities_2"
  UNION
  SELECT
    "lead__channel"
  FROM "scan_opportunities_3"
), spine AS (
  SELECT
    "s"."period_start",
    "v"."lead__channel"
  FROM "spine_periods" AS "s"
  CROSS JOIN "spine_values" AS "v"
)
SELECT
  "period_start",
  "lead__channel",
  "m1_sql_count" AS "sqls",
  "m2_opportunity_count" AS "opportunities",
  "m3_opportunity_amount" AS "pipeline",
  "m4_closed_count" AS "won_deals",
  "m5_closed_amount" AS "bookings",
  "m4_closed_count" / NULLIF("m6_closed_count", 0) AS "win_rate",
  "m5_closed_amount" / NULLIF("m4_closed_count", 0) AS "avg_deal_size"
FROM (
  SELECT
    "k"."period_start",
    "k"."lead__channel",
    COALESCE("p1"."m1_sql_count", 0) AS "m1_sql_count",
    COALESCE("p2"."m2_opportunity_count", 0) AS "m2_opportunity_count",
    COALESCE("p2"."m3_opportunity_amount", 0) AS "m3_opportunity_amount",
    COALESCE("p3"."m4_closed_count", 0) AS "m4_closed_count",
    COALESCE("p3"."m5_closed_amount", 0) AS "m5_closed_amount",
    COALESCE("p3"."m6_closed_count", 0) AS "m6_closed_count"
  FROM "spine" AS "k"
  LEFT JOIN "scan_sql_leads_1" AS "p1"
    ON "k"."period_start" = "p1"."period_start"
    AND "k"."lead__channel" IS NOT DISTINCT FROM "p1"."lead__channel"
  LEFT JOIN "scan_opportunities_2" AS "p2"
    ON "k"."period_start" = "p2"."period_start"
    AND "k"."lead__channel" IS NOT DISTINCT FROM "p2"."lead__channel"
  LEFT JOIN "scan_opportunities_3" AS "p3"
    ON "k"."period_start" = "p3"."period_start"
    AND "k"."lead__channel" IS NOT DISTINCT FROM "p3"."lead__channel"
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
  "period_start",
  "lead__channel"
