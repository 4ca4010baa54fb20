with source as (
    select * from {{ source('reference', 'business_calendar') }}
)

select
    day,
    is_business_day,
    is_holiday
from source
