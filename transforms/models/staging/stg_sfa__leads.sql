with source as (
    {{ newest_records(source('sfa', 'leads'), ['lead_id']) }}
),

renamed as (
    select
        lead_id as sfa_lead_id,
        ma_lead_id,
        created_at,
        owner_id,
        lower(status) as status,
        first_contact_at,
        converted_at,
        converted_opportunity_id,
        disqualified_at,
        disqualified_reason,
        lower(status) = 'recycled' as is_recycled
    from source
)

select * from renamed
