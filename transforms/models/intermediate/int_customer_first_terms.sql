{#-
    Each customer's first contract and what became of it: renewed (a contract that renews it starts)
    or churned. The first renewal is customer success's forward hand-over (継続).
-#}

with contracts as (
    select * from {{ ref('stg_crm__contracts') }}
),

first_contracts as (
    select
        account_id,
        {{ value_at_min("contract_id", ["start_date", "contract_id"]) }} as contract_id
    from contracts
    where renewal_of_contract_id is null
    group by account_id
),

renewals as (
    select
        renewal_of_contract_id,
        min(start_date) as renewal_start_date,
        {{ value_at_min("contract_id", ["start_date", "contract_id"]) }} as renewal_contract_id
    from contracts
    where renewal_of_contract_id is not null
    group by renewal_of_contract_id
)

select
    first_contracts.account_id,
    first_contracts.contract_id as first_contract_id,
    contracts.start_date as first_start_date,
    contracts.end_date as first_end_date,
    contracts.mrr as first_mrr,
    renewals.renewal_contract_id,
    {{ date_to_instant('renewals.renewal_start_date') }} as renewed_at,
    contracts.churned_at,
    contracts.churn_reason
from first_contracts
inner join contracts on first_contracts.contract_id = contracts.contract_id
left join renewals on first_contracts.contract_id = renewals.renewal_of_contract_id
