{#- The monthly targets back-calculated from targets.yml, one row per month and stage. -#}

-- depends_on: {{ ref('reconciliation') }}  -- built only when reconciliation_gate passes
with targets as (
    select * from {{ ref('stg_reference__funnel_targets') }}
)

select
    month,
    stage,
    stage_order,
    target_base,
    target_goal,
    cast(target_goal as double) / nullif(target_base, 0) as target_conversion_rate,
    average_deal_size
from targets
order by month, stage_order
