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
        upper(currency) as currency,
        lost_reason
    from source
)

select * from renamed
