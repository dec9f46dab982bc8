-- MQL definition, version 1 (shared by marketing and sales).
-- A valid lead is an MQL when it is fit (stg_leads.is_fit) and its
-- engagement reaches var('mql_threshold') points. Only activities with
--   created_at <= occurred_at < created_at + var('mql_window_days') days
-- count. qualified_at is the occurred_at of the first counted activity (in
-- order of occurred_at, then activity_id) at which the running total reaches
-- the threshold. One row per MQL; a fit lead that never reaches it is absent.
with activity_points as (
    -- Points per activity type; types not listed here score nothing.
    select activity_type, points
    from (
        values
            ('email_click', 5),
            ('content_download', 10),
            ('webinar_register', 5),
            ('webinar_attend', 15),
            ('pricing_page_view', 10),
            ('demo_request', 40)
    ) as p (activity_type, points)
),

fit_leads as (
    select
        lead_id,
        created_at
    from {{ ref('stg_leads') }}
    where is_fit
),

counted_activities as (
    select
        a.lead_id,
        l.created_at as lead_created_at,
        a.activity_id,
        a.occurred_at,
        p.points
    from {{ ref('stg_lead_activities') }} as a
    inner join fit_leads as l
        on a.lead_id = l.lead_id
    inner join activity_points as p
        on a.activity_type = p.activity_type
    where a.occurred_at >= l.created_at
      and a.occurred_at < l.created_at + interval '{{ var("mql_window_days") }}' day
),

sequenced as (
    -- The order in which the score accumulates: occurred_at, then activity_id.
    -- Numbering first gives every activity a unique position, so the running
    -- total below is well defined even for exact duplicate activities.
    select
        lead_id,
        lead_created_at,
        occurred_at,
        points,
        row_number() over (
            partition by lead_id
            order by occurred_at asc, activity_id asc nulls last
        ) as activity_seq
    from counted_activities
),

running as (
    select
        lead_id,
        lead_created_at,
        occurred_at,
        activity_seq,
        sum(points) over (
            partition by lead_id
            order by activity_seq
            rows between unbounded preceding and current row
        ) as running_score
    from sequenced
),

crossings as (
    select
        lead_id,
        lead_created_at,
        occurred_at,
        running_score,
        row_number() over (
            partition by lead_id
            order by activity_seq
        ) as crossing_num
    from running
    where running_score >= {{ var('mql_threshold') }}
)

select
    lead_id,
    occurred_at as qualified_at,
    cast(running_score as integer) as score_at_qualification,
    lead_created_at
from crossings
where crossing_num = 1
