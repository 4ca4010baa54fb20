with source as (
    select * from {{ source('reference', 'reapproach_waits') }}
)

select
    lower(reason) as reason,
    wait_days
from source
