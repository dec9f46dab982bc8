WITH scan_leads_1 AS (
  SELECT
    CAST(DATE_TRUNC(`t`.`created_at`, MONTH) AS DATE) AS `period_start`,
    `t`.`channel` AS `lead__channel`,
    COUNT(`t`.`lead_id`) AS `m1_lead_count`
  FROM `analytics`.`stg_leads` AS `t`
  WHERE
    NOT `t`.`created_at` IS NULL
  GROUP BY
    CAST(DATE_TRUNC(`t`.`created_at`, MONTH) AS DATE),
    `t`.`channel`
), scan_mql_v1_2 AS (
  SELECT
    CAST(DATE_TRUNC(`t`.`qualified_at`, MONTH) AS DATE) AS `period_start`,
    `j1`.`channel` AS `lead__channel`,
    COUNT(`t`.`lead_id`) AS `m2_mql_v1_count`
  FROM `analytics`.`mql_v1` AS `t`
  LEFT JOIN `analytics`.`stg_leads` AS `j1`
    ON `t`.`lead_id` = `j1`.`lead_id`
  WHERE
    NOT `t`.`qualified_at` IS NULL
  GROUP BY
    CAST(DATE_TRUNC(`t`.`qualified_at`, MONTH) AS DATE),
    `j1`.`channel`
), scan_opportunities_3 AS (
  SELECT
    CAST(DATE_TRUNC(`t`.`created_at`, MONTH) AS DATE) AS `period_start`,
    `j1`.`channel` AS `lead__channel`,
    COUNT(`t`.`opportunity_id`) AS `m3_opportunity_count`,
    SUM(IF(`t`.`is_marketing_sourced`, `t`.`amount`, NULL)) AS `m4_opportunity_amount`
  FROM `analytics`.`stg_opportunities` AS `t`
  LEFT JOIN `analytics`.`stg_leads` AS `j1`
    ON `t`.`valid_lead_id` = `j1`.`lead_id`
  WHERE
    NOT `t`.`created_at` IS NULL
  GROUP BY
    CAST(DATE_TRUNC(`t`.`created_at`, MONTH) AS DATE),
    `j1`.`channel`
)
SELECT
  `period_start`,
  `lead__channel`,
  COALESCE(`m1_lead_count`, 0) AS `leads`,
  COALESCE(`m2_mql_v1_count`, 0) AS `mqls`,
  COALESCE(`m2_mql_v1_count`, 0) / NULLIF(COALESCE(`m1_lead_count`, 0), 0) AS `lead_to_mql_rate`,
  COALESCE(`m3_opportunity_count`, 0) AS `opportunities`,
  COALESCE(`m4_opportunity_amount`, 0) AS `pipeline`
FROM (
  SELECT
    `period_start`,
    `lead__channel`,
    MAX(`m1_lead_count`) AS `m1_lead_count`,
    MAX(`m2_mql_v1_count`) AS `m2_mql_v1_count`,
    MAX(`m3_opportunity_count`) AS `m3_opportunity_count`,
    MAX(`m4_opportunity_amount`) AS `m4_opportunity_amount`,
    MAX(`__present`) AS `__present`
  FROM (
    SELECT
      `period_start`,
      `lead__channel`,
      `m1_lead_count`,
      NULL AS `m2_mql_v1_count`,
      NULL AS `m3_opportunity_count`,
      NULL AS `m4_opportunity_amount`,
      1 AS `__present`
    FROM `scan_leads_1`
    UNION ALL
    SELECT
      `period_start`,
      `lead__channel`,
      NULL AS `m1_lead_count`,
      `m2_mql_v1_count`,
      NULL AS `m3_opportunity_count`,
      NULL AS `m4_opportunity_amount`,
      1 AS `__present`
    FROM `scan_mql_v1_2`
    UNION ALL
    SELECT
      `period_start`,
      `lead__channel`,
      NULL AS `m1_lead_count`,
      NULL AS `m2_mql_v1_count`,
      `m3_opportunity_count`,
      `m4_opportunity_amount`,
      1 AS `__present`
    FROM `scan_opportunities_3`
  ) AS stacked
  GROUP BY
    `period_start`,
    `lead__channel`
) AS combined
ORDER BY
  `period_start` NULLS LAST,
  `lead__channel` NULLS LAST
