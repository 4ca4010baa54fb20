{{ config(enabled=has_system('ma')) }}

with source as (
    {{ newest_records(source('ma', 'leads'), ['lead_id']) }}
),

renamed as (
    select
        lead_id as ma_lead_id,
        email,
        company,
        created_at,
        lower(source) as source,
        campaign_id
    from source
)

select * from renamed
