WITH scan_leads_1 AS (
  SELECT
    CAST(DATE_TRUNC('MONTH', "t"."created_at") AS DATE) AS "period_start",
    "t"."channel" AS "lead__channel",
    COUNT("t"."lead_id") AS "m1_lead_count"
  FROM "analytics"."stg_leads" AS "t"
  WHERE
    NOT "t"."created_at" IS NULL
  GROUP BY
    CAST(DATE_TRUNC('MONTH', "t"."created_at") AS DATE),
    "t"."channel"
), scan_mql_v1_2 AS (
  SELECT
    CAST(DATE_TRUNC('MONTH', "t"."qualified_at") AS DATE) AS "period_start",
    "j1"."channel" AS "lead__channel",
    COUNT("t"."lead_id") AS "m2_mql_v1_count"
  FROM "analytics"."mql_v1" AS "t"
  LEFT JOIN "analytics"."stg_leads" AS "j1"
    ON "t"."lead_id" = "j1"."lead_id"
  WHERE
    NOT "t"."qualified_at" IS NULL
  GROUP BY
    CAST(DATE_TRUNC('MONTH', "t"."qualified_at") AS DATE),
    "j1"."channel"
), scan_opportunities_3 AS (
  SELECT
    CAST(DATE_TRUNC('MONTH', "t"."created_at") AS DATE) AS "period_start",
    "j1"."channel" AS "lead__channel",
    COUNT("t"."opportunity_id") AS "m3_opportunity_count",
    SUM(IFF("t"."is_marketing_sourced", "t"."amount", NULL)) AS "m4_opportunity_amount"
  FROM "analytics"."stg_opportunities" AS "t"
  LEFT JOIN "analytics"."stg_leads" AS "j1"
    ON "t"."valid_lead_id" = "j1"."lead_id"
  WHERE
    NOT "t"."created_at" IS NULL
  GROUP BY
    CAST(DATE_TRUNC('MONTH', "t"."created_at") AS DATE),
    "j1"."channel"
), spine_bounds AS (
  SELECT
    MIN("period_start") AS "spine_start",
    MAX("period_start") AS "spine_end",
    MIN("period_start") AS "range_start",
    MAX("period_start") AS "range_end"
  FROM (
    SELECT
      "period_start"
    FROM "scan_leads_1"
    UNION ALL
    SELECT
      "period_start"
    FROM "scan_mql_v1_2"
    UNION ALL
    SELECT
      "period_start"
    FROM "scan_opportunities_3"
  ) AS d
), spine_periods AS (
  SELECT
    CAST("series_value" AS DATE) AS "period_start"
  FROM (
    SELECT
      DATEADD(
        MONTH,
        CAST("series_value" AS INT),
        CAST((
          SELECT
            "b"."spine_start"
          FROM "spine_bounds" AS "b"
        ) AS DATE)
      ) AS "series_value"
    FROM TABLE(FLATTEN(INPUT => ARRAY_GENERATE_RANGE(
      0,
      DATEDIFF(
        MONTH,
        (
          SELECT
            "b"."spine_start"
          FROM "spine_bounds" AS "b"
        ),
        (
          SELECT
            "b"."spine_end"
          FROM "spine_bounds" AS "b"
        )
      ) + 1
    ))) AS _t1(seq, key, path, index, "series_value", this)
  ) AS _t0("series_value")
), spine_values AS (
  SELECT DISTINCT
    "lead__channel"
  FROM "scan_leads_1"
  UNION
  SELECT
    "lead__channel"
  FROM "scan_mql_v1_2"
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
  "m1_lead_count" AS "leads",
  "m2_mql_v1_count" AS "mqls",
  "m2_mql_v1_count" / NULLIF("m1_lead_count", 0) AS "lead_to_mql_rate",
  "m3_opportunity_count" AS "opportunities",
  "m4_opportunity_amount" AS "pipeline"
FROM (
  SELECT
    "k"."period_start",
    "k"."lead__channel",
    COALESCE("p1"."m1_lead_count", 0) AS "m1_lead_count",
    COALESCE("p2"."m2_mql_v1_count", 0) AS "m2_mql_v1_count",
    COALESCE("p3"."m3_opportunity_count", 0) AS "m3_opportunity_count",
    COALESCE("p3"."m4_opportunity_amount", 0) AS "m4_opportunity_amount"
  FROM "spine" AS "k"
  LEFT JOIN "scan_leads_1" AS "p1"
    ON "k"."period_start" = "p1"."period_start"
    AND "k"."lead__channel" IS NOT DISTINCT FROM "p1"."lead__channel"
  LEFT JOIN "scan_mql_v1_2" AS "p2"
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
