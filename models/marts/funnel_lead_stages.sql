-- One row per valid lead with the raw time it reached each funnel stage
-- (NULL when it never did). No conversion window is applied here: the funnel
-- counts a stage only when created_at <= stage time < created_at + 180 days,
-- and a stage counts whether or not the stages before it were seen.
--   mql_at              qualified_at of MQL v1
--   sales_accepted_at   first changed_at with status sales_accepted
--   sales_qualified_at  first changed_at with status sales_qualified
--   opportunity_at      created_at of the lead's first opportunity
--   won_at              earliest closed_at of a won opportunity of the lead
with status_times as (
    select
        lead_id,
        min(case when status = 'sales_accepted' then changed_at end) as sales_accepted_at,
        min(case when status = 'sales_qualified' then changed_at end) as sales_qualified_at
    from {{ ref('stg_lead_status_changes') }}
    group by lead_id
),

opportunity_times as (
    select
        valid_lead_id as lead_id,
        min(created_at) as opportunity_at,
        min(case when is_won = true then closed_at end) as won_at
    from {{ ref('stg_opportunities') }}
    where valid_lead_id is not null
    group by valid_lead_id
)

select
    l.lead_id,
    l.created_at,
    l.channel,
    l.country,
    m.qualified_at as mql_at,
    s.sales_accepted_at,
    s.sales_qualified_at,
    o.opportunity_at,
    o.won_at
from {{ ref('stg_leads') }} as l
left join {{ ref('mql_v1') }} as m
    on l.lead_id = m.lead_id
left join status_times as s
    on l.lead_id = s.lead_id
left join opportunity_times as o
    on l.lead_id = o.lead_id
