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
    SUM(IFF("t"."is_marketing_sourced", "t"."amount", NULL)) AS "m3_opportunity_amount"
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
    COUNT(IFF("t"."is_won", "t"."opportunity_id", NULL)) AS "m4_closed_count",
    SUM(IFF("t"."is_won", "t"."amount", NULL)) AS "m5_closed_amount",
    COUNT(IFF(NOT "t"."is_won" IS NULL, "t"."opportunity_id", NULL)) AS "m6_closed_count"
  FROM "analytics"."stg_opportunities" AS "t"
  LEFT JOIN "analytics"."stg_leads" AS "j1"
    ON "t"."valid_lead_id" = "j1"."lead_id"
  WHERE
    NOT "t"."closed_at" IS NULL
  GROUP BY
    CAST(DATE_TRUNC('WEEK', "t"."closed_at") AS DATE),
    "j1"."channel"
  HAVING
    COUNT_IF("t"."is_won") > 0 OR COUNT_IF(NOT "t"."is_won" IS NULL) > 0
)
SELECT
  "period_start",
  "lead__channel",
  COALESCE("m1_sql_count", 0) AS "sqls",
  COALESCE("m2_opportunity_count", 0) AS "opportunities",
  COALESCE("m3_opportunity_amount", 0) AS "pipeline",
  COALESCE("m4_closed_count", 0) AS "won_deals",
  COALESCE("m5_closed_amount", 0) AS "bookings",
  COALESCE("m4_closed_count", 0) / NULLIF(COALESCE("m6_closed_count", 0), 0) AS "win_rate",
  COALESCE("m5_closed_amount", 0) / NULLIF(COALESCE("m4_closed_count", 0), 0) AS "avg_deal_size"
FROM (
  SELECT
    "period_start",
    "lead__channel",
    MAX("m1_sql_count") AS "m1_sql_count",
    MAX("m2_opportunity_count") AS "m2_opportunity_count",
    MAX("m3_opportunity_amount") AS "m3_opportunity_amount",
    MAX("m4_closed_count") AS "m4_closed_count",
    MAX("m5_closed_amount") AS "m5_closed_amount",
    MAX("m6_closed_count") AS "m6_closed_count",
    MAX("__present") AS "__present"
  FROM (
    SELECT
      "period_start",
      "lead__channel",
      "m1_sql_count",
      NULL AS "m2_opportunity_count",
      NULL AS "m3_opportunity_amount",
      NULL AS "m4_closed_count",
      NULL AS "m5_closed_amount",
      NULL AS "m6_closed_count",
      1 AS "__present"
    FROM "scan_sql_leads_1"
    UNION ALL
    SELECT
      "period_start",
      "lead__channel",
      NULL AS "m1_sql_count",
      "m2_opportunity_count",
      "m3_opportunity_amount",
      NULL AS "m4_closed_count",
      NULL AS "m5_closed_amount",
      NULL AS "m6_closed_count",
      1 AS "__present"
    FROM "scan_opportunities_2"
    UNION ALL
    SELECT
      "period_start",
      "lead__channel",
      NULL AS "m1_sql_count",
      NULL AS "m2_opportunity_count",
      NULL AS "m3_opportunity_amount",
      "m4_closed_count",
      "m5_closed_amount",
      "m6_closed_count",
      1 AS "__present"
    FROM "scan_opportunities_3"
  ) AS stacked
  GROUP BY
    "period_start",
    "lead__channel"
) AS combined
ORDER BY
  "period_start",
  "lead__channel"
