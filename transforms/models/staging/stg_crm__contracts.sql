with source as (
    {{ newest_records(source('crm', 'contracts'), ['contract_id']) }}
),

renamed as (
    select
        contract_id,
        account_id,
        start_date,
        end_date,
        mrr,
        renewal_of_contract_id,
        churned_at,
        churn_reason
    from source
)

select * from renamed
