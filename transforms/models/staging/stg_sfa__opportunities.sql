{#-
    Amounts are in the reporting currency (macros/currency.sql), converted at the rate of the month the deal
    closed in, or, while it is open, the month it was created in; the original amount and currency are kept.
-#}

with source as (
    {{ newest_records(source('sfa', 'opportunities'), ['opportunity_id']) }}
),

renamed as (
    select
        opportunity_id,
        lead_id as sfa_lead_id,
        account_id,
        owner_id,
        lower(type) as opportunity_type,
        created_at,
        stage_name,
        coalesce(is_closed, false) as is_closed,
        coalesce(is_won, false) as is_won,
        closed_at,
        amount,
        coalesce(upper(trim(currency)), {{ reporting_currency() }}) as currency,
        lost_reason,
        close_date,
        probability,
        {{ forecast_category('forecast_category') }} as forecast_category,
        {{ month_start('coalesce(case when is_closed then closed_at end, created_at)') }} as rate_month
    from source
),

converted as (
    {{ converted_to_reporting_currency('renamed', 'amount', 'opportunity', 'opportunity_id') }}
)

select
    opportunity_id,
    sfa_lead_id,
    account_id,
    owner_id,
    opportunity_type,
    created_at,
    stage_name,
    is_closed,
    is_won,
    closed_at,
    converted_amount as amount,
    amount as amount_original,
    currency,
    lost_reason,
    close_date,
    probability,
    forecast_category
from converted
