-- Sales status history of valid leads only; rows of unknown or invalid leads
-- are ignored (a data-quality expectation reports them).
select
    lead_id,
    changed_at,
    status
from {{ source('raw', 'lead_status_changes') }}
where lead_id in (select lead_id from {{ ref('stg_leads') }})
