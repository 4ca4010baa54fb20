{#-
    The staging of the records the incremental models (macros/incremental.sql) read, written once and used twice:
    by the staging views (models/staging), over every extracted row, and by an incremental model's update, over the
    rows of only the keys a new load touched. Filtering the extracted rows first and then resolving each key's
    newest version gives that key exactly the staging view's row, because the resolution (newest_records) and
    every window here are per key; filtering the staging view instead would resolve every record of the table in
    every run. `rows` is the extracted relation, or a parenthesised query of its rows with every row of each key
    it keeps.
-#}

{% macro staged_ma_leads(rows) -%}
with source as (
    {{ newest_records(rows, ['lead_id']) }}
),

renamed as (
    select
        lead_id as ma_lead_id,
        email,
        company,
        created_at,
        lower(source) as source,
        campaign_id
    from source
)

select * from renamed
{%- endmacro %}


{% macro staged_ma_mql_events(rows) -%}
with source as (
    {{ newest_records(rows, ['lead_id', 'mql_at']) }}
),

numbered as (
    select
        lead_id as ma_lead_id,
        mql_at,
        score,
        sfa_lead_id,
        row_number() over (partition by lead_id order by mql_at, sfa_lead_id) as mql_seq
    from source
)

select
    ma_lead_id || '#' || mql_seq as mql_event_id,
    ma_lead_id,
    mql_seq,
    mql_at,
    score,
    sfa_lead_id
from numbered
{%- endmacro %}


{% macro staged_sfa_leads(rows) -%}
with source as (
    {{ newest_records(rows, ['lead_id']) }}
),

renamed as (
    select
        lead_id as sfa_lead_id,
        ma_lead_id,
        created_at,
        owner_id,
        lower(status) as status,
        first_contact_at,
        converted_at,
        converted_opportunity_id,
        disqualified_at,
        disqualified_reason,
        lower(status) = 'recycled' as is_recycled
    from source
)

select * from renamed
{%- endmacro %}
