with source as (
    {{ newest_records(source('crm', 'customers'), ['account_id']) }}
),

renamed as (
    select
        account_id,
        won_opportunity_id,
        onboarded_at,
        lower(segment) as segment,
        lower(industry) as industry,
        owner_id
    from source
)

select * from renamed
