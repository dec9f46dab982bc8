-- All opportunities, sales-sourced included (the opportunities metric counts
-- them all). valid_lead_id is the lead_id when it names a valid lead, else
-- NULL: it is the key to the lead's dimensions, so opportunities without a
-- valid lead fall into the NULL group of a lead dimension.
-- is_marketing_sourced: the opportunity has a valid lead (pipeline counts
-- only these).
select
    o.opportunity_id,
    o.lead_id,
    l.lead_id as valid_lead_id,
    l.lead_id is not null as is_marketing_sourced,
    o.created_at,
    o.amount,
    o.closed_at,
    o.is_won
from {{ source('raw', 'opportunities') }} as o
left join {{ ref('stg_leads') }} as l
    on o.lead_id = l.lead_id
