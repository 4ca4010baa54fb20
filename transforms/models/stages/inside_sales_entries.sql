{{ config(enabled=in_funnel('inside_sales')) }}

{#-
    Stage 2, inside sales: one row per SFA lead. A lead from marketing enters when its MQL happened
    (the hand-over is dated by the upstream event); the SFA's own creation time is kept as received_at.
    Leads created in the SFA itself enter directly. It advances when converted to an opportunity
    (商談化) and drops when disqualified or recycled back to marketing.
-#}

with sfa_leads as (
    select * from {{ ref('int_sfa_leads_as_of') }}
),

handovers as (
    select * from {{ ref('int_lead_handovers') }}
),

as_of as (
    select as_of from {{ ref('int_as_of') }}
),

candidates as (
    select
        sfa_leads.sfa_lead_id,
        handovers.ma_lead_id,
        handovers.mql_event_id,
        case when handovers.is_from_marketing then 'handover' else 'direct' end as entry_type,
        coalesce(handovers.mql_at, sfa_leads.created_at) as entered_at,
        sfa_leads.created_at as received_at,
        sfa_leads.first_contact_at,
        sfa_leads.converted_at,
        sfa_leads.converted_opportunity_id,
        sfa_leads.disqualified_at,
        coalesce(sfa_leads.disqualified_reason, sfa_leads.status) as disqualified_reason,
        sfa_leads.is_recycled,
        sfa_leads.status,
        handovers.mql_score,
        handovers.source,
        handovers.campaign_id,
        sfa_leads.owner_id,
        as_of.as_of
    from sfa_leads
    cross join as_of
    inner join handovers on sfa_leads.sfa_lead_id = handovers.sfa_lead_id
    where coalesce(handovers.mql_at, sfa_leads.created_at) <= as_of.as_of
)

select
    sfa_lead_id as entry_id,
    sfa_lead_id,
    ma_lead_id,
    mql_event_id,
    'inside_sales' as stage,
    entry_type,
    entered_at,
    received_at,
    {{ stage_outcome('converted_at', 'disqualified_at', 'disqualified_reason') }},
    case when first_contact_at <= as_of then first_contact_at end as first_contact_at,
    case when converted_at <= as_of then converted_opportunity_id end as converted_opportunity_id,
    coalesce(is_recycled and disqualified_at <= as_of, false) as is_recycled,
    status,
    mql_score,
    source,
    campaign_id,
    owner_id,
    cast(null as string) as segment,
    cast(null as string) as industry
from candidates
