{{ config(enabled=in_funnel('appointment')) }}

{#-
    A stage between inside sales and field sales, added by tests/test_funnel_registry.py the way a team would
    add one: an SFA lead converted by inside sales enters (the hand-over is dated by the conversion, as field
    sales dates its entries); it advances when its opportunity exists in the SFA and drops when none appears
    within 30 days.
-#}

with sfa_leads as (
    select * from {{ ref('int_sfa_leads_as_of') }}
),

opportunities as (
    select * from {{ ref('int_opportunities_as_of') }}
    where opportunity_type = 'new_business'
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
        sfa_leads.converted_at as entered_at,
        sfa_leads.converted_at as received_at,
        case when exists (
            select 1 from opportunities where opportunities.sfa_lead_id = sfa_leads.sfa_lead_id
        ) then sfa_leads.converted_at end as booked_at,
        sfa_leads.converted_at + interval 30 day as lapsed_at,
        handovers.source,
        handovers.campaign_id,
        sfa_leads.owner_id,
        as_of.as_of
    from sfa_leads
    cross join as_of
    left join handovers on handovers.sfa_lead_id = sfa_leads.sfa_lead_id
    where sfa_leads.converted_at <= as_of.as_of
)

select
    sfa_lead_id as entry_id,
    sfa_lead_id,
    'appointment' as stage,
    'handover' as entry_type,
    entered_at,
    received_at,
    {{ stage_outcome('booked_at', 'lapsed_at', "'no_opportunity_within_30_days'") }},
    source,
    campaign_id,
    owner_id,
    cast(null as varchar) as segment,
    cast(null as varchar) as industry
from candidates
