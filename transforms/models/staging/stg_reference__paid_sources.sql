with source as (
    select * from {{ source('reference', 'paid_sources') }}
)

select lower(source) as source
from source
