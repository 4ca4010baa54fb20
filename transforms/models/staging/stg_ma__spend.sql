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
        amount as amount_original,
        upper(trim(currency)) as currency
    from source
)

select * from renamed
