with source as (
    {{ newest_records(source('sfa', 'users'), ['user_id']) }}
),

renamed as (
    select
        user_id,
        case
            when lower(trim(role)) in ('inside_sales', 'field_sales', 'customer_success') then lower(trim(role))
            else 'other'
        end as role,
        team,
        started_on,
        ended_on
    from source
)

select * from renamed
