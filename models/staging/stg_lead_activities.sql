-- Activities of valid leads only; rows of unknown or invalid leads are
-- ignored (a data-quality expectation reports them). A semi-join, so rows are
-- never multiplied.
select
    activity_id,
    lead_id,
    occurred_at,
    activity_type
from {{ source('raw', 'lead_activities') }}
where lead_id in (select lead_id from {{ ref('stg_leads') }})
