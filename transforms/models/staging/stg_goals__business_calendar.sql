with source as (
    select * from {{ source('raw', 'business_calendar') }}
)

select
    day,
    is_business_day,
    is_holiday
from source
