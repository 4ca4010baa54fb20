{{ config(enabled=in_funnel('field_sales')) }}

{#-
    Stage 3, field sales: one row per new-business opportunity (upsell, cross-sell and renewal
    opportunities belong to customer success). An opportunity converted from an SFA lead enters when
    the lead converted; a sales-sourced one (no lead) enters directly when created. It advances when
    closed won (受注) and drops when closed lost (失注).
-#}

with opportunities as (
    select * from {{ ref('int_opportunities_as_of') }}
    where opportunity_type = 'new_business'
),

sfa_leads as (
    select * from {{ ref('int_sfa_leads_as_of') }}
),

handovers as (
    select * from {{ ref('int_lead_handovers') }}
),

customers as (
    select * from {{ ref('stg_crm__customers') }}
),

as_of as (
    select as_of from {{ ref('int_as_of') }}
),

candidates as (
    select
        opportunities.opportunity_id,
        opportunities.sfa_lead_id,
        opportunities.account_id,
        case when opportunities.sfa_lead_id is not null then 'handover' else 'direct' end as entry_type,
        case
            when opportunities.sfa_lead_id is not null then coalesce(sfa_leads.converted_at, opportunities.created_at)
            else opportunities.created_at
        end as entered_at,
        opportunities.created_at as received_at,
        case when opportunities.is_won then opportunities.closed_at end as won_at,
        case when opportunities.is_closed and not opportunities.is_won then opportunities.closed_at end as lost_at,
        coalesce(opportunities.lost_reason, 'unspecified') as lost_reason,
        opportunities.stage_name,
        opportunities.amount,
        opportunities.amount_original,
        opportunities.currency,
        case when opportunities.sfa_lead_id is null then 'sales_sourced' else handovers.source end as source,
        handovers.campaign_id,
        opportunities.owner_id,
        customers.segment,
        customers.industry,
        as_of.as_of
    from opportunities
    cross join as_of
    left join sfa_leads on opportunities.sfa_lead_id = sfa_leads.sfa_lead_id
    left join handovers on opportunities.sfa_lead_id = handovers.sfa_lead_id
    left join customers on opportunities.account_id = customers.account_id
)

select
    opportunity_id as entry_id,
    opportunity_id,
    sfa_lead_id,
    account_id,
    'field_sales' as stage,
    entry_type,
    entered_at,
    received_at,
    {{ stage_outcome('won_at', 'lost_at', 'lost_reason') }},
    stage_name,
    amount,
    amount_original,
    currency,
    source,
    campaign_id,
    owner_id,
    segment,
    industry
from candidates
where entered_at <= as_of
