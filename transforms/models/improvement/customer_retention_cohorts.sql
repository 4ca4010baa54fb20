{#-
    Cohort retention by onboarding month: of the customers whose first contract started in a month, how
    many are still active, and how much of their MRR remains, at the end of each following month.
    Month 0 is the onboarding month itself; its end-of-month MRR is the cohort's starting MRR.
-#}

-- depends_on: {{ ref('reconciliation') }}  -- built only when reconciliation_gate passes
with account_months as (
    select * from {{ ref('int_account_mrr_monthly') }}
),

cohorts as (
    select
        first_contract_month as cohort_month,
        count(distinct account_id) as cohort_customers,
        sum(case when period_start = first_contract_month then end_mrr else 0 end) as cohort_start_mrr
    from account_months
    group by all
),

active as (
    select
        first_contract_month as cohort_month,
        period_start,
        {{ months_from('first_contract_month', 'period_start') }} as months_since_onboarding,
        {{ count_where("end_mrr > 0") }} as active_customers,
        sum(end_mrr) as active_mrr
    from account_months
    group by all
)

select
    active.cohort_month,
    cast(active.months_since_onboarding as integer) as months_since_onboarding,
    active.period_start,
    cast(cohorts.cohort_customers as bigint) as cohort_customers,
    cast(active.active_customers as bigint) as active_customers,
    cast(active.active_customers as double) / cohorts.cohort_customers as logo_retention,
    cast(cohorts.cohort_start_mrr as decimal(18, 2)) as cohort_start_mrr,
    cast(active.active_mrr as decimal(18, 2)) as active_mrr,
    cast(active.active_mrr as double) / nullif(cohorts.cohort_start_mrr, 0) as mrr_retention
from active
inner join cohorts on active.cohort_month = cohorts.cohort_month
order by active.cohort_month, active.months_since_onboarding
