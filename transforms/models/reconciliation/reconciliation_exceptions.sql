{#- One row per hand-over record that does not reconcile by id, with both systems' ids and times. -#}

with pairs as (
    select * from {{ ref('int_handover_pairs') }}
)

select
    period_start as month,
    handoff,
    handoff_order,
    reason,
    upstream_id,
    downstream_id,
    upstream_at,
    downstream_received_at,
    round({{ days_between('upstream_at', 'downstream_received_at') }} * 24, 2) as lag_hours,
    grace_period_hours
from pairs
where reason is not null
order by month, handoff_order, reason, coalesce(upstream_id, downstream_id), downstream_id
