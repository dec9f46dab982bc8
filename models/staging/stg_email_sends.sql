-- Marketing email sends to valid leads only; rows of unknown or invalid leads
-- are ignored (a data-quality expectation reports them).
select
    send_id,
    campaign_id,
    lead_id,
    sent_at,
    opened_at,
    clicked_at,
    unsubscribed_at,
    bounced
from {{ source('raw', 'email_sends') }}
where lead_id in (select lead_id from {{ ref('stg_leads') }})
