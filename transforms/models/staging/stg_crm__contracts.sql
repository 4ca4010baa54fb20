{#-
    MRR is in the reporting currency (macros/currency.sql), converted at the rate of the month the contract
    starts in, for its whole term: constant-currency MRR, so a moving rate never shows as expansion or
    contraction. The original MRR and currency are kept.
-#}

with source as (
    {{ newest_records(source('crm', 'contracts'), ['contract_id']) }}
),

renamed as (
    select
        contract_id,
        account_id,
        start_date,
        end_date,
        mrr,
        renewal_of_contract_id,
        churned_at,
        churn_reason,
        coalesce(upper(trim(currency)), {{ reporting_currency() }}) as currency,
        {{ first_of_month('start_date') }} as rate_month
    from source
),

converted as (
    {{ converted_to_reporting_currency('renamed', 'mrr', 'contract', 'contract_id') }}
)

select
    contract_id,
    account_id,
    start_date,
    end_date,
    converted_mrr as mrr,
    mrr as mrr_original,
    currency,
    renewal_of_contract_id,
    churned_at,
    churn_reason
from converted
