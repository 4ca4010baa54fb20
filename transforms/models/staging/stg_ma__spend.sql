{{ config(enabled=has_system('ma')) }}

{#-
    Amounts are in the reporting currency (macros/currency.sql), converted at the rate of the month the spend
    belongs to; the original amount and currency are kept.
-#}

with source as (
    {{ newest_records(source('ma', 'spend'), ['month', 'cost_type', 'source', 'campaign_id']) }}
),

renamed as (
    select
        {{ first_of_month('month') }} as month,
        lower(trim(cost_type)) as cost_type,
        lower(source) as source,
        campaign_id,
        amount,
        coalesce(upper(trim(currency)), {{ reporting_currency() }}) as currency
    from source
),

-- rows of one campaign on different days of a month add up: one row per month, cost type, source, campaign
-- and currency
monthly as (
    select
        month,
        cost_type,
        source,
        campaign_id,
        currency,
        month as rate_month,
        sum(amount) as amount
    from renamed
    group by all
),

converted as (
    {{ converted_to_reporting_currency('monthly', 'amount', 'spend', "cost_type || coalesce(' ' || campaign_id, '')") }}
)

select
    month,
    cost_type,
    source,
    campaign_id,
    converted_amount as amount,
    amount as amount_original,
    currency
from converted
