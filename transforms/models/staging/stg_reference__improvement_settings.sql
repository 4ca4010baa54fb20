with source as (
    select * from {{ source('reference', 'improvement_settings') }}
)

select
    gross_margin,
    reapproach_default_wait_days
from source
