{#-
    Customer-success economics per month, for each segment and for all customers ('all'): customers and
    MRR at the start and end of the month, the MRR movements between them (new, expansion, contraction,
    churn; per account, from int_account_mrr_monthly), logo churn, renewal rate (継続率), GRR, NRR, and
    LTV = ARPA × gross margin ÷ monthly logo churn, both over the trailing 12 months so a quiet month
    does not swing it. improvement.yml's gross_margin sets the margin. Contracts are those that had started by the
    as-of (int_contracts_as_of), so a renewal counts once its contract has begun.
-#}

-- depends_on: {{ ref('reconciliation') }}  -- built only when reconciliation_gate passes
with account_months as (
    select * from {{ ref('int_account_mrr_monthly') }}
),

contracts as (
    select * from {{ ref('int_contracts_as_of') }}
),

customers as (
    select * from {{ ref('stg_crm__customers') }}
),

as_of as (
    select cast({{ local_time('as_of') }} as date) as as_of_date from {{ ref('int_as_of') }}
),

movements as (
    select
        period_start,
        segment,
        start_mrr,
        end_mrr,
        start_mrr > 0 as active_at_start,
        end_mrr > 0 as active_at_end,
        case when start_mrr = 0 and end_mrr > 0 then end_mrr else 0 end as new_mrr,
        case when start_mrr > 0 and end_mrr > start_mrr then end_mrr - start_mrr else 0 end as expansion_mrr,
        case when start_mrr > 0 and end_mrr > 0 and end_mrr < start_mrr then start_mrr - end_mrr else 0 end
            as contraction_mrr,
        case when start_mrr > 0 and end_mrr = 0 then start_mrr else 0 end as churned_mrr
    from account_months
),

by_segment as (
    select
        period_start,
        case when grouping(segment) = 1 then 'all' else segment end as segment,
        {{ count_where("active_at_start") }} as customers_start,
        {{ count_where("active_at_end") }} as customers_end,
        {{ count_where("not active_at_start and active_at_end") }} as new_customers,
        {{ count_where("active_at_start and not active_at_end") }} as churned_customers,
        sum(start_mrr) as start_mrr,
        sum(new_mrr) as new_mrr,
        sum(expansion_mrr) as expansion_mrr,
        sum(contraction_mrr) as contraction_mrr,
        sum(churned_mrr) as churned_mrr,
        sum(end_mrr) as end_mrr
    from movements
    group by grouping sets ((period_start, segment), (period_start))  -- noqa: PRS
),

successors as (
    select distinct renewal_of_contract_id as contract_id
    from contracts
    where renewal_of_contract_id is not null
),

renewals_due as (
    select
        {{ first_of_month('contracts.end_date') }} as period_start,
        coalesce(customers.segment, '(none)') as segment,
        successors.contract_id is not null as renewed
    from contracts
    cross join as_of
    left join successors on successors.contract_id = contracts.contract_id
    left join customers on customers.account_id = contracts.account_id
    where contracts.end_date <= as_of.as_of_date
),

renewals as (
    select
        period_start,
        case when grouping(segment) = 1 then 'all' else segment end as segment,
        count(*) as contracts_due,
        {{ count_where("renewed") }} as contracts_renewed
    from renewals_due
    group by grouping sets ((period_start, segment), (period_start))  -- noqa: PRS
),

rolling as (
    select
        by_segment.*,
        coalesce(renewals.contracts_due, 0) as contracts_due,
        coalesce(renewals.contracts_renewed, 0) as contracts_renewed,
        sum(by_segment.customers_start) over trailing_year as customer_months_12m,
        sum(by_segment.churned_customers) over trailing_year as churned_12m,
        sum(by_segment.start_mrr) over trailing_year as start_mrr_12m
    from by_segment
    left join renewals
        on renewals.period_start = by_segment.period_start and renewals.segment = by_segment.segment
    window trailing_year as (
        partition by by_segment.segment order by by_segment.period_start rows between 11 preceding and current row
    )
),

rolling_rates as (
    select
        *,
        cast(start_mrr_12m as double) / nullif(customer_months_12m, 0) as arpa_12m,
        cast(churned_12m as double) / nullif(customer_months_12m, 0) as logo_churn_rate_12m
    from rolling
)

select
    period_start,
    segment,
    cast(customers_start as bigint) as customers_start,
    cast(new_customers as bigint) as new_customers,
    cast(churned_customers as bigint) as churned_customers,
    cast(customers_end as bigint) as customers_end,
    cast(start_mrr as decimal(18, 2)) as start_mrr,
    cast(new_mrr as decimal(18, 2)) as new_mrr,
    cast(expansion_mrr as decimal(18, 2)) as expansion_mrr,
    cast(contraction_mrr as decimal(18, 2)) as contraction_mrr,
    cast(churned_mrr as decimal(18, 2)) as churned_mrr,
    cast(end_mrr as decimal(18, 2)) as end_mrr,
    cast(churned_customers as double) / nullif(customers_start, 0) as logo_churn_rate,
    cast(contracts_due as bigint) as contracts_due,
    cast(contracts_renewed as bigint) as contracts_renewed,
    cast(contracts_renewed as double) / nullif(contracts_due, 0) as renewal_rate,
    cast(start_mrr - contraction_mrr - churned_mrr as double) / nullif(start_mrr, 0) as grr,
    cast(start_mrr - contraction_mrr - churned_mrr + expansion_mrr as double) / nullif(start_mrr, 0) as nrr,
    arpa_12m,
    logo_churn_rate_12m,
    arpa_12m * (select settings.gross_margin from {{ ref('stg_reference__improvement_settings') }} as settings)
    / nullif(logo_churn_rate_12m, 0) as ltv
from rolling_rates
order by period_start, segment
