with source as (
    select * from {{ source('raw', 'crm_customers') }}
),

renamed as (
    select
        account_id,
        won_opportunity_id,
        onboarded_at,
        lower(segment) as segment,
        lower(industry) as industry
    from source
)

select * from renamed
