{#-
    The CRM contracts as they stood at the as-of instant, the one definition every customer-success model
    reads them through: a contract counts once its start_date has begun (midnight in the reporting time zone)
    by the as-of, and its churn only once it has happened by then. Without it, a customer whose first contract
    starts later in the as-of month would join that month's cohort with no MRR and dilute its retention.
-#}

with contracts as (
    select * from {{ ref('stg_crm__contracts') }}
),

as_of as (
    select as_of from {{ ref('int_as_of') }}
)

select
    contracts.contract_id,
    contracts.account_id,
    contracts.start_date,
    contracts.end_date,
    contracts.mrr,
    contracts.renewal_of_contract_id,
    case when contracts.churned_at <= as_of.as_of then contracts.churned_at end as churned_at,
    case when contracts.churned_at <= as_of.as_of then contracts.churn_reason end as churn_reason
from contracts
cross join as_of
where {{ date_to_instant('contracts.start_date') }} <= as_of.as_of
