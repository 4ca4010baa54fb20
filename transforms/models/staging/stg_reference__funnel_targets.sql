with source as (
    select * from {{ source('reference', 'funnel_targets') }}
)

select
    month,
    stage,
    stage_order,
    target_base,
    target_goal,
    average_deal_size,
    target_revenue
from source
