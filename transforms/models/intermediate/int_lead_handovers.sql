{#-
    For every SFA lead, the MQL event that handed it over from marketing, if any. The MA's sync id
    (mql_events.sfa_lead_id) links them first; an SFA lead that no MQL event points at but that names
    its MA lead takes that lead's latest MQL before the SFA lead was created. Two SFA leads can thus
    share one MQL event (a duplicate in the sync), which reconciliation reports. A company without a
    marketing-automation system (vars.funnel.systems) hands nothing over: every SFA lead starts there.
-#}
{%- if has_system('ma') %}

with sfa_leads as (
    select * from {{ ref('int_sfa_leads_as_of') }}
),

mql_events as (
    select * from {{ ref('stg_ma__mql_events') }}
),

ma_leads as (
    select * from {{ ref('stg_ma__leads') }}
),

by_sync_id as (
    select
        sfa_lead_id,
        arg_min(mql_event_id, mql_at) as mql_event_id,
        min(mql_at) as mql_at
    from mql_events
    where sfa_lead_id is not null
    group by sfa_lead_id
),

unlinked as (
    select sfa_leads.*
    from sfa_leads
    left join by_sync_id on by_sync_id.sfa_lead_id = sfa_leads.sfa_lead_id
    where by_sync_id.sfa_lead_id is null
),

by_ma_lead as (
    select
        unlinked.sfa_lead_id,
        arg_max(mql_events.mql_event_id, mql_events.mql_at) as mql_event_id,
        max(mql_events.mql_at) as mql_at
    from unlinked
    inner join mql_events
        on mql_events.ma_lead_id = unlinked.ma_lead_id
        and mql_events.mql_at <= unlinked.created_at
    group by unlinked.sfa_lead_id
),

linked as (
    select
        sfa_leads.sfa_lead_id,
        coalesce(by_sync_id.mql_event_id, by_ma_lead.mql_event_id) as mql_event_id,
        coalesce(by_sync_id.mql_at, by_ma_lead.mql_at) as mql_at,
        case
            when by_sync_id.sfa_lead_id is not null then 'sync_id'
            when by_ma_lead.sfa_lead_id is not null then 'ma_lead_id'
        end as matched_by
    from sfa_leads
    left join by_sync_id on by_sync_id.sfa_lead_id = sfa_leads.sfa_lead_id
    left join by_ma_lead on by_ma_lead.sfa_lead_id = sfa_leads.sfa_lead_id
)

select
    sfa_leads.sfa_lead_id,
    coalesce(sfa_leads.ma_lead_id, mql_events.ma_lead_id) as ma_lead_id,
    linked.mql_event_id,
    linked.mql_at,
    linked.matched_by,
    coalesce(sfa_leads.ma_lead_id, mql_events.ma_lead_id) is not null as is_from_marketing,
    mql_events.score as mql_score,
    ma_leads.source,
    ma_leads.campaign_id
from sfa_leads
inner join linked on linked.sfa_lead_id = sfa_leads.sfa_lead_id
left join mql_events on mql_events.mql_event_id = linked.mql_event_id
left join ma_leads on ma_leads.ma_lead_id = coalesce(sfa_leads.ma_lead_id, mql_events.ma_lead_id)

{%- else %}

select
    sfa_lead_id,
    cast(null as varchar) as ma_lead_id,
    cast(null as varchar) as mql_event_id,
    cast(null as timestamptz) as mql_at,
    cast(null as varchar) as matched_by,
    false as is_from_marketing,
    cast(null as double) as mql_score,
    cast(null as varchar) as source,
    cast(null as varchar) as campaign_id
from {{ ref('int_sfa_leads_as_of') }}
{%- endif %}
