{{ config(
    materialized=incremental_materialization(),
    incremental_strategy='delete+insert',
    unique_key='sfa_lead_id',
    on_schema_change='sync_all_columns',
    pre_hook="{{ incremental_reset() }}",
    post_hook="{{ incremental_save() }}",
) }}
-- depends_on: {{ ref('stg_sfa__leads') }}

{#-
    For every SFA lead, the MQL event that handed it over from marketing, if any. The MA's sync id
    (mql_events.sfa_lead_id) links them first; an SFA lead that no MQL event points at but that names
    its MA lead takes that lead's latest MQL before the SFA lead was created. Two SFA leads can thus
    share one MQL event (a duplicate in the sync), which reconciliation reports. A company without a
    marketing-automation system (vars.funnel.systems) hands nothing over: every SFA lead starts there.
    Nothing here depends on the as-of instant, so the table is incremental (macros/incremental.sql): a run
    recomputes only the SFA leads the newly loaded files touch, from their records' extracted rows alone, and
    everything when its rows could differ from a rebuild.
-#}
{%- set watermark = incremental_watermark() %}
{%- if has_system('ma') %}

with
{%- if watermark is not none %}
-- The MA leads with a lead or MQL-event row in the files loaded since the last build: their MQL events may have
-- changed, or been numbered anew (stg_ma__mql_events.mql_seq), and their source or campaign.
touched_ma_leads as (
    select lead_id as ma_lead_id from {{ source('ma', 'leads') }}
    where {{ loaded_after(source('ma', 'leads'), watermark) }}
    union
    select lead_id as ma_lead_id from {{ source('ma', 'mql_events') }}
    where {{ loaded_after(source('ma', 'mql_events'), watermark) }}
),

-- The SFA leads whose hand-over those files can change: with a row in them, named by (the sync id of) any
-- version of an MQL event of a touched MA lead, or naming a touched MA lead in any version.
touched as (
    select lead_id as sfa_lead_id from {{ source('sfa', 'leads') }}
    where {{ loaded_after(source('sfa', 'leads'), watermark) }}
    union
    select sfa_lead_id from {{ source('ma', 'mql_events') }}
    where lead_id in (select touched_ma_leads.ma_lead_id from touched_ma_leads) and sfa_lead_id is not null
    union
    select lead_id as sfa_lead_id from {{ source('sfa', 'leads') }}
    where ma_lead_id in (select touched_ma_leads.ma_lead_id from touched_ma_leads)
),

-- The MA leads those SFA leads can be linked to: named by them in any version, or with an MQL event that names
-- one of them in any version. Every MQL event of such a lead is read, so that the events are numbered as in
-- staging.
linked_ma_leads as (
    select ma_lead_id from {{ source('sfa', 'leads') }}
    where lead_id in (select touched.sfa_lead_id from touched) and ma_lead_id is not null
    union
    select lead_id as ma_lead_id from {{ source('ma', 'mql_events') }}
    where sfa_lead_id in (select touched.sfa_lead_id from touched)
),

-- the staging (macros/staging.sql) of every extracted row of those records only; FUNNEL_AS_OF is empty here, so
-- the SFA leads as of the as-of instant are the newest versions (int_sfa_leads_as_of)
sfa_leads as (
    {{ staged_sfa_leads(
        "(select * from " ~ source('sfa', 'leads') ~ " where lead_id in (select touched.sfa_lead_id from touched))"
    ) }}
),

mql_events as (
    {{ staged_ma_mql_events(
        "(select * from " ~ source('ma', 'mql_events')
        ~ " where lead_id in (select linked_ma_leads.ma_lead_id from linked_ma_leads))"
    ) }}
),

ma_leads as (
    {{ staged_ma_leads(
        "(select * from " ~ source('ma', 'leads')
        ~ " where lead_id in (select linked_ma_leads.ma_lead_id from linked_ma_leads))"
    ) }}
),
{%- else %}
sfa_leads as (
    select * from {{ ref('int_sfa_leads_as_of') }}
),

mql_events as (
    select * from {{ ref('stg_ma__mql_events') }}
),

ma_leads as (
    select * from {{ ref('stg_ma__leads') }}
),
{%- endif %}

by_sync_id as (
    select
        sfa_lead_id,
        {{ value_at_min("mql_event_id", "mql_at") }} as mql_event_id,
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
        {{ value_at_max("mql_events.mql_event_id", "mql_events.mql_at") }} as mql_event_id,
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
    cast(null as string) as ma_lead_id,
    cast(null as string) as mql_event_id,
    cast(null as {{ instant_type() }}) as mql_at,
    cast(null as string) as matched_by,
    false as is_from_marketing,
    cast(null as double) as mql_score,
    cast(null as string) as source,
    cast(null as string) as campaign_id
from {{ ref('int_sfa_leads_as_of') }}
{%- if watermark is not none %}
where sfa_lead_id in (
    select lead_id from {{ source('sfa', 'leads') }}
    where {{ loaded_after(source('sfa', 'leads'), watermark) }}
)
{%- endif %}
{%- endif %}
