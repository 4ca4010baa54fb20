{#-
    One rate per currency and month: a row may be dated any day of its month; when a month has rows on several
    days, the latest day's wins (a month-end rate over a mid-month one).
-#}

with source as (
    {{ newest_records(source('sfa', 'exchange_rates'), ['month', 'currency']) }}
),

renamed as (
    select
        {{ first_of_month('month') }} as month,
        upper(trim(currency)) as currency,
        rate,
        month as rate_date
    from source
),

ranked as (
    select
        month,
        currency,
        rate,
        row_number() over (partition by month, currency order by rate_date desc) as rate_order
    from renamed
)

select
    month,
    currency,
    rate
from ranked
where rate_order = 1
