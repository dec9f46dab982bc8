-- Ad spend per platform (channel), campaign and day; no cleaning is defined,
-- the model pins the contract's columns.
select
    date,
    channel,
    campaign_id,
    impressions,
    clicks,
    spend
from {{ source('raw', 'ad_spend') }}
