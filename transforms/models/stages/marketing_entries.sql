{{ config(enabled=in_funnel('marketing')) }}

{#-
    Stage 1, marketing: one row per entry of a lead into marketing (new lead, or back from inside
    sales after a recycle). It advances with the first MQL in its window and drops when no MQL came
    within var('marketing_aging_days').
-#}

with entries as (
    select * from {{ ref('int_marketing_cycles') }}
),

mql_events as (
    select * from {{ ref('stg_ma__mql_events') }}
),

as_of as (
    select as_of from {{ ref('int_as_of') }}
),

first_mql_per_entry as (
    select
        entries.marketing_entry_id,
        min(mql_events.mql_at) as mql_at,
        arg_min(mql_events.mql_event_id, mql_events.mql_at) as mql_event_id
    from entries
    inner join mql_events
        on mql_events.ma_lead_id = entries.ma_lead_id
        -- an MQL stamped before the lead was created still belongs to its first entry
        and (entries.entered_at <= mql_events.mql_at or entries.entry_seq = 1)
        and (entries.next_entered_at is null or entries.next_entered_at > mql_events.mql_at)
    group by entries.marketing_entry_id
),

candidates as (
    select
        entries.marketing_entry_id,
        entries.ma_lead_id,
        entries.entry_seq,
        entries.entry_type,
        entries.entered_at,
        entries.entered_at as received_at,
        first_mql_per_entry.mql_event_id,
        first_mql_per_entry.mql_at,
        entries.entered_at + interval {{ var('marketing_aging_days') | int }} day as aged_out_at,
        entries.source,
        entries.campaign_id,
        as_of.as_of
    from entries
    cross join as_of
    left join first_mql_per_entry on entries.marketing_entry_id = first_mql_per_entry.marketing_entry_id
    where entries.entered_at <= as_of.as_of
)

select
    marketing_entry_id as entry_id,
    ma_lead_id,
    entry_seq,
    'marketing' as stage,
    entry_type,
    entered_at,
    received_at,
    {{ stage_outcome('mql_at', 'aged_out_at', "'no_mql_within_" ~ var('marketing_aging_days') ~ "_days'") }},
    case when mql_at <= as_of then mql_event_id end as mql_event_id,
    source,
    campaign_id,
    cast(null as varchar) as owner_id,
    cast(null as varchar) as segment,
    cast(null as varchar) as industry
from candidates
