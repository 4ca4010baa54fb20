with source as (
    select * from {{ source('reference', 'sales_stages') }}
)

select
    stage_name,
    position,
    stalled_after_days
from source
