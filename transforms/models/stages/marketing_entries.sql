{{ config(enabled=in_funnel('marketing')) }}

{#-
    Stage 1, marketing: one row per entry of a lead into marketing (new lead, or back from inside
    sales after a recycle). It advances with the first MQL in its window and drops when no MQL came
    within var('marketing_aging_days'). The entries, their windows and first MQLs are as-of-free and kept
    incrementally in int_marketing_cycles; this projects them at the as-of instant, every run.
-#}

with entries as (
    select * from {{ ref('int_marketing_cycles') }}
),

as_of as (
    select as_of from {{ ref('int_as_of') }}
),

candidates as (
    select
        entries.marketing_entry_id,
        entries.ma_lead_id,
        entries.entry_seq,
        entries.entry_type,
        entries.entered_at,
        entries.entered_at as received_at,
        entries.mql_event_id,
        entries.mql_at,
        entries.entered_at + interval {{ var('marketing_aging_days') | int }} day as aged_out_at,
        entries.source,
        entries.campaign_id,
        as_of.as_of
    from entries
    cross join as_of
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
    cast(null as string) as owner_id,
    cast(null as string) as segment,
    cast(null as string) as industry
from candidates
