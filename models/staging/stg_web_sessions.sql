-- One row per session_id. Duplicated rows in the export are exact copies, so
-- which copy is kept does not matter; the ORDER BY only makes the pick
-- deterministic should copies ever differ. Rows without a session_id are not
-- sessions and are dropped.
with numbered as (
    select
        session_id,
        started_at,
        visitor_id,
        channel,
        campaign_id,
        landing_page,
        pageviews,
        converted,
        row_number() over (
            partition by session_id
            order by started_at asc nulls last, visitor_id asc nulls last
        ) as row_num
    from {{ source('raw', 'web_sessions') }}
    where session_id is not null
)

select
    session_id,
    started_at,
    visitor_id,
    channel,
    campaign_id,
    landing_page,
    pageviews,
    converted
from numbered
where row_num = 1
