-- Valid leads, one row per lead_id (spec: example-kpis.md, "Cleaning").
-- 1. Dedupe: per lead_id keep the row with the earliest created_at; among rows
--    with the same created_at, the one whose email sorts first in byte order,
--    NULL emails last. DuckDB compares VARCHARs byte-wise (binary collation)
--    by default, so a plain ORDER BY email gives byte order there. On an
--    engine whose default collation is locale-aware (e.g. PostgreSQL) this
--    ORDER BY needs a binary collation (COLLATE "C") to keep that meaning.
--    The remaining keys only make the pick deterministic when rows tie on
--    created_at and email; the spec leaves that case open.
-- 2. Validity: the kept row is a valid lead unless its email is NULL or empty
--    after trimming the space character. Invalid leads count nowhere.
--    Rows without a lead_id cannot be referenced and are dropped.
-- 3. email_domain: the part after the last '@' (the whole email when it has
--    no '@'), lower-cased and trimmed of spaces: the macro in macros/email.sql.
-- 4. is_fit: the fit half of MQL v1 - employee_count >= 50, is_competitor
--    false, domain not a free-mail domain; any NULL input means not fit.
with ranked as (
    select
        lead_id,
        created_at,
        email,
        company,
        country,
        channel,
        campaign_id,
        employee_count,
        is_competitor,
        row_number() over (
            partition by lead_id
            order by
                created_at asc nulls last,
                email asc nulls last,
                company asc nulls last,
                country asc nulls last,
                channel asc nulls last,
                campaign_id asc nulls last,
                employee_count asc nulls last,
                is_competitor asc nulls last
        ) as row_num
    from {{ source('raw', 'leads') }}
    where lead_id is not null
),

valid as (
    select
        lead_id,
        created_at,
        email,
        company,
        country,
        channel,
        campaign_id,
        employee_count,
        is_competitor,
        {{ email_domain('email') }} as email_domain
    from ranked
    where row_num = 1
      and email is not null
      and trim(both ' ' from email) <> ''
)

select
    lead_id,
    created_at,
    email,
    company,
    country,
    channel,
    campaign_id,
    employee_count,
    is_competitor,
    email_domain,
    coalesce(
        employee_count >= 50
        and is_competitor = false
        and email_domain not in ('gmail.com', 'yahoo.com', 'hotmail.com', 'outlook.com'),
        false
    ) as is_fit
from valid
