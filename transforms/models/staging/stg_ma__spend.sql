{{ config(enabled=has_system('ma')) }}

with source as (
    {{ newest_records(source('ma', 'spend'), ['month', 'cost_type', 'source', 'campaign_id']) }}
),

renamed as (
    select
        cast(date_trunc('month', month) as date) as month,
        lower(trim(cost_type)) as cost_type,
        lower(source) as source,
        campaign_id,
        amount,
        upper(trim(currency)) as currency
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
        sum(amount) as amount_original
    from renamed
    group by all
)

select
    month,
    cost_type,
    source,
    campaign_id,
    amount_original as amount,
    amount_original,
    currency
from monthly
