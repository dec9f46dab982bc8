-- SQLs: valid leads with a sales_qualified status, one row per lead at its
-- first such change (the time the sqls metric counts it). Status rows without
-- a changed_at cannot be placed in time and are ignored.
select
    lead_id,
    min(changed_at) as qualified_at
from {{ ref('stg_lead_status_changes') }}
where status = 'sales_qualified'
  and changed_at is not null
group by lead_id
