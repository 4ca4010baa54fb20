{{ config(enabled=has_system('ma')) }}

with source as (
    {{ newest_records(source('ma', 'mql_events'), ['lead_id', 'mql_at']) }}
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
