with source as (
    select * from {{ source('reference', 'owner_targets') }}
)

select
    user_id,
    month,
    target_goal
from source
