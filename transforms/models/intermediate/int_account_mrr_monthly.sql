{#-
    One row per CRM customer and calendar month from its first contract to the as-of month, from the
    contracts as they stood at the as-of (int_contracts_as_of, so a customer starting after it has no row):
    the MRR of its contracts active at the start of the month (at the end of the previous month's last day)
    and at its end (the end of its last day, or of the as-of date for the open month), so one month's end is
    the next month's start. A contract is active on a day from its start_date to its end_date, unless it
    churned on or before that day. Dates are calendar days in the reporting time zone.
-#}
{%- set active_on = "(contracts.start_date <= DAY and (contracts.end_date is null or contracts.end_date >= DAY)"
    ~ " and (contracts.churned_on is null or contracts.churned_on > DAY))" %}

with contracts as (
    select
        contract_id,
        account_id,
        start_date,
        end_date,
        coalesce(mrr, 0) as mrr,
        cast({{ local_time('churned_at') }} as date) as churned_on
    from {{ ref('int_contracts_as_of') }}
),

customers as (
    select * from {{ ref('stg_crm__customers') }}
),

as_of as (
    select
        {{ month_start('as_of') }} as as_of_month,
        cast({{ local_time('as_of') }} as date) as as_of_date
    from {{ ref('int_as_of') }}
),

months as (
    {{ period_spine('select ' ~ first_of_month('min(start_date)') ~ ' from contracts',
                    'select as_of_month from as_of', 'interval 1 month') }}
),

snapshots as (
    select
        months.period_start,
        cast(months.period_start - interval 1 day as date) as start_day,
        least(cast(months.period_start + interval 1 month - interval 1 day as date), as_of.as_of_date) as end_day
    from months
    cross join as_of
),

mrr_on_day as (
    select
        snapshots.period_start,
        contracts.account_id,
        sum(case when {{ active_on | replace('DAY', 'snapshots.start_day') }} then contracts.mrr else 0 end)
            as start_mrr,
        sum(case when {{ active_on | replace('DAY', 'snapshots.end_day') }} then contracts.mrr else 0 end)
            as end_mrr,
        min(contracts.start_date) as first_start_date
    from snapshots
    cross join contracts
    group by all
)

select
    mrr_on_day.account_id,
    mrr_on_day.period_start,
    cast(mrr_on_day.start_mrr as decimal(18, 2)) as start_mrr,
    cast(mrr_on_day.end_mrr as decimal(18, 2)) as end_mrr,
    coalesce(customers.segment, '(none)') as segment,
    {{ first_of_month('mrr_on_day.first_start_date') }} as first_contract_month
from mrr_on_day
left join customers on mrr_on_day.account_id = customers.account_id
where mrr_on_day.period_start >= {{ first_of_month('mrr_on_day.first_start_date') }}
