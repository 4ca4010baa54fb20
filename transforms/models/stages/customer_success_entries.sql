{{ config(enabled=in_funnel('customer_success')) }}

{#-
    Stage 4, customer success: one row per CRM customer. A customer onboarded from a won deal enters
    when the deal was won (received_at keeps the CRM onboarding time); one without a won deal enters
    directly at onboarding. It advances at its first renewal (継続) and drops when it churns first.
-#}

with customers as (
    select * from {{ ref('stg_crm__customers') }}
),

opportunities as (
    select * from {{ ref('int_opportunities_as_of') }}
),

handovers as (
    select * from {{ ref('int_lead_handovers') }}
),

first_terms as (
    select * from {{ ref('int_customer_first_terms') }}
),

as_of as (
    select as_of from {{ ref('int_as_of') }}
),

candidates as (
    select
        customers.account_id,
        customers.won_opportunity_id,
        case when customers.won_opportunity_id is not null then 'handover' else 'direct' end as entry_type,
        coalesce(
            case when opportunities.is_won then opportunities.closed_at end, customers.onboarded_at
        ) as entered_at,
        customers.onboarded_at as received_at,
        first_terms.first_contract_id,
        first_terms.first_mrr,
        first_terms.renewal_contract_id,
        first_terms.renewed_at,
        first_terms.churned_at,
        coalesce(first_terms.churn_reason, 'unspecified') as churn_reason,
        case
            when customers.won_opportunity_id is null then 'existing_customer'
            when opportunities.sfa_lead_id is null then 'sales_sourced'
            else handovers.source
        end as source,
        handovers.campaign_id,
        customers.segment,
        customers.industry,
        as_of.as_of
    from customers
    cross join as_of
    left join opportunities on customers.won_opportunity_id = opportunities.opportunity_id
    left join handovers on opportunities.sfa_lead_id = handovers.sfa_lead_id
    left join first_terms on customers.account_id = first_terms.account_id
)

select
    account_id as entry_id,
    account_id,
    won_opportunity_id,
    'customer_success' as stage,
    entry_type,
    entered_at,
    received_at,
    {{ stage_outcome('renewed_at', 'churned_at', 'churn_reason') }},
    first_contract_id,
    first_mrr,
    case when renewed_at <= as_of then renewal_contract_id end as renewal_contract_id,
    source,
    campaign_id,
    cast(null as string) as owner_id,
    segment,
    industry
from candidates
where entered_at <= as_of
